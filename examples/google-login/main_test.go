package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/dirsync-go/dirsync/signin"
)

const clientID = "demo.apps.googleusercontent.com"

// provider is a fake Google: the token endpoint of the code exchange and
// the key set of the ID tokens it returns.
type provider struct {
	*httptest.Server
	signer jose.Signer

	mu   sync.Mutex
	next map[string]any // claims of the next ID token
}

func newProvider(t *testing.T) *provider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &provider{}
	p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	require.NoError(t, err)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwks)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		claims := p.next
		p.mu.Unlock()
		idToken, err := jwt.Signed(p.signer).Claims(claims).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

func (p *provider) willSign(sub, email, hd, nonce string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = map[string]any{"iss": p.URL, "aud": clientID, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": nonce, "email": email, "email_verified": true, "hd": hd, "given_name": "Ann", "family_name": "Lee", "name": "Ann Lee"}
}

// signIn runs the browser's side: /login (cookies and the redirect to
// Google), then Google's redirect back to /callback with a code.
func signIn(t *testing.T, h http.Handler, p *provider, sub, email, hd string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	require.Equal(t, http.StatusFound, rec.Code)
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	cookies := rec.Result().Cookies()
	p.willSign(sub, email, hd, loc.Query().Get("nonce"))

	req := httptest.NewRequest("GET", "/callback?code=c&state="+url.QueryEscape(loc.Query().Get("state")), nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSignInFlow(t *testing.T) {
	p := newProvider(t)
	a, err := newApp(&oauth2.Config{ClientID: clientID, ClientSecret: "s", RedirectURL: "http://app/callback",
		Endpoint: oauth2.Endpoint{AuthURL: p.URL + "/auth", TokenURL: p.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "email", "profile"}},
		signin.Config{ClientID: clientID, Google: &signin.Google{HostedDomains: []string{"northwind.example"}}, Source: "google-login",
			Issuer: p.URL, JWKSURL: p.URL + "/jwks"})
	require.NoError(t, err)
	h := a.handler()

	rec := signIn(t, h, p, "1101", "ann.lee@northwind.example", "northwind.example")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), "Welcome, Ann Lee")
	assert.Contains(t, rec.Body.String(), "First sign-in with Google")
	acc, ok := a.sink.Get("google-login", "1101")
	require.True(t, ok, "the first sign-in created the account")
	assert.Equal(t, "ann.lee@northwind.example", acc.Email)

	rec = signIn(t, h, p, "1101", "ann.lee@northwind.example", "northwind.example")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), "Known account")
	assert.Len(t, a.sink.Snapshot(), 1)

	rec = signIn(t, h, p, "2202", "eve@evil.example", "evil.example")
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "Sign-in with evil.example is not allowed for this organization")
	assert.Len(t, a.sink.Snapshot(), 1)

	// A callback whose state is not the browser's is refused before any exchange.
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/callback?code=c&state=forged", nil)
	req.AddCookie(&http.Cookie{Name: "state", Value: "mine"})
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "did not start here")
}
