package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// mountPath is where the tests mount a Server, as a host would.
const mountPath = "/scim/v2/acme"

// recorded is one response body the server returned.
type recorded struct {
	Kind string          `json:"kind"` // User, Group, ListResponse, Error, other
	Body json.RawMessage `json:"body"`
}

// client sends requests to a mounted Server, as an identity provider
// would, and records every response body.
type client struct {
	t     testing.TB
	h     http.Handler
	token string

	mu   sync.Mutex
	seen []recorded
}

func newClient(t testing.TB, srv *scim.Server, token string) *client {
	mux := http.NewServeMux()
	mux.Handle(mountPath+"/", http.StripPrefix(mountPath, srv))
	return &client{t: t, h: mux, token: token}
}

// open returns a Server on memory resources with a token, and its client.
func open(t testing.TB, cfg scim.Config) (*scim.Server, *client) {
	t.Helper()
	srv, err := scim.Open(context.Background(), cfg)
	require.NoError(t, err)
	tok, err := srv.RotateToken(context.Background())
	require.NoError(t, err)
	return srv, newClient(t, srv, tok)
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// do sends a request; body may be a string (sent as is) or a value
// (sent as JSON). path is relative to the mount, e.g. "/Users".
func (c *client) do(method, path string, body any) response {
	return c.doToken(method, path, body, c.token)
}

func (c *client) doToken(method, path string, body any, token string) response {
	c.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, "https://app.example.com"+mountPath+path, rd)
	req.Header.Set("Content-Type", "application/scim+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	res := response{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	if len(res.raw) > 0 {
		require.NoError(c.t, json.Unmarshal(res.raw, &res.body), "response to %s %s is not JSON: %s", method, path, res.raw)
		require.Equal(c.t, "application/scim+json", w.Header().Get("Content-Type"))
		c.record(res.body, res.raw)
	}
	return res
}

func (c *client) record(body map[string]any, raw []byte) {
	kind := "other"
	schemas, _ := body["schemas"].([]any)
	for _, s := range schemas {
		switch s {
		case scim.URNUser:
			kind = "User"
		case scim.URNGroup:
			kind = "Group"
		case "urn:ietf:params:scim:api:messages:2.0:ListResponse":
			kind = "ListResponse"
		case "urn:ietf:params:scim:api:messages:2.0:Error":
			kind = "Error"
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, recorded{Kind: kind, Body: append(json.RawMessage(nil), raw...)})
	// The resources of a list are validated one by one too.
	if kind == "ListResponse" {
		res, _ := body["Resources"].([]any)
		for _, r := range res {
			b, _ := json.Marshal(r)
			m, _ := r.(map[string]any)
			k := "other"
			if meta, ok := m["meta"].(map[string]any); ok {
				k, _ = meta["resourceType"].(string)
			}
			if k == "User" || k == "Group" {
				c.seen = append(c.seen, recorded{Kind: k, Body: b})
			}
		}
	}
}

func (c *client) recorded() []recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]recorded(nil), c.seen...)
}

// mustStatus fails the test unless the response has the status.
func (r response) mustStatus(t testing.TB, want int) response {
	t.Helper()
	require.Equal(t, want, r.status, "body: %s", r.raw)
	return r
}

func (r response) id() string {
	id, _ := r.body["id"].(string)
	return id
}

// scimError asserts an error response with the status and scimType.
func (r response) scimError(t testing.TB, status int, scimType string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.raw)
	require.Equal(t, []any{"urn:ietf:params:scim:api:messages:2.0:Error"}, r.body["schemas"])
	require.Equal(t, http.StatusText(status) != "", true)
	require.Equal(t, strings.TrimSpace(jsonString(status)), r.body["status"])
	if scimType == "" {
		require.NotContains(t, r.body, "scimType")
	} else {
		require.Equal(t, scimType, r.body["scimType"], "body: %s", r.raw)
	}
}

func jsonString(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// total returns totalResults of a list response.
func (r response) total() int {
	n, _ := r.body["totalResults"].(float64)
	return int(n)
}

func (r response) resources() []map[string]any {
	list, _ := r.body["Resources"].([]any)
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i], _ = x.(map[string]any)
	}
	return out
}

func patchOp(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

// readEntry returns the entry a full read yields for id.
func readEntry(t testing.TB, srv *scim.Server, id string) (connector.Entry, bool) {
	t.Helper()
	entries, err := connector.ReadAll(context.Background(), srv)
	require.NoError(t, err)
	for _, e := range entries {
		if e.ID == id {
			return e, true
		}
	}
	return connector.Entry{}, false
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// ticker returns a clock that moves one second on every reading.
func ticker() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func urlq(s string) string { return url.QueryEscape(s) }
