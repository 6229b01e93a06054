package fakegoogle

import (
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The operators and examples of "Search for groups".
func TestGroupQuery(t *testing.T) {
	s := New("admin@example.com")
	defer s.Close()
	for _, g := range []Group{
		{ID: "1", Email: "supportgroup@example.com", Name: "Support group"},
		{ID: "2", Email: "support@example.com", Name: "contact"},
		{ID: "3", Email: "contactsupport@example.com", Name: "contactgroup"},
		{ID: "4", Email: "valentine@example.com", Name: "Valentine's Day"},
		{ID: "5", Email: "admins@example.com", Name: "App Admins"},
	} {
		s.AddGroup(g)
	}
	s.AddMember("5", Member{ID: "u1", Email: "ann@example.com", Type: "USER"})
	tok := s.StaticToken()
	ids := func(query string) []string {
		t.Helper()
		code, m := get(t, s, tok, "/admin/directory/v1/groups?customer=my_customer&query="+url.QueryEscape(query))
		require.Equal(t, 200, code, "%s: %v", query, m)
		out := []string{}
		gs, _ := m["groups"].([]any)
		for _, g := range gs {
			out = append(out, g.(map[string]any)["id"].(string))
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, []string{"1", "2"}, ids("email:support*"))
	assert.Equal(t, []string{"2"}, ids("name=contact"))
	assert.Equal(t, []string{"2", "3"}, ids("name:contact*"))
	assert.Equal(t, []string{"2"}, ids("name:contact* email:support*"), "clauses are ANDed")
	assert.Equal(t, []string{"4"}, ids(`name='Valentine\'s Day'`))
	assert.Equal(t, []string{"4"}, ids(`name:'Valentine\'s D'*`))
	assert.Equal(t, []string{"5"}, ids("name:APP*"))
	assert.Empty(t, ids("name:adm*"), "a prefix of the name, not of a word")
	assert.Equal(t, []string{"5"}, ids("memberKey=ann@example.com"))
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, ids(""))

	for _, bad := range []string{"name:adm", "adm", "title:x*", "name:'open", "name:a'b*", "memberKey=u1 name=x",
		"memberKey:u1*", "name=a)b OR x", "name:ab*c"} {
		code, m := get(t, s, tok, "/admin/directory/v1/groups?customer=my_customer&query="+url.QueryEscape(bad))
		assert.Equal(t, 400, code, bad)
		assert.Equal(t, "Invalid Input", m["error"].(map[string]any)["message"], bad)
	}
}
