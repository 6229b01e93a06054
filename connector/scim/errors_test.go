package scim_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// changesSince returns what an incremental read reports after cur.
func changesSince(t *testing.T, srv *scim.Server, cur connector.Cursor) ([]connector.Entry, connector.Cursor) {
	t.Helper()
	var got []connector.Entry
	next, err := srv.ReadChanges(context.Background(), cur, func(e connector.Entry) error { got = append(got, e); return nil })
	require.NoError(t, err)
	return got, next
}

// Every bad request gets its SCIM error and changes nothing: no new
// version in the store, the same body read back.
func TestBadRequestsChangeNothing(t *testing.T) {
	srv, c := open(t, scim.Config{MaxBodyBytes: 4096})
	id := newUser(t, c, "taken@x")
	other := newUser(t, c, "other@x")
	gid := oktaCreateGroup(t, c, "G")
	_, cur := changesSince(t, srv, nil)
	before := c.do(http.MethodGet, "/Users/"+id, nil).raw

	cases := badRequestCases(id, other, gid)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.do(tc.method, tc.path, tc.body).scimError(t, tc.status, tc.scimType)
			got, _ := changesSince(t, srv, cur)
			assert.Empty(t, got, "a refused request changed the store")
			assert.Equal(t, string(before), string(c.do(http.MethodGet, "/Users/"+id, nil).raw))
		})
	}
}

// Filters select exactly the resources the expression describes, on
// every supported operator and attribute, with the same answer as a
// predicate written in Go.
func TestFilters(t *testing.T) {
	_, c := open(t, scim.Config{Now: ticker()})
	type u struct{ userName, ext, email, display string }
	users := []u{
		{"alice@example.com", "A-1", "alice@work.example.com", "Alice Smith"},
		{"bob@example.com", "a-2", "bob@home.example.org", "Bob Jones"},
		{"carol@other.org", "C-3", "carol@work.example.com", ""},
	}
	ids := map[string]string{}
	for _, x := range users {
		body := map[string]any{"schemas": []string{scim.URNUser}, "userName": x.userName, "externalId": x.ext,
			"emails": []any{map[string]any{"value": x.email, "type": strings.Split(strings.Split(x.email, "@")[1], ".")[0]}}}
		if x.display != "" {
			body["displayName"] = x.display
		}
		ids[x.userName] = c.do(http.MethodPost, "/Users", body).mustStatus(t, http.StatusCreated).id()
	}
	bob := c.do(http.MethodGet, "/Users/"+ids["bob@example.com"], nil).body
	bobModified := bob["meta"].(map[string]any)["lastModified"].(string)
	cases := map[string][]string{
		`userName eq "ALICE@example.com"`:                                          {"alice@example.com"},
		`userName ne "alice@example.com"`:                                          {"bob@example.com", "carol@other.org"},
		`userName co "@example"`:                                                   {"alice@example.com", "bob@example.com"},
		`userName sw "B"`:                                                          {"bob@example.com"},
		`userName ew ".org"`:                                                       {"carol@other.org"},
		`displayName pr`:                                                           {"alice@example.com", "bob@example.com"},
		`not (displayName pr)`:                                                     {"carol@other.org"},
		`externalId eq "a-1"`:                                                      {}, // externalId is case-exact
		`externalId eq "A-1"`:                                                      {"alice@example.com"},
		`emails.value ew "work.example.com"`:                                       {"alice@example.com", "carol@other.org"},
		`emails eq "bob@home.example.org"`:                                         {"bob@example.com"},
		`emails[type eq "work" and value sw "carol"]`:                              {"carol@other.org"},
		`emails[type eq "home"] or userName sw "alice"`:                            {"alice@example.com", "bob@example.com"},
		`(userName sw "a" or userName sw "b") and displayName co "jones"`:          {"bob@example.com"},
		`id eq "` + ids["carol@other.org"] + `"`:                                   {"carol@other.org"},
		`meta.lastModified ge "` + bobModified + `"`:                               {"bob@example.com", "carol@other.org"},
		`meta.lastModified lt "` + bobModified + `"`:                               {"alice@example.com"},
		`meta.created gt "2000-01-01T00:00:00Z"`:                                   {"alice@example.com", "bob@example.com", "carol@other.org"},
		`userName gt "b"`:                                                          {"bob@example.com", "carol@other.org"},
		`userName le "bob@example.com"`:                                            {"alice@example.com", "bob@example.com"},
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com"`: {"bob@example.com"},
		`active eq true`:                                                           {},
	}
	for f, want := range cases {
		r := c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(f), nil).mustStatus(t, http.StatusOK)
		var got []string
		for _, res := range r.resources() {
			got = append(got, res["userName"].(string))
		}
		assert.ElementsMatch(t, want, got, "filter %s", f)
		assert.Equal(t, len(want), r.total(), "filter %s", f)
	}
	// Groups: displayName and members.
	gid := oktaCreateGroup(t, c, "Admins")
	oktaAddMembers(t, c, gid, ids["bob@example.com"])
	r := c.do(http.MethodGet, "/Groups?filter="+url.QueryEscape(`members eq "`+ids["bob@example.com"]+`"`), nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 1, r.total())
	r = c.do(http.MethodGet, "/Groups?filter="+url.QueryEscape(`displayName eq "admins" and members[value eq "`+ids["alice@example.com"]+`"]`), nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 0, r.total())
}

// Paging never repeats or skips a resource and the page size is capped.
func TestPagingCapped(t *testing.T) {
	_, c := open(t, scim.Config{MaxPageSize: 3})
	var ids []string
	for i := range 8 {
		ids = append(ids, newUser(t, c, itoa(i)+"@x"))
	}
	var got []string
	for start := 1; start <= 8; start += 3 {
		r := c.do(http.MethodGet, "/Users?count=50&startIndex="+itoa(start), nil).mustStatus(t, http.StatusOK)
		assert.LessOrEqual(t, len(r.resources()), 3)
		assert.Equal(t, 8, r.total())
		for _, x := range r.resources() {
			got = append(got, x["id"].(string))
		}
	}
	assert.Equal(t, ids, got)
	r := c.do(http.MethodGet, "/Users?count=0", nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 8, r.total())
	assert.Empty(t, r.resources())
	r = c.do(http.MethodGet, "/Users?startIndex=100", nil).mustStatus(t, http.StatusOK)
	assert.Empty(t, r.resources())
	r = c.do(http.MethodGet, "/Users?startIndex=-4&count=2", nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, float64(1), r.body["startIndex"])
}

// Discovery endpoints describe what the server does.
func TestDiscovery(t *testing.T) {
	_, c := open(t, scim.Config{MaxPageSize: 77})
	sp := c.do(http.MethodGet, "/ServiceProviderConfig", nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, false, sp["bulk"].(map[string]any)["supported"])
	assert.Equal(t, true, sp["patch"].(map[string]any)["supported"])
	assert.Equal(t, float64(77), sp["filter"].(map[string]any)["maxResults"])
	rts := c.do(http.MethodGet, "/ResourceTypes", nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 2, rts.total())
	u := c.do(http.MethodGet, "/ResourceTypes/User", nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, "/Users", u["endpoint"])
	sch := c.do(http.MethodGet, "/Schemas", nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 3, sch.total())
	ent := c.do(http.MethodGet, "/Schemas/"+urnEnterprise, nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, "EnterpriseUser", ent["name"])
	assert.Equal(t, "https://app.example.com"+mountPath+"/Schemas/"+urnEnterprise, ent["meta"].(map[string]any)["location"])
}

// meta.location, the Location header and ETag point at the resource
// under the host's mount, or under Config.BaseURL.
func TestMetaLocation(t *testing.T) {
	_, c := open(t, scim.Config{})
	r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "l@x"}).mustStatus(t, http.StatusCreated)
	loc := "https://app.example.com" + mountPath + "/Users/" + r.id()
	meta := r.body["meta"].(map[string]any)
	assert.Equal(t, loc, meta["location"])
	assert.Equal(t, loc, r.header.Get("Location"))
	assert.Equal(t, meta["version"], r.header.Get("ETag"))
	assert.Equal(t, "User", meta["resourceType"])
	assert.Equal(t, meta["created"], meta["lastModified"])

	_, c2 := open(t, scim.Config{BaseURL: "https://scim.example.net/v2/acme/"})
	r = c2.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "l@x"}).mustStatus(t, http.StatusCreated)
	assert.Equal(t, "https://scim.example.net/v2/acme/Users/"+r.id(), r.body["meta"].(map[string]any)["location"])
}

// Token: a missing, wrong, old or malformed token gets 401 with
// WWW-Authenticate; RotateToken revokes the old token at once; before any
// token, nothing is accepted.
func TestTokens(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	srv, err := scim.Open(ctx, scim.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	c := newClient(t, srv, "")
	require.ErrorIs(t, srv.Check(ctx), scim.ErrNoToken)
	for _, tok := range []string{"", "scim_", "null"} {
		r := c.doToken(http.MethodGet, "/Users", nil, tok)
		r.scimError(t, http.StatusUnauthorized, "")
		assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
	}
	old, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	require.NoError(t, srv.Check(ctx))
	c.doToken(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "secret-person@x", "title": "Top Secret Title"}, old).mustStatus(t, http.StatusCreated)
	for _, bad := range []string{old + "x", old[:len(old)-1], strings.ToUpper(old), "Basic " + old} {
		c.doToken(http.MethodGet, "/Users", nil, bad).scimError(t, http.StatusUnauthorized, "")
	}
	req, _ := http.NewRequest(http.MethodGet, "https://app.example.com"+mountPath+"/Users", nil)
	req.Header.Set("Authorization", "bearer "+old) // the scheme is case-insensitive
	rec := newRecorder()
	c.h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)

	fresh, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, old, fresh)
	c.doToken(http.MethodGet, "/Users", nil, old).scimError(t, http.StatusUnauthorized, "")
	c.doToken(http.MethodGet, "/Users", nil, fresh).mustStatus(t, http.StatusOK)
	require.NoError(t, srv.RevokeToken(ctx))
	c.doToken(http.MethodGet, "/Users", nil, fresh).scimError(t, http.StatusUnauthorized, "")

	// Nothing secret, and no resource content, in the log.
	out := logs.String()
	assert.NotEmpty(t, out)
	for _, s := range []string{old, fresh, old[len("scim_"):], "secret-person", "Top Secret Title"} {
		assert.NotContains(t, out, s)
	}
}

// The token survives a restart as a hash only: the journal never holds the
// token.
func TestTokenStoredAsHashOnly(t *testing.T) {
	ctx := context.Background()
	st := scim.NewMemoryResources()
	srv, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	state, err := st.Load(ctx)
	require.NoError(t, err)
	assert.Len(t, state.TokenHash, 32)
	assert.NotContains(t, string(state.TokenHash), tok)
	srv2, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	newClient(t, srv2, tok).do(http.MethodGet, "/Users", nil).mustStatus(t, http.StatusOK)
}

type badCase struct {
	name, method, path string
	body               any
	status             int
	scimType           string
}

// badRequestCases are requests the server must refuse; id and other are
// users ("taken@x", "other@x"), gid a group.
func badRequestCases(id, other, gid string) []badCase {
	user := func(extra map[string]any) map[string]any {
		m := map[string]any{"schemas": []string{scim.URNUser}, "userName": "new@x"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	patch := func(op map[string]any) map[string]any { return patchOp(op) }
	return []badCase{
		{"malformed JSON", "POST", "/Users", `{"schemas":`, 400, "invalidSyntax"},
		{"not an object", "POST", "/Users", `[1,2]`, 400, "invalidSyntax"},
		{"no schemas", "POST", "/Users", map[string]any{"userName": "n@x"}, 400, "invalidSyntax"},
		{"group schema on /Users", "POST", "/Users", map[string]any{"schemas": []string{scim.URNGroup}, "userName": "n@x"}, 400, "invalidValue"},
		{"no userName", "POST", "/Users", map[string]any{"schemas": []string{scim.URNUser}}, 400, "invalidValue"},
		{"blank userName", "POST", "/Users", user(map[string]any{"userName": "  "}), 400, "invalidValue"},
		{"userName taken, other case", "POST", "/Users", user(map[string]any{"userName": "TAKEN@x"}), 409, "uniqueness"},
		{"attribute name that is not a name", "POST", "/Users", user(map[string]any{"favourite colour": "blue"}), 400, "invalidValue"},
		{"undeclared attribute under a sub-attribute", "POST", "/Users", user(map[string]any{"shoe.size": "9"}), 400, "invalidValue"},
		{"group displayName taken, other case", "POST", "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "g"}, 409, "uniqueness"},
		{"unknown sub-attribute", "POST", "/Users", user(map[string]any{"name": map[string]any{"nick": "x"}}), 400, "invalidValue"},
		{"wrong type", "POST", "/Users", user(map[string]any{"active": 3}), 400, "invalidValue"},
		{"wrong type in extension", "POST", "/Users", user(map[string]any{urnEnterprise: map[string]any{"department": []any{1}}}), 400, "invalidValue"},
		{"body too large", "POST", "/Users", user(map[string]any{"title": strings.Repeat("x", 5000)}), 413, ""},
		{"PUT taking another's userName", "PUT", "/Users/" + other, user(map[string]any{"userName": "taken@x"}), 409, "uniqueness"},
		{"PUT unknown id", "PUT", "/Users/nope", user(nil), 404, ""},
		{"PATCH no schemas", "PATCH", "/Users/" + id, map[string]any{"Operations": []any{map[string]any{"op": "add", "path": "title", "value": "x"}}}, 400, "invalidSyntax"},
		{"PATCH no operations", "PATCH", "/Users/" + id, patchOp(), 400, "invalidSyntax"},
		{"PATCH bad path", "PATCH", "/Users/" + id, patch(map[string]any{"op": "add", "path": "emails[type eq", "value": "x"}), 400, "invalidPath"},
		{"PATCH unknown attribute", "PATCH", "/Users/" + id, patch(map[string]any{"op": "add", "path": "shoeSize.left", "value": "x"}), 400, "invalidPath"},
		{"PATCH filter on an undeclared attribute", "PATCH", "/Users/" + id, patch(map[string]any{"op": "add", "path": `shoes[size eq "9"]`, "value": "x"}), 400, "invalidPath"},
		{"PATCH unknown key without path", "PATCH", "/Users/" + id, patch(map[string]any{"op": "add", "value": map[string]any{"shoe size": 1}}), 400, "invalidPath"},
		{"PATCH remove without path", "PATCH", "/Users/" + id, patch(map[string]any{"op": "remove"}), 400, "noTarget"},
		{"PATCH filter matching nothing", "PATCH", "/Users/" + id, patch(map[string]any{"op": "replace", "path": `emails[value sw "zzz"].type`, "value": "home"}), 400, "noTarget"},
		{"PATCH userName taken", "PATCH", "/Users/" + id, patch(map[string]any{"op": "replace", "path": "userName", "value": "Other@x"}), 409, "uniqueness"},
		{"PATCH remove userName", "PATCH", "/Users/" + id, patch(map[string]any{"op": "remove", "path": "userName"}), 400, "invalidValue"},
		{"PATCH later op fails", "PATCH", "/Users/" + id, patchOp(map[string]any{"op": "replace", "path": "title", "value": "changed"}, map[string]any{"op": "add", "path": "bogus.x", "value": 1}), 400, "invalidPath"},
		{"PATCH wrong type", "PATCH", "/Users/" + id, patch(map[string]any{"op": "replace", "path": "active", "value": map[string]any{}}), 400, "invalidValue"},
		{"PATCH unknown id", "PATCH", "/Users/nope", patch(map[string]any{"op": "add", "path": "title", "value": "x"}), 404, ""},
		{"PATCH a group as a user", "PATCH", "/Users/" + gid, patch(map[string]any{"op": "add", "path": "title", "value": "x"}), 404, ""},
		{"DELETE unknown id", "DELETE", "/Users/nope", nil, 404, ""},
		{"group without displayName", "POST", "/Groups", map[string]any{"schemas": []string{scim.URNGroup}}, 400, "invalidValue"},
		{"bad filter", "GET", "/Users?filter=" + url.QueryEscape(`userName eq`), nil, 400, "invalidFilter"},
		{"unknown filter attribute", "GET", "/Users?filter=" + url.QueryEscape(`shoeSize eq "9"`), nil, 400, "invalidFilter"},
		{"password filter", "GET", "/Users?filter=" + url.QueryEscape(`password pr`), nil, 400, "invalidFilter"},
		{"gt on a boolean", "GET", "/Users?filter=" + url.QueryEscape(`active gt true`), nil, 400, "invalidFilter"},
		{"string compared to a number", "GET", "/Users?filter=" + url.QueryEscape(`userName eq 5`), nil, 400, "invalidFilter"},
		{"date that is not a date", "GET", "/Users?filter=" + url.QueryEscape(`meta.lastModified gt "yesterday"`), nil, 400, "invalidFilter"},
		{"bad startIndex", "GET", "/Users?startIndex=one", nil, 400, "invalidValue"},
		{"attributes and excluded", "GET", "/Users?attributes=userName&excludedAttributes=title", nil, 400, "invalidValue"},
		{"method", "DELETE", "/Users", nil, 501, ""},
		{"bulk", "POST", "/Bulk", map[string]any{}, 501, ""},
		{"unknown endpoint", "GET", "/Widgets", nil, 404, ""},
		{"unknown resource type", "GET", "/ResourceTypes/Widget", nil, 404, ""},
	}
}
