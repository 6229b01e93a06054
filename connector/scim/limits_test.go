package scim_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// Limits beyond the body size: a megabyte of values or operations is
// refused (or, for a group's members, applied in linear time: see
// BenchmarkPatchLargeGroup) instead of holding the integration's writes
// for minutes. Each refusal is a 400 that changes nothing.
func TestRequestValueAndOperationLimits(t *testing.T) {
	srv, c := open(t, scim.Config{})
	id := newUser(t, c, "l@x")
	_, cur := changesSince(t, srv, nil)
	emails := func(n int) []any {
		var out []any
		for i := range n {
			out = append(out, map[string]any{"value": fmt.Sprintf("e%d@x", i)})
		}
		return out
	}
	c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "big@x", "emails": emails(1001)}).scimError(t, http.StatusBadRequest, "invalidValue")
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "add", "path": "emails", "value": emails(1001)})).scimError(t, http.StatusBadRequest, "invalidValue")
	// Adding to a list that is nearly full, in one operation or many.
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "add", "path": "phoneNumbers", "value": emails(999)})).mustStatus(t, http.StatusOK)
	_, cur = changesSince(t, srv, cur)
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "add", "path": "phoneNumbers", "value": emails(1001)[999:]})).scimError(t, http.StatusBadRequest, "invalidValue")
	var ops []map[string]any
	for i := range 2 {
		ops = append(ops, map[string]any{"op": "Add", "path": fmt.Sprintf(`phoneNumbers[type eq "t%d"].value`, i), "value": "1"})
	}
	c.do(http.MethodPatch, "/Users/"+id, patchOp(ops...)).scimError(t, http.StatusBadRequest, "invalidValue")
	ops = nil
	for i := range 1001 {
		ops = append(ops, map[string]any{"op": "replace", "path": "title", "value": fmt.Sprint(i)})
	}
	c.do(http.MethodPatch, "/Users/"+id, patchOp(ops...)).scimError(t, http.StatusBadRequest, "invalidValue")
	got, _ := changesSince(t, srv, cur)
	assert.Empty(t, got, "a refused request changed the store")
	c.do(http.MethodPatch, "/Users/"+id, patchOp(ops[:1000]...)).mustStatus(t, http.StatusOK)
	assert.Equal(t, "999", c.do(http.MethodGet, "/Users/"+id, nil).body["title"])
	// A group's members are not capped at that number.
	var members []any
	for i := range 5000 {
		members = append(members, map[string]any{"value": fmt.Sprint("m", i)})
	}
	gid := c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "All", "members": members}).mustStatus(t, http.StatusCreated).id()
	assert.Len(t, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body), 5000)
}

// Group membership through any mix of the providers' PATCH shapes — value
// arrays with repeats (Entra, Okta), one member per operation, removal
// by value array (Entra) and by members[value eq "…"] (Okta, Entra) —
// leaves exactly the members a set model says, in the order they were
// first added.
func TestMembershipMatchesModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			_, c := open(t, scim.Config{})
			gid := oktaCreateGroup(t, c, "G")
			var model []string
			id := func() string { return fmt.Sprint("u", rng.IntN(60)) }
			values := func(ids ...string) []any {
				var out []any
				for _, x := range ids {
					out = append(out, map[string]any{"value": x})
				}
				return out
			}
			for range 40 {
				var ops []map[string]any
				for range 1 + rng.IntN(5) {
					switch rng.IntN(4) {
					case 0, 1:
						var ids []string
						for range 1 + rng.IntN(30) {
							ids = append(ids, id())
						}
						ops = append(ops, map[string]any{"op": "Add", "path": "members", "value": values(ids...)})
						for _, x := range ids {
							if !slices.Contains(model, x) {
								model = append(model, x)
							}
						}
					case 2:
						var ids []string
						for range 1 + rng.IntN(10) {
							ids = append(ids, id())
						}
						ops = append(ops, map[string]any{"op": "Remove", "path": "members", "value": values(ids...)})
						model = slices.DeleteFunc(model, func(x string) bool { return slices.Contains(ids, x) })
					case 3:
						x := id()
						ops = append(ops, map[string]any{"op": "remove", "path": `members[value eq "` + x + `"]`})
						model = slices.DeleteFunc(model, func(y string) bool { return y == x })
					}
				}
				c.do(http.MethodPatch, "/Groups/"+gid, patchOp(ops...)).mustStatus(t, http.StatusOK)
				got := memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body)
				if len(model) == 0 {
					require.Empty(t, got)
				} else {
					require.Equal(t, model, got)
				}
			}
		})
	}
}

// BenchmarkPatchLargeGroup: one request of about a megabyte against a
// group of 40,000 members — 40,000 members added in one operation, then
// removed in one — and 256 members removed one per operation as Okta
// batches them. Before the review each of the first two took minutes,
// holding every write of the integration.
func BenchmarkPatchLargeGroup(b *testing.B) {
	n := benchUsers(40000)
	_, c := open(b, scim.Config{MaxBodyBytes: 4 << 20})
	values := func(off, k int) []any {
		out := make([]any, k)
		for i := range out {
			out[i] = map[string]any{"value": memberID(off + i)}
		}
		return out
	}
	gid := c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "All", "members": values(0, n)}).mustStatus(b, http.StatusCreated).id()
	add := patchOp(map[string]any{"op": "Add", "path": "members", "value": values(n, n)})
	remove := patchOp(map[string]any{"op": "Remove", "path": "members", "value": values(n, n)})
	var okta []map[string]any
	for i := range 256 {
		okta = append(okta, map[string]any{"op": "remove", "path": `members[value eq "` + memberID(n+i) + `"]`})
	}
	b.ResetTimer()
	for b.Loop() {
		c.do(http.MethodPatch, "/Groups/"+gid, add).mustStatus(b, http.StatusOK)
		c.do(http.MethodPatch, "/Groups/"+gid, patchOp(okta...)).mustStatus(b, http.StatusOK)
		c.do(http.MethodPatch, "/Groups/"+gid, remove).mustStatus(b, http.StatusOK)
	}
}

// memberID returns a distinct id shaped like a provider's object id.
func memberID(i int) string {
	h := uint32(i) * 2654435761
	return fmt.Sprintf("%08x-%04x-4000-8000-%012d", h, i&0xffff, i)
}

// BenchmarkListFilterWorstCase: the longest filter the server accepts
// (63 comparisons, the last one true for 1 in 50) over 10,000 users, through the
// handler: the cost a hostile or clumsy client can ask for per request.
func BenchmarkListFilterWorstCase(b *testing.B) {
	n := benchUsers(10000)
	srv, c := open(b, scim.Config{})
	for i := range n {
		req := httptest.NewRequest(http.MethodPost, "https://app.example.com"+mountPath+"/Users", bytes.NewReader(pushBody(i)))
		req.Header.Set("Authorization", "Bearer "+c.token)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		require.Equal(b, http.StatusCreated, w.Code)
	}
	var parts []string
	for i := range 21 {
		parts = append(parts, fmt.Sprintf(`emails[type eq "work" and value co "nobody%d"]`, i), fmt.Sprintf(`name.familyName sw "x%d"`, i))
	}
	parts = append(parts, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Dept 7"`)
	q := "/Users?count=1&filter=" + url.QueryEscape(strings.Join(parts, " or "))
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "https://app.example.com"+mountPath+q, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		require.Equal(b, http.StatusOK, w.Code, w.Body.String())
	}
}
