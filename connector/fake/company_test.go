package fake

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
)

func TestCompanyDeterministic(t *testing.T) {
	a, b := Company(200, 42), Company(200, 42)
	assert.Equal(t, a, b)
	c := Company(200, 43)
	assert.NotEqual(t, a[0].ID, c[0].ID)
	assert.NotEqual(t, a[len(a)-1].ID, c[len(c)-1].ID, "group IDs depend on the seed too")
	// A bigger company starts with the same users.
	big := Company(300, 42)
	assert.Equal(t, a[:200], big[:200])
}

func TestCompanyEmpty(t *testing.T) {
	for _, n := range []int{0, -5} {
		es := Company(n, 1)
		require.Len(t, es, len(companyGroups))
		for _, e := range es {
			assert.Equal(t, connector.KindGroup, e.Kind)
			for _, m := range e.Members {
				assert.Contains(t, []string{"All Staff", "Privileged Access"}, e.Attr("cn"), "only nested groups have members: %s", m)
			}
		}
	}
}

func TestCompanyShape(t *testing.T) {
	const n = 2000
	es := Company(n, 7)
	require.Len(t, es, n+len(companyGroups))

	byID := map[string]*connector.Entry{}
	byDN := map[string]*connector.Entry{}
	sams, mails := map[string]bool{}, map[string]bool{}
	paths := map[string]int{}
	var disabled, cyrillic, commas, service int
	for i := range es {
		e := &es[i]
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, e.ID)
		require.NotContains(t, byID, e.ID, "IDs are unique")
		byID[e.ID] = e
		norm, err := ldaputil.NormalizeDN(e.DN)
		require.NoError(t, err, e.DN)
		require.NotContains(t, byDN, norm, "DNs are unique")
		byDN[norm] = e

		path, err := ldaputil.OUPath(e.DN)
		require.NoError(t, err)
		require.Equal(t, e.Path, path, "Path matches the DN of %s", e.DN)
		require.True(t, strings.HasSuffix(e.DN, ",DC=example,DC=test"), e.DN)

		sam := e.Attr("sAMAccountName")
		require.NotEmpty(t, sam)
		require.False(t, sams[sam], "sAMAccountName %q is unique", sam)
		sams[sam] = true
		if e.Kind != connector.KindUser {
			continue
		}
		paths[strings.Join(e.Path, "/")]++
		require.LessOrEqual(t, len(sam), 20, "pre-Windows 2000 names have at most 20 characters")
		for _, r := range sam {
			require.True(t, r < unicode.MaxASCII, "sAMAccountName %q is ASCII", sam)
		}
		upn := e.Attr("userPrincipalName")
		require.Equal(t, sam+"@example.test", upn)
		if mail := e.Attr("mail"); mail != "" {
			require.Equal(t, upn, mail)
			require.False(t, mails[mail])
			mails[mail] = true
		}
		uac, err := ldaputil.ParseUserAccountControl(e.Attr("userAccountControl"))
		require.NoError(t, err)
		require.Equal(t, e.Disabled, uac.Disabled(), "Disabled agrees with userAccountControl")
		if e.Disabled {
			disabled++
		}
		if slices.Equal(e.Path, []string{"Service Accounts"}) {
			service++
			assert.Empty(t, e.Attr("mail"))
			assert.Empty(t, e.Attr("manager"))
			assert.True(t, strings.HasPrefix(sam, "svc-"), sam)
		} else {
			for _, a := range []string{"givenName", "sn", "displayName", "title", "department", "telephoneNumber"} {
				assert.NotEmpty(t, e.Attr(a), "%s of %s", a, e.DN)
			}
		}
		if strings.ContainsFunc(e.Attr("givenName"), func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) {
			cyrillic++
			assert.Equal(t, []string{"Europe", "Russia", "Moscow users"}, e.Path)
			assert.True(t, strings.ContainsFunc(e.Attr("sn"), func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }))
		}
		if strings.Contains(e.DN, `\,`) {
			commas++
		}
	}
	assert.Len(t, paths, len(companyOUs), "every unit has users: %v", paths)
	assert.Contains(t, paths, "Europe/Sales department users")
	assert.Contains(t, paths, "IT Users")
	assert.Contains(t, paths, "Contractors")
	assert.InDelta(t, n*0.05, disabled, n*0.03, "some users are disabled")
	assert.Positive(t, cyrillic)
	assert.Positive(t, commas, "some DNs carry an escaped comma")
	assert.Positive(t, service)

	// Managers resolve to users of the same unit; membership agrees on
	// both sides.
	managers := 0
	for i := range es {
		e := &es[i]
		if m := e.Attr("manager"); m != "" {
			norm, err := ldaputil.NormalizeDN(m)
			require.NoError(t, err)
			boss, ok := byDN[norm]
			require.True(t, ok, "manager %s of %s exists", m, e.DN)
			assert.Equal(t, e.Path, boss.Path)
			managers++
		}
		for _, g := range e.MemberOf {
			require.Contains(t, byID[g].Members, e.ID)
		}
		for _, m := range e.Members {
			require.Contains(t, byID[m].MemberOf, e.ID)
		}
	}
	assert.Greater(t, managers, n/2)

	snap, err := connector.NewSnapshot(es)
	require.NoError(t, err)
	groupsByName := map[string]string{}
	for _, g := range snap.Groups() {
		groupsByName[g.Attr("cn")] = g.ID
	}
	for _, u := range snap.Users() {
		ids := snap.GroupIDs(u.ID)
		if slices.Contains(u.MemberOf, groupsByName["IT Admins"]) {
			assert.Contains(t, ids, groupsByName["Privileged Access"], "nested groups")
		}
		if slices.Equal(u.Path, []string{"Europe", "Sales department users"}) {
			assert.Contains(t, ids, groupsByName["All Staff"])
		}
		if slices.Equal(u.Path, []string{"Contractors"}) {
			assert.NotContains(t, ids, groupsByName["All Staff"])
		}
	}
}

// Each entry's slices are capped: appending to one never changes another.
func TestCompanySlicesAreCapped(t *testing.T) {
	es := Company(20, 1)
	for i := range es {
		e := &es[i]
		before := e.Clone()
		e.Path = append(e.Path, "x")
		e.MemberOf = append(e.MemberOf, "y")
		for k, v := range e.Attrs {
			e.Attrs[k] = append(v, "z")
		}
		e.Attrs = before.Attrs
		e.Path, e.MemberOf = before.Path, before.MemberOf
		assert.Equal(t, before, e.Clone())
	}
	assert.Equal(t, Company(20, 1), es)
}

func TestMakeIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, salt := range []uint64{saltUser, saltGroup} {
		for i := range 50_000 {
			id := makeID(3, salt, i)
			require.False(t, seen[id])
			seen[id] = true
		}
	}
}
