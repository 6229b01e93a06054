package ad

import (
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSearchGroupsSubstring searches groups on the DC by a part of their
// names, as the admin console's group picker does: "adm" finds "App
// Admins" (and a group whose displayName holds the word), and what the
// admin types is matched literally, however much it looks like LDAP filter
// syntax.
func TestSearchGroupsSubstring(t *testing.T) {
	f := needDC(t)
	conn, err := f.admin()
	require.NoError(t, err)
	defer conn.Close()
	base := "OU=dirsync-picker-" + f.tag + "," + f.env.base
	require.NoError(t, addOU(conn, base))
	f.extra = append(f.extra, base)
	odd := `Ops (adm*) \ team`
	for cn, sam := range map[string]string{"App Admins": "appadm", "Sales": "sales", odd: "opsodd", "Finance": "fin", "Starlight": "star"} {
		require.NoError(t, addGroup(conn, "CN="+ldaputil.EscapeRDNValue(cn)+","+base, sam+f.tag, nil))
	}
	require.NoError(t, f.addUser(conn, user{cn: "Picker user", sam: "picker" + f.tag, ou: base}))
	mod := ldap.NewModifyRequest("CN=Finance,"+base, nil)
	mod.Replace("displayName", []string{"Budget Administrators"})
	require.NoError(t, conn.Modify(mod))

	c := f.open(t, base)
	assert.Equal(t, connector.MatchSubstring, connector.GroupSearchMatchOf(c))
	search := func(q string) []string {
		t.Helper()
		gs, err := c.SearchGroups(testCtx(t), q, 0)
		require.NoError(t, err, "search %q", q)
		names := []string{}
		for _, g := range gs {
			names = append(names, g.Attr("cn"))
		}
		return names
	}
	// Sorted by name: displayName first, so Finance sorts as "Budget …".
	assert.Equal(t, []string{"App Admins", "Finance", odd}, search("adm"))
	assert.Equal(t, []string{"App Admins", "Finance"}, search("DMIN"), "a medial substring, any case")
	assert.Equal(t, []string{"App Admins", "Finance", odd, "Sales", "Starlight"}, search(""))
	assert.Equal(t, []string{"Starlight"}, search("light"))
	assert.Equal(t, []string{odd}, search("sODD"+f.tag), "sAMAccountName counts too")
	// Filter syntax in the query is matched as text.
	for _, q := range []string{"*", "(", ")", `\`, "(adm*)", `) \ t`} {
		assert.Equal(t, []string{odd}, search(q), "query %q", q)
	}
	for _, q := range []string{"\x00", "adm\x00", "*)(objectClass=*", "*)(|(cn=*", `\2a`} {
		assert.Empty(t, search(q), "query %q", q)
	}
	// The connector as a whole keeps to what it declares.
	require.NoError(t, connectortest.Test(testCtx(t), c))
}

// TestGroupSearchFilter checks the escaping on its own: every character of
// LDAP filter syntax in the query reaches the DC as \XX, and the filter
// compiles with the query as the one substring it asks for.
func TestGroupSearchFilter(t *testing.T) {
	assert.Equal(t, "(objectClass=group)", groupSearchFilter(""))
	q := "*)(cn=\\x\x00é"
	want := `*\2a\29\28cn=\5cx\00\c3\a9*`
	assert.Equal(t, "(&(objectClass=group)(|(cn="+want+")(name="+want+")(sAMAccountName="+want+")(displayName="+want+")))",
		groupSearchFilter(q))
	p, err := ldap.CompileFilter(groupSearchFilter(q))
	require.NoError(t, err)
	back, err := ldap.DecompileFilter(p)
	require.NoError(t, err)
	assert.Equal(t, groupSearchFilter(q), back, "the filter is what it says: one substring per name attribute")
}
