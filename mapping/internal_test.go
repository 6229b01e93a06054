package mapping

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormDN(t *testing.T) {
	tests := []struct{ a, b string }{
		{"CN=Boss Man,OU=Europe,DC=corp,DC=example", "cn=boss man, ou=europe , dc=corp,dc=EXAMPLE"},
		{"CN = Boss Man , OU=Europe", "cn=Boss Man,ou=Europe"},
		{`CN=Smith\, John,OU=Users`, `cn=smith\, john, ou=users`},
		{`CN=Trailing\ ,OU=X`, `cn=trailing\ , ou=x`},
		{"CN=A;OU=B", "cn=a,ou=b"},
	}
	for _, tt := range tests {
		assert.Equal(t, normDN(tt.a), normDN(tt.b), tt.a)
	}
	assert.NotEqual(t, normDN(`CN=Smith\, John`), normDN("CN=Smith,CN=John"))
	assert.NotEqual(t, normDN(`CN=A\ `), normDN("CN=A"))
	assert.Equal(t, `cn=a\`, normDN(`CN=A\`))
}

func FuzzNormDN(f *testing.F) {
	for _, s := range []string{"CN=Boss Man, OU=Europe", `cn=a\,b ,ou=c\ `, `\`, ",,", "=", " = , = "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		n := normDN(dn)
		require.Equal(t, n, normDN(n), "not idempotent")
	})
}

func TestParseTemplate(t *testing.T) {
	tmpl, err := parseTemplate("{{x}} {a}-{ b }}}")
	require.NoError(t, err)
	assert.Equal(t, []tmplPart{{text: "{x} "}, {attr: "a"}, {text: "-"}, {attr: "b"}, {text: "}"}}, tmpl.parts)
	assert.Equal(t, 2, tmpl.attrs)

	for _, bad := range []string{"{", "{a", "{a {b}", "{}", "{  }", "{a\tb}"} {
		_, err := parseTemplate(bad)
		assert.Error(t, err, bad)
	}
}

func TestKnownTransformsListed(t *testing.T) {
	for _, n := range transformNames {
		if n == "domain:" {
			n = "domain:example.com"
		}
		_, err := parseTransform(n)
		assert.NoError(t, err, n)
	}
}
