package scim_test

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/connector/scim/scimtest"
)

// sharedStore is a host-written scim.Shared: the resources of one
// integration that several Servers (standing for replicas) share, each
// through a handle of its own. Its mutex is the lock across processes.
type sharedStore struct {
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
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	r.Attrs = slices.Clone(r.Attrs)
	h.st.recs[r.ID] = r
	h.st.seq = max(h.st.seq, r.Seq)
	return nil
}

func (h sharedHandle) SetTokenHash(ctx context.Context, hash []byte) error {
	return h.Write(ctx, 0, func(d *scim.Delta) (*scim.Write, error) { return &scim.Write{Seq: d.Seq + 1, TokenHash: hash}, nil })
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

func (h sharedHandle) Write(ctx context.Context, seq uint64, f func(*scim.Delta) (*scim.Write, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	w, err := f(h.st.since(seq))
	if err != nil || w == nil {
		return err
	}
	if w.Seq != h.st.seq+1 || (w.Record != nil && w.Record.Seq != w.Seq) {
		return fmt.Errorf("a write at sequence number %d after %d", w.Seq, h.st.seq)
	}
	if w.Record == nil {
		h.st.token = slices.Clone(w.TokenHash)
	} else {
		r := *w.Record
		r.Attrs = slices.Clone(r.Attrs)
		h.st.recs[r.ID] = r
	}
	h.st.seq = w.Seq
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
