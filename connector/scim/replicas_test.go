package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// Several replicas serve one integration, each with its own Server on
// resources they share (scim.Shared): a round-robin front sends each
// request to the next replica, as a load balancer may. The same checks
// run on a host-written Shared in memory here and on PostgreSQL
// (replicas_pg_test.go).

// roundRobin sends each request to the next of its handlers.
type roundRobin struct {
	n  atomic.Uint64
	hs []http.Handler
}

func (r *roundRobin) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.hs[(r.n.Add(1)-1)%uint64(len(r.hs))].ServeHTTP(w, req)
}

// replicas are the Servers of one integration on two replicas, a client
// of each, and a client of the round-robin front.
type replicas struct {
	srv   []*scim.Server
	each  []*client
	front *client
	token string
}

// openReplicas opens one Server per resources handle (each the same
// integration's, as another replica opens it) and issues the token on
// the first.
func openReplicas(t *testing.T, cfg scim.Config, res ...scim.Resources) *replicas {
	t.Helper()
	ctx := context.Background()
	r := &replicas{}
	for _, x := range res {
		c := cfg
		c.Resources = x
		srv, err := scim.Open(ctx, c)
		require.NoError(t, err)
		r.srv = append(r.srv, srv)
	}
	tok, err := r.srv[0].RotateToken(ctx)
	require.NoError(t, err)
	r.token = tok
	rr := &roundRobin{}
	for _, srv := range r.srv {
		c := newClient(t, srv, tok)
		r.each = append(r.each, c)
		rr.hs = append(rr.hs, c.h)
	}
	r.front = &client{t: t, h: rr, token: tok}
	return r
}

// pairFunc returns two handles on the same new integration's shared
// resources, as two replicas open them.
type pairFunc func(t *testing.T) (scim.Resources, scim.Resources)

func testReplicas(t *testing.T, pair pairFunc) {
	t.Run("entra sequence", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		runEntraSequence(t, r.front)
		r.sameEntries(t)
		r.scimmy(t)
	})
	t.Run("okta sequence", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		runOktaSequence(t, r.front)
		r.sameEntries(t)
		r.scimmy(t)
	})
	t.Run("read back on the other replica at once", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		for i := range 10 {
			w, rd := r.each[i%2], r.each[(i+1)%2]
			id := newUser(t, w, fmt.Sprintf("u%d@x", i))
			rd.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
			w.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "title", "value": "t"})).mustStatus(t, http.StatusOK)
			assert.Equal(t, "t", rd.do(http.MethodGet, "/Users/"+id, nil).body["title"])
			w.do(http.MethodDelete, "/Users/"+id, nil).mustStatus(t, http.StatusNoContent)
			rd.do(http.MethodGet, "/Users/"+id, nil).scimError(t, http.StatusNotFound, "")
		}
	})
	t.Run("conflicting creates: one 201, one 409", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		for i := range 25 {
			body := map[string]any{"schemas": []string{scim.URNUser}, "userName": fmt.Sprintf("Same.%d@x", i)}
			group := map[string]any{"schemas": []string{scim.URNGroup}, "displayName": fmt.Sprintf("Team %d", i)}
			for _, x := range []struct {
				path string
				body map[string]any
			}{{"/Users", body}, {"/Groups", group}} {
				statuses := make([]int, 2)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for k := range 2 {
					wg.Go(func() {
						<-start
						statuses[k] = r.each[k].do(http.MethodPost, x.path, x.body).status
					})
				}
				close(start)
				wg.Wait()
				slices.Sort(statuses)
				require.Equal(t, []int{http.StatusCreated, http.StatusConflict}, statuses, "%s %d", x.path, i)
			}
		}
		for _, c := range r.each {
			assert.Equal(t, 25, c.do(http.MethodGet, "/Users?count=0", nil).total())
			assert.Equal(t, 25, c.do(http.MethodGet, "/Groups?count=0", nil).total())
		}
	})
	t.Run("concurrent membership patches: none lost", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		gid := oktaCreateGroup(t, r.front, "Everyone")
		const per = 12
		var users []string
		for i := range 2 * per {
			users = append(users, newUser(t, r.front, fmt.Sprintf("m%d@x", i)))
		}
		patchAll := func(op string, ids []string) {
			var wg sync.WaitGroup
			for i, id := range ids {
				wg.Go(func() {
					var o map[string]any
					if op == "add" {
						o = map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}
					} else {
						o = map[string]any{"op": "remove", "path": `members[value eq "` + id + `"]`}
					}
					r.each[i%2].do(http.MethodPatch, "/Groups/"+gid, patchOp(o)).mustStatus(t, http.StatusOK)
				})
			}
			wg.Wait()
		}
		patchAll("add", users)
		for _, c := range r.each {
			assert.ElementsMatch(t, users, memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
		}
		patchAll("remove", users[:per])
		for _, c := range r.each {
			assert.ElementsMatch(t, users[per:], memberValues(c.do(http.MethodGet, "/Groups/"+gid, nil).body))
		}
		r.sameEntries(t)
	})
	t.Run("token rotated on one replica is refused by the other", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		ctx := context.Background()
		r.each[1].do(http.MethodGet, "/Users", nil).mustStatus(t, http.StatusOK)
		tok, err := r.srv[0].RotateToken(ctx)
		require.NoError(t, err)
		r.each[1].doToken(http.MethodGet, "/Users", nil, r.token).scimError(t, http.StatusUnauthorized, "")
		r.each[1].doToken(http.MethodGet, "/Users", nil, tok).mustStatus(t, http.StatusOK)
		require.NoError(t, r.srv[1].RevokeToken(ctx))
		r.each[0].doToken(http.MethodGet, "/Users", nil, tok).scimError(t, http.StatusUnauthorized, "")
		assert.ErrorIs(t, r.srv[0].Check(ctx), scim.ErrNoToken)
		tok, err = r.srv[1].RotateToken(ctx)
		require.NoError(t, err)
		r.each[0].doToken(http.MethodGet, "/Users", nil, tok).mustStatus(t, http.StatusOK)
		require.NoError(t, r.srv[0].Check(ctx))
	})
	t.Run("the syncer's reads catch up", func(t *testing.T) {
		a, b := pair(t)
		r := openReplicas(t, scim.Config{}, a, b)
		ctx := context.Background()
		var cursor connector.Cursor
		_, err := r.srv[1].ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
		require.NoError(t, err)
		cursor, err = r.srv[0].ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
		require.NoError(t, err)
		id := newUser(t, r.each[0], "new@x")
		var got []string
		_, err = r.srv[1].ReadChanges(ctx, cursor, func(e connector.Entry) error {
			got = append(got, e.ID)
			return nil
		})
		require.NoError(t, err, "a cursor issued by one replica is valid on the other")
		assert.Equal(t, []string{id}, got)
		_, ok := readEntry(t, r.srv[1], id)
		assert.True(t, ok)
	})
}

// sameEntries checks that every replica reads the same directory.
func (r *replicas) sameEntries(t *testing.T) {
	t.Helper()
	want, err := connector.ReadAll(context.Background(), r.srv[0])
	require.NoError(t, err)
	for _, srv := range r.srv[1:] {
		got, err := connector.ReadAll(context.Background(), srv)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

// scimmy validates every response the front returned.
func (r *replicas) scimmy(t *testing.T) {
	t.Run("scimmy", func(t *testing.T) {
		dir := scimmyDir(t)
		out, ok := scimmy(t, dir, r.front.recorded())
		assert.True(t, ok, "scimmy rejected responses:\n%s", out)
	})
}

func TestReplicasSharedInMemory(t *testing.T) {
	testReplicas(t, func(t *testing.T) (scim.Resources, scim.Resources) {
		st := newSharedStore()
		return sharedHandle{st}, sharedHandle{st}
	})
}
