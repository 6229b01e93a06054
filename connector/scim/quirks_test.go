package scim_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// One test per provider quirk normalize.go handles; each cites the page
// that documents the behaviour (see providers_test.go for the URLs).

func newUser(t *testing.T, c *client, userName string) string {
	t.Helper()
	return c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": userName,
		"emails": []any{map[string]any{"type": "work", "value": userName, "primary": true}}}).mustStatus(t, http.StatusCreated).id()
}

// Entra known issues page (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
// booleans as "True"/"False", in any case, are
// stored as booleans; other strings are refused.
func TestQuirkEntraBooleanStrings(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := newUser(t, c, "b@x")
	for _, tc := range []struct {
		v    any
		want bool
	}{{"False", false}, {"True", true}, {"false", false}, {"TRUE", true}, {false, false}, {true, true}} {
		entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "active", "value": tc.v}).mustStatus(t, http.StatusOK)
		assert.Equal(t, tc.want, c.do(http.MethodGet, "/Users/"+id, nil).body["active"], "%v", tc.v)
	}
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "active", "value": "yes"}).scimError(t, http.StatusBadRequest, "invalidValue")
	// In a POST body and on a sub-attribute too.
	r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "s@x", "active": "False",
		"emails": []any{map[string]any{"value": "s@x", "primary": "True"}}}).mustStatus(t, http.StatusCreated)
	assert.Equal(t, false, r.body["active"])
	assert.Equal(t, true, r.body["emails"].([]any)[0].(map[string]any)["primary"])
}

// Entra known issues page (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
// op values in any case; member names of the
// message in any case.
func TestQuirkOpCase(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := newUser(t, c, "o@x")
	for _, op := range []string{"Replace", "REPLACE", "replace", "rEpLaCe"} {
		entraPatch(t, c, "/Users", id, map[string]any{"op": op, "path": "title", "value": op}).mustStatus(t, http.StatusOK)
		assert.Equal(t, op, c.do(http.MethodGet, "/Users/"+id, nil).body["title"])
	}
	c.do(http.MethodPatch, "/Users/"+id, map[string]any{"SCHEMAS": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"operations": []any{map[string]any{"OP": "Add", "Path": "nickName", "Value": "n"}}}).mustStatus(t, http.StatusOK)
	assert.Equal(t, "n", c.do(http.MethodGet, "/Users/"+id, nil).body["nickName"])
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Merge", "path": "title", "value": "x"}).scimError(t, http.StatusBadRequest, "invalidSyntax")
}

// Entra known issues page (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
// a PATCH without path whose value has dotted and
// URN-prefixed keys, and attribute names in another case.
func TestQuirkPathlessDottedKeys(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := newUser(t, c, "d@x")
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Add", "value": map[string]any{
		"name.givenName": "Grace", "name.familyName": "Hopper", "DisplayName": "Grace Hopper",
		urnEnterprise + ":manager":    map[string]any{"value": "m-1"},
		urnEnterprise + ":department": "Navy",
		urnEnterprise:                 map[string]any{"employeeNumber": "7"},
	}}).mustStatus(t, http.StatusOK)
	got := c.do(http.MethodGet, "/Users/"+id, nil).body
	assert.Equal(t, map[string]any{"givenName": "Grace", "familyName": "Hopper"}, got["name"])
	assert.Equal(t, "Grace Hopper", got["displayName"])
	assert.Equal(t, map[string]any{"manager": map[string]any{"value": "m-1"}, "department": "Navy", "employeeNumber": "7"}, got[urnEnterprise])
	// Removing the extension's last attribute drops the extension.
	for _, p := range []string{urnEnterprise + ":manager", urnEnterprise + ":department", urnEnterprise + ":employeeNumber"} {
		entraPatch(t, c, "/Users", id, map[string]any{"op": "Remove", "path": p}).mustStatus(t, http.StatusOK)
	}
	got = c.do(http.MethodGet, "/Users/"+id, nil).body
	assert.NotContains(t, got, urnEnterprise)
	assert.Equal(t, []any{scim.URNUser}, got["schemas"])
}

// Entra tutorial (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
// a replace of emails[type eq "work"].value when the user
// has no work email adds one; a filter that is not made of eq clauses and
// matches nothing has no target.
func TestQuirkReplaceFilteredActsAsAdd(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "r@x"}).mustStatus(t, http.StatusCreated).id()
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "r@work"}).mustStatus(t, http.StatusOK)
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": `phoneNumbers[type eq "mobile"].value`, "value": "+1 555"}).mustStatus(t, http.StatusOK)
	got := c.do(http.MethodGet, "/Users/"+id, nil).body
	assert.Equal(t, []any{map[string]any{"type": "work", "value": "r@work"}}, got["emails"])
	assert.Equal(t, []any{map[string]any{"type": "mobile", "value": "+1 555"}}, got["phoneNumbers"])
	// Now it matches: replaced in place, not added twice.
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "r2@work"}).mustStatus(t, http.StatusOK)
	assert.Equal(t, []any{map[string]any{"type": "work", "value": "r2@work"}}, c.do(http.MethodGet, "/Users/"+id, nil).body["emails"])
	before := c.do(http.MethodGet, "/Users/"+id, nil).raw
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": `emails[value co "nomatch"].type`, "value": "home"}).scimError(t, http.StatusBadRequest, "noTarget")
	assert.Equal(t, string(before), string(c.do(http.MethodGet, "/Users/"+id, nil).raw))
}

// Entra tutorial (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups),
// Okta reference (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20),
// Entra known issues page (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
// members removed with a value array (and a member's
// "displayName"); Okta and the known issues page: members[value eq "…"].
// Removing a member twice is no error (a retried request).
func TestQuirkMemberRemoval(t *testing.T) {
	_, c := open(t, scim.Config{})
	u1, u2, u3 := newUser(t, c, "1@x"), newUser(t, c, "2@x"), newUser(t, c, "3@x")
	gid := entraCreateGroup(t, c, "G", "g")
	entraAddMember(t, c, gid, u1)
	entraAddMember(t, c, gid, u1) // added twice: once in the group
	oktaAddMembers(t, c, gid, u2, u3)
	assert.Equal(t, []string{u1, u2, u3}, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
	g := c.do(http.MethodGet, "/Groups/"+gid, nil).body
	assert.Equal(t, "new member", g["members"].([]any)[0].(map[string]any)["display"])
	entraRemoveMember(t, c, gid, u2)
	entraRemoveMember(t, c, gid, u2)
	entraRemoveMemberByFilter(t, c, gid, u1)
	entraRemoveMemberByFilter(t, c, gid, u1)
	assert.Equal(t, []string{u3}, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
	// Replace the whole list.
	entraPatch(t, c, "/Groups", gid, map[string]any{"op": "Replace", "path": "members", "value": []any{map[string]any{"value": u1}}}).mustStatus(t, http.StatusOK)
	assert.Equal(t, []string{u1}, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
}

// Entra known issues page (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
// the aadOptscim062020 flag on any request.
func TestQuirkAADOptFlag(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := newUser(t, c, "f@x")
	for _, q := range []string{"?aadOptscim062020", "?aadOptscim062020=true", "?aadOptSCIM062020=True&filter=" + url.QueryEscape(`userName eq "f@x"`)} {
		r := c.do(http.MethodGet, "/Users"+q, nil).mustStatus(t, http.StatusOK)
		assert.Equal(t, 1, r.total())
		c.do(http.MethodGet, "/Users/"+id+q, nil).mustStatus(t, http.StatusOK)
	}
	entraPatch(t, c, "/Users", id+"?aadOptscim062020", map[string]any{"op": "Replace", "path": "title", "value": "t"}).mustStatus(t, http.StatusOK)
}

// Entra tutorial (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
// a group create lists Microsoft's own group schema and
// sends an id; the schema is ignored, the id replaced.
func TestQuirkEntraGroupSchema(t *testing.T) {
	_, c := open(t, scim.Config{})
	gid := entraCreateGroup(t, c, "G", "ext")
	g := c.do(http.MethodGet, "/Groups/"+gid, nil).body
	assert.Equal(t, []any{scim.URNGroup}, g["schemas"])
	assert.Equal(t, "ext", g["externalId"])
	// A body attribute under an unknown schema is still refused.
	c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup, entraGroupURN}, "displayName": "H",
		entraGroupURN: map[string]any{"x": 1}}).scimError(t, http.StatusBadRequest, "invalidValue")
}

// Okta protocol reference (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20):
// the create carries a password and an empty
// groups list; the full-user PUT carries id and meta. The password is
// never stored, read-only attributes are ignored.
func TestQuirkOktaPasswordAndReadOnly(t *testing.T) {
	_, c := open(t, scim.Config{})
	p := person{userName: "p@okta.local", email: "p@okta.local"}
	id := oktaCreateUser(t, c, p)
	r := oktaPut(t, c, id, p, true)
	assert.NotContains(t, r.body, "password")
	assert.NotContains(t, string(r.raw), "1mz050nq")
	assert.Equal(t, id, r.id())
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "value": map[string]any{"password": "n3w"}})).mustStatus(t, http.StatusOK)
	assert.NotContains(t, string(c.do(http.MethodGet, "/Users/"+id, nil).raw), "n3w")
	// groups is read-only: a PATCH naming it is refused.
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "add", "path": "groups", "value": []any{map[string]any{"value": "g"}}})).scimError(t, http.StatusBadRequest, "mutability")
}

// Okta protocol reference (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20):
// deactivation is a pathless replace of active;
// Okta never DELETEs users, and reactivation flips it back.
func TestQuirkOktaDeactivate(t *testing.T) {
	srv, c := open(t, scim.Config{})
	id := oktaCreateUser(t, c, person{userName: "d@okta.local"})
	oktaSetActive(t, c, id, false)
	e, ok := readEntry(t, srv, id)
	require.True(t, ok)
	assert.True(t, e.Disabled)
	oktaSetActive(t, c, id, true)
	e, _ = readEntry(t, srv, id)
	assert.False(t, e.Disabled)
}

// A single value for a multi-valued attribute is a list of one.
func TestQuirkSingleValueForMulti(t *testing.T) {
	_, c := open(t, scim.Config{})
	r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "m@x",
		"emails": map[string]any{"value": "m@x", "type": "work"}}).mustStatus(t, http.StatusCreated)
	assert.Equal(t, []any{map[string]any{"value": "m@x", "type": "work"}}, r.body["emails"])
}

// The common attribute externalId can be patched, with a path or without
// (Entra's tutorial maps objectId to externalId,
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups); id and meta cannot.
func TestPatchExternalID(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := newUser(t, c, "e@x")
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "externalId", "value": "obj-1"}).mustStatus(t, http.StatusOK)
	assert.Equal(t, "obj-1", c.do(http.MethodGet, "/Users/"+id, nil).body["externalId"])
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "value": map[string]any{"externalId": "obj-2"}}).mustStatus(t, http.StatusOK)
	assert.Equal(t, "obj-2", c.do(http.MethodGet, "/Users/"+id, nil).body["externalId"])
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Remove", "path": "externalId"}).mustStatus(t, http.StatusOK)
	assert.NotContains(t, c.do(http.MethodGet, "/Users/"+id, nil).body, "externalId")
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "id", "value": "x"}).scimError(t, http.StatusBadRequest, "mutability")
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": "externalId", "value": map[string]any{}}).scimError(t, http.StatusBadRequest, "invalidValue")
}

// Microsoft Q&A (https://learn.microsoft.com/en-us/answers/questions/188003/scim-user-provisioning-setup-with-manager-attribut):
// Entra sends the enterprise manager as a plain string id, in a create,
// a pathed PATCH and a pathless one, and reads it back as manager.value.
func TestQuirkEntraManagerString(t *testing.T) {
	srv, c := open(t, scim.Config{})
	boss := newUser(t, c, "boss@x")
	r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser, urnEnterprise}, "userName": "w@x",
		urnEnterprise: map[string]any{"manager": boss}}).mustStatus(t, http.StatusCreated)
	assert.Equal(t, map[string]any{"manager": map[string]any{"value": boss}}, r.body[urnEnterprise])
	id := r.id()
	other := newUser(t, c, "other@x")
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": urnEnterprise + ":manager", "value": other}).mustStatus(t, http.StatusOK)
	got := c.do(http.MethodGet, "/Users/"+id, nil).body
	assert.Equal(t, other, got[urnEnterprise].(map[string]any)["manager"].(map[string]any)["value"])
	e, _ := readEntry(t, srv, id)
	assert.Equal(t, other, e.Attr("manager"))
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Add", "value": map[string]any{urnEnterprise + ":manager": boss}}).mustStatus(t, http.StatusOK)
	e, _ = readEntry(t, srv, id)
	assert.Equal(t, boss, e.Attr("manager"))
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": urnEnterprise + ":manager", "value": ""}).mustStatus(t, http.StatusOK)
	assert.NotContains(t, c.do(http.MethodGet, "/Users/"+id, nil).body, urnEnterprise)
}
