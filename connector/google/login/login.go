// Package login lets colleagues join an organization by signing in with
// Google, with no directory sync at all: the host's web handler runs the
// OAuth 2.0 / OpenID Connect code flow (golang.org/x/oauth2 with
// google.Endpoint, scopes "openid email profile"), and hands the ID token
// to Authenticator.SignIn. SignIn verifies the token and decides, through
// the same mapping and policy as a directory sync:
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
//   - a user suspended, archived or deleted in Google Workspace (asked
//     through a connector.StatusChecker, when the host configured one), blocked in
//     the app, or named by an exception when sign-in would create or adopt
//     an account: refused, with the reason.
//
// # What the token must show
//
// The ID token's signature is checked against Google's published keys
// (JWKSURL), with the audience (the OAuth client ID), the issuer and the
// expiry, by github.com/coreos/go-oidc — no hand-written JWT code. Then:
// email_verified must be true; the hd (hosted domain) claim must be one of
// AllowedDomains — the hd claim, never the email's suffix, because a
// personal Google account can carry any address; and when the host passes
// a nonce (it should: it ties the token to the browser session that asked
// for it), the token's nonce must equal it.
//
// # Accounts
//
// The account is keyed like a Google Workspace directory sync: Source is
// the integration name, ExternalID the token's sub, which is the Google
// user id that the Directory API and connector/google use. So sign-in and
// a later directory sync agree on who is who. The claims are mapped as a
// directory entry with the attribute names of mapping.GoogleSpec
// (primaryEmail, name.givenName, name.familyName, name.fullName, hd).
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
// (Before, an unmanaged account with the email was adopted even when the
// email was excepted, and persisted exceptions were not consulted.)
//
// Emails are compared in one form, NormalizeEmail's: trimmed, lower case,
// Unicode NFC. AccountFinder receives that form; an unmanaged account it
// returns is adopted only if its email has the same form, and a managed
// one is signed into only if its Source and ExternalID are this
// integration's and the token's sub.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/text/unicode/norm"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// Google's issuer and key set.
const (
	GoogleIssuer  = "https://accounts.google.com"
	GoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
)

// Reason codes of sign-in decisions.
const (
	ReasonFirstSignIn   = "login.first-sign-in"
	ReasonKnown         = "login.known"
	ReasonBadToken      = "login.token-invalid"
	ReasonUnverified    = "login.email-unverified"
	ReasonDomain        = "login.domain-not-allowed"
	ReasonNonce         = "login.nonce-mismatch"
	ReasonSuspended     = "login.suspended"
	ReasonDeleted       = "login.deleted"
	ReasonBlocked       = "login.blocked-in-app"
	ReasonException     = "login.exception"
	ReasonNotMappable   = "login.not-mappable"
	ReasonDirectoryDown = "login.directory-unavailable"
)

// ErrRefused is wrapped by every *RefusedError.
var ErrRefused = errors.New("login: sign-in refused")

// RefusedError says why a sign-in was refused. Show Reason.Detail to the
// person; log the rest.
type RefusedError struct {
	Reason diff.Reason
	// Email is the address the token named, when it got that far.
	Email string
	Err   error
}

func (e *RefusedError) Error() string {
	msg := "login: sign-in refused: " + e.Reason.Detail
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrRefused and the underlying error.
func (e *RefusedError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrRefused, e.Err}
	}
	return []error{ErrRefused}
}

// AccountFinder finds the app's account of a signed-in person: the one
// managed under (source, externalID), else an unmanaged one with the email.
// It returns (nil, nil) when there is none.
type AccountFinder interface {
	FindAccount(ctx context.Context, source, externalID, email string) (*diff.Account, error)
}

// AccountFinderFunc adapts a function to AccountFinder.
type AccountFinderFunc func(ctx context.Context, source, externalID, email string) (*diff.Account, error)

// FindAccount implements AccountFinder.
func (f AccountFinderFunc) FindAccount(ctx context.Context, source, externalID, email string) (*diff.Account, error) {
	return f(ctx, source, externalID, email)
}

// ExceptionLister supplies exceptions a host persisted. The root
// package's (*dirsync.Syncer).Exceptions has this signature, so the Syncer
// of the Google directory sync can be passed as is.
type ExceptionLister interface {
	Exceptions(ctx context.Context) ([]policy.Exception, error)
}

// Config configures an Authenticator.
type Config struct {
	// ClientID is the OAuth client ID: the audience the token must carry.
	ClientID string `json:"clientId"`
	// AllowedDomains are the Google Workspace domains (hd claim) whose
	// people may join. Required: a sign-in open to every Google account
	// is not an organization's sign-in.
	AllowedDomains []string `json:"allowedDomains"`
	// Source is the integration name stored on created accounts; use the
	// name of the Google directory sync if there is one. Default "google".
	Source string `json:"source,omitempty"`
	// Issuer and JWKSURL default to Google's; tests point them at a fake.
	Issuer  string `json:"issuer,omitempty"`
	JWKSURL string `json:"jwksUrl,omitempty"`

	// Mapper maps the claims (as a directory entry with GoogleSpec's
	// attribute names). Default mapping.GoogleSpec().
	Mapper mapping.Mapper `json:"-"`
	// Policy supplies exceptions (accounts never touched, so never created
	// by sign-in either). Default: none.
	Policy *policy.Policy `json:"-"`
	// Exceptions, if set, supplies the exceptions the host persisted for
	// this integration, on top of Policy's.
	Exceptions ExceptionLister `json:"-"`
	// Directory, if set, is asked whether the user is still active, by
	// the token's sub (the Google user id). connector/google's Connector
	// (with a service account and delegation) implements it; a host
	// without one leaves it nil.
	Directory connector.StatusChecker `json:"-"`
	// Accounts finds existing app accounts. Required.
	Accounts AccountFinder `json:"-"`
	Logger   *slog.Logger  `json:"-"`
	Now      func() time.Time
}

// Authenticator verifies Google ID tokens and decides sign-ins. String,
// every fmt verb, GoString and LogValue show its client ID, domains and
// source only, never what its Directory or Accounts hold.
type Authenticator struct {
	cfg      Config
	domains  []string
	verifier *oidc.IDTokenVerifier
	mapper   mapping.Mapper
	log      *slog.Logger
}

// String describes the authenticator: client ID, allowed domains, source.
func (a Authenticator) String() string {
	return fmt.Sprintf("login.Authenticator{ClientID:%q AllowedDomains:%q Source:%q Directory:%t}",
		a.cfg.ClientID, a.domains, a.cfg.Source, a.cfg.Directory != nil)
}

// GoString is String.
func (a Authenticator) GoString() string { return a.String() }

// Format prints String for every verb.
func (a Authenticator) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.String())) }

// LogValue logs what String shows.
func (a Authenticator) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", a.cfg.ClientID), slog.Any("allowedDomains", a.domains),
		slog.String("source", a.cfg.Source), slog.Bool("directory", a.cfg.Directory != nil))
}

// New validates cfg. The key set is fetched lazily, on the first sign-in,
// with the ctx of that call.
func New(cfg Config) (*Authenticator, error) {
	var errs []error
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("clientId is required"))
	}
	var domains []string
	for _, d := range cfg.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@/ ") {
			errs = append(errs, fmt.Errorf("allowedDomains: %q is not a domain", d))
			continue
		}
		domains = append(domains, d)
	}
	if len(cfg.AllowedDomains) == 0 {
		errs = append(errs, errors.New("allowedDomains is required: name the Google Workspace domains whose people may join"))
	}
	if cfg.Accounts == nil {
		errs = append(errs, errors.New("an AccountFinder (Config.Accounts) is required to find existing app accounts"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("login: invalid config: %w", err)
	}
	if cfg.Source == "" {
		cfg.Source = "google"
	}
	if cfg.Issuer == "" {
		cfg.Issuer = GoogleIssuer
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = GoogleJWKSURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg, domains: domains, mapper: cfg.Mapper, log: cfg.Logger}
	if a.mapper == nil {
		m, err := mapping.New(mapping.GoogleSpec())
		if err != nil {
			return nil, fmt.Errorf("login: default mapping: %w", err)
		}
		a.mapper = m
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	// The remote key set caches Google's keys and refreshes them when a
	// token names an unknown key id. Its context only carries values for
	// the HTTP client; it is not a deadline.
	keys := oidc.NewRemoteKeySet(context.Background(), cfg.JWKSURL)
	a.verifier = oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now})
	return a, nil
}

// Decision is an allowed sign-in.
type Decision struct {
	// Account is the person's app account: the existing one, or the one
	// Change creates.
	Account diff.Account
	// Change is the Create the host applies to its sink on a first
	// sign-in (then sends nothing: the person is already here); nil for a
	// known user.
	Change *diff.Change
	Reason diff.Reason
}

// claims are the ID token claims SignIn reads.
type claims struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	HostedDomain  string `json:"hd"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
}

func refuse(code, detail, email string, err error) error {
	return &RefusedError{Reason: diff.Reason{Code: code, Detail: detail}, Email: email, Err: err}
}

// SignIn verifies rawIDToken (from the code exchange's "id_token") and
// decides the sign-in. nonce is the value the host put in the
// authorization request ("" if it set none). A refusal is a *RefusedError
// (errors.Is(err, ErrRefused)); other errors are failures to decide
// (directory or app store unreachable) and should be shown as "try again".
func (a *Authenticator) SignIn(ctx context.Context, rawIDToken, nonce string) (*Decision, error) {
	tok, err := a.verifier.Verify(ctx, rawIDToken)
	if err != nil {
		return nil, refuse(ReasonBadToken, "The Google sign-in token is not valid (signature, audience or expiry)", "", err)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return nil, refuse(ReasonBadToken, "The Google sign-in token carries unreadable claims", "", err)
	}
	if nonce != "" && tok.Nonce != nonce {
		return nil, refuse(ReasonNonce, "The sign-in does not belong to this browser session (nonce mismatch); start again", c.Email, nil)
	}
	if !c.EmailVerified || c.Email == "" {
		return nil, refuse(ReasonUnverified, "Google has not verified this account's email address", c.Email, nil)
	}
	hd := strings.ToLower(c.HostedDomain)
	if hd == "" || !slices.Contains(a.domains, hd) {
		shown := hd
		if shown == "" {
			shown = "a personal Google account"
		}
		return nil, refuse(ReasonDomain, fmt.Sprintf("Sign-in with %s is not allowed for this organization", shown), c.Email, nil)
	}
	if a.cfg.Directory != nil {
		st, err := a.cfg.Directory.UserStatus(ctx, tok.Subject)
		if err != nil {
			return nil, fmt.Errorf("login: ask the directory about %s: %w", c.Email, err)
		}
		switch {
		case !st.Exists:
			return nil, refuse(ReasonDeleted, "This account was deleted in Google Workspace", c.Email, nil)
		case st.Disabled || st.Archived:
			return nil, refuse(ReasonSuspended, "This account is suspended in Google Workspace", c.Email, nil)
		}
	}

	entry := connector.Entry{ID: tok.Subject, Kind: connector.KindUser, Attrs: connector.Attrs{}}
	entry.Attrs.Set("primaryEmail", c.Email)
	entry.Attrs.Set("name.givenName", c.GivenName)
	entry.Attrs.Set("name.familyName", c.FamilyName)
	entry.Attrs.Set("name.fullName", c.Name)
	entry.Attrs.Set("hd", hd)
	acc, err := a.mapper.Map(&entry, nil)
	if err != nil || acc.ExternalID == "" {
		return nil, refuse(ReasonNotMappable, "This account cannot be mapped to an app account", c.Email, err)
	}
	acc.Source, acc.Managed = a.cfg.Source, true

	email := NormalizeEmail(c.Email)
	existing, err := a.cfg.Accounts.FindAccount(ctx, a.cfg.Source, acc.ExternalID, email)
	if err != nil {
		return nil, fmt.Errorf("login: find the app account of %s: %w", c.Email, err)
	}
	if existing != nil && existing.Managed && existing.ExternalID != "" {
		// Known: signing in changes nothing, so an exception (which
		// keeps sync's hands off an account, not its owner out) does
		// not apply.
		if existing.Source != acc.Source || existing.ExternalID != acc.ExternalID {
			return nil, fmt.Errorf("login: the account finder returned an account managed as %s/%s for %s (%s/%s): refusing to sign in as someone else",
				existing.Source, existing.ExternalID, c.Email, acc.Source, acc.ExternalID)
		}
		if existing.Blocked {
			return nil, refuse(ReasonBlocked, "This account is blocked in the app; ask an administrator", c.Email, nil)
		}
		return &Decision{Account: *existing, Reason: diff.Reason{Code: ReasonKnown, Detail: "Known account; signed in"}}, nil
	}
	// From here on sign-in would create or adopt an account: exceptions
	// (the policy's and the persisted ones) come first.
	except, err := a.exceptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("login: read the exceptions before the sign-in of %s: %w", c.Email, err)
	}
	candidates := []*diff.Account{&acc}
	if existing != nil {
		candidates = append(candidates, existing)
	}
	for _, cand := range candidates {
		if r, ok := excepted(except, cand); ok {
			return nil, refuse(ReasonException, "This account is excepted from automatic provisioning: "+r.Detail, c.Email, nil)
		}
	}
	if existing != nil {
		if NormalizeEmail(existing.Email) != email {
			return nil, fmt.Errorf("login: the account finder returned an unmanaged account with another email for %s: refusing to adopt it", c.Email)
		}
		if existing.Blocked {
			return nil, refuse(ReasonBlocked, "This account is blocked in the app; ask an administrator", c.Email, nil)
		}
		// An account made before, by hand or by an invitation: adopt
		// it, as a directory sync would, instead of a duplicate.
		after := existing.Clone()
		after.Source, after.ExternalID, after.Managed = acc.Source, acc.ExternalID, true
		reason := diff.Reason{Code: diff.ReasonAdopted, Detail: "First sign-in with Google; the app account with the same email is adopted"}
		change := &diff.Change{Op: diff.OpUpdate, Key: after.Key(), Before: existing, After: &after,
			Fields: []diff.FieldChange{
				{Name: diff.FieldExternalID, Old: existing.ExternalID, New: after.ExternalID},
				{Name: diff.FieldManaged, Old: existing.Get(diff.FieldManaged), New: "true"},
				{Name: diff.FieldSource, Old: existing.Source, New: after.Source},
			}, Reasons: []diff.Reason{reason}}
		return &Decision{Account: after, Change: change, Reason: reason}, nil
	}
	reason := diff.Reason{Code: ReasonFirstSignIn, Detail: "First sign-in with Google (" + hd + ")"}
	change := &diff.Change{Op: diff.OpCreate, Key: acc.Key(), After: &acc, Reasons: []diff.Reason{reason}}
	for _, f := range diff.Fields {
		if v := acc.Get(f); v != "" {
			change.Fields = append(change.Fields, diff.FieldChange{Name: f, New: v})
		}
	}
	a.log.InfoContext(ctx, "first sign-in", "email", c.Email, "domain", hd)
	return &Decision{Account: acc, Change: change, Reason: reason}, nil
}

// exceptions compiles the policy's exceptions and the persisted ones, with
// their emails normalised. As in a sync plan, a persisted exception that
// does not compile matches every account (see policy.Policy.Options).
func (a *Authenticator) exceptions(ctx context.Context) (func(*diff.Account) (diff.Reason, bool), error) {
	list := a.cfg.Policy.Exceptions().List()
	if a.cfg.Exceptions != nil {
		more, err := a.cfg.Exceptions.Exceptions(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, more...)
	}
	for i := range list {
		if list[i].Email != "" {
			list[i].Email = NormalizeEmail(list[i].Email)
		}
	}
	var none *policy.Policy
	return none.Options(a.cfg.Now(), list...).Except, nil
}

// excepted matches the account as it is and with its email normalised and
// its names in Unicode NFC, so that no spelling of the same person escapes
// an exception.
func excepted(except func(*diff.Account) (diff.Reason, bool), acc *diff.Account) (diff.Reason, bool) {
	if except == nil {
		return diff.Reason{}, false
	}
	if r, ok := except(acc); ok {
		return r, true
	}
	n := acc.Clone()
	n.Email = NormalizeEmail(n.Email)
	n.Username = norm.NFC.String(n.Username)
	n.DisplayName = norm.NFC.String(n.DisplayName)
	n.GivenName = norm.NFC.String(n.GivenName)
	n.FamilyName = norm.NFC.String(n.FamilyName)
	return except(&n)
}

// NormalizeEmail is how sign-in compares emails: diff.NormalizeEmail, the
// rule of the whole engine (surrounding white space removed, Unicode NFC,
// lower case). AccountFinder receives emails in this form.
func NormalizeEmail(s string) string { return diff.NormalizeEmail(s) }
