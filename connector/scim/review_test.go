package scim_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// Findings of a hostile review, each with the request shape that broke
// the server before its fix.

// listUserNames returns the userNames a filtered list returns, failing
// unless it answers 200 with totalResults matching the page.
func listUserNames(t *testing.T, c *client, filter string) []string {
	t.Helper()
	r := c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(filter), nil).mustStatus(t, http.StatusOK)
	got := []string{}
	for _, res := range r.resources() {
		got = append(got, res["userName"].(string))
	}
	require.Equal(t, len(got), r.total(), "filter %s", filter)
	return got
}

// Entra's matching-attribute query compares a value path:
// emails[type eq "work"].value eq "…" (what Entra sends when a SCIM app
// matches users by their work email), and the tutorial's
// emails[type eq "work"] eq "…", https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
// (see https://github.com/MicrosoftDocs/azure-docs/issues/83855). Both
// select exactly the users with a work email equal to the value, as a
// predicate in Go says, and an empty ListResponse when there is none.
func TestEntraValuePathCompareFilter(t *testing.T) {
	_, c := open(t, scim.Config{})
	type mail struct{ typ, value string }
	users := map[string][]mail{
		"a@x": {{"work", "Ada@Contoso.com"}},
		"b@x": {{"home", "ada@contoso.com"}},
		"c@x": {{"work", "carol@contoso.com"}, {"home", "ada@contoso.com"}},
		"d@x": {{"work", "ada@contoso.com.evil"}},
		"e@x": nil,
	}
	for _, u := range sortedUserNames(users) {
		var emails []any
		for _, m := range users[u] {
			emails = append(emails, map[string]any{"type": m.typ, "value": m.value})
		}
		c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": u, "emails": emails}).mustStatus(t, http.StatusCreated)
	}
	want := func(typ, value string) []string {
		out := []string{}
		for _, u := range sortedUserNames(users) {
			for _, m := range users[u] {
				if m.typ == typ && strings.EqualFold(m.value, value) {
					out = append(out, u)
					break
				}
			}
		}
		return out
	}
	for _, typ := range []string{"work", "home", "other"} {
		for _, value := range []string{"ada@contoso.com", "ADA@contoso.com", "carol@contoso.com", "nobody@contoso.com"} {
			for _, f := range []string{
				`emails[type eq "%s"].value eq "%s"`,
				`emails[type eq "%s"] eq "%s"`,
				`emails[type eq "%s"].VALUE EQ "%s"`,
				`(emails[type eq "%s"].value eq "%s")`,
			} {
				expr := fmt.Sprintf(f, typ, value)
				assert.ElementsMatch(t, want(typ, value), listUserNames(t, c, expr), "filter %s", expr)
			}
		}
	}
	// Combined with other clauses, and with pr.
	assert.ElementsMatch(t, []string{"a@x"}, listUserNames(t, c, `userName sw "a" and emails[type eq "work"].value eq "ada@contoso.com"`))
	assert.ElementsMatch(t, []string{"a@x", "c@x", "d@x"}, listUserNames(t, c, `emails[type eq "work"].value pr`))
	// A value filter with "or" inside cannot be rewritten: refused, never
	// a full listing.
	c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`emails[type eq "work" or type eq "home"].value eq "ada@contoso.com"`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
}

func sortedUserNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A filter's string value is a JSON string (RFC 7644 section 3.4.2.2):
// escaped quotes and backslashes compare with the characters they stand
// for, in filters and in PATCH paths.
func TestFilterStringEscapes(t *testing.T) {
	_, c := open(t, scim.Config{})
	for _, u := range []string{`o"brien@x`, `back\slash@x`, `plain@x`} {
		newUser(t, c, u)
	}
	assert.Equal(t, []string{`o"brien@x`}, listUserNames(t, c, `userName eq "o\"brien@x"`))
	assert.Equal(t, []string{`back\slash@x`}, listUserNames(t, c, `userName eq "back\\slash@x"`))
	assert.Equal(t, []string{`o"brien@x`}, listUserNames(t, c, `userName eq "o\"brien@x" and active pr or userName eq "o\"brien@x"`))
	assert.Equal(t, []string{`o"brien@x`}, listUserNames(t, c, `emails[value eq "o\"brien@x"]`))
	// The PATCH path of a member removal, with an escaped quote.
	gid := c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "G",
		"members": []any{map[string]any{"value": `m"1`}, map[string]any{"value": "m1"}}}).mustStatus(t, http.StatusCreated).id()
	c.do(http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "remove", "path": `members[value eq "m\"1"]`})).mustStatus(t, http.StatusOK)
	assert.Equal(t, []string{"m1"}, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
}

// A filter of thousands of "or" clauses gets a clear 400 invalidFilter
// and never a full listing, whether it is long or short (a 4 KiB filter
// of "a pr or …" has hundreds of comparisons, each evaluated for every
// resource); up to the cap it works.
func TestFilterClauseCap(t *testing.T) {
	_, c := open(t, scim.Config{})
	newUser(t, c, "u1@x")
	clauses := func(n int, clause string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(clause, i)
		}
		return strings.Join(parts, " or ")
	}
	for _, n := range []int{65, 200, 450, 5000} {
		for _, clause := range []string{`userName pr`, `id eq "%d"`, `userName eq "u%d@x"`} {
			if strings.Contains(clause, "%d") {
				clause = strings.ReplaceAll(clause, "%d", "%[1]d")
			}
			r := c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(clauses(n, clause)), nil)
			r.scimError(t, http.StatusBadRequest, "invalidFilter")
			assert.NotContains(t, r.body, "Resources")
		}
	}
	assert.Equal(t, []string{"u1@x"}, listUserNames(t, c, clauses(64, `userName eq "u%[1]d@x"`)))
	deep := strings.Repeat("(", 1000) + `userName eq "u1@x"` + strings.Repeat(")", 1000)
	assert.Equal(t, []string{"u1@x"}, listUserNames(t, c, deep))
	// In a PATCH path too.
	gid := oktaCreateGroup(t, c, "G")
	c.do(http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "remove", "path": "members[" + clauses(65, `value eq "%[1]d"`) + "]"})).scimError(t, http.StatusBadRequest, "invalidPath")
}

// A filter given empty, twice, or under a name in another case is never
// turned into a full listing: a provider probing before a create would
// take the first user listed for the person it is about to create.
func TestFilterNeverAFullListing(t *testing.T) {
	_, c := open(t, scim.Config{})
	newUser(t, c, "someone@x")
	for _, q := range []string{"filter=", "filter=%20%20", "filter=&startIndex=1&count=100",
		"filter=" + urlq(`userName eq "nobody@x"`) + "&filter=",
		"filter=" + urlq(`userName eq "nobody@x"`) + "&filter=" + urlq(`userName eq "someone@x"`),
		"Filter=", "FILTER=" + urlq(`userName eq "nobody@x"`) + "&filter=" + urlq(`userName pr`)} {
		r := c.do(http.MethodGet, "/Users?"+q, nil)
		r.scimError(t, http.StatusBadRequest, "invalidFilter")
	}
	for _, name := range []string{"filter", "Filter", "FILTER"} {
		r := c.do(http.MethodGet, "/Users?"+name+"="+urlq(`userName eq "nobody@x"`), nil).mustStatus(t, http.StatusOK)
		assert.Zero(t, r.total(), name)
	}
	r := c.do(http.MethodGet, "/Users?STARTINDEX=2&Count=5", nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, float64(2), r.body["startIndex"])
	assert.Empty(t, r.resources())
}

// attributes and excludedAttributes may name an extension as a whole by
// its URN (RFC 7644 section 3.10): Entra and Ping read the enterprise
// extension back so.
func TestProjectionByExtensionURN(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser, urnEnterprise}, "userName": "p@x", "title": "T",
		urnEnterprise: map[string]any{"department": "D", "employeeNumber": "7"}}).mustStatus(t, http.StatusCreated).id()
	ext := map[string]any{"department": "D", "employeeNumber": "7"}
	for _, q := range []string{"attributes=" + urlq(urnEnterprise), "attributes=" + urlq(strings.ToLower(urnEnterprise)) + ",userName"} {
		got := c.do(http.MethodGet, "/Users/"+id+"?"+q, nil).mustStatus(t, http.StatusOK).body
		assert.Equal(t, ext, got[urnEnterprise], q)
		assert.Contains(t, got["schemas"], urnEnterprise)
		assert.NotContains(t, got, "title", q)
		list := c.do(http.MethodGet, "/Users?"+q, nil).mustStatus(t, http.StatusOK)
		assert.Equal(t, ext, list.resources()[0][urnEnterprise], q)
	}
	got := c.do(http.MethodGet, "/Users/"+id+"?attributes="+urlq(urnEnterprise+":department"), nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, map[string]any{"department": "D"}, got[urnEnterprise])
	got = c.do(http.MethodGet, "/Users/"+id+"?excludedAttributes="+urlq(urnEnterprise), nil).mustStatus(t, http.StatusOK).body
	assert.NotContains(t, got, urnEnterprise)
	assert.Equal(t, []any{scim.URNUser}, got["schemas"])
	assert.Equal(t, "T", got["title"])
}

// userName is unique without regard to case or Unicode normalisation:
// "José" precomposed, decomposed, or in capitals is one userName, so one
// person cannot be pushed (and invited) twice; the probe before a create
// finds the user whatever the spelling. What the provider wrote reads
// back as written.
func TestUserNameUniqueAcrossUnicodeSpellings(t *testing.T) {
	_, c := open(t, scim.Config{})
	spellings := map[string][]string{
		"jos\u00e9@x":        {"jose\u0301@x", "JOS\u00c9@x", "JOSE\u0301@X", " jos\u00e9@x "},
		"\u00c5ngstr\u00f6m": {"A\u030angstro\u0308m", "\u212bngstr\u00f6m", "\u00e5NGSTR\u00d6M"},
		"stra\u00dfe":        {"STRA\u00dfE", "Stra\u00dfe"},
	}
	for _, first := range sortedUserNames(spellings) {
		r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": first}).mustStatus(t, http.StatusCreated)
		assert.Equal(t, first, r.body["userName"], "read back as written")
		for _, other := range spellings[first] {
			c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": other}).scimError(t, http.StatusConflict, "uniqueness")
			assert.Equal(t, []string{first}, listUserNames(t, c, `userName eq "`+other+`"`), "probe with %q", other)
			if strings.TrimSpace(other) == other {
				assert.Equal(t, []string{first}, listUserNames(t, c, `userName eq "`+other+`" and userName pr`), "general filter with %q", other)
			}
		}
	}
	assert.Equal(t, 3, c.do(http.MethodGet, "/Users", nil).total())
}

// A body that names one member twice (exactly, or in another case:
// attribute names are case-insensitive) is refused as invalidSyntax and
// changes nothing: which of the two a parser keeps differs between
// parsers.
func TestDuplicateMembersRefused(t *testing.T) {
	srv, c := open(t, scim.Config{})
	id := newUser(t, c, "dup@x")
	_, cur := changesSince(t, srv, nil)
	core := `"schemas":["` + scim.URNUser + `"]`
	for _, body := range []string{
		`{` + core + `,"userName":"a@x","userName":"b@x"}`,
		`{` + core + `,"userName":"a@x","USERNAME":"b@x"}`,
		`{` + core + `,"userName":"a@x","emails":[{"value":"a@x","Value":"b@x"}]}`,
		`{` + core + `,"userName":"a@x","name":{"givenName":"A","givenname":"B"}}`,
		`{` + core + `,"schemas":["` + scim.URNUser + `"],"userName":"a@x"}`,
	} {
		c.do(http.MethodPost, "/Users", body).scimError(t, http.StatusBadRequest, "invalidSyntax")
		c.do(http.MethodPut, "/Users/"+id, body).scimError(t, http.StatusBadRequest, "invalidSyntax")
	}
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false,"value":true}]}`
	c.do(http.MethodPatch, "/Users/"+id, patch).scimError(t, http.StatusBadRequest, "invalidSyntax")
	got, _ := changesSince(t, srv, cur)
	assert.Empty(t, got)
	// The same names in different objects are fine.
	c.do(http.MethodPost, "/Users", `{`+core+`,"userName":"ok@x","emails":[{"value":"a@x","type":"work"},{"value":"b@x","type":"home"}],"name":{"formatted":"F"},"displayName":"F"}`).mustStatus(t, http.StatusCreated)
}

// A removal by value array on a multi-valued attribute other than
// members removes the values whose given sub-attributes match (Entra's
// removal shape, https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups,
// applied to emails), not only a value equal in every sub-attribute.
func TestRemoveByValueMatchesGivenSubAttributes(t *testing.T) {
	_, c := open(t, scim.Config{})
	id := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "r@x",
		"emails": []any{map[string]any{"value": "a@x", "type": "work", "primary": true}, map[string]any{"value": "b@x", "type": "home"}}}).mustStatus(t, http.StatusCreated).id()
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Remove", "path": "emails", "value": []any{map[string]any{"value": "a@x"}}}).mustStatus(t, http.StatusOK)
	assert.Equal(t, []any{map[string]any{"value": "b@x", "type": "home"}}, c.do(http.MethodGet, "/Users/"+id, nil).body["emails"])
	// A value that matches nothing removes nothing.
	entraPatch(t, c, "/Users", id, map[string]any{"op": "Remove", "path": "emails", "value": []any{map[string]any{"value": "b@x", "type": "work"}}}).mustStatus(t, http.StatusOK)
	assert.Len(t, c.do(http.MethodGet, "/Users/"+id, nil).body["emails"], 1)
}

// The manager cleared as {"value": ""} is cleared, as "" clears it (Entra
// removes a manager by sending an empty value:
// https://learn.microsoft.com/en-us/answers/questions/188003/scim-user-provisioning-setup-with-manager-attribut).
func TestManagerEmptyValueClears(t *testing.T) {
	srv, c := open(t, scim.Config{})
	boss := newUser(t, c, "boss@x")
	id := newUser(t, c, "w@x")
	for _, empty := range []any{map[string]any{"value": ""}, map[string]any{"value": "  "}, ""} {
		entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": urnEnterprise + ":manager", "value": boss}).mustStatus(t, http.StatusOK)
		e, _ := readEntry(t, srv, id)
		require.Equal(t, boss, e.Attr("manager"))
		entraPatch(t, c, "/Users", id, map[string]any{"op": "Replace", "path": urnEnterprise + ":manager", "value": empty}).mustStatus(t, http.StatusOK)
		assert.NotContains(t, c.do(http.MethodGet, "/Users/"+id, nil).body, urnEnterprise, "%v", empty)
		e, _ = readEntry(t, srv, id)
		assert.Empty(t, e.Attrs["manager"], "%v", empty)
	}
}

// Authorization: the scheme in any case and extra spaces are accepted
// (RFC 6750 section 2.1, RFC 7235 section 2.1); a token in the query
// string (RFC 6750 section 2.3) or in the body, a token with trailing
// junk, and any request after RevokeToken are refused with 401, change
// nothing, and leave no token in the log.
func TestAuthorizationShapes(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	srv, err := scim.Open(ctx, scim.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	c := newClient(t, srv, tok)
	send := func(method, target, auth, body string) int {
		req, _ := http.NewRequest(method, "https://app.example.com"+mountPath+target, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := newRecorder()
		c.h.ServeHTTP(w, req)
		return w.Code
	}
	for _, auth := range []string{"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "Bearer   " + tok, "  Bearer " + tok + "  "} {
		assert.Equal(t, http.StatusOK, send(http.MethodGet, "/Users", auth, ""), "%q", strings.ReplaceAll(auth, tok, "TOKEN"))
	}
	create := `{"schemas":["` + scim.URNUser + `"],"userName":"sneaky@x"}`
	_, cur := changesSince(t, srv, nil)
	for _, tc := range []struct{ target, auth, body string }{
		{"/Users?access_token=" + url.QueryEscape(tok), "", create},
		{"/Users?token=" + url.QueryEscape(tok), "", create},
		{"/Users", "", `{"access_token":"` + tok + `",` + create[1:]},
		{"/Users", "Bearer " + tok + " extra", create},
		{"/Users", "Bearer" + tok, create},
		{"/Users", "Bearer\t" + tok, create},
		{"/Users", "Token " + tok, create},
		{"/Users", tok, create},
	} {
		assert.Equal(t, http.StatusUnauthorized, send(http.MethodPost, tc.target, tc.auth, tc.body), "%s", strings.ReplaceAll(tc.target+" "+tc.auth, tok, "TOKEN"))
	}
	require.NoError(t, srv.RevokeToken(ctx))
	assert.Equal(t, http.StatusUnauthorized, send(http.MethodPost, "/Users", "Bearer "+tok, create))
	assert.Equal(t, http.StatusUnauthorized, send(http.MethodGet, "/Users", "Bearer "+tok, ""))
	got, _ := changesSince(t, srv, cur)
	assert.Empty(t, got, "a refused request changed the store")
	assert.NotContains(t, logs.String(), tok)
	assert.NotContains(t, logs.String(), tok[len("scim_"):])
	assert.NotContains(t, logs.String(), "sneaky")
}

// A user pushed with a userName that is no email and no emails at all
// (mapping.SCIMSpec finds no email) never crashes the Syncer: the plan
// says what it does with the person and why, and the provider reads back
// what it wrote.
func TestUserWithoutEmailHasAReason(t *testing.T) {
	e := newEnv(t, scim.Config{}, policy.Config{})
	id := e.c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "no-email"}).mustStatus(t, http.StatusCreated).id()
	ok := e.c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "fine@x"}).mustStatus(t, http.StatusCreated).id()
	ctx := context.Background()
	plan, err := e.sy.Plan(ctx)
	require.NoError(t, err)
	c := change(t, plan, id)
	require.NotEmpty(t, c.Reasons, "%s", plan)
	assert.NotEmpty(t, c.Status())
	_, err = e.sy.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, diff.OpCreate, change(t, plan, ok).Op)
	assert.Equal(t, "no-email", e.c.do(http.MethodGet, "/Users/"+id, nil).body["userName"])
	t.Logf("user without email: %s %s", c.Op, c.Status())
}

// A flood of DELETEs (a provider unassigning everyone) is held by the
// safety limit like a flood of deactivations: nothing is blocked until
// an admin approves, and the provider sees its deletions.
func TestDeleteFloodHitsSafetyLimit(t *testing.T) {
	e := newEnv(t, scim.Config{}, policy.Config{Safety: policy.Safety{MaxRemovals: 5}})
	var ids []string
	for i := range 20 {
		ids = append(ids, entraCreateUser(t, e.c, person{userName: fmt.Sprintf("d%d@contoso.com", i), email: fmt.Sprintf("d%d@contoso.com", i), externalID: fmt.Sprintf("aad-%d", i), given: "D", family: fmt.Sprint(i)}))
	}
	e.sync(t)
	before := e.sink.Snapshot()
	for _, id := range ids[:12] {
		e.c.do(http.MethodDelete, "/Users/"+id, nil).mustStatus(t, http.StatusNoContent)
	}
	ctx := context.Background()
	_, err := e.sy.Plan(ctx)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	rec, err := e.sy.RunOnce(ctx, "scim", dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	assert.Equal(t, before, e.sink.Snapshot(), "nothing applied")
	for _, id := range ids[:12] {
		e.c.do(http.MethodGet, "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
	}
}

// A path with dot segments reaches nothing, however the host routes
// (some routers do not clean paths; %2e%2e and %2F arrive decoded):
// /Users/../Groups/{id} neither reads nor deletes the group. Ids with
// dots or slashes that no resource has are 404s.
func TestPathTraversalReachesNothing(t *testing.T) {
	srv, c := open(t, scim.Config{})
	uid := newUser(t, c, "t@x")
	gid := oktaCreateGroup(t, c, "G")
	_, cur := changesSince(t, srv, nil)
	send := func(method, target string) int {
		// Straight to the handler, as a router that does not clean paths
		// would pass it.
		req, err := http.NewRequest(method, "https://app.example.com"+target, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+c.token)
		w := newRecorder()
		srv.ServeHTTP(w, req)
		return w.Code
	}
	for _, target := range []string{
		"/Users/../Groups/" + gid, "/Users/%2e%2e/Groups/" + gid, "/Users/" + uid + "/../../Groups/" + gid,
		"/Users/./" + uid, "/Groups/" + gid + "/..", "/Users/..%2fGroups%2f" + gid,
	} {
		for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodPut, http.MethodPatch} {
			assert.Equal(t, http.StatusNotFound, send(method, target), "%s %s", method, target)
		}
	}
	for _, id := range []string{"a.b", "..", "a%2Fb", uid + ".json", "%00"} {
		assert.Equal(t, http.StatusNotFound, send(http.MethodGet, "/Users/"+id), id)
		assert.Equal(t, http.StatusNotFound, send(http.MethodDelete, "/Users/"+id), id)
	}
	got, _ := changesSince(t, srv, cur)
	assert.Empty(t, got)
	assert.Equal(t, http.StatusOK, send(http.MethodGet, "/Groups/"+gid))
}

// A PATCH that makes a value primary makes the others not primary (RFC
// 7644 section 3.5.2), in every PATCH shape: so the email the app gets
// (emails.primary, mapping.SCIMSpec) is the new primary, never the old
// one kept because it comes first. A full replacement is stored as
// written.
func TestPatchNewPrimaryDemotesOthers(t *testing.T) {
	srv, c := open(t, scim.Config{})
	id := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "p@x",
		"emails": []any{map[string]any{"value": "old@x", "type": "work", "primary": true}}}).mustStatus(t, http.StatusCreated).id()
	primaryOf := func() ([]string, string) {
		var prim []string
		for _, e := range c.do(http.MethodGet, "/Users/"+id, nil).body["emails"].([]any) {
			if m := e.(map[string]any); m["primary"] == true {
				prim = append(prim, m["value"].(string))
			}
		}
		e, _ := readEntry(t, srv, id)
		return prim, e.Attr("emails.primary")
	}
	for i, op := range []map[string]any{
		{"op": "add", "value": map[string]any{"emails": []any{map[string]any{"value": "a@x", "type": "home", "primary": true}}}},
		{"op": "Add", "path": "emails", "value": []any{map[string]any{"value": "b@x", "type": "other", "primary": "True"}}},
		{"op": "replace", "path": `emails[value eq "old@x"].primary`, "value": true},
		{"op": "Add", "path": `emails[type eq "mobile"].value`, "value": "c@x"}, // not primary: no change
		{"op": "replace", "path": `emails[value eq "a@x"]`, "value": map[string]any{"value": "a2@x", "type": "home", "primary": true}},
	} {
		c.do(http.MethodPatch, "/Users/"+id, patchOp(op)).mustStatus(t, http.StatusOK)
		want := []string{"a@x", "b@x", "old@x", "old@x", "a2@x"}[i]
		prim, mapped := primaryOf()
		assert.Equal(t, []string{want}, prim, "after %v", op)
		assert.Equal(t, want, mapped, "after %v", op)
	}
	// A replacement of the whole list is stored as the provider wrote it.
	two := []any{map[string]any{"value": "x@x", "primary": true}, map[string]any{"value": "y@x", "primary": true}}
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "emails", "value": two})).mustStatus(t, http.StatusOK)
	assert.Equal(t, two, c.do(http.MethodGet, "/Users/"+id, nil).body["emails"])
}

// Attribute names are case-insensitive (RFC 7643 section 2.1) in bodies,
// PATCH paths, filters and projections, and are stored and returned in
// the schema's spelling.
func TestAttributeNamesAnyCase(t *testing.T) {
	_, c := open(t, scim.Config{})
	r := c.do(http.MethodPost, "/Users", map[string]any{"SCHEMAS": []string{scim.URNUser}, "USERNAME": "Case@X",
		"Emails": []any{map[string]any{"VALUE": "case@x", "Type": "work"}}, "NAME": map[string]any{"GIVENNAME": "C"}}).mustStatus(t, http.StatusCreated)
	id := r.id()
	assert.Equal(t, "Case@X", r.body["userName"])
	assert.Equal(t, []any{map[string]any{"value": "case@x", "type": "work"}}, r.body["emails"])
	assert.Equal(t, map[string]any{"givenName": "C"}, r.body["name"])
	for _, f := range []string{`UserName eq "case@x"`, `EMAILS.VALUE eq "CASE@X"`, `emails[TYPE eq "work"].Value eq "case@x"`,
		`URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME eq "case@x"`, `Emails[Type EQ "work"] and name.GIVENNAME sw "c"`} {
		assert.Equal(t, []string{"Case@X"}, listUserNames(t, c, f), f)
	}
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "Replace", "path": "NAME.FAMILYNAME", "value": "F"},
		map[string]any{"op": "Replace", "path": `Emails[Type eq "work"].Value`, "value": "new@x"})).mustStatus(t, http.StatusOK)
	got := c.do(http.MethodGet, "/Users/"+id+"?attributes=NAME,Emails.Value", nil).mustStatus(t, http.StatusOK).body
	assert.Equal(t, map[string]any{"givenName": "C", "familyName": "F"}, got["name"])
	assert.Equal(t, []any{map[string]any{"value": "new@x", "type": "work"}}, got["emails"])
	assert.NotContains(t, got, "userName")
}

// attributes and excludedAttributes apply to every response that returns
// a resource, POST, PUT and PATCH included (RFC 7644 section 3.9); both
// at once is a 400 that writes nothing.
func TestProjectionOnWrites(t *testing.T) {
	srv, c := open(t, scim.Config{})
	body := map[string]any{"schemas": []string{scim.URNUser}, "userName": "w@x", "title": "T", "emails": []any{map[string]any{"value": "w@x"}}}
	r := c.do(http.MethodPost, "/Users?attributes=userName", body).mustStatus(t, http.StatusCreated)
	id := r.id()
	assert.Equal(t, "w@x", r.body["userName"])
	assert.NotContains(t, r.body, "title")
	assert.NotContains(t, r.body, "emails")
	assert.Contains(t, r.body, "meta")
	r = c.do(http.MethodPatch, "/Users/"+id+"?excludedAttributes=emails", patchOp(map[string]any{"op": "replace", "path": "title", "value": "U"})).mustStatus(t, http.StatusOK)
	assert.Equal(t, "U", r.body["title"])
	assert.NotContains(t, r.body, "emails")
	r = c.do(http.MethodPut, "/Users/"+id+"?attributes=title", body).mustStatus(t, http.StatusOK)
	assert.Equal(t, "T", r.body["title"])
	assert.NotContains(t, r.body, "userName")
	_, cur := changesSince(t, srv, nil)
	c.do(http.MethodPost, "/Users?attributes=userName&excludedAttributes=title", map[string]any{"schemas": []string{scim.URNUser}, "userName": "n@x"}).scimError(t, http.StatusBadRequest, "invalidValue")
	c.do(http.MethodPatch, "/Users/"+id+"?attributes=userName&excludedAttributes=title", patchOp(map[string]any{"op": "replace", "path": "title", "value": "V"})).scimError(t, http.StatusBadRequest, "invalidValue")
	got, _ := changesSince(t, srv, cur)
	assert.Empty(t, got)
}

// Users can be queried by manager (the Entra tutorial lists "querying
// users by ID and by manager" among the endpoint's requirements,
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
// manager eq "id" compares manager.value, as emails eq "x" compares
// emails.value; a complex attribute without a value is still refused.
func TestFilterByManager(t *testing.T) {
	_, c := open(t, scim.Config{})
	boss := newUser(t, c, "boss@x")
	for _, u := range []string{"a@x", "b@x"} {
		c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser, urnEnterprise}, "userName": u,
			urnEnterprise: map[string]any{"manager": map[string]any{"value": boss}}}).mustStatus(t, http.StatusCreated)
	}
	newUser(t, c, "c@x")
	for _, f := range []string{urnEnterprise + `:manager eq "` + boss + `"`, urnEnterprise + `:manager.value eq "` + boss + `"`} {
		assert.ElementsMatch(t, []string{"a@x", "b@x"}, listUserNames(t, c, f), f)
	}
	assert.ElementsMatch(t, []string{"a@x", "b@x"}, listUserNames(t, c, urnEnterprise+`:manager pr`))
	c.do(http.MethodGet, "/Users?filter="+url.QueryEscape(`name eq "x"`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
}
