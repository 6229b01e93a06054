package fakegoogle

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, s *Server, token, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return resp.StatusCode, m
}

func TestServer(t *testing.T) {
	s := New("admin@example.com")
	defer s.Close()
	for _, id := range []string{"a", "b", "c"} {
		s.AddUser(User{ID: id, PrimaryEmail: id + "@example.com", OrgUnitPath: "/X"})
	}
	code, m := get(t, s, "", "/admin/directory/v1/users?customer=my_customer")
	assert.Equal(t, 401, code)
	assert.Equal(t, float64(401), m["error"].(map[string]any)["code"])

	tok := s.StaticToken()
	code, m = get(t, s, tok, "/admin/directory/v1/users?customer=my_customer&maxResults=2&fields=nextPageToken,users(id,primaryEmail)")
	require.Equal(t, 200, code)
	users := m["users"].([]any)
	require.Len(t, users, 2)
	assert.Equal(t, map[string]any{"kind": "admin#directory#user", "id": "a", "primaryEmail": "a@example.com"}, users[0], "fields are honoured")
	next := m["nextPageToken"].(string)
	_, m = get(t, s, tok, "/admin/directory/v1/users?customer=my_customer&maxResults=2&pageToken="+next)
	assert.Len(t, m["users"].([]any), 1)
	assert.Nil(t, m["nextPageToken"])

	s.FailNext(1, RateLimit)
	code, m = get(t, s, tok, "/admin/directory/v1/users?customer=my_customer")
	assert.Equal(t, 403, code)
	e := m["error"].(map[string]any)
	assert.Equal(t, "rateLimitExceeded", e["errors"].([]any)[0].(map[string]any)["reason"])
	assert.Equal(t, "PERMISSION_DENIED", e["status"])

	limited := s.StaticToken(ScopeUserReadonly)
	code, _ = get(t, s, limited, "/admin/directory/v1/groups?customer=my_customer")
	assert.Equal(t, 403, code, "a token without the group scope")
	assert.Equal(t, 4, s.Requests("users"))
}

func TestGroupEdits(t *testing.T) {
	s := New("admin@example.com")
	defer s.Close()
	s.AddGroup(Group{ID: "g1", Name: "One"})
	s.AddGroup(Group{ID: "g2", Name: "Two"})
	s.AddMember("g1", Member{ID: "u1", Type: "USER"})
	s.AddMember("g1", Member{ID: "g2", Type: "GROUP"})
	s.AddMember("g2", Member{ID: "g1", Type: "GROUP"})
	tok := s.StaticToken()

	assert.True(t, s.RemoveMember("g1", "u1"))
	assert.False(t, s.RemoveMember("g1", "u1"), "already gone")
	_, m := get(t, s, tok, "/admin/directory/v1/groups/g1/members")
	require.Len(t, m["members"].([]any), 1)

	assert.True(t, s.UpdateGroup("g2", func(g *Group) { g.Name = "Deux"; g.ID = "changed" }))
	assert.False(t, s.UpdateGroup("nope", func(*Group) {}))
	_, m = get(t, s, tok, "/admin/directory/v1/groups?customer=my_customer")
	g := m["groups"].([]any)[1].(map[string]any)
	assert.Equal(t, "Deux", g["name"])
	assert.Equal(t, "g2", g["id"], "the ID stays")

	s.DeleteGroup("g2")
	_, m = get(t, s, tok, "/admin/directory/v1/groups?customer=my_customer")
	assert.Len(t, m["groups"].([]any), 1)
	_, m = get(t, s, tok, "/admin/directory/v1/groups/g1/members")
	assert.Empty(t, m["members"], "no longer a member of g1")
	code, _ := get(t, s, tok, "/admin/directory/v1/groups/g2/members")
	assert.Equal(t, 404, code)
}

func TestTokenFaults(t *testing.T) {
	s := New("admin@example.com")
	defer s.Close()
	s.FailTokenNextWith(1, TokenFault{Status: 429, Error: "rate_limit_exceeded", RetryAfter: "3"})
	s.FailTokenNextWith(1, TokenFault{Status: 502, Body: "<html>bad gateway</html>"})
	require.Equal(t, 2, s.TokenFaultsLeft())

	resp, err := http.PostForm(s.TokenURL(), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "3", resp.Header.Get("Retry-After"))
	assert.JSONEq(t, `{"error":"rate_limit_exceeded","error_description":""}`, string(b))

	resp, err = http.PostForm(s.TokenURL(), nil)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 502, resp.StatusCode)
	assert.Equal(t, "<html>bad gateway</html>", string(b))

	resp, err = http.PostForm(s.TokenURL(), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode, "faults used up: a real answer (no grant type)")
	assert.Zero(t, s.TokenFaultsLeft())
}

// Fields records the fields parameter of every request, BytesServed counts
// exactly the body bytes a client received, and ResetCounts clears both.
func TestFieldsAndBytesRecorded(t *testing.T) {
	s := New("admin@example.com")
	defer s.Close()
	for _, id := range []string{"a", "b", "c", "d"} {
		s.AddUser(User{ID: id, PrimaryEmail: id + "@example.com", GivenName: "G" + id, Title: "T", Manager: "m@example.com"})
	}
	tok := s.StaticToken()
	var got int64
	var sent []string
	for _, f := range []string{"", "users(id)", "nextPageToken,users(id,name,relations)", "users(id,organizations)"} {
		path := "/admin/directory/v1/users?customer=my_customer&maxResults=3"
		if f != "" {
			path += "&fields=" + url.QueryEscape(f)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		got += int64(len(b))
		sent = append(sent, f)
		assert.Equal(t, got, s.BytesServed(), "after fields=%q", f)
	}
	assert.Equal(t, sent, s.Fields("users"))
	s.ResetCounts()
	assert.Zero(t, s.BytesServed())
	assert.Empty(t, s.Fields("users"))
	assert.Zero(t, s.Requests("users"))
}
