package dirsynctest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// A sink seeded with accounts that already have IDs (a host's fixture, a
// sink restored from a snapshot) never gives a new account one of those
// IDs: a create adds an account, it never overwrites a seeded one.
func TestMemorySinkSeededIDsAreNotReused(t *testing.T) {
	ctx := context.Background()
	seeded := []diff.Account{
		{ID: "app-000001", Source: "ad", ExternalID: "1", Managed: true, Email: "alice@example.test", DisplayName: "Alice"},
		{ID: "app-000002", Source: "ad", ExternalID: "2", Managed: true, Email: "bob@example.test", DisplayName: "Bob"},
		{ID: "app-000007", Email: "owner@example.test", DisplayName: "Owner"}, // unmanaged, a gap before it
		{ID: "host-42", Email: "other@example.test", DisplayName: "Another shape"},
	}

	t.Run("direct creates", func(t *testing.T) {
		s := dirsynctest.NewMemorySink(seeded...)
		for i := range 3 {
			a := diff.Account{Source: "ad", ExternalID: fmt.Sprint("n", i), Managed: true, Email: fmt.Sprintf("new%d@example.test", i), DisplayName: "New"}
			require.NoError(t, s.Apply(ctx, diff.Change{Op: diff.OpCreate, Key: a.Key(), After: &a}))
		}
		got := s.Snapshot()
		require.Len(t, got, len(seeded)+3, "a create overwrote a seeded account")
		for _, want := range seeded {
			assert.Contains(t, got, want)
		}
	})

	t.Run("accounts without an ID seeded before those with one", func(t *testing.T) {
		s := dirsynctest.NewMemorySink(append([]diff.Account{{Email: "first@example.test"}}, seeded...)...)
		got := s.Snapshot()
		require.Len(t, got, len(seeded)+1)
		for _, want := range seeded {
			assert.Contains(t, got, want)
		}
	})

	t.Run("through a sync", func(t *testing.T) {
		entry := func(id, name string) connector.Entry {
			e := connector.Entry{ID: id, Kind: connector.KindUser, Path: []string{"Users"}, Attrs: connector.Attrs{}}
			e.Attrs.Set("sAMAccountName", name)
			e.Attrs.Set("mail", name+"@example.test")
			e.Attrs.Set("displayName", name)
			return e
		}
		dir := fake.New(entry("1", "alice"), entry("2", "bob"), entry("3", "carol"), entry("4", "dave"))
		s := dirsynctest.NewMemorySink(seeded...)
		sy, err := dirsync.New(dir, s, &dirsync.Options{Source: "ad"})
		require.NoError(t, err)
		p, err := sy.Plan(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, p.Count(diff.OpCreate), "%s", p)
		_, err = sy.Apply(ctx, p)
		require.NoError(t, err)
		got := s.Snapshot()
		require.Len(t, got, len(seeded)+2, "a create overwrote a seeded account")
		for _, id := range []string{"1", "2", "3", "4"} {
			_, ok := s.Get("ad", id)
			assert.True(t, ok, "account of entry %s", id)
		}
		p, err = sy.Plan(ctx)
		require.NoError(t, err)
		assert.True(t, p.Empty(), "the sink is in step:\n%s", p)
	})
}
