package scim_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/connector/scim/scimtest"
)

// sharedStore is a host-written scim.Shared: the resources of one
// integration that several Servers (standing for replicas) share, each
// through a handle of its own. lock is the lock across processes, which
// Write holds throughout; mu guards the data, as a database's snapshots
// do, so reads never wait for a Write.
type sharedStore struct {
	lock  sync.Mutex
	mu    sync.Mutex
	seq   uint64
	recs  map[string]scim.Record
	token []byte
}

type sharedHandle struct{ st *sharedStore }

var _ scim.Shared = sharedHandle{}

func newSharedStore() *sharedStore { return &sharedStore{recs: map[string]scim.Record{}} }

func (h sharedHandle) Load(ctx context.Context) (*scim.State, error) {
	d, err := h.Since(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &scim.State{Records: d.Records, TokenHash: d.TokenHash}, nil
}

func (h sharedHandle) Put(ctx context.Context, r scim.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.st.lock.Lock()
	defer h.st.lock.Unlock()
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	r.Attrs = slices.Clone(r.Attrs)
	h.st.recs[r.ID] = r
	h.st.seq = max(h.st.seq, r.Seq)
	return nil
}

func (h sharedHandle) SetTokenHash(ctx context.Context, hash []byte) error {
	return h.Write(ctx, 0, func(d *scim.Delta) ([]scim.Write, error) {
		return []scim.Write{{Seq: d.Seq + 1, TokenHash: hash}}, nil
	})
}

func (h sharedHandle) Since(ctx context.Context, seq uint64) (*scim.Delta, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	return h.st.since(seq), nil
}

func (st *sharedStore) since(seq uint64) *scim.Delta {
	d := &scim.Delta{Seq: st.seq, TokenHash: slices.Clone(st.token)}
	for _, r := range st.recs {
		if r.Seq > seq {
			r.Attrs = slices.Clone(r.Attrs)
			d.Records = append(d.Records, r)
		}
	}
	slices.SortFunc(d.Records, func(a, b scim.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return d
}

func (h sharedHandle) Write(ctx context.Context, seq uint64, f func(*scim.Delta) ([]scim.Write, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.st.lock.Lock()
	defer h.st.lock.Unlock()
	h.st.mu.Lock()
	d := h.st.since(seq)
	h.st.mu.Unlock()
	ws, err := f(d)
	if err != nil {
		return err
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	for i, w := range ws {
		if w.Seq != h.st.seq+uint64(i)+1 || (w.Record != nil && w.Record.Seq != w.Seq) {
			return fmt.Errorf("a write at sequence number %d after %d", w.Seq, h.st.seq+uint64(i))
		}
	}
	for _, w := range ws { // all or none
		if w.Record == nil {
			h.st.token = slices.Clone(w.TokenHash)
		} else {
			r := *w.Record
			r.Attrs = slices.Clone(r.Attrs)
			h.st.recs[r.ID] = r
		}
		h.st.seq = w.Seq
	}
	return nil
}

// The conformance suite passes on the bundled Resources and on a
// host-written Shared one.
func TestResourcesConformance(t *testing.T) {
	ctx := context.Background()
	t.Run("memory", func(t *testing.T) {
		byName := map[string]*scim.MemoryResources{}
		require.NoError(t, scimtest.TestResources(ctx, func(_ context.Context, name string) (scim.Resources, error) {
			if byName[name] == nil {
				byName[name] = scim.NewMemoryResources()
			}
			return byName[name], nil
		}))
	})
	t.Run("journal", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, scimtest.TestResources(ctx, func(_ context.Context, name string) (scim.Resources, error) {
			return scim.OpenJournal(filepath.Join(dir, name+".scim"))
		}))
	})
	t.Run("host-written shared", func(t *testing.T) {
		byName := map[string]*sharedStore{}
		var mu sync.Mutex
		require.NoError(t, scimtest.TestResources(ctx, func(_ context.Context, name string) (scim.Resources, error) {
			mu.Lock()
			defer mu.Unlock()
			if byName[name] == nil {
				byName[name] = newSharedStore()
			}
			return sharedHandle{byName[name]}, nil
		}))
	})
}

// gatedShared is a sharedHandle whose Writes a test holds and fails:
// hold[n], when set, is waited for after the n-th Write (from 0) called
// f; fail[n] makes that Write store nothing and fail, as a commit that
// did not happen.
type gatedShared struct {
	sharedHandle
	mu      sync.Mutex
	n       int
	entered map[int]chan struct{}
	hold    map[int]chan struct{}
	fail    map[int]bool
}

var errCommit = errors.New("commit failed")

func (g *gatedShared) Write(ctx context.Context, seq uint64, f func(*scim.Delta) ([]scim.Write, error)) error {
	g.mu.Lock()
	n := g.n
	g.n++
	entered, hold, fail := g.entered[n], g.hold[n], g.fail[n]
	g.mu.Unlock()
	return g.sharedHandle.Write(ctx, seq, func(d *scim.Delta) ([]scim.Write, error) {
		ws, err := f(d)
		if entered != nil {
			close(entered)
		}
		if hold != nil {
			<-hold
		}
		if fail {
			return nil, errCommit
		}
		return ws, err
	})
}

// On Shared resources the requests that arrive during one Write go in
// the next one together; no read sees them before it committed, and when
// it fails, all of them are rolled back and answered 500.
func TestSharedGroupCommitFailedWriteRollsBack(t *testing.T) {
	g := &gatedShared{sharedHandle: sharedHandle{newSharedStore()},
		entered: map[int]chan struct{}{}, hold: map[int]chan struct{}{}, fail: map[int]bool{}}
	srv, c := open(t, scim.Config{Resources: g}) // Write 0: the token
	keep := newUser(t, c, "keep@x")              // Write 1
	for _, n := range []int{2, 3} {
		g.entered[n], g.hold[n] = make(chan struct{}), make(chan struct{})
	}
	g.fail[3] = true
	released := false
	t.Cleanup(func() {
		if !released {
			close(g.hold[2])
			close(g.hold[3])
		}
	})

	first := make(chan int)
	go func() {
		first <- c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "first@x"}).status
	}()
	<-g.entered[2]
	answers := make(chan int, 3)
	send := func(method, path string, body any) {
		go func() { answers <- c.do(method, path, body).status }()
	}
	send(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "b@x"})
	send(http.MethodPatch, "/Users/"+keep, patchOp(map[string]any{"op": "replace", "path": "title", "value": "second"}))
	require.Eventually(t, func() bool { return scim.QueuedOps(srv) == 2 }, 5*time.Second, time.Millisecond)
	send(http.MethodDelete, "/Users/"+keep, nil)
	require.Eventually(t, func() bool { return scim.QueuedOps(srv) == 3 }, 5*time.Second, time.Millisecond)
	released = true
	close(g.hold[2])
	require.Equal(t, http.StatusCreated, <-first)
	<-g.entered[3] // b, the patch and the delete are applied, not committed

	read := make(chan response, 1)
	go func() { read <- c.do(http.MethodGet, "/Users/"+keep, nil) }()
	select {
	case r := <-read:
		t.Fatalf("a read answered %d %s before the write it saw committed", r.status, r.raw)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.hold[3])
	for range 3 {
		assert.Equal(t, http.StatusInternalServerError, <-answers)
	}
	got := <-read
	require.Equal(t, http.StatusOK, got.status, "the delete was rolled back: %s", got.raw)
	assert.Nil(t, got.body["title"])
	assert.Equal(t, 2, c.do(http.MethodGet, "/Users", nil).total(), "keep and first")
	c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "b@x"}).mustStatus(t, http.StatusCreated)
	assert.Equal(t, 3, c.do(http.MethodGet, "/Users", nil).total())
	other, err := scim.Open(context.Background(), scim.Config{Resources: g.sharedHandle})
	require.NoError(t, err)
	entries, err := connector.ReadAll(context.Background(), other)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "what a replica opened now reads: nothing of the failed Write")
}
