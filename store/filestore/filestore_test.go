package filestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
	"github.com/dirsync-go/dirsync/store/storetest"
)

func TestConformance(t *testing.T) {
	require.NoError(t, storetest.Test(context.Background(), func(context.Context) (store.Store, error) {
		return filestore.Open(filepath.Join(t.TempDir(), "state.json"))
	}))
}

func TestReopen(t *testing.T) {
	// A reopened store sees what was written; no temporary files remain.
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := filestore.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Put(context.Background(), "k", []byte("v")))
	s2, err := filestore.Open(path)
	require.NoError(t, err)
	got, err := s2.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary files left behind")
}

// TestFormat pins the file format: files written by earlier versions must
// keep opening.
func TestFormat(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := filestore.Open(path)
	require.NoError(t, err)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "Open alone created the file")
	require.NoError(t, s.Put(ctx, "integration/corp/cursor", []byte(`{"x":1}`)))
	require.NoError(t, s.Put(ctx, "b", []byte{0, 0xff}))
	require.NoError(t, s.Put(ctx, "nil", nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{
  "version": 1,
  "entries": {
    "b": "AP8=",
    "integration/corp/cursor": "eyJ4IjoxfQ==",
    "nil": null
  }
}
`, string(b))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// A file in that format, as an earlier version wrote it, opens.
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"entries":{"k":"dg=="}}`), 0o600))
	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got))
}

func TestCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"entries":{"k":"d`,
		"not json":      "hello",
		"wrong version": `{"version":7,"entries":{}}`,
		"unknown field": `{"version":1,"entries":{},"extra":true}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := filestore.Open(path)
			require.Error(t, err)
			assert.True(t, errors.Is(err, store.ErrCorruptStore), "%v", err)
			assert.Contains(t, err.Error(), path)
			// The corrupt file is left as it was.
			after, _ := os.ReadFile(path)
			assert.Equal(t, content, string(after))
		})
	}
}

func TestCorruptAfterOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := filestore.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Put(context.Background(), "k", []byte("v")))
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	assert.ErrorIs(t, s.Put(context.Background(), "k2", []byte("v")), store.ErrCorruptStore)
	_, err = s.Get(context.Background(), "k")
	assert.ErrorIs(t, err, store.ErrCorruptStore)
	after, _ := os.ReadFile(path)
	assert.Equal(t, "garbage", string(after))
}

// TestCorruptValueLongKey has a value that is not base64 under a huge key:
// the error names the file and the key, briefly.
func TestCorruptValueLongKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	key := strings.Repeat("k", 1<<20)
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"entries":{"`+key+`":"not base64!"}}`), 0o600))
	s, err := filestore.Open(path)
	require.NoError(t, err)
	_, err = s.Get(ctx, key)
	require.ErrorIs(t, err, store.ErrCorruptStore)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), store.QuoteKey(key))
	assert.Less(t, len(err.Error()), 1024, "%.200s", err)
	err = s.Update(ctx, key, func(old []byte, found bool) ([]byte, error) { return old, nil })
	require.ErrorIs(t, err, store.ErrCorruptStore)
	assert.Less(t, len(err.Error()), 1024, "%.200s", err)
	_, err = s.Get(ctx, key+"x")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Less(t, len(err.Error()), 1024, "%.200s", err)
}

// A large value lives in a side file: the store file that every call
// reads stays small, and side files come and go with their keys.
func TestSideFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	side := path + ".d"
	s, err := filestore.Open(path)
	require.NoError(t, err)
	big := []byte(strings.Repeat("segment ", 100_000)) // 800 kB
	require.NoError(t, s.Put(ctx, "log/run/1/0", big))
	require.NoError(t, s.Put(ctx, "small", []byte("v")))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, info.Size(), int64(1000), "the store file holds the large value")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"version": 2`)
	names, err := os.ReadDir(side)
	require.NoError(t, err)
	require.Len(t, names, 1)

	reopened, err := filestore.Open(path)
	require.NoError(t, err)
	got, err := reopened.Get(ctx, "log/run/1/0")
	require.NoError(t, err)
	assert.Equal(t, big, got)

	// Overwritten, the old side file goes; a small value comes back in.
	bigger := append(big, '!')
	require.NoError(t, s.Update(ctx, "log/run/1/0", func(old []byte, found bool) ([]byte, error) {
		assert.True(t, found)
		assert.Equal(t, big, old)
		return bigger, nil
	}))
	names, err = os.ReadDir(side)
	require.NoError(t, err)
	require.Len(t, names, 1)
	require.NoError(t, s.Put(ctx, "log/run/1/0", []byte("now small")))
	names, err = os.ReadDir(side)
	require.NoError(t, err)
	assert.Empty(t, names)
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"version": 1`, "without side files the file is what version 1 readers read")

	// Deleted, its side file goes.
	require.NoError(t, s.Put(ctx, "other", big))
	require.NoError(t, s.Delete(ctx, "other"))
	names, err = os.ReadDir(side)
	require.NoError(t, err)
	assert.Empty(t, names)

	// A side file no store file names (a crash between the two writes)
	// is removed by Open.
	require.NoError(t, os.WriteFile(filepath.Join(side, "orphan"), []byte("x"), 0o600))
	_, err = filestore.Open(path)
	require.NoError(t, err)
	names, err = os.ReadDir(side)
	require.NoError(t, err)
	assert.Empty(t, names)
}

func TestSideFileCorrupt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := filestore.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "k", []byte(strings.Repeat("x", 64<<10))))
	names, err := os.ReadDir(path + ".d")
	require.NoError(t, err)
	require.Len(t, names, 1)
	side := filepath.Join(path+".d", names[0].Name())
	require.NoError(t, os.WriteFile(side, []byte("tampered"), 0o600))
	_, err = s.Get(ctx, "k")
	require.ErrorIs(t, err, store.ErrCorruptStore)
	assert.Contains(t, err.Error(), `"k"`)
	require.NoError(t, os.Remove(side))
	_, err = s.Get(ctx, "k")
	require.ErrorIs(t, err, store.ErrCorruptStore)
	err = s.Update(ctx, "k", func([]byte, bool) ([]byte, error) { return nil, nil })
	require.ErrorIs(t, err, store.ErrCorruptStore, "an update does not overwrite what it cannot read")
}
