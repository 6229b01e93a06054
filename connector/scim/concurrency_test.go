package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// 50 concurrent POST, PATCH and DELETE requests (run with -race): no
// update is lost, one userName is taken once, and the journal reloads to
// the same state.
func TestConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "acme.scim")
	st, err := scim.OpenJournal(path)
	require.NoError(t, err)
	calls := 0
	var callsMu sync.Mutex
	srv, err := scim.Open(ctx, scim.Config{Resources: st, OnChange: func(context.Context) { callsMu.Lock(); calls++; callsMu.Unlock() }})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	c := newClient(t, srv, tok)
	gid := oktaCreateGroup(t, c, "Everyone")

	const n = 50
	var wg sync.WaitGroup
	ids := make([]string, n)
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every tenth goroutine races for one userName.
			if i%10 == 0 {
				r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "contested@x"})
				statuses <- r.status
				return
			}
			r := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": fmt.Sprintf("c%d@x", i)})
			if r.status != http.StatusCreated {
				t.Errorf("create %d: %d %s", i, r.status, r.raw)
				return
			}
			id := r.id()
			ids[i] = id
			if r := c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "title", "value": fmt.Sprint("t", i)})); r.status != http.StatusOK {
				t.Errorf("patch %d: %d", i, r.status)
			}
			if r := c.do(http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}})); r.status != http.StatusOK {
				t.Errorf("member %d: %d", i, r.status)
			}
			if i%3 == 0 {
				if r := c.do(http.MethodDelete, "/Users/"+id, nil); r.status != http.StatusNoContent {
					t.Errorf("delete %d: %d", i, r.status)
				}
			}
		}()
	}
	wg.Wait()
	close(statuses)
	created, conflicts := 0, 0
	for s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			conflicts++
		default:
			t.Errorf("contested create: %d", s)
		}
	}
	assert.Equal(t, 1, created, "one userName, one user")
	assert.Equal(t, n/10-1, conflicts)

	// Every member add survived; every PATCH is read back.
	g := c.do(http.MethodGet, "/Groups/"+gid, nil).mustStatus(t, http.StatusOK).body
	var want []string
	live := 1 // the contested user
	for i, id := range ids {
		if id == "" {
			continue
		}
		want = append(want, id)
		if i%3 == 0 {
			c.do(http.MethodGet, "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
			continue
		}
		live++
		assert.Equal(t, fmt.Sprint("t", i), c.do(http.MethodGet, "/Users/"+id, nil).body["title"])
	}
	assert.ElementsMatch(t, want, memberValues(g))
	assert.Equal(t, live, c.do(http.MethodGet, "/Users", nil).total())
	require.NoError(t, connectortest.Test(ctx, srv))

	srv.Wait()
	callsMu.Lock()
	assert.Positive(t, calls)
	callsMu.Unlock()

	// The journal reloads to the same directory.
	want1, err := connector.ReadAll(ctx, srv)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	st2, err := scim.OpenJournal(path)
	require.NoError(t, err)
	defer st2.Close()
	srv2, err := scim.Open(ctx, scim.Config{Resources: st2})
	require.NoError(t, err)
	got, err := connector.ReadAll(ctx, srv2)
	require.NoError(t, err)
	assert.Equal(t, want1, got)
}
