package google_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
)

// changedByID reads the changes since cur and returns them by ID, with the
// next cursor; it fails on an entry yielded twice.
func changedByID(t *testing.T, fk *fakegoogle.Server, cur connector.Cursor) (map[string]connector.Entry, connector.Cursor) {
	t.Helper()
	c := open(t, fk)
	got, next := collect(t, c, cur)
	m := map[string]connector.Entry{}
	for _, e := range got {
		_, dup := m[e.ID]
		require.False(t, dup, "%s yielded twice", e.ID)
		m[e.ID] = e
	}
	return m, next
}

func keys(m map[string]connector.Entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestIncrementalGroupChanges: Google has no delta, so ReadChanges compares
// hashes of users and groups. After a full read, a group whose membership
// or name changed is yielded complete (current Members, as Read yields
// it), a deleted group as a tombstone, and every user whose (transitive)
// membership changed is yielded complete with its current MemberOf, though
// its own attributes did not change. Nothing else is yielded.
func TestIncrementalGroupChanges(t *testing.T) {
	fk := newFake(t)
	_, cur := changedByID(t, fk, nil)

	// Remove Alice (u1) from Sales team (g1).
	require.True(t, fk.RemoveMember("g1", "u1"))
	got, cur := changedByID(t, fk, cur)
	assert.Equal(t, []string{"g1", "u1"}, keys(got))
	assert.Equal(t, connector.KindGroup, got["g1"].Kind)
	assert.Equal(t, []string{"g2"}, got["g1"].Members, "the group with its current members")
	assert.Equal(t, "Sales team", got["g1"].Attrs.Get("name"), "complete")
	assert.Empty(t, got["u1"].MemberOf, "Alice is in no group now")
	assert.Equal(t, "Alice@example.com", got["u1"].Attrs.Get("primaryEmail"), "the user is complete")
	assert.False(t, got["u1"].Deleted)

	// Nothing changed: nothing yielded.
	got, cur = changedByID(t, fk, cur)
	assert.Empty(t, got)

	// Rename a group: the group only (memberships are by ID).
	require.True(t, fk.UpdateGroup("g2", func(g *fakegoogle.Group) { g.Name = "EMEA sales" }))
	got, cur = changedByID(t, fk, cur)
	assert.Equal(t, []string{"g2"}, keys(got))
	assert.Equal(t, "EMEA sales", got["g2"].Attrs.Get("name"))
	assert.Equal(t, []string{"g1", "u2"}, got["g2"].Members)

	// Nested: take EMEA (g2) out of Sales team (g1). Bob (u2, in g2) loses
	// g1 and All staff (g3, which holds g1) from his transitive MemberOf.
	require.True(t, fk.RemoveMember("g1", "g2"))
	got, cur = changedByID(t, fk, cur)
	assert.Equal(t, []string{"g1", "g2", "u2"}, keys(got))
	assert.Equal(t, []string{"g2"}, got["u2"].MemberOf)
	assert.Empty(t, got["g1"].Members)

	// Delete All staff (g3, holding g1 and Carol u3): a tombstone, and its
	// members yielded with their current MemberOf (g1 is still in g2).
	fk.DeleteGroup("g3")
	got, _ = changedByID(t, fk, cur)
	assert.Equal(t, []string{"g1", "g3", "u3"}, keys(got))
	assert.True(t, got["g3"].Deleted)
	assert.Equal(t, connector.KindGroup, got["g3"].Kind)
	assert.Empty(t, got["u3"].MemberOf)
	assert.Equal(t, []string{"g2"}, got["g1"].MemberOf)
}

// A cursor of an older format is expired, never read as "everything
// changed" or "nothing changed".
func TestIncrementalOldCursorExpires(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	_, cur := collect(t, c, nil)
	var m map[string]any
	require.NoError(t, json.Unmarshal(cur, &m))
	for _, v := range []float64{0, 1, m["v"].(float64) - 1} {
		if v == m["v"].(float64) {
			continue
		}
		old := map[string]any{}
		for k, x := range m {
			old[k] = x
		}
		old["v"] = v
		b, err := json.Marshal(old)
		require.NoError(t, err)
		_, err = c.ReadChanges(testCtx(t), b, func(connector.Entry) error { return nil })
		require.ErrorIs(t, err, connector.ErrCursorExpired, "version %v", v)
	}
}
