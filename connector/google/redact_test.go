package google_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/google"
)

// secretsOf returns distinctive pieces of a service-account JSON key: a
// line of the PEM body, the private_key_id and the whole key.
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
	// %q, %x and JSON change how a string looks; check those forms too.
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

// logged logs v through slog's JSON and text handlers, as a top-level
// attribute, as slog.Any, in a group and inside structs (exported and
// unexported fields).
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

// TestNoSecretInAnyFormatting: the connector and its Config, printed with
// any verb or logged through slog (also nested in a struct), never show the
// service-account key nor an access token the connector holds. (Sign-in's
// values holding a connector are checked in package signin.)
func TestNoSecretInAnyFormatting(t *testing.T) {
	fk := newFake(t)
	keyJSON := string(fk.ServiceAccountJSON(key()))
	secrets := secretsOf(t, keyJSON)

	cfg := google.Config{ServiceAccountJSON: keyJSON, Subject: adminEmail, Endpoint: fk.URL}
	c, err := google.Open(t.Context(), cfg)
	require.NoError(t, err)
	// After a read the connector caches an access token; that is a secret too.
	_, err = connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	secrets = append(secrets, "ya29.fake-")

	// A token source whose token is a secret.
	tsCfg := google.Config{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.fake-static-token", RefreshToken: "1//refresh-secret"}), Domain: "example.com", Endpoint: fk.URL}
	tsConn, err := google.Open(t.Context(), tsCfg)
	require.NoError(t, err)
	secrets = append(secrets, "1//refresh-secret")

	values := map[string]any{
		"Config":                    cfg,
		"*Config":                   &cfg,
		"Config with TokenSource":   tsCfg,
		"Connector.Config()":        c.Config(),
		"*Connector":                c,
		"Connector":                 *c,
		"*Connector (token source)": tsConn,
		"struct{Conn *Connector}":   struct{ Conn *google.Connector }{c},
		"struct{conn *Connector}":   struct{ conn *google.Connector }{c},
		"struct{conn Connector}":    struct{ conn google.Connector }{*c},
		"struct{Cfg Config}":        struct{ Cfg google.Config }{cfg},
		"[]*Connector":              []*google.Connector{c},
		"map[string]Config":         map[string]google.Config{"k": cfg},
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
	assert.Contains(t, fmt.Sprint(c), adminEmail)
	assert.Contains(t, fmt.Sprint(c), "[redacted]")
}

// The JSON form of Config carries a placeholder instead of the key; a
// Config read back from it is refused by Open with a sentence saying where
// the key must come from, rather than failing later on a broken key.
func TestConfigJSONRedactsKey(t *testing.T) {
	fk := newFake(t)
	keyJSON := string(fk.ServiceAccountJSON(key()))
	b, err := json.Marshal(google.Config{ServiceAccountJSON: keyJSON, Subject: adminEmail})
	require.NoError(t, err)
	assertNoSecret(t, secretsOf(t, keyJSON), map[string]string{"json": string(b)})
	assert.Contains(t, string(b), `"serviceAccountJSON":"[redacted]"`)

	var back google.Config
	require.NoError(t, json.Unmarshal(b, &back))
	_, err = google.Open(t.Context(), back)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret store")
}
