package dirsync_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/store"
)

// hostMapper is a mapper a host writes in Go: it reads the entry alone.
// describedHostMapper describes it, with lookups and a version as set.
type hostMapper struct {
	lookups bool
	version string
}

func (m hostMapper) Map(e *connector.Entry, _ *connector.Snapshot) (diff.Account, error) {
	sam := e.Attr("sAMAccountName")
	return diff.Account{ExternalID: e.ID, Username: sam, Email: strings.ToLower(e.Attr("mail")),
		DisplayName: e.Attr("givenName") + " " + e.Attr("sn"), Title: e.Attr("title")}, nil
}

type describedHostMapper struct{ hostMapper }

func (m describedHostMapper) Describe() mapping.Description {
	return mapping.Description{
		Fields:         []string{diff.FieldUsername, diff.FieldEmail, diff.FieldDisplayName, diff.FieldTitle},
		Attributes:     []string{"givenname", "mail", "samaccountname", "sn", "title"},
		Lookups:        m.lookups,
		KeyedByEntryID: true,
		Fingerprint:    m.version,
	}
}

// A host-written mapper that describes itself with a fingerprint of its
// rules runs incrementally like the rule mapper; one that does not, or
// that looks up other entries, or gives no fingerprint, is read in full;
// and a changed fingerprint forces a full read.
func TestHostMapperRunsIncrementally(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		mapper      mapping.Mapper
		incremental bool
	}{
		{"described", describedHostMapper{hostMapper{version: "v1"}}, true},
		{"not described", hostMapper{}, false},
		{"described with lookups", describedHostMapper{hostMapper{version: "v1", lookups: true}}, false},
		{"described without fingerprint", describedHostMapper{hostMapper{}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"))
			sink := dirsynctest.NewMemorySink()
			sy := newSyncer(t, dir, sink, &dirsync.Options{Mapper: tc.mapper})
			p, _ := syncOnce(t, sy)
			require.Equal(t, 2, p.Count(diff.OpCreate))
			require.NoError(t, dir.Set("1", "title", "Founder"))
			p, _ = syncOnce(t, sy)
			assert.Equal(t, tc.incremental, p.Incremental)
			require.Equal(t, 1, p.Count(diff.OpUpdate), "%s", p)
			alice, _ := sink.Get("ad", "1")
			assert.Equal(t, "Founder", alice.Title)
			require.NoError(t, dir.Delete("2"))
			p, _ = syncOnce(t, sy)
			assert.Equal(t, tc.incremental, p.Incremental, "a deletion keyed by entry ID stays incremental")
			assert.Equal(t, 1, p.Count(diff.OpBlock), "%s", p)
		})
	}

	// The same integration with a new version of the host's rules reads
	// in full once, then incrementally again.
	dir := fake.New(user("1", "alice", "Users"))
	sink := dirsynctest.NewMemorySink()
	st := store.NewMemory()
	version := func(v string) *dirsync.Syncer {
		return newSyncer(t, dir, sink, &dirsync.Options{Mapper: describedHostMapper{hostMapper{version: v}}, Store: st})
	}
	syncOnce(t, version("v1"))
	require.NoError(t, dir.Set("1", "title", "Founder"))
	p, err := version("v1").Plan(ctx)
	require.NoError(t, err)
	assert.True(t, p.Incremental)
	p, _ = syncOnce(t, version("v2"))
	assert.False(t, p.Incremental, "new rules: a full read first")
	require.NoError(t, dir.Set("1", "title", "CEO"))
	p, _ = syncOnce(t, version("v2"))
	assert.True(t, p.Incremental)
	assert.Equal(t, 1, p.Count(diff.OpUpdate))
}
