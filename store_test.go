package dirsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

func TestMemoryStore(t *testing.T) {
	require.NoError(t, dirsynctest.TestStore(context.Background(), func(context.Context) (dirsync.Store, error) {
		return dirsync.NewMemoryStore(), nil
	}))
}

func TestFileStore(t *testing.T) {
	require.NoError(t, dirsynctest.TestStore(context.Background(), func(context.Context) (dirsync.Store, error) {
		return dirsync.OpenFileStore(filepath.Join(t.TempDir(), "state.json"))
	}))

	// A reopened store sees what was written; no temporary files remain.
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := dirsync.OpenFileStore(path)
	require.NoError(t, err)
	require.NoError(t, s.Put(context.Background(), "k", []byte("v")))
	s2, err := dirsync.OpenFileStore(path)
	require.NoError(t, err)
	got, err := s2.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary files left behind")
}

// brokenStore breaks the Store contract in the ways TestStore looks for.
type brokenStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *brokenStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	v, ok := s.m[key]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("no such key") // not ErrNotFound
	}
	runtime.Gosched() // widen the window between a Syncer's read and write
	return v, nil     // the store's own slice
}

func (s *brokenStore) Put(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(value) > 1<<20 {
		value = value[:1<<20] // truncates large values
	}
	s.m[key] = value // keeps the caller's slice
	return nil
}

func (s *brokenStore) Delete(ctx context.Context, key string) error { return nil } // forgets to delete

// Update is not atomic: it reads, yields, and writes.
func (s *brokenStore) Update(ctx context.Context, key string, f func([]byte, bool) ([]byte, error)) error {
	s.mu.Lock()
	old, found := s.m[key]
	s.mu.Unlock()
	runtime.Gosched()
	v, err := f(old, found)
	if err != nil {
		return err
	}
	return s.Put(ctx, key, v)
}

func TestStoreSuiteFindsBrokenStores(t *testing.T) {
	err := dirsynctest.TestStore(context.Background(), func(context.Context) (dirsync.Store, error) {
		return &brokenStore{m: map[string][]byte{}}, nil
	})
	require.Error(t, err)
	for _, check := range []string{"round trip", "missing key", "copies", "large values", "concurrent updates (if implemented)", "concurrent syncers"} {
		assert.Contains(t, err.Error(), check+":", "TestStore did not report %q", check)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"entries":{"k":"d`,
		"not json":      "hello",
		"wrong version": `{"version":7,"entries":{}}`,
		"unknown field": `{"version":1,"entries":{},"extra":true}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := dirsync.OpenFileStore(path)
			require.Error(t, err)
			assert.True(t, errors.Is(err, dirsync.ErrCorruptStore), "%v", err)
			assert.Contains(t, err.Error(), path)
			// The corrupt file is left as it was.
			after, _ := os.ReadFile(path)
			assert.Equal(t, content, string(after))
		})
	}
}

func TestFileStoreCorruptAfterOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := dirsync.OpenFileStore(path)
	require.NoError(t, err)
	require.NoError(t, s.Put(context.Background(), "k", []byte("v")))
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	assert.ErrorIs(t, s.Put(context.Background(), "k2", []byte("v")), dirsync.ErrCorruptStore)
	_, err = s.Get(context.Background(), "k")
	assert.ErrorIs(t, err, dirsync.ErrCorruptStore)
}
