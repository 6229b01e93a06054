package signin_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/signin"
)

const (
	clientID = "1234-app.apps.googleusercontent.com"
	issuer   = "https://accounts.google.com"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// idp is a fake Google: a signing key and its JWKS served over HTTP.
type idp struct {
	key    *rsa.PrivateKey
	srv    *httptest.Server
	signer jose.Signer
	hits   atomic.Int32
}

func newIDP(t *testing.T) *idp {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &idp{key: key}
	p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "test-key"))
	require.NoError(t, err)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "test-key", Algorithm: "RS256", Use: "sig"}}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

type tokenClaims struct {
	jwt.Claims
	Nonce         string `json:"nonce,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	HostedDomain  string `json:"hd,omitempty"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
}

func validClaims() tokenClaims {
	return tokenClaims{
		Claims: jwt.Claims{Issuer: issuer, Subject: "110169484474386276334", Audience: jwt.Audience{clientID},
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(time.Hour))},
		Nonce: "n-0S6_WzA2Mj", Email: "ann.lee@northwind.example", EmailVerified: true, HostedDomain: "northwind.example",
		Name: "Ann Lee", GivenName: "Ann", FamilyName: "Lee",
	}
}

func (p *idp) sign(t *testing.T, c tokenClaims) string {
	raw, err := jwt.Signed(p.signer).Claims(c).Serialize()
	require.NoError(t, err)
	return raw
}

// fakeDirectory answers UserStatus from a map.
type fakeDirectory map[string]connector.UserStatus

func (d fakeDirectory) UserStatus(_ context.Context, id string) (connector.UserStatus, error) {
	return d[id], nil
}

// sinkFinder finds accounts in a MemorySink.
func sinkFinder(s *dirsynctest.MemorySink) signin.AccountFinder {
	return signin.AccountFinderFunc(func(ctx context.Context, source, id, email string) (*diff.Account, error) {
		if a, ok := s.Get(source, id); ok {
			return &a, nil
		}
		for _, a := range s.Snapshot() {
			if !a.Managed && a.Email != "" && strings.ToLower(strings.TrimSpace(norm.NFC.String(a.Email))) == email {
				return &a, nil
			}
		}
		return nil, nil
	})
}

func newAuth(t *testing.T, p *idp, sink *dirsynctest.MemorySink, mod func(*signin.Config)) *signin.Authenticator {
	cfg := signin.Config{ClientID: clientID, Google: &signin.Google{HostedDomains: []string{"Northwind.example"}}, Source: "northwind-google",
		JWKSURL: p.srv.URL, Accounts: sinkFinder(sink), Now: func() time.Time { return now },
		Directory: fakeDirectory{"110169484474386276334": {Exists: true}}}
	if mod != nil {
		mod(&cfg)
	}
	a, err := signin.New(cfg)
	require.NoError(t, err)
	return a
}

func TestFirstSignInJoinsThenKnown(t *testing.T) {
	p := newIDP(t)
	sink := dirsynctest.NewMemorySink()
	a := newAuth(t, p, sink, nil)
	ctx := context.Background()

	d, err := a.SignIn(ctx, p.sign(t, validClaims()), "n-0S6_WzA2Mj")
	require.NoError(t, err)
	require.NotNil(t, d.Change)
	assert.Equal(t, diff.OpCreate, d.Change.Op)
	assert.Equal(t, signin.ReasonFirstSignIn, d.Reason.Code)
	assert.Equal(t, "First sign-in with Google (northwind.example)", d.Reason.Detail)
	assert.Equal(t, "ann.lee@northwind.example", d.Account.Email)
	assert.Equal(t, "Ann Lee", d.Account.DisplayName)
	assert.Equal(t, "110169484474386276334", d.Account.ExternalID)
	require.NoError(t, sink.Apply(ctx, *d.Change))

	d, err = a.SignIn(ctx, p.sign(t, validClaims()), "n-0S6_WzA2Mj")
	require.NoError(t, err)
	assert.Nil(t, d.Change, "a known user signs in without a change")
	assert.Equal(t, signin.ReasonKnown, d.Reason.Code)
	assert.Len(t, sink.Snapshot(), 1)
}

func TestSignInAdoptsAccountWithSameEmail(t *testing.T) {
	p := newIDP(t)
	sink := dirsynctest.NewMemorySink(diff.Account{Email: "ann.lee@northwind.example", DisplayName: "Ann (invited)"})
	a := newAuth(t, p, sink, nil)
	d, err := a.SignIn(context.Background(), p.sign(t, validClaims()), "")
	require.NoError(t, err)
	require.NotNil(t, d.Change)
	assert.Equal(t, diff.OpUpdate, d.Change.Op)
	assert.Equal(t, "First sign-in with Google; the app account with the same email is adopted", d.Reason.Detail)
	require.NoError(t, sink.Apply(context.Background(), *d.Change))
	got, ok := sink.Get("northwind-google", "110169484474386276334")
	require.True(t, ok)
	assert.True(t, got.Managed)
	assert.Len(t, sink.Snapshot(), 1, "adopted, not duplicated")
}

func TestSignInRefusals(t *testing.T) {
	blocked := diff.Account{Source: "northwind-google", ExternalID: "110169484474386276334", Managed: true,
		Email: "ann.lee@northwind.example", Blocked: true}
	tests := []struct {
		name   string
		claims func(*tokenClaims)
		nonce  string
		sink   []diff.Account
		mod    func(*signin.Config)
		code   string
		detail string // the sentence shown to the person, when checked
	}{
		{name: "wrong domain", claims: func(c *tokenClaims) { c.HostedDomain = "evil.example" }, code: signin.ReasonDomain,
			detail: "Sign-in with evil.example is not allowed for this organization"},
		{name: "personal account without hd", claims: func(c *tokenClaims) { c.HostedDomain = ""; c.Email = "ann@gmail.com" }, code: signin.ReasonDomain,
			detail: "Sign-in with a personal Google account is not allowed for this organization"},
		{name: "email suffix is not the domain", claims: func(c *tokenClaims) { c.HostedDomain = "" }, code: signin.ReasonDomain},
		{name: "unverified email", claims: func(c *tokenClaims) { c.EmailVerified = false }, code: signin.ReasonUnverified,
			detail: "Google has not verified this account's email address"},
		{name: "expired token", claims: func(c *tokenClaims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) }, code: signin.ReasonBadToken,
			detail: "The Google sign-in token is not valid (signature, audience or expiry)"},
		{name: "wrong audience", claims: func(c *tokenClaims) { c.Audience = jwt.Audience{"someone-else"} }, code: signin.ReasonBadToken},
		{name: "wrong issuer", claims: func(c *tokenClaims) { c.Issuer = "https://evil.example" }, code: signin.ReasonBadToken},
		{name: "wrong nonce", nonce: "another-session", code: signin.ReasonNonce},
		{name: "suspended in Google", mod: func(c *signin.Config) {
			c.Directory = fakeDirectory{"110169484474386276334": {Exists: true, Disabled: true}}
		}, code: signin.ReasonSuspended, detail: "This account is suspended in Google Workspace"},
		{name: "archived in Google", mod: func(c *signin.Config) {
			c.Directory = fakeDirectory{"110169484474386276334": {Exists: true, Disabled: true, Archived: true}}
		}, code: signin.ReasonSuspended},
		{name: "archived, by a checker that left Disabled unset", mod: func(c *signin.Config) {
			c.Directory = fakeDirectory{"110169484474386276334": {Exists: true, Archived: true}}
		}, code: signin.ReasonSuspended},
		{name: "deleted in Google", mod: func(c *signin.Config) { c.Directory = fakeDirectory{} }, code: signin.ReasonDeleted,
			detail: "This account was deleted in Google Workspace"},
		{name: "blocked in the app", sink: []diff.Account{blocked}, code: signin.ReasonBlocked},
		{name: "exception", mod: func(c *signin.Config) {
			p, err := policy.New(policy.Config{Exceptions: []policy.Exception{{Email: "ann.lee@northwind.example", Note: "CEO"}}})
			require.NoError(t, err)
			c.Policy = p
		}, code: signin.ReasonException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t)
			sink := dirsynctest.NewMemorySink(tt.sink...)
			a := newAuth(t, p, sink, tt.mod)
			c := validClaims()
			if tt.claims != nil {
				tt.claims(&c)
			}
			nonce := "n-0S6_WzA2Mj"
			if tt.nonce != "" {
				nonce = tt.nonce
			}
			d, err := a.SignIn(context.Background(), p.sign(t, c), nonce)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.ErrorIs(t, err, signin.ErrRefused)
			var re *signin.RefusedError
			require.True(t, errors.As(err, &re))
			assert.Equal(t, tt.code, re.Reason.Code, err.Error())
			assert.NotEmpty(t, re.Reason.Detail)
			if tt.detail != "" {
				assert.Equal(t, tt.detail, re.Reason.Detail)
			}
			assert.Equal(t, dirsynctest.NewMemorySink(tt.sink...).Snapshot(), sink.Snapshot(), "a refusal changes nothing")
		})
	}
}

func TestSignatureFromAnotherKey(t *testing.T) {
	p, other := newIDP(t), newIDP(t)
	a := newAuth(t, p, dirsynctest.NewMemorySink(), nil)
	_, err := a.SignIn(context.Background(), other.sign(t, validClaims()), "")
	var re *signin.RefusedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, signin.ReasonBadToken, re.Reason.Code)
}

func TestConfigValidation(t *testing.T) {
	_, err := signin.New(signin.Config{})
	require.Error(t, err)
	for _, want := range []string{"clientId", "google.hostedDomains", "Accounts"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = signin.New(signin.Config{ClientID: "x", Google: &signin.Google{HostedDomains: []string{"a@b.example"}},
		Accounts: signin.AccountFinderFunc(func(context.Context, string, string, string) (*diff.Account, error) { return nil, nil })})
	assert.ErrorContains(t, err, "not a domain")
}

// Config is JSON-tagged so a host can store it: its JSON form holds the
// client ID, Google's hosted domains, the source and the endpoints, and
// none of the Go-only fields (Directory, Accounts, Now, …).
func TestConfigJSON(t *testing.T) {
	finder := signin.AccountFinderFunc(func(context.Context, string, string, string) (*diff.Account, error) { return nil, nil })
	cfg := signin.Config{ClientID: clientID, Google: &signin.Google{HostedDomains: []string{"northwind.example"}}, Source: "northwind-google",
		Accounts: finder, Directory: fakeDirectory{}, Now: func() time.Time { return now }}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.JSONEq(t, `{"clientId":"1234-app.apps.googleusercontent.com","google":{"hostedDomains":["northwind.example"]},"source":"northwind-google"}`, string(b))

	var back signin.Config
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, cfg.Google, back.Google)
	assert.Equal(t, cfg.ClientID, back.ClientID)
	back.Accounts = finder
	_, err = signin.New(back)
	assert.NoError(t, err)
}
