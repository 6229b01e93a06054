package dirsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
)

func testStore(t *testing.T, s dirsync.Store) {
	ctx := context.Background()
	_, err := s.Get(ctx, "missing")
	assert.ErrorIs(t, err, dirsync.ErrNotFound)
	require.NoError(t, s.Put(ctx, "a", []byte(`{"x":1}`)))
	require.NoError(t, s.Put(ctx, "b", []byte{0, 1, 2, 255}))
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, `{"x":1}`, string(got))
	got, err = s.Get(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 1, 2, 255}, got)
	require.NoError(t, s.Delete(ctx, "a"))
	_, err = s.Get(ctx, "a")
	assert.ErrorIs(t, err, dirsync.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "never-there"))
}

func TestMemoryStore(t *testing.T) { testStore(t, dirsync.NewMemoryStore()) }

func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := dirsync.OpenFileStore(path)
	require.NoError(t, err)
	testStore(t, s)

	// A reopened store sees what was written; no temporary files remain.
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
