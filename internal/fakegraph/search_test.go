package fakegraph

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tokenization examples of
// https://learn.microsoft.com/en-us/graph/search-query-parameter.
func TestSearchTokens(t *testing.T) {
	for in, want := range map[string][]string{
		"hello world":   {"hello", "world"},
		"HelloWorld":    {"hello", "world"},
		"helloWORLD":    {"hello", "world"},
		"HELLOworld":    {"helloworld"},
		"HelloWORld":    {"hello", "world"},
		"hello.world":   {"hello", ".", "world", "helloworld"},
		"hello123world": {"hello", "123", "world"},
		"App Admins":    {"app", "admins"},
	} {
		assert.Equal(t, want, searchTokens(in), in)
	}
}

func TestSearchMatches(t *testing.T) {
	props := func(name string) map[string]any {
		return map[string]any{"displayName": name, "mail": "app-admins@example.test", "description": "Administrators of the App"}
	}
	for _, tt := range []struct {
		search, name string
		want         bool
	}{
		{`"displayName:adm"`, "App Admins", true},
		{`"displayName:dmin"`, "App Admins", false}, // no "contains" logic
		{`"displayName:admins app"`, "App Admins", true},
		{`"displayName:OneVideo"`, "One Video", true},
		{`"displayName:OneVideo"`, "One Audio", false},
		{`"displayName:helloworld"`, "hello-world", true},
		{`"displayName:Guthr"`, "Adele Guthrie", true},
		// The examples for 李四(David Li) on the same page.
		{`"displayName:李四(David Li)"`, "李四(David Li)", true},
		{`"displayName:David)"`, "李四(David Li)", true},
		{`"displayName:(李四"`, "李四(David Li)", true},
		{`"displayName:Li 李"`, "李四(David Li)", true},
		{`"displayName:ADM"`, "App Admins", true},
		{`"mail:app-ad"`, "x", true}, // startswith on other properties
		{`"mail:admins"`, "x", false},
		{`"description:admin"`, "x", true},
		{`"displayName:adm" AND "mail:zzz"`, "App Admins", false},
		{`"displayName:zzz" OR "mail:app"`, "App Admins", true},
		{`"displayName:zzz" OR "mail:app" AND "description:zzz"`, "App Admins", false},
		{`("displayName:zzz" OR "mail:app") AND "description:admin"`, "App Admins", true},
		{`"displayName:say \"hi\""`, `We say "hi"`, true},
		{`"displayName:a\\b"`, `a\b`, true},
	} {
		e, err := parseSearch(tt.search)
		require.NoError(t, err, tt.search)
		assert.Equal(t, tt.want, e.matches(props(tt.name)), "%s on %q", tt.search, tt.name)
	}
	for _, bad := range []string{``, `displayName:adm`, `"displayName:adm`, `"displayName:adm" "mail:x"`,
		`"displayName:adm" and "mail:x"`, `("displayName:adm"`, `"displayName:a\b"`, `"adm"`, `"displayName:adm" OR`} {
		_, err := parseSearch(bad)
		assert.Error(t, err, bad)
	}
}

// searchGet is GET /groups?$search=… with or without ConsistencyLevel.
func searchGet(t *testing.T, s *Server, search, count string, eventual bool) (int, map[string]any) {
	t.Helper()
	v := url.Values{"$search": {search}}
	if count != "" {
		v.Set("$count", count)
	}
	req, err := http.NewRequest(http.MethodGet, s.BaseURL()+"/groups?"+v.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+Token)
	if eventual {
		req.Header.Set("ConsistencyLevel", "eventual")
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func TestSearchGroupsHTTP(t *testing.T) {
	s := New()
	defer s.Close()
	s.AddGroup("App Admins")
	s.AddGroup("Sales")
	s.AddGroup("Badminton club")

	status, body := searchGet(t, s, `"displayName:adm"`, "", false)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, map[string]any{"code": "Request_UnsupportedQuery", "message": searchRequired,
		"innerError": map[string]any{"request-id": "00000000-0000-0000-0000-000000000000"}}, body["error"])

	status, body = searchGet(t, s, `"displayName:adm"`, "", true)
	require.Equal(t, http.StatusOK, status, body)
	names := func(body map[string]any) []string {
		var out []string
		for _, v := range body["value"].([]any) {
			out = append(out, v.(map[string]any)["displayName"].(string))
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, []string{"App Admins"}, names(body), `"Badminton" holds "adm" but no word starts with it`)
	assert.NotContains(t, body, "@odata.count", "no $count asked")

	_, body = searchGet(t, s, `"displayName:adm"`, "true", true)
	assert.Equal(t, float64(1), body["@odata.count"])

	status, body = searchGet(t, s, `"displayName:adm`, "", true)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "BadRequest", body["error"].(map[string]any)["code"])

	assert.Equal(t, []Search{{`"displayName:adm"`, "", ""}, {`"displayName:adm"`, "eventual", ""},
		{`"displayName:adm"`, "eventual", "true"}, {`"displayName:adm`, "eventual", ""}}, s.Searches())
}
