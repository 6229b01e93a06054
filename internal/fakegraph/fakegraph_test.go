package fakegraph

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type page struct {
	Value     []map[string]any `json:"value"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
	Error     struct {
		Code string `json:"code"`
	} `json:"error"`
}

func get(t *testing.T, s *Server, url, prefer string) (int, page) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+Token)
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var p page
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	return resp.StatusCode, p
}

// all follows next links and returns the page sizes.
func all(t *testing.T, s *Server, url, prefer string) []int {
	t.Helper()
	var sizes []int
	for url != "" {
		status, p := get(t, s, url, prefer)
		require.Equal(t, http.StatusOK, status, url)
		sizes = append(sizes, len(p.Value))
		url = p.NextLink
	}
	return sizes
}

func TestPageSizeLimits(t *testing.T) {
	s := New()
	defer s.Close()
	s.AddUsers(2100)
	base := s.BaseURL() + "/users"

	assert.Equal(t, []int{100, 100}, all(t, s, base, "")[:2], "default 100")
	assert.Equal(t, []int{999, 999, 102}, all(t, s, base+"?$top=999", ""))
	assert.Equal(t, []int{999, 999, 102}, all(t, s, base, "odata.maxpagesize=5000"), "a preference above 999 is capped")
	for _, top := range []string{"0", "1000", "-1", "x"} {
		status, p := get(t, s, base+"?$top="+top, "")
		assert.Equal(t, http.StatusBadRequest, status, top)
		assert.Equal(t, "Request_BadRequest", p.Error.Code)
	}
	// $expand: at most 100 a page, silently, with next links to the rest.
	sizes := all(t, s, base+"?$top=999&$expand=manager", "odata.maxpagesize=999")
	assert.Len(t, sizes, 21)
	for _, n := range sizes[:20] {
		assert.Equal(t, 100, n)
	}
	// The delta round has no $expand: 999 a page.
	assert.Equal(t, []int{999, 999, 102}, all(t, s, s.BaseURL()+"/users/delta?$select=id,manager", "odata.maxpagesize=999"))
}

func TestExpiredDeltaCodes(t *testing.T) {
	s := New()
	defer s.Close()
	s.AddUsers(3)
	s.AddGroup("g")
	for _, status := range []int{400, 410} {
		for _, code := range []string{"SyncStateNotFound", "syncStateNotFound", "syncStateInvalid", "ResyncRequired"} {
			for _, res := range []string{"users", "groups"} {
				_, p := get(t, s, s.BaseURL()+"/"+res+"/delta", "")
				require.NotEmpty(t, p.DeltaLink)
				s.ExpireDeltaTokensWith(status, code)
				got, p := get(t, s, p.DeltaLink, "")
				assert.Equal(t, status, got, strconv.Itoa(status)+code)
				assert.Equal(t, code, p.Error.Code)
			}
		}
	}
}

func TestGroupDeltaMembers(t *testing.T) {
	s := New()
	defer s.Close()
	u := s.AddUsers(3)
	g := s.AddGroup("g", u[0], u[1])
	_, p := get(t, s, s.BaseURL()+"/groups/delta?$select=displayName,members", "")
	require.Len(t, p.Value, 1)
	assert.Len(t, p.Value[0]["members@delta"], 2)

	s.RemoveMember(g, u[0])
	s.AddMember(g, u[2])
	_, p = get(t, s, p.DeltaLink, "")
	require.Len(t, p.Value, 1)
	assert.Equal(t, "g", p.Value[0]["displayName"], "the selected properties come with a changed group")
	refs := p.Value[0]["members@delta"].([]any)
	require.Len(t, refs, 2)
	byID := map[string]map[string]any{}
	for _, r := range refs {
		m := r.(map[string]any)
		byID[m["id"].(string)] = m
	}
	assert.Contains(t, byID[u[0]], "@removed")
	assert.NotContains(t, byID[u[2]], "@removed")
	assert.Equal(t, "#microsoft.graph.user", byID[u[2]]["@odata.type"])

	s.DeleteGroup(g)
	_, p = get(t, s, p.DeltaLink, "")
	require.Len(t, p.Value, 1)
	assert.Contains(t, p.Value[0], "@removed")
}

// With $select every object carries only the selected properties, its id
// and @odata annotations, on every user endpoint, for any selection; and
// a later delta round reports only changes of selected properties.
func TestSelectOnlySelectedProperties(t *testing.T) {
	s := New()
	defer s.Close()
	ids := s.AddUsers(30)
	s.SetManager(ids[1], ids[0])
	props := []string{"userPrincipalName", "mail", "givenName", "surname", "displayName", "jobTitle", "department",
		"companyName", "officeLocation", "mobilePhone", "businessPhones", "employeeId", "accountEnabled"}
	allowed := func(sel []string) func(k string) bool {
		return func(k string) bool {
			return k == "id" || strings.HasPrefix(k, "@odata.") || slices.Contains(sel, k) ||
				(k == "manager@delta" && slices.Contains(sel, "manager"))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		var sel []string
		for _, p := range props {
			if rng.IntN(3) == 0 {
				sel = append(sel, p)
			}
		}
		if round%2 == 0 {
			sel = append(sel, "manager")
		}
		q := "?$select=" + strings.Join(sel, ",")
		ok := allowed(sel)
		for _, u := range []string{s.BaseURL() + "/users" + q, s.BaseURL() + "/users/delta" + q} {
			_, p := get(t, s, u, "")
			require.NotEmpty(t, p.Value)
			for _, v := range p.Value {
				assert.NotEmpty(t, v["id"])
				for k := range v {
					assert.True(t, ok(k), "%s: %q not selected (%v)", u, k, sel)
				}
				for _, k := range sel {
					if k != "manager" {
						assert.Contains(t, v, k, "%s: selected %q missing", u, k)
					}
				}
			}
		}
		req, err := http.NewRequest(http.MethodGet, s.BaseURL()+"/users/"+ids[2]+q, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+Token)
		resp, err := s.Client().Do(req)
		require.NoError(t, err)
		var one map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&one))
		resp.Body.Close()
		for k := range one {
			assert.True(t, ok(k), "users/{id}: %q not selected (%v)", k, sel)
		}
	}

	// A later round tracks the selected properties only.
	_, first := get(t, s, s.BaseURL()+"/users/delta?$select=id,displayName", "")
	require.NotEmpty(t, first.DeltaLink)
	s.UpdateUser(ids[3], map[string]any{"jobTitle": "Boss"})
	s.UpdateUser(ids[4], map[string]any{"displayName": "Renamed"})
	s.SetManager(ids[5], ids[0])
	_, next := get(t, s, first.DeltaLink, "")
	var got []string
	for _, v := range next.Value {
		got = append(got, v["id"].(string))
		for k := range v {
			assert.True(t, allowed([]string{"displayName"})(k), "changed item carries %q", k)
		}
	}
	assert.Equal(t, []string{ids[4]}, got, "only the change of a selected property is reported")

	assert.Contains(t, s.Selects("users/delta"), "id,displayName")
	assert.Positive(t, s.BytesServed())
	s.ResetCounts()
	assert.Zero(t, s.BytesServed())
	assert.Empty(t, s.Selects("users/delta"))
}

// NewHTTP serves the same Graph on plain HTTP, and its links point back
// at it over HTTP.
func TestNewHTTP(t *testing.T) {
	s := NewHTTP()
	defer s.Close()
	s.AddUsers(3)
	require.True(t, strings.HasPrefix(s.BaseURL(), "http://127.0.0.1:"), s.BaseURL())
	status, p := get(t, s, s.BaseURL()+"/users?$top=2", "")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, p.Value, 2)
	assert.True(t, strings.HasPrefix(p.NextLink, s.URL+"/v1.0/users?"), p.NextLink)
}
