package ldaputil

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestOUPath(t *testing.T) {
	tests := []struct {
		name string
		dn   string
		want []string
	}{
		{
			name: "escaped comma in CN",
			dn:   `CN=Smith\, John,OU=Sales department users,OU=Europe,DC=example,DC=test`,
			want: []string{"Europe", "Sales department users"},
		},
		{
			name: "hex-escaped comma in OU",
			dn:   `CN=a,OU=Sales\2C EMEA,DC=example,DC=test`,
			want: []string{"Sales, EMEA"},
		},
		{
			name: "hex-escaped UTF-8",
			dn:   `CN=J\C3\B6rg,OU=M\C3\BCnchen,OU=Europe,DC=example,DC=test`,
			want: []string{"Europe", "München"},
		},
		{
			name: "raw UTF-8",
			dn:   `CN=Иван Петров,OU=Москва,OU=Europe,DC=example,DC=test`,
			want: []string{"Europe", "Москва"},
		},
		{
			name: "multi-valued RDN",
			dn:   `CN=a+OU=Inner,OU=Outer,DC=example,DC=test`,
			want: []string{"Outer", "Inner"},
		},
		{
			name: "lower case and spaces",
			dn:   `cn=John , ou = IT Users ,dc=example,dc=test`,
			want: []string{"IT Users"},
		},
		{
			name: "default Users container is not an OU",
			dn:   `CN=John,CN=Users,DC=example,DC=test`,
			want: nil,
		},
		{
			name: "org unit itself",
			dn:   `OU=Europe,DC=example,DC=test`,
			want: []string{"Europe"},
		},
		{
			name: "escaped plus and equals",
			dn:   `CN=x,OU=R\+D \= Lab,DC=example,DC=test`,
			want: []string{"R+D = Lab"},
		},
		{name: "empty", dn: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OUPath(tt.dn)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestOUPathErrors(t *testing.T) {
	for _, dn := range []string{
		`CN=John,OU`,
		`=x,DC=test`,
		`OU=a\`,
		`OU=,DC=example`,
		`OU=a\zz,DC=example`,
		`OU=#zz,DC=example`,
	} {
		_, err := OUPath(dn)
		assert.Error(t, err, dn)
	}
}

func TestNormalizeDN(t *testing.T) {
	a, err := NormalizeDN(`CN=Smith\, John,OU=Sales,DC=Example,DC=TEST`)
	require.NoError(t, err)
	b, err := NormalizeDN(`cn=smith\2c john, ou=sales,dc=example,dc=test`)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Equal(t, `cn=smith\, john,ou=sales,dc=example,dc=test`, a)

	c, err := NormalizeDN(`OU=b+CN=a,DC=x`)
	require.NoError(t, err)
	d, err := NormalizeDN(`cn=A+ou=B,dc=X`)
	require.NoError(t, err)
	assert.Equal(t, c, d)

	e, err := NormalizeDN(`CN=Иван,DC=x`)
	require.NoError(t, err)
	f, err := NormalizeDN(`cn=\D0\B8\D0\B2\D0\B0\D0\BD,dc=x`)
	require.NoError(t, err)
	assert.Equal(t, e, f)

	_, err = NormalizeDN(`CN=a,OU`)
	assert.Error(t, err)
}

func TestIsUnder(t *testing.T) {
	tests := []struct {
		dn, base string
		want     bool
	}{
		{`CN=a,OU=Europe,DC=example,DC=test`, `OU=Europe,DC=example,DC=test`, true},
		{`CN=a,OU=Europe,DC=example,DC=test`, `ou=europe,dc=EXAMPLE,dc=test`, true},
		{`OU=Europe,DC=example,DC=test`, `OU=Europe,DC=example,DC=test`, true},
		{`CN=a,OU=Asia,DC=example,DC=test`, `OU=Europe,DC=example,DC=test`, false},
		{`DC=example,DC=test`, `OU=Europe,DC=example,DC=test`, false},
		{`CN=a,DC=test`, ``, true},
	}
	for _, tt := range tests {
		got, err := IsUnder(tt.dn, tt.base)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "%s under %s", tt.dn, tt.base)
	}
	_, err := IsUnder("CN=a", "OU")
	assert.Error(t, err)
	_, err = IsUnder("CN", "OU=a")
	assert.Error(t, err)
}

func TestEscapeRDNValue(t *testing.T) {
	for _, v := range []string{"Smith, John", " lead", "trail ", "#hash", `a+b=c;d<e>f"g\h`, "Иван", "nul\x00"} {
		dn := "CN=" + EscapeRDNValue(v) + ",OU=" + EscapeRDNValue(v) + ",DC=x"
		path, err := OUPath(dn)
		require.NoError(t, err, dn)
		assert.Equal(t, []string{v}, path, dn)
	}
}

func FuzzOUPath(f *testing.F) {
	for _, seed := range []string{
		`CN=Smith\, John,OU=Sales department users,OU=Europe,DC=example,DC=test`,
		`CN=J\C3\B6rg,OU=M\C3\BCnchen,DC=example,DC=test`,
		`CN=a+OU=Inner,OU=Outer,DC=example,DC=test`,
		`OU=#04024869,DC=x`,
		`OU=\ lead\ ,DC=x`,
		`cn=x;ou=y;dc=z`,
		``,
		`OU=a\`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		path, err := OUPath(dn)
		if err != nil {
			return
		}
		for _, p := range path {
			require.NotEmpty(t, p)
		}
		norm, err := NormalizeDN(dn)
		require.NoError(t, err, "OUPath accepted %q", dn)
		again, err := NormalizeDN(norm)
		require.NoError(t, err, "normal form %q of %q", norm, dn)
		require.Equal(t, norm, again, "normal form of %q is not stable", dn)
		normPath, err := OUPath(norm)
		require.NoError(t, err)
		require.Len(t, normPath, len(path))
		for i := range path {
			require.Equal(t, strings.ToLower(path[i]), normPath[i], "normal form %q of %q", norm, dn)
		}
	})
}

// deepDN has n RDNs.
func deepDN(n int) string {
	return "cn=a" + strings.Repeat(",ou=x", n-1)
}

// CheckDNDepth counts RDNs as go-ldap's ParseDN splits them, escapes
// included, and draws the line at MaxDNDepth.
func TestCheckDNDepthCountsLikeParseDN(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, MaxDNDepth+3).Draw(t, "rdns")
		rdns := make([]string, n)
		for i := range rdns {
			v := rapid.SampledFrom([]string{"x", `a\,b`, `a\;b`, `a\\`, `\2C`, `J\C3\B6rg`, "a+cn=b", " s p "}).Draw(t, "value")
			rdns[i] = rapid.SampledFrom([]string{"ou", "cn", "dc"}).Draw(t, "type") + "=" + v
		}
		dn := strings.Join(rdns, rapid.SampledFrom([]string{",", ";", ", "}).Draw(t, "sep"))
		parsed, perr := ldap.ParseDN(dn)
		require.NoError(t, perr, dn)
		require.Len(t, parsed.RDNs, n, dn)

		err := CheckDNDepth(dn)
		if n > MaxDNDepth {
			require.ErrorIs(t, err, ErrDNTooDeep)
		} else {
			require.NoError(t, err)
		}
		for _, f := range []func() error{
			func() error { _, err := ParseDN(dn); return err },
			func() error { _, err := OUPath(dn); return err },
			func() error { _, err := NormalizeDN(dn); return err },
			func() error { _, err := IsUnder(dn, "dc=x"); return err },
			func() error { _, err := IsUnder("dc=x", dn); return err },
		} {
			if err := f(); n > MaxDNDepth {
				require.ErrorIs(t, err, ErrDNTooDeep)
			} else {
				require.NotErrorIs(t, err, ErrDNTooDeep)
			}
		}
	})
}

// A DN of 100,000 levels is refused before it is parsed: no allocation
// per level, and an error message of bounded size.
func TestDeepDNIsCheap(t *testing.T) {
	dn := deepDN(100_000)
	shallow := deepDN(MaxDNDepth)
	assert.Zero(t, testing.AllocsPerRun(10, func() { _ = CheckDNDepth(shallow) }))
	for name, f := range map[string]func() error{
		"OUPath":      func() error { _, err := OUPath(dn); return err },
		"NormalizeDN": func() error { _, err := NormalizeDN(dn); return err },
		"IsUnder":     func() error { _, err := IsUnder(dn, ""); return err },
	} {
		var err error
		allocs := testing.AllocsPerRun(5, func() { err = f() })
		require.ErrorIs(t, err, ErrDNTooDeep, name)
		assert.LessOrEqual(t, allocs, 20.0, name, "a few for the error, none per level")
		assert.Less(t, len(err.Error()), 400, name)
	}
}
