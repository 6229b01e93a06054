package scim_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// failingResources fails Put while fail is set.
type failingResources struct {
	*scim.MemoryResources
	fail atomic.Bool
}

func (s *failingResources) Put(ctx context.Context, r scim.Record) error {
	if s.fail.Load() {
		return errors.New("disk full at /var/lib/app/acme.scim")
	}
	return s.MemoryResources.Put(ctx, r)
}

// A write the Resources refuses is answered 500 without its detail,
// changes nothing (the provider retries it), and calls no OnChange.
func TestResourcesFailureChangesNothing(t *testing.T) {
	st := &failingResources{MemoryResources: scim.NewMemoryResources()}
	var calls atomic.Int32
	var logs bytes.Buffer
	srv, c := open(t, scim.Config{Resources: st, OnChange: func(context.Context) { calls.Add(1) },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	id := newUser(t, c, "s@x")
	srv.Wait()
	before, err := connector.ReadAll(context.Background(), srv)
	require.NoError(t, err)
	_, cur := changesSince(t, srv, nil)
	n := calls.Load()

	st.fail.Store(true)
	for _, r := range []response{
		c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "new@x"}),
		c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})),
		c.do(http.MethodPut, "/Users/"+id, map[string]any{"schemas": []string{scim.URNUser}, "userName": "s2@x"}),
		c.do(http.MethodDelete, "/Users/"+id, nil),
	} {
		r.scimError(t, http.StatusInternalServerError, "")
		assert.NotContains(t, string(r.raw), "disk full")
	}
	srv.Wait()
	after, err := connector.ReadAll(context.Background(), srv)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	got, _ := changesSince(t, srv, cur)
	assert.Empty(t, got)
	assert.Equal(t, n, calls.Load())
	assert.Contains(t, logs.String(), "disk full", "the cause is logged for the host")
	assert.NotContains(t, logs.String(), "new@x")
	// The userName of the failed create is still free.
	st.fail.Store(false)
	c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "new@x"}).mustStatus(t, http.StatusCreated)
}

// FuzzRequest: any method, path and body get a SCIM answer below 500 in
// the SCIM media type (or 204), and a request that is refused changes
// nothing.
func FuzzRequest(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x"}`},
		{"PATCH", "/Users/ID", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`},
		{"PUT", "/Users/ID", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"y","emails":{"value":1}}`},
		{"GET", "/Users?filter=userName%20eq%20%22a%22&startIndex=0&count=-1", ``},
		{"GET", "/Groups/GID?excludedAttributes=members", ``},
		{"DELETE", "/Groups/GID", ``}, {"POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"value":"ID"}]}`},
		{"GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", ``}, {"PATCH", "/Groups/GID", `{"Operations":[]}`},
	} {
		f.Add(s.method, s.path, s.body)
	}
	srv, err := scim.Open(context.Background(), scim.Config{MaxBodyBytes: 1 << 14})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := srv.RotateToken(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	c := newClient(f, srv, tok)
	id := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "seed@x"}).id()
	gid := c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "seed"}).id()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		path = strings.ReplaceAll(strings.ReplaceAll(path, "GID", gid), "ID", id)
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		_, cur := changesSince(t, srv, nil)
		req, err := http.NewRequest(method, "https://app.example.com"+mountPath+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code >= 300 {
			if got, _ := changesSince(t, srv, cur); len(got) > 0 {
				t.Fatalf("%s %s %q was refused (%d) but changed %v", method, path, body, w.Code, got)
			}
		}
		if w.Code != http.StatusNoContent && w.Code < 300 && w.Header().Get("Content-Type") != "application/scim+json" {
			t.Fatalf("content type %q", w.Header().Get("Content-Type"))
		}
	})
}
