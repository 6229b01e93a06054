package signin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
	"github.com/dirsync-go/dirsync/signin"
)

// TestNoSecretInAnyFormatting: an Authenticator and its Config whose
// Directory is connector/google's Connector (holding a service-account key
// and, after a read, an access token), printed with any verb, logged
// through slog (also nested in a struct) or encoded as JSON, show neither.
func TestNoSecretInAnyFormatting(t *testing.T) {
	_, dir, keyJSON := newGoogleDirectory(t, fakegoogle.User{ID: "u1", PrimaryEmail: "ann.lee@northwind.example"})
	// After a read the connector caches an access token; that is a secret too.
	_, err := connector.ReadAll(t.Context(), dir)
	require.NoError(t, err)
	secrets := append(secretsOf(t, keyJSON), "ya29.fake-")

	finder := signin.AccountFinderFunc(func(context.Context, string, string, string) (*diff.Account, error) { return nil, nil })
	cfg := signin.Config{ClientID: "app.apps.googleusercontent.com", Google: &signin.Google{HostedDomains: []string{"example.com"}},
		Directory: dir, Accounts: finder}
	auth, err := signin.New(cfg)
	require.NoError(t, err)

	values := map[string]any{
		"*Authenticator":           auth,
		"Authenticator":            *auth,
		"Config":                   cfg,
		"*Config":                  &cfg,
		"struct{a *Authenticator}": struct{ a *signin.Authenticator }{auth},
		"struct{a Authenticator}":  struct{ a signin.Authenticator }{*auth},
		"struct{C Config}":         struct{ C signin.Config }{cfg},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			assertNoSecret(t, secrets, formatted(v))
			assertNoSecret(t, secrets, logged(v))
			if b, err := json.Marshal(v); err == nil {
				assertNoSecret(t, secrets, map[string]string{"json.Marshal": string(b)})
			}
		})
	}

	// The redacted forms still say what is configured.
	assert.Contains(t, fmt.Sprint(auth), "app.apps.googleusercontent.com")
	assert.Contains(t, fmt.Sprint(auth), "example.com")
}

// secretsOf returns distinctive pieces of a service-account JSON key: a
// line of the PEM body in several encodings, the private_key_id and the
// whole key.
func secretsOf(t *testing.T, keyJSON string) []string {
	t.Helper()
	var k struct {
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(keyJSON), &k))
	lines := strings.Split(k.PrivateKey, "\n")
	require.Greater(t, len(lines), 5)
	pem := lines[3] // a 64-character line from the middle of the PEM body
	require.Len(t, pem, 64)
	return []string{pem, pem[:24], fmt.Sprintf("%x", pem[:24]), fmt.Sprintf("%X", pem[:24]), "PRIVATE KEY", k.PrivateKeyID, keyJSON}
}

// formatted prints v with every verb a host might use.
func formatted(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	return out
}

// logged logs v through slog's JSON and text handlers: as an attribute,
// with slog.Any, in a group, inside structs, with With, and by pointer.
func logged(v any) map[string]string {
	out := map[string]string{}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		l := slog.New(h(&buf))
		l.Info("plain", "v", v)
		l.Info("any", slog.Any("v", v))
		l.Info("group", slog.Group("g", slog.Any("v", v)))
		l.Info("nested", "s", struct {
			Conn  any
			Inner struct{ X any }
		}{Conn: v, Inner: struct{ X any }{v}})
		l.With("w", v).Info("with")
		l.Info("ptr", "p", &v)
		out[name] = buf.String()
	}
	return out
}

func assertNoSecret(t *testing.T, secrets []string, outputs map[string]string) {
	t.Helper()
	for how, s := range outputs {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows the secret %.30q…:\n%.400s", how, secret, s)
			}
		}
	}
}
