package scim_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and returns
// it. It needs root (CAP_SYS_ADMIN): without it the test is skipped, but
// under CI=true (where scripts/test.sh runs as root) it fails, so that CI
// never passes by skipping it.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("mounting a tmpfs needs root, and CI=true: run scripts/test.sh as root")
		}
		t.Skip("mounting a tmpfs needs root; the fault-injection tests cover the same paths")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs on %s as root: %v", dir, err)
		}
		t.Skipf("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes to a new file in dir until the filesystem is full, and
// returns the file's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 512)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling the disk: %v", err)
			return path
		}
	}
}

// On a full disk a write is answered 500 and leaves nothing behind: once
// space is freed the next write is stored, and the journal opens again
// with the earlier and the later writes and without the failed one.
func TestJournalFullDiskThenWrite(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	path := filepath.Join(dir, "acme.scim")
	j, srv, c := openJournal(t, path, "")
	first := newUser(t, c, "first@example.com")
	srv.Wait()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NotZero(t, fi.Size()%4096, "the journal's last page has room for part of the next write")

	filler := fill(t, dir)
	// A user larger than a page: part of it fits in the journal's last
	// page, the rest does not.
	big := map[string]any{"schemas": []string{scim.URNUser}, "userName": "failed@example.com",
		"title": strings.Repeat("t", 3*4096)}
	c.do(http.MethodPost, "/Users", big).scimError(t, http.StatusInternalServerError, "")
	assert.Equal(t, 0, userCount(t, c, "failed@example.com"))

	require.NoError(t, os.Remove(filler))
	later := newUser(t, c, "later@example.com")
	srv.Wait()
	require.NoError(t, j.Close())

	j, _, c = openJournal(t, path, c.token)
	defer j.Close()
	c.do(http.MethodGet, "/Users/"+first, nil).mustStatus(t, http.StatusOK)
	c.do(http.MethodGet, "/Users/"+later, nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 0, userCount(t, c, "failed@example.com"), "the failed write is absent")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "failed@example.com")
}
