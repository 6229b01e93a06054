package main

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
)

type record struct {
	dn    string
	attrs map[string][]string
}

// parse reads the LDIF write produces: records separated by blank lines,
// "name: value" or "name:: base64" lines, no continuation lines.
func parse(t *testing.T, b []byte) []record {
	t.Helper()
	var out []record
	for _, block := range strings.Split(strings.TrimRight(string(b), "\n"), "\n\n") {
		r := record{attrs: map[string][]string{}}
		for _, line := range strings.Split(block, "\n") {
			name, v, ok := strings.Cut(line, ":")
			require.True(t, ok, "line %q", line)
			if strings.HasPrefix(v, ": ") {
				raw, err := base64.StdEncoding.DecodeString(v[2:])
				require.NoError(t, err, "line %q", line)
				v = string(raw)
				require.False(t, safe(v), "%q was base64-encoded without need", v)
			} else {
				require.True(t, strings.HasPrefix(v, " "), "line %q", line)
				v = v[1:]
				require.True(t, safe(v), "%q needs base64", v)
			}
			require.True(t, utf8.ValidString(v))
			if name == "dn" {
				require.Empty(t, r.dn, "two dn lines in %q", block)
				r.dn = v
				continue
			}
			r.attrs[strings.ToLower(name)] = append(r.attrs[strings.ToLower(name)], v)
		}
		require.NotEmpty(t, r.dn, "record without dn: %q", block)
		out = append(out, r)
	}
	return out
}

// TestCompanyIsLoadable checks, for sizes around the team and OU
// boundaries, what an offline import needs and the benchmark relies on:
// unique DNs and sAMAccountNames (AD's limit: 20 characters), every parent
// and every DN a manager or member names written before the record that
// names it, exactly the users asked for, the stated shares disabled and
// expired, and the same bytes on every run.
func TestCompanyIsLoadable(t *testing.T) {
	for _, n := range []int{1, 2, 24, 25, 26, 241, 1000, 2003} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			cfg := config{users: n, base: "DC=example,DC=test", ou: "dirsync-bench", domain: "example.test"}
			var b bytes.Buffer
			st, err := write(&b, cfg)
			require.NoError(t, err)
			var again bytes.Buffer
			_, err = write(&again, cfg)
			require.NoError(t, err)
			require.Equal(t, b.Bytes(), again.Bytes(), "not deterministic")

			recs := parse(t, b.Bytes())
			seen := map[string]bool{}
			sams := map[string]bool{}
			norm := func(dn string) string {
				s, err := ldaputil.NormalizeDN(dn)
				require.NoError(t, err, dn)
				return s
			}
			root := norm(st.root)
			users, disabled, expired, groups, managed, commas, nonASCII := 0, 0, 0, 0, 0, 0, 0
			for i, r := range recs {
				dn := norm(r.dn)
				require.False(t, seen[dn], "duplicate DN %s", r.dn)
				if i > 0 {
					parsed, err := ldaputil.ParseDN(r.dn)
					require.NoError(t, err)
					parent := &ldap.DN{RDNs: parsed.RDNs[1:]}
					require.True(t, seen[norm(parent.String())], "%s written before its parent", r.dn)
					under, err := ldaputil.IsUnder(r.dn, st.root)
					require.NoError(t, err)
					require.True(t, under, "%s outside %s", r.dn, root)
				}
				for _, ref := range append(append([]string{}, r.attrs["manager"]...), r.attrs["member"]...) {
					require.True(t, seen[norm(ref)], "%s names %s before it is written", r.dn, ref)
				}
				seen[dn] = true
				if sam := r.attrs["samaccountname"]; len(sam) > 0 {
					require.Len(t, sam, 1)
					require.LessOrEqual(t, len(sam[0]), 20, sam[0])
					require.True(t, safe(sam[0]), sam[0])
					key := strings.ToLower(sam[0])
					require.False(t, sams[key], "duplicate sAMAccountName %s", sam[0])
					sams[key] = true
				}
				if strings.Contains(r.dn, `\,`) {
					commas++
				}
				if !safe(r.dn) {
					nonASCII++
				}
				switch oc := r.attrs["objectclass"]; oc[len(oc)-1] {
				case "user":
					users++
					uac, err := ldaputil.ParseUserAccountControl(r.attrs["useraccountcontrol"][0])
					require.NoError(t, err)
					if uac.Disabled() {
						disabled++
					}
					if len(r.attrs["accountexpires"]) > 0 {
						expired++
					}
					if len(r.attrs["manager"]) > 0 {
						managed++
					}
					require.NotEmpty(t, r.attrs["userprincipalname"])
				case "group":
					groups++
				}
			}
			require.Equal(t, n, users)
			require.Equal(t, st.users, users)
			require.Equal(t, st.disabled, disabled)
			require.Equal(t, st.expired, expired)
			require.Equal(t, st.groups, groups)
			require.Equal(t, n/20+boolInt(n%20 >= 7), disabled, "5% disabled")
			require.Equal(t, n/100+boolInt(n%100 >= 42), expired, "1% expired")
			if n >= 1000 {
				require.Greater(t, managed, n*9/10, "most users have a manager")
				require.Positive(t, commas, "no DN with an escaped comma")
				require.Positive(t, nonASCII, "no non-ASCII DN")
			}
		})
	}
}

func TestNoUsersIsAnError(t *testing.T) {
	_, err := write(&bytes.Buffer{}, config{users: 0, base: "DC=example,DC=test", ou: "x"})
	require.Error(t, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
