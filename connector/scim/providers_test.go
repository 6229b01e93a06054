package scim_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// Requests shaped as the providers' documentation shows them.
//
// Entra ID: "Tutorial: Develop and plan provisioning for a SCIM endpoint in
// Microsoft Entra ID",
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
// (section "Request and response examples"), and "Known issues and
// resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra user
// provisioning service",
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility.
//
// Okta: "SCIM 2.0 protocol reference",
// https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20.

const (
	urnEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	entraGroupURN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

type person struct {
	userName, given, family, email, externalID, department, title string
}

// entraProbe is the query Entra sends before it creates a user; a user it
// does not find must come back as an empty list, not a 404.
func entraProbe(t testing.TB, c *client, userName string) response {
	t.Helper()
	return c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil).mustStatus(t, http.StatusOK)
}

func entraCreateUser(t testing.TB, c *client, p person) string {
	t.Helper()
	require.Equal(t, 0, entraProbe(t, c, p.userName).total())
	body := map[string]any{
		"schemas":     []string{scim.URNUser, urnEnterprise},
		"externalId":  p.externalID,
		"userName":    p.userName,
		"active":      true,
		"emails":      []any{map[string]any{"primary": true, "type": "work", "value": p.email}},
		"meta":        map[string]any{"resourceType": "User"},
		"name":        map[string]any{"formatted": p.given + " " + p.family, "familyName": p.family, "givenName": p.given},
		"roles":       []any{},
		"title":       p.title,
		urnEnterprise: map[string]any{"department": p.department},
	}
	r := c.do(http.MethodPost, "/Users", body).mustStatus(t, http.StatusCreated)
	require.NotEmpty(t, r.id())
	return r.id()
}

// entraPatch sends operations as Entra does: op capitalised.
func entraPatch(t testing.TB, c *client, endpoint, id string, ops ...map[string]any) response {
	t.Helper()
	return c.do(http.MethodPatch, endpoint+"/"+id, patchOp(ops...))
}

// entraDisable deactivates with the string "False" (known issues page).
func entraDisable(t testing.TB, c *client, id string) {
	t.Helper()
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "active", "value": "False"}).mustStatus(t, http.StatusOK)
}

func entraEnable(t testing.TB, c *client, id string) {
	t.Helper()
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "active", "value": "True"}).mustStatus(t, http.StatusOK)
}

func entraCreateGroup(t testing.TB, c *client, displayName, externalID string) string {
	t.Helper()
	r := c.do(http.MethodGet, "/Groups?excludedAttributes=members&filter="+url.QueryEscape(`displayName eq "`+displayName+`"`), nil).mustStatus(t, http.StatusOK)
	require.Equal(t, 0, r.total())
	r = c.do(http.MethodPost, "/Groups", map[string]any{
		"schemas":     []string{scim.URNGroup, entraGroupURN},
		"externalId":  externalID,
		"id":          "ignored-by-the-server",
		"displayName": displayName,
		"meta":        map[string]any{"resourceType": "Group"},
	}).mustStatus(t, http.StatusCreated)
	require.NotEqual(t, "ignored-by-the-server", r.id())
	return r.id()
}

func entraAddMember(t testing.TB, c *client, gid, uid string) {
	t.Helper()
	entraPatch(t, c, "/Groups", gid, map[string]any{"name": "addMember", "op": "Add", "path": "members",
		"value": []any{map[string]any{"displayName": "new member", "value": uid}}}).mustStatus(t, http.StatusOK)
}

// entraRemoveMember removes a member with a value array (tutorial).
func entraRemoveMember(t testing.TB, c *client, gid, uid string) {
	t.Helper()
	entraPatch(t, c, "/Groups", gid, map[string]any{"name": "removeMember", "op": "Remove", "path": "members",
		"value": []any{map[string]any{"displayName": "new member", "value": uid}}}).mustStatus(t, http.StatusOK)
}

// entraRemoveMemberByFilter removes a member with a filtered path (known
// issues page).
func entraRemoveMemberByFilter(t testing.TB, c *client, gid, uid string) {
	t.Helper()
	entraPatch(t, c, "/Groups", gid, map[string]any{"op": "Remove", "path": `members[value eq "` + uid + `"]`}).mustStatus(t, http.StatusOK)
}

func oktaProbe(t testing.TB, c *client, userName string) response {
	t.Helper()
	return c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`)+"&startIndex=1&count=100", nil).mustStatus(t, http.StatusOK)
}

func oktaUser(p person, active bool) map[string]any {
	return map[string]any{
		"schemas":     []string{scim.URNUser},
		"userName":    p.userName,
		"name":        map[string]any{"givenName": p.given, "familyName": p.family},
		"emails":      []any{map[string]any{"primary": true, "value": p.email, "type": "work"}},
		"displayName": p.given + " " + p.family,
		"locale":      "en-US",
		"externalId":  p.externalID,
		"groups":      []any{},
		"password":    "1mz050nq",
		"active":      active,
		"title":       p.title,
	}
}

func oktaCreateUser(t testing.TB, c *client, p person) string {
	t.Helper()
	require.Equal(t, 0, oktaProbe(t, c, p.userName).total())
	r := c.do(http.MethodPost, "/Users", oktaUser(p, true)).mustStatus(t, http.StatusCreated)
	return r.id()
}

// oktaPut updates with the full user, id and all.
func oktaPut(t testing.TB, c *client, id string, p person, active bool) response {
	t.Helper()
	u := oktaUser(p, active)
	u["id"] = id
	u["meta"] = map[string]any{"resourceType": "User"}
	return c.do(http.MethodPut, "/Users/"+id, u).mustStatus(t, http.StatusOK)
}

// oktaSetActive is Okta's deactivation (and reactivation) request.
func oktaSetActive(t testing.TB, c *client, id string, active bool) {
	t.Helper()
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "value": map[string]any{"active": active}})).mustStatus(t, http.StatusOK)
}

func oktaCreateGroup(t testing.TB, c *client, name string) string {
	t.Helper()
	r := c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": name, "members": []any{}}).mustStatus(t, http.StatusCreated)
	return r.id()
}

func oktaAddMembers(t testing.TB, c *client, gid string, uids ...string) {
	t.Helper()
	var vals []any
	for _, u := range uids {
		vals = append(vals, map[string]any{"value": u, "display": u})
	}
	c.do(http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": vals})).mustStatus(t, http.StatusOK)
}

func oktaRemoveMember(t testing.TB, c *client, gid, uid string) {
	t.Helper()
	c.do(http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "remove", "path": `members[value eq "` + uid + `"]`})).mustStatus(t, http.StatusOK)
}

// memberValues returns the member ids of a group resource.
func memberValues(g map[string]any) []string {
	var out []string
	list, _ := g["members"].([]any)
	for _, m := range list {
		mm, _ := m.(map[string]any)
		v, _ := mm["value"].(string)
		out = append(out, v)
	}
	return out
}

// TestEntraSequence runs Entra's documented provisioning requests and
// checks what the provider reads back.
func TestEntraSequence(t *testing.T) {
	_, c := open(t, scim.Config{})
	runEntraSequence(t, c)
}

func runEntraSequence(t *testing.T, c *client) {
	ada := person{userName: "ada@contoso.com", given: "Ada", family: "Lovelace", email: "ada@contoso.com", externalID: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", department: "Engineering", title: "Engineer"}
	id := entraCreateUser(t, c, ada)

	// The probe now finds her; the aadOptscim062020 flag is tolerated.
	r := c.do(http.MethodGet, "/Users?aadOptscim062020&filter="+url.QueryEscape(`userName eq "ADA@contoso.com"`), nil).mustStatus(t, http.StatusOK)
	require.Equal(t, 1, r.total())
	assert.Equal(t, id, r.resources()[0]["id"])

	// Update multi-valued and single-valued attributes (tutorial).
	entraPatch(t, c, "/Users", id,
		map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "ada.l@contoso.com"},
		map[string]any{"op": "Replace", "path": "name.familyName", "value": "King"},
	).mustStatus(t, http.StatusOK)
	got := c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, []any{map[string]any{"primary": true, "type": "work", "value": "ada.l@contoso.com"}}, got["emails"])
	assert.Equal(t, "King", got["name"].(map[string]any)["familyName"])
	assert.Equal(t, "Ada", got["name"].(map[string]any)["givenName"])

	// A PATCH without path, dotted and URN-prefixed keys (known issues).
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "value": map[string]any{
		"name.givenName":                  "Augusta",
		urnEnterprise + ":employeeNumber": "1815",
		urnEnterprise + ":department":     "Analytical Engines",
	}}).mustStatus(t, http.StatusOK)
	got = c.do(http.MethodGet, "/Users/"+id, nil).body
	assert.Equal(t, "Augusta", got["name"].(map[string]any)["givenName"])
	assert.Equal(t, map[string]any{"employeeNumber": "1815", "department": "Analytical Engines"}, got[urnEnterprise])
	assert.Contains(t, got["schemas"], urnEnterprise)

	// Disable and re-enable with the strings "False" and "True".
	entraDisable(t, c, id)
	assert.Equal(t, false, c.do(http.MethodGet, "/Users/"+id, nil).body["active"])
	entraEnable(t, c, id)
	assert.Equal(t, true, c.do(http.MethodGet, "/Users/"+id, nil).body["active"])

	// Groups: create, add, remove by value array and by filter.
	bob := person{userName: "bob@contoso.com", given: "Bob", family: "Byte", email: "bob@contoso.com", externalID: "b0b", department: "Sales", title: "Rep"}
	bid := entraCreateUser(t, c, bob)
	gid := entraCreateGroup(t, c, "Engineers", "e1")
	entraAddMember(t, c, gid, id)
	entraAddMember(t, c, gid, bid)
	g := c.do(http.MethodGet, "/Groups/"+gid, nil).mustStatus(t, http.StatusOK).body
	assert.ElementsMatch(t, []string{id, bid}, memberValues(g))
	assert.Equal(t, []any{scim.URNGroup}, g["schemas"])
	// Entra's membership check.
	r = c.do(http.MethodGet, "/Groups?excludedAttributes=members&filter="+url.QueryEscape(`id eq "`+gid+`" and members[value eq "`+bid+`"]`), nil).mustStatus(t, http.StatusOK)
	require.Equal(t, 1, r.total())
	assert.NotContains(t, r.resources()[0], "members")
	entraRemoveMember(t, c, gid, bid)
	assert.Equal(t, []string{id}, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
	entraRemoveMemberByFilter(t, c, gid, id)
	assert.Empty(t, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
	entraPatch(t, c, "/Groups", gid, map[string]any{"op": "Replace", "path": "displayName", "value": "Engineering"}).mustStatus(t, http.StatusOK)

	// Delete: 204, then 404 and an empty probe.
	c.do(http.MethodDelete, "/Users/"+bid, nil).mustStatus(t, http.StatusNoContent)
	c.do(http.MethodGet, "/Users/"+bid, nil).scimError(t, http.StatusNotFound, "")
	assert.Equal(t, 0, entraProbe(t, c, bob.userName).total())
	c.do(http.MethodDelete, "/Groups/"+gid, nil).mustStatus(t, http.StatusNoContent)
}

// TestOktaSequence runs Okta's documented provisioning requests.
func TestOktaSequence(t *testing.T) {
	_, c := open(t, scim.Config{})
	runOktaSequence(t, c)
}

func runOktaSequence(t *testing.T, c *client) {
	// Okta's test connection.
	c.do(http.MethodGet, "/Users?startIndex=1&count=2", nil).mustStatus(t, http.StatusOK)
	p := person{userName: "test.user@okta.local", given: "Test", family: "User", email: "test.user@okta.local", externalID: "00ujl29u0le5T6Aj10h7", title: "Tester"}
	id := oktaCreateUser(t, c, p)
	got := c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK).body
	assert.NotContains(t, got, "password", "a password is never stored or returned")
	assert.Equal(t, "00ujl29u0le5T6Aj10h7", got["externalId"])

	// A second create of the same userName is a conflict.
	c.do(http.MethodPost, "/Users", oktaUser(p, true)).scimError(t, http.StatusConflict, "uniqueness")

	// Full-user PUT.
	p.title = "Senior Tester"
	r := oktaPut(t, c, id, p, true)
	assert.Equal(t, "Senior Tester", r.body["title"])
	assert.Equal(t, got["meta"].(map[string]any)["created"], r.body["meta"].(map[string]any)["created"])
	assert.NotEqual(t, got["meta"].(map[string]any)["version"], r.body["meta"].(map[string]any)["version"])

	// Deactivate and reactivate.
	oktaSetActive(t, c, id, false)
	assert.Equal(t, false, c.do(http.MethodGet, "/Users/"+id, nil).body["active"])
	oktaSetActive(t, c, id, true)

	// Paging.
	ids := []string{id}
	for _, n := range []string{"a", "b", "c", "d"} {
		q := person{userName: n + "@okta.local", given: n, family: "X", email: n + "@okta.local", externalID: "ext-" + n}
		ids = append(ids, oktaCreateUser(t, c, q))
	}
	var paged []string
	for start := 1; start <= 5; start += 2 {
		r := c.do(http.MethodGet, "/Users?startIndex="+itoa(start)+"&count=2", nil).mustStatus(t, http.StatusOK)
		assert.Equal(t, 5, r.total())
		assert.Equal(t, float64(start), r.body["startIndex"])
		for _, u := range r.resources() {
			paged = append(paged, u["id"].(string))
		}
	}
	assert.Equal(t, ids, paged, "pages in creation order, each user once")

	// Groups by PATCH on members; the rename sends the id along.
	gid := oktaCreateGroup(t, c, "Test SCIMv2")
	oktaAddMembers(t, c, gid, ids[0], ids[1])
	c.do(http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "replace", "value": map[string]any{"id": gid, "displayName": "Test SCIMv2 renamed"}})).mustStatus(t, http.StatusOK)
	oktaRemoveMember(t, c, gid, ids[0])
	g := c.do(http.MethodGet, "/Groups/"+gid, nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, "Test SCIMv2 renamed", g["displayName"])
	assert.Equal(t, []string{ids[1]}, memberValues(g))
	r = c.do(http.MethodGet, "/Groups?filter="+url.QueryEscape(`displayName eq "Test SCIMv2 renamed"`)+"&startIndex=1&count=100", nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 1, r.total())
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
