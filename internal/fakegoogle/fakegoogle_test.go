package fakegoogle

import (
	"encoding/json"
	"io"
	"net/http"
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
