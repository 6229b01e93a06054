package dirsync_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
)

// The root's names are the store package's: a host importing only dirsync
// branches on the same errors a driver returns.
func TestStoreAliases(t *testing.T) {
	ctx := context.Background()
	var st dirsync.Store = store.NewMemory()
	_, ok := st.(dirsync.Updater)
	assert.True(t, ok)
	_, err := st.Get(ctx, "missing")
	assert.ErrorIs(t, err, dirsync.ErrNotFound)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, store.ErrCorruptStore, dirsync.ErrCorruptStore)

	// A Syncer made without a Store keeps its state in memory.
	sy, err := dirsync.New(fake.New(), dirsynctest.NewMemorySink(), nil)
	require.NoError(t, err)
	require.NoError(t, sy.AddException(ctx, policy.Exception{ID: "x"}))
	list, err := sy.Exceptions(ctx)
	require.NoError(t, err)
	assert.Equal(t, []policy.Exception{{ID: "x"}}, list)
}

// A value a Syncer cannot have written reads back as an error wrapping
// ErrCorruptStore that names its key, and is left as it was (never reset,
// which would forget exceptions or history), whatever the store.
func TestSyncerCorruptValues(t *testing.T) {
	ctx := context.Background()
	for name, newStore := range map[string]func(t *testing.T) dirsync.Store{
		"memory": func(*testing.T) dirsync.Store { return store.NewMemory() },
		"file": func(t *testing.T) dirsync.Store {
			st, err := filestore.Open(filepath.Join(t.TempDir(), "state.json"))
			require.NoError(t, err)
			return st
		},
		"plain": func(*testing.T) dirsync.Store { return plainStore{store.NewMemory()} },
	} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			sy, err := dirsync.New(fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Source: "corrupt", Store: st})
			require.NoError(t, err)
			bad := []byte(`{"truncated`)
			for _, c := range []struct {
				key string
				op  func() error
			}{
				{"integration/corrupt/exceptions", func() error { _, err := sy.Exceptions(ctx); return err }},
				{"integration/corrupt/exceptions", func() error { return sy.AddException(ctx, policy.Exception{ID: "x"}) }},
				{"integration/corrupt/history", func() error { _, err := sy.History(ctx); return err }},
				{"integration/corrupt/pending", func() error { _, err := sy.PendingPlan(ctx); return err }},
			} {
				require.NoError(t, st.Put(ctx, c.key, bad))
				err := c.op()
				assert.True(t, errors.Is(err, dirsync.ErrCorruptStore), "%s: %v", c.key, err)
				assert.True(t, err != nil && strings.Contains(err.Error(), c.key), "%s: %v", c.key, err)
				got, err := st.Get(ctx, c.key)
				require.NoError(t, err)
				assert.Equal(t, string(bad), string(got), "%s was overwritten", c.key)
			}
		})
	}
}
