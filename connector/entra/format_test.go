package entra

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPEM returns a self-signed certificate and its unencrypted RSA key
// in PEM, and a distinctive piece of the key's encoding.
func testPEM(t *testing.T) (string, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dirsync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	lines := strings.Split(string(keyPEM), "\n")
	return string(certPEM) + string(keyPEM), lines[len(lines)/2] // a line from the middle of the key
}

// TestNoSecretInAnyFormatting: the client secret and the private key
// never appear when a Connector, a Config, or a struct holding them is
// printed with any verb or logged through slog (JSON and text, as a
// value and as a struct field).
func TestNoSecretInAnyFormatting(t *testing.T) {
	const secret = "Zq8~dirsync-SECRET-7f3a9c"
	pemData, keyPiece := testPEM(t)

	// A Logger in the Config changes none of the redaction.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	withSecret, err := Open(t.Context(), Config{TenantID: "contoso.onmicrosoft.com", ClientID: "client-id", ClientSecret: secret, Logger: logger})
	require.NoError(t, err)
	withCert, err := Open(t.Context(), Config{TenantID: "contoso.onmicrosoft.com", ClientID: "client-id", CertificatePEM: pemData, Logger: logger})
	require.NoError(t, err)
	cfgSecret, cfgCert := withSecret.Config(), withCert.Config()

	type holder struct {
		Name      string
		Connector *Connector
		Config    Config
		ConfigPtr *Config
		Any       any
	}
	values := map[string]any{
		"*Connector(secret)": withSecret, "*Connector(cert)": withCert,
		"Connector(secret)": *withSecret, "Connector(cert)": *withCert,
		"Config(secret)": cfgSecret, "Config(cert)": cfgCert, "*Config": &cfgCert,
		"holder(secret)": holder{Name: "h", Connector: withSecret, Config: cfgSecret, ConfigPtr: &cfgSecret, Any: *withSecret},
		"holder(cert)":   &holder{Name: "h", Connector: withCert, Config: cfgCert, ConfigPtr: &cfgCert, Any: cfgCert},
		"slice":          []any{withSecret, cfgCert, *withCert},
		"map":            map[string]any{"c": withCert, "cfg": cfgSecret},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%100v", "%-v"}
	check := func(what, out string) {
		t.Helper()
		assert.NotContains(t, out, secret, what)
		assert.NotContains(t, out, keyPiece, what)
		assert.NotContains(t, out, "PRIVATE KEY", what)
	}
	for name, v := range values {
		for _, verb := range verbs {
			check(name+" "+verb, fmt.Sprintf(verb, v))
		}
		check(name+" Sprint", fmt.Sprint(v))
		check(name+" Sprintln", fmt.Sprintln(v))

		for _, h := range []struct {
			name string
			mk   func(*bytes.Buffer) slog.Handler
		}{
			{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
			{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		} {
			var buf bytes.Buffer
			log := slog.New(h.mk(&buf))
			log.Info("value", "v", v)
			log.Info("any", slog.Any("v", v))
			log.Info("group", slog.Group("g", slog.Any("v", v)))
			log.With("w", v).Info("with")
			log.Info("struct field", "s", struct{ V any }{v})
			check(name+" slog "+h.name, buf.String())
			assert.NotEmpty(t, buf.String())
		}
	}
	// What is printed still says what matters.
	assert.Contains(t, fmt.Sprintf("%+v", withSecret), "contoso.onmicrosoft.com")
	assert.Contains(t, fmt.Sprintf("%v", withSecret), "[redacted]")

	// encoding/json leaves the secret and the key out; the rest round-trips.
	for _, cfg := range []Config{cfgSecret, cfgCert} {
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		check("json.Marshal", string(b))
		var back Config
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, cfg.TenantID, back.TenantID)
		assert.Equal(t, cfg.GraphBaseURL, back.GraphBaseURL)
		assert.Empty(t, back.ClientSecret)
		assert.Empty(t, back.CertificatePEM)
	}
	// Reading a stored configuration (secret included) still works.
	var in Config
	require.NoError(t, json.Unmarshal([]byte(`{"tenantID":"t","clientID":"c","clientSecret":"`+secret+`"}`), &in))
	assert.Equal(t, secret, in.ClientSecret)
}
