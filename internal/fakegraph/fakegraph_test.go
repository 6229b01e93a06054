package fakegraph

import (
	"encoding/json"
	"net/http"
	"strconv"
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
