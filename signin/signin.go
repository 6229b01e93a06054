package signin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/text/unicode/norm"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// Reason codes of sign-in decisions. They are stable, like the reason
// codes of a sync plan, and keep the "login." prefix.
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
var ErrRefused = errors.New("signin: sign-in refused")

// RefusedError says why a sign-in was refused. Show Reason.Detail to the
// person; log the rest.
type RefusedError struct {
	Reason diff.Reason
	// Email is the address the token named, when it got that far.
	Email string
	Err   error
}

func (e *RefusedError) Error() string {
	msg := "signin: sign-in refused: " + e.Reason.Detail
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
// of the same provider's directory sync can be passed as is.
type ExceptionLister interface {
	Exceptions(ctx context.Context) ([]policy.Exception, error)
}

// Config configures an Authenticator. Its JSON form holds no secret (an
// ID token is checked with the provider's public keys, so sign-in needs
// no client secret; the code exchange that needs one is the host's).
type Config struct {
	// ClientID is the OAuth client ID: the audience the token must carry.
	ClientID string `json:"clientId"`
	// Google configures sign-in with Google. Required: Google is the only
	// provider so far (see the package documentation for Entra).
	Google *Google `json:"google,omitempty"`
	// Source is the integration name stored on created accounts; use the
	// name of the provider's directory sync if there is one. Default
	// "google".
	Source string `json:"source,omitempty"`
	// Issuer is the issuer the token must name (its iss claim), and
	// JWKSURL the provider's published key set. Default the provider's
	// (GoogleIssuer, GoogleJWKSURL); tests point them at a fake.
	Issuer  string `json:"issuer,omitempty"`
	JWKSURL string `json:"jwksUrl,omitempty"`

	// Mapper maps the claims, given as a directory entry with the
	// attribute names of the provider's default spec (for Google
	// mapping.GoogleSpec's). Default: that spec.
	Mapper mapping.Mapper `json:"-"`
	// Policy supplies exceptions (accounts never touched, so never created
	// by sign-in either). Default: none.
	Policy *policy.Policy `json:"-"`
	// Exceptions, if set, supplies the exceptions the host persisted for
	// this integration, on top of Policy's.
	Exceptions ExceptionLister `json:"-"`
	// Directory, if set, is asked whether the user still exists and may
	// sign in, by the user's directory ID (for Google the token's sub,
	// the Google user id). For Google, connector/google's Connector (with
	// a service account and delegation) implements it; a host without one
	// leaves it nil.
	Directory connector.StatusChecker `json:"-"`
	// Accounts finds existing app accounts. Required.
	Accounts AccountFinder `json:"-"`
	// Logger receives a line for each first sign-in. Default: discard.
	Logger *slog.Logger `json:"-"`
	// Now is the clock for the token's expiry and the exceptions'.
	// Default time.Now.
	Now func() time.Time `json:"-"`
}

// Authenticator verifies ID tokens and decides sign-ins. String, every
// fmt verb, GoString and LogValue show its client ID, domains and source
// only, never what its Directory or Accounts hold.
type Authenticator struct {
	cfg      Config
	domains  []string // Google's hosted domains, lower case
	verifier *oidc.IDTokenVerifier
	mapper   mapping.Mapper
	log      *slog.Logger

	// The provider's names in the sentences shown to the person.
	provider, directory string
}

// String describes the authenticator: client ID, allowed domains, source.
func (a Authenticator) String() string {
	return fmt.Sprintf("signin.Authenticator{ClientID:%q HostedDomains:%q Source:%q Directory:%t}",
		a.cfg.ClientID, a.domains, a.cfg.Source, a.cfg.Directory != nil)
}

// GoString is String.
func (a Authenticator) GoString() string { return a.String() }

// Format prints String for every verb.
func (a Authenticator) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.String())) }

// LogValue logs what String shows.
func (a Authenticator) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", a.cfg.ClientID), slog.Any("hostedDomains", a.domains),
		slog.String("source", a.cfg.Source), slog.Bool("directory", a.cfg.Directory != nil))
}

// New validates cfg. The key set is fetched lazily, on the first sign-in,
// with the ctx of that call.
func New(cfg Config) (*Authenticator, error) {
	var errs []error
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("clientId is required"))
	}
	domains, err := cfg.Google.domains()
	errs = append(errs, err)
	if cfg.Accounts == nil {
		errs = append(errs, errors.New("an AccountFinder (Config.Accounts) is required to find existing app accounts"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("signin: invalid config: %w", err)
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
	a := &Authenticator{cfg: cfg, domains: domains, mapper: cfg.Mapper, log: cfg.Logger,
		provider: "Google", directory: "Google Workspace"}
	if a.mapper == nil {
		m, err := mapping.New(mapping.GoogleSpec())
		if err != nil {
			return nil, fmt.Errorf("signin: default mapping: %w", err)
		}
		a.mapper = m
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	// The remote key set caches the provider's keys and refreshes them when
	// a token names an unknown key id. Its context only carries values for
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

// claims are the ID token claims SignIn reads: OpenID Connect's standard
// claims, and Google's hd.
type claims struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`

	HostedDomain string `json:"hd"` // Google
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
		return nil, refuse(ReasonBadToken, "The "+a.provider+" sign-in token is not valid (signature, audience or expiry)", "", err)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return nil, refuse(ReasonBadToken, "The "+a.provider+" sign-in token carries unreadable claims", "", err)
	}
	if nonce != "" && tok.Nonce != nonce {
		return nil, refuse(ReasonNonce, "The sign-in does not belong to this browser session (nonce mismatch); start again", c.Email, nil)
	}
	if !c.EmailVerified || c.Email == "" {
		return nil, refuse(ReasonUnverified, a.provider+" has not verified this account's email address", c.Email, nil)
	}
	hd, err := googleAdmit(a.domains, &c)
	if err != nil {
		return nil, err
	}
	entry := googleEntry(tok.Subject, hd, &c)
	if a.cfg.Directory != nil {
		st, err := a.cfg.Directory.UserStatus(ctx, entry.ID)
		if err != nil {
			return nil, fmt.Errorf("signin: ask the directory about %s: %w", c.Email, err)
		}
		switch {
		case !st.Exists:
			return nil, refuse(ReasonDeleted, "This account was deleted in "+a.directory, c.Email, nil)
		case st.Disabled || st.Archived:
			return nil, refuse(ReasonSuspended, "This account is suspended in "+a.directory, c.Email, nil)
		}
	}

	acc, err := a.mapper.Map(&entry, nil)
	if err != nil || acc.ExternalID == "" {
		return nil, refuse(ReasonNotMappable, "This account cannot be mapped to an app account", c.Email, err)
	}
	acc.Source, acc.Managed = a.cfg.Source, true

	email := NormalizeEmail(c.Email)
	existing, err := a.cfg.Accounts.FindAccount(ctx, a.cfg.Source, acc.ExternalID, email)
	if err != nil {
		return nil, fmt.Errorf("signin: find the app account of %s: %w", c.Email, err)
	}
	if existing != nil && existing.Managed && existing.ExternalID != "" {
		// Known: signing in changes nothing, so an exception (which
		// keeps sync's hands off an account, not its owner out) does
		// not apply.
		if existing.Source != acc.Source || existing.ExternalID != acc.ExternalID {
			return nil, fmt.Errorf("signin: the account finder returned an account managed as %s/%s for %s (%s/%s): refusing to sign in as someone else",
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
		return nil, fmt.Errorf("signin: read the exceptions before the sign-in of %s: %w", c.Email, err)
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
			return nil, fmt.Errorf("signin: the account finder returned an unmanaged account with another email for %s: refusing to adopt it", c.Email)
		}
		if existing.Blocked {
			return nil, refuse(ReasonBlocked, "This account is blocked in the app; ask an administrator", c.Email, nil)
		}
		// An account made before, by hand or by an invitation: adopt
		// it, as a directory sync would, instead of a duplicate.
		after := existing.Clone()
		after.Source, after.ExternalID, after.Managed = acc.Source, acc.ExternalID, true
		reason := diff.Reason{Code: diff.ReasonAdopted, Detail: "First sign-in with " + a.provider + "; the app account with the same email is adopted"}
		change := &diff.Change{Op: diff.OpUpdate, Key: after.Key(), Before: existing, After: &after,
			Fields: []diff.FieldChange{
				{Name: diff.FieldExternalID, Old: existing.ExternalID, New: after.ExternalID},
				{Name: diff.FieldManaged, Old: existing.Get(diff.FieldManaged), New: "true"},
				{Name: diff.FieldSource, Old: existing.Source, New: after.Source},
			}, Reasons: []diff.Reason{reason}}
		return &Decision{Account: after, Change: change, Reason: reason}, nil
	}
	reason := diff.Reason{Code: ReasonFirstSignIn, Detail: "First sign-in with " + a.provider + " (" + hd + ")"}
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
