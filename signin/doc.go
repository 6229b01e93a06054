// Package signin lets colleagues join an organization by signing in with
// its identity provider (Google today), with no directory sync at all, and
// decides each sign-in through the same mapping, exceptions and join rules
// as a directory sync. It consumes the pipeline: it imports connector,
// mapping, policy and diff, and nothing under connector/ imports it.
//
// The host's web handler runs the OAuth 2.0 / OpenID Connect authorization
// code flow (golang.org/x/oauth2; for Google, golang.org/x/oauth2/google's
// Endpoint and the scopes "openid email profile"), and hands the ID token
// to Authenticator.SignIn. SignIn verifies the token and decides:
//
//   - first sign-in of an allowed, active user: allowed, with a Create
//     change (reason "login.first-sign-in") for the host to apply to its
//     sink, exactly like a change from a sync plan;
//   - a known user (the account managed under Source and the token's sub):
//     allowed, no change, even when an exception names it (an exception
//     keeps sync's hands off an account, it does not lock its owner out);
//   - an app account with the same email that no integration manages yet
//     is adopted with an Update change, unless an exception names the
//     person or that account;
//   - a user suspended, archived or deleted in the directory (asked through
//     a connector.StatusChecker, when the host configured one: for Google,
//     connector/google's Connector), blocked in the app, or named by an
//     exception when sign-in would create or adopt an account: refused,
//     with the reason.
//
// # What the token must show
//
// The ID token's signature is checked against the provider's published
// keys (Config.JWKSURL), with the audience (the OAuth client ID), the
// issuer (Config.Issuer) and the expiry, by github.com/coreos/go-oidc — no
// hand-written JWT code. Then: email_verified must be true; the
// organization claim must name an allowed organization — for Google, the
// hd (hosted domain) claim must be one of Google.HostedDomains: the hd
// claim, never the email's suffix, because a personal Google account can
// carry any address; and when the host passes a nonce (it should: it ties
// the token to the browser session that asked for it), the token's nonce
// must equal it.
//
// # Accounts
//
// The account is keyed like a directory sync of the same provider: Source
// is the integration name, ExternalID the directory's user id — for Google
// the token's sub, which is the Google user id that the Directory API and
// connector/google use. So sign-in and a later directory sync agree on who
// is who. The claims are mapped as a directory entry with the attribute
// names of the provider's default spec (for Google mapping.GoogleSpec's:
// primaryEmail, name.givenName, name.familyName, name.fullName, hd), so a
// host's own spec for the directory sync maps sign-ins too.
//
// # Exceptions and emails
//
// Before it creates or adopts an account, SignIn checks the exceptions of
// Config.Policy and those the host persisted (Config.Exceptions, e.g. the
// directory sync's *dirsync.Syncer) against both the account the token
// maps to and the unmanaged app account it would adopt. An excepted
// person is refused with ReasonException and nothing changes. Persisted
// exceptions that cannot be read fail the sign-in (an error, not a
// refusal); one that does not compile matches everyone, as in a sync plan.
//
// Emails are compared in one form, NormalizeEmail's: trimmed, lower case,
// Unicode NFC. AccountFinder receives that form; an unmanaged account it
// returns is adopted only if its email has the same form, and a managed
// one is signed into only if its Source and ExternalID are this
// integration's and the token's sub.
//
// # OpenID Connect, Google and Entra
//
// Provider-neutral, as any OpenID Connect provider works: the token's
// verification (signature against Config.JWKSURL, Config.Issuer, audience
// Config.ClientID, expiry), the nonce, the standard claims read (sub,
// email, email_verified, name, given_name, family_name), the directory
// check through connector.StatusChecker, and everything after the claims
// are mapped: exceptions, the join, adoption and the Decision.
//
// Google's, configured by Config.Google (required, the only provider so
// far): the issuer and key set (GoogleIssuer, GoogleJWKSURL, the defaults
// of Config.Issuer and Config.JWKSURL); the hd claim checked against
// Google.HostedDomains; sub as the external ID; the claims mapped with
// mapping.GoogleSpec's attribute names (the default Config.Mapper); the
// default Source "google"; and the words "Google" and "Google Workspace" in
// the sentences shown to the person.
//
// Microsoft Entra ID is OpenID Connect too, but not supported yet. It
// would need its own part of Config, beside Google: the tenant's issuer
// (https://login.microsoftonline.com/{tenant id}/v2.0, keys at
// https://login.microsoftonline.com/{tenant id}/discovery/v2.0/keys; one
// issuer per tenant); the tid (tenant id) claim checked against the
// allowed tenants, in place of hd; the oid claim (the object id, which
// connector/entra yields as Entry.ID) as the external ID, since Entra's sub
// is pairwise (a different value for each application); another proof of
// the email than email_verified, which Entra's tokens do not carry
// (preferred_username is the mutable UPN; email is optional); the claims
// mapped with mapping.EntraSpec's attribute names (userPrincipalName,
// mail, givenName, surname, displayName); and connector/entra
// implementing connector.StatusChecker (accountEnabled) for the directory
// check.
package signin
