package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultyFile is a journal file whose writes, syncs and truncations fail
// on demand, as a full disk or a failing device makes them fail.
type faultyFile struct {
	*os.File
	shortWrite   bool // Write writes half its bytes, then fails
	failSyncs    int  // the next failSyncs Syncs fail
	failTruncate bool
	writes       int
	syncs        int
	// onSync, when set, runs at the start of every Sync with its number
	// (from 1); an error it returns is the Sync's.
	onSync func(n int) error
}

func (f *faultyFile) Write(b []byte) (int, error) {
	f.writes++
	if f.shortWrite {
		n, _ := f.File.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	}
	return f.File.Write(b)
}

func (f *faultyFile) Sync() error {
	f.syncs++
	if f.onSync != nil {
		if err := f.onSync(f.syncs); err != nil {
			return err
		}
	}
	if f.failSyncs > 0 {
		f.failSyncs--
		return syscall.EIO
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if f.failTruncate {
		return syscall.EIO
	}
	return f.File.Truncate(size)
}

func rec(id string, seq uint64) Record {
	return Record{ID: id, Type: "User", Seq: seq, Attrs: json.RawMessage(fmt.Sprintf(`{"userName":%q}`, id))}
}

// openFaulty opens a journal at a new path with the records given, and
// puts a faultyFile under it.
func openFaulty(t *testing.T, ids ...string) (*Journal, *faultyFile, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acme.scim")
	j, err := OpenJournal(path)
	require.NoError(t, err)
	for i, id := range ids {
		require.NoError(t, j.Put(context.Background(), rec(id, uint64(i+1))))
	}
	ff := &faultyFile{File: j.f.(*os.File)}
	j.f = ff
	t.Cleanup(func() { _ = j.Close() })
	return j, ff, path
}

// ids reopens the journal at path and returns the IDs it holds; the file
// must end with a whole line.
func ids(t *testing.T, path string) []string {
	t.Helper()
	j, err := OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	st, err := j.Load(context.Background())
	require.NoError(t, err)
	var out []string
	for _, r := range st.Records {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, len(b) == 0 || strings.HasSuffix(string(b), "\n"), "the journal ends with a whole line")
	return out
}

// A write that fails half-way, and one whose sync fails, are cut off the
// file at once: the next write is stored after the last whole line, and
// the journal opens again without the failed ones.
func TestJournalFailedWriteIsCutOff(t *testing.T) {
	ctx := context.Background()
	j, ff, path := openFaulty(t, "a")

	ff.shortWrite = true
	require.ErrorIs(t, j.Put(ctx, rec("failed-write", 2)), syscall.ENOSPC)
	ff.shortWrite = false
	ff.failSyncs = 1
	require.ErrorIs(t, j.Put(ctx, rec("failed-sync", 3)), syscall.EIO)
	require.NoError(t, j.Put(ctx, rec("b", 4)))

	st, err := j.Load(ctx)
	require.NoError(t, err)
	assert.Len(t, st.Records, 2)
	require.NoError(t, j.Close())
	assert.Equal(t, []string{"a", "b"}, ids(t, path))
}

// When even cutting a failed write off fails, the journal refuses every
// further write rather than append after bytes it could not remove; the
// next open cuts them off, and writes go on.
func TestJournalRefusesWritesAfterFailedCut(t *testing.T) {
	ctx := context.Background()
	for name, fault := range map[string]func(*faultyFile){
		"short write, truncate fails": func(f *faultyFile) { f.shortWrite, f.failTruncate = true, true },
		"sync fails twice":            func(f *faultyFile) { f.failSyncs = 2 },
	} {
		t.Run(name, func(t *testing.T) {
			j, ff, path := openFaulty(t, "a")
			fault(ff)
			require.Error(t, j.Put(ctx, rec("failed", 2)))
			*ff = faultyFile{File: ff.File, writes: ff.writes} // the device is well again
			err := j.Put(ctx, rec("refused", 3))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "reopened")
			assert.Equal(t, 1, ff.writes, "nothing written after the failed cut")
			require.NoError(t, j.Close())

			got := ids(t, path)
			assert.Equal(t, []string{"a"}, got)
			j2, err := OpenJournal(path)
			require.NoError(t, err)
			require.NoError(t, j2.Put(ctx, rec("b", 4)))
			require.NoError(t, j2.Close())
			got = ids(t, path)
			assert.Contains(t, got, "a")
			assert.Contains(t, got, "b")
			assert.NotContains(t, got, "refused")
		})
	}
}
