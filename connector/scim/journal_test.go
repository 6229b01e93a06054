package scim_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// openJournal opens the journal at path and a Server over it.
func openJournal(t *testing.T, path, token string) (*scim.Journal, *scim.Server, *client) {
	t.Helper()
	j, err := scim.OpenJournal(path)
	require.NoError(t, err)
	srv, err := scim.Open(context.Background(), scim.Config{Resources: j})
	require.NoError(t, err)
	if token == "" {
		token, err = srv.RotateToken(context.Background())
		require.NoError(t, err)
	}
	return j, srv, newClient(t, srv, token)
}

// userCount is the number of users whose userName is name.
func userCount(t *testing.T, c *client, name string) int {
	t.Helper()
	return oktaProbe(t, c, name).total()
}

// A crash in the middle of a write leaves half a line at the end of the
// journal. The next start cuts it off, so the write after it is a line of
// its own and the start after that finds every acknowledged write, and
// nothing corrupt.
func TestJournalTornRecordThenWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acme.scim")
	j, srv, c := openJournal(t, path, "")
	acked := []string{newUser(t, c, "a@example.com"), newUser(t, c, "b@example.com")}
	srv.Wait()
	require.NoError(t, j.Close())

	// The crash: half a record, no newline.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"record":{"id":"4f1c","type":"User","seq":3,"attrs":{"userName":"torn@exa`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	j, srv, c = openJournal(t, path, c.token)
	acked = append(acked, newUser(t, c, "c@example.com"))
	srv.Wait()
	require.NoError(t, j.Close())

	j, srv, c = openJournal(t, path, c.token)
	defer j.Close()
	for _, id := range acked {
		c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	}
	assert.Equal(t, 0, userCount(t, c, "torn@example.com"))
	entries, err := connector.ReadAll(context.Background(), srv)
	require.NoError(t, err)
	assert.Len(t, entries, 3)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(b), "\n"), "the journal ends with a whole line")
	assert.NotContains(t, string(b), "torn@exa")
}
