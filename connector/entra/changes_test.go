package entra

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
)

// readChanges runs ReadChanges and returns what it yielded.
func readChanges(t *testing.T, c *Connector, since connector.Cursor) ([]connector.Entry, connector.Cursor, error) {
	t.Helper()
	var got []connector.Entry
	cur, err := c.ReadChanges(testCtx(t), since, func(e connector.Entry) error {
		got = append(got, e)
		return nil
	})
	return got, cur, err
}

// TestExpiredDeltaCodes: every spelling Graph uses for an expired delta
// link, on a 400 or a 410, means connector.ErrCursorExpired, and the
// full read that follows works.
func TestExpiredDeltaCodes(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t)
	var codes []string
	for _, code := range []string{"SyncStateNotFound", "syncStateInvalid", "resyncRequired"} {
		codes = append(codes, code, strings.ToLower(code), strings.ToUpper(code),
			strings.ToLower(code[:1])+code[1:], strings.ToUpper(code[:1])+code[1:])
	}
	for _, status := range []int{http.StatusBadRequest, http.StatusGone} {
		for _, code := range codes {
			_, cur, err := readChanges(t, c, nil)
			require.NoError(t, err)
			tn.srv.ExpireDeltaTokensWith(status, code)
			got, next, err := readChanges(t, c, cur)
			require.ErrorIs(t, err, connector.ErrCursorExpired, "%d %s", status, code)
			assert.Contains(t, err.Error(), code)
			assert.Empty(t, got)
			assert.Nil(t, next)
		}
	}
	// Another 400 is not an expired cursor.
	_, cur, err := readChanges(t, c, nil)
	require.NoError(t, err)
	tn.srv.ExpireDeltaTokensWith(http.StatusBadRequest, "Request_BadRequest")
	_, _, err = readChanges(t, c, cur)
	require.Error(t, err)
	assert.NotErrorIs(t, err, connector.ErrCursorExpired)
}

// TestDeltaUserNotYetReplicated: a user the delta round reports as new or
// changed, but that GET /users/{id} does not find yet, is never yielded
// as a tombstone and never skipped: the round fails without yielding, and
// the next read from the same cursor yields the user.
func TestDeltaUserNotYetReplicated(t *testing.T) {
	cases := map[string]func(tn *tenant) string{
		"new user": func(tn *tenant) string {
			return tn.srv.AddUser(map[string]any{"userPrincipalName": "erin@contoso.test", "givenName": "Erin"})
		},
		"changed user": func(tn *tenant) string {
			tn.srv.UpdateUser(tn.dave, map[string]any{"jobTitle": "CTO"})
			return tn.dave
		},
		"new user added to a group": func(tn *tenant) string {
			id := tn.srv.AddUser(map[string]any{"userPrincipalName": "fay@contoso.test", "givenName": "Fay"})
			tn.srv.AddMember(tn.sales, id)
			return id
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			tn := newTenant(t)
			c := tn.open(t)
			_, cur, err := readChanges(t, c, nil)
			require.NoError(t, err)
			id := change(tn)
			tn.srv.Unreplicated(id, true)

			got, next, err := readChanges(t, c, cur)
			require.ErrorIs(t, err, ErrNotYetReplicated)
			assert.Contains(t, err.Error(), id)
			assert.Nil(t, next, "no cursor: the caller keeps the old one")
			for _, e := range got {
				assert.False(t, e.Deleted, "no tombstone for %s", e.ID)
			}
			assert.Empty(t, got, "a failed round yields nothing")

			// Still not replicated: the same again, nothing lost.
			_, _, err = readChanges(t, c, cur)
			require.ErrorIs(t, err, ErrNotYetReplicated)

			tn.srv.Unreplicated(id, false)
			got, next, err = readChanges(t, c, cur)
			require.NoError(t, err)
			require.NotNil(t, next)
			e := byID(got)[id]
			require.NotNil(t, e, "the user comes with the retry from the old cursor")
			assert.False(t, e.Deleted)
			full := fullRead(t, c)
			assert.Equal(t, full[id], *e, "complete, as a full read yields it")
		})
	}
}

func fullRead(t *testing.T, c *Connector) map[string]connector.Entry {
	t.Helper()
	entries, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	m := map[string]connector.Entry{}
	for _, e := range entries {
		m[e.ID] = e
	}
	return m
}

// TestGroupChangesIncremental: every group change reaches an incremental
// read as complete group entries (as a full read yields them) plus the
// users whose MemberOf changed; a deleted group is a tombstone.
func TestGroupChangesIncremental(t *testing.T) {
	type want struct {
		ids     func(tn *tenant) []string // must be yielded, complete
		deleted func(tn *tenant) []string // must be yielded as tombstones
	}
	cases := map[string]struct {
		change func(tn *tenant)
		want   want
	}{
		"member removed": {
			change: func(tn *tenant) { tn.srv.RemoveMember(tn.sales, tn.alice) },
			// all contains sales: its transitive members change too.
			want: want{ids: func(tn *tenant) []string { return []string{tn.sales, tn.all, tn.alice} }},
		},
		"member added": {
			change: func(tn *tenant) { tn.srv.AddMember(tn.sales, tn.dave) },
			want:   want{ids: func(tn *tenant) []string { return []string{tn.sales, tn.all, tn.dave} }},
		},
		"nested group removed": {
			change: func(tn *tenant) { tn.srv.RemoveMember(tn.all, tn.sales) },
			want:   want{ids: func(tn *tenant) []string { return []string{tn.all, tn.sales, tn.alice, tn.bob} }},
		},
		"group renamed": {
			change: func(tn *tenant) { tn.srv.UpdateGroup(tn.sales, map[string]any{"displayName": "Sales EMEA"}) },
			want:   want{ids: func(tn *tenant) []string { return []string{tn.sales} }},
		},
		"group deleted": {
			change: func(tn *tenant) { tn.srv.DeleteGroup(tn.sales) },
			want: want{ids: func(tn *tenant) []string { return []string{tn.all} },
				deleted: func(tn *tenant) []string { return []string{tn.sales} }},
		},
		"user deleted": {
			change: func(tn *tenant) { tn.srv.DeleteUser(tn.bob) },
			want: want{ids: func(tn *tenant) []string { return []string{tn.sales, tn.all} },
				deleted: func(tn *tenant) []string { return []string{tn.bob} }},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tn := newTenant(t)
			c := tn.open(t)
			_, cur, err := readChanges(t, c, nil)
			require.NoError(t, err)
			tn.srv.AddUser(map[string]any{"userPrincipalName": "noise@contoso.test"}) // an unrelated change
			tn.srv.ResetCounts()
			tc.change(tn)

			got, next, err := readChanges(t, c, cur)
			require.NoError(t, err)
			full := fullRead(t, c)
			m := byID(got)
			assert.Len(t, m, len(got), "each entry once")
			for _, id := range tc.want.ids(tn) {
				assert.Contains(t, m, id)
			}
			if tc.want.deleted != nil {
				for _, id := range tc.want.deleted(tn) {
					require.Contains(t, m, id)
					assert.True(t, m[id].Deleted)
				}
			}
			for _, e := range got {
				if e.Deleted {
					assert.NotContains(t, full, e.ID, "a tombstone for an object that exists")
					assert.NotEmpty(t, e.Kind)
					continue
				}
				assert.Equal(t, full[e.ID], e, "entry %s is complete, as a full read yields it", e.ID)
			}

			again, _, err := readChanges(t, c, next)
			require.NoError(t, err)
			assert.Empty(t, again)
		})
	}
}

// TestMemberRemovedReachesIncrementalRead is the scenario of the issue,
// spelled out: after a full read, alice leaves the Sales team.
func TestMemberRemovedReachesIncrementalRead(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t)
	_, cur, err := readChanges(t, c, nil)
	require.NoError(t, err)
	tn.srv.RemoveMember(tn.sales, tn.alice)

	got, _, err := readChanges(t, c, cur)
	require.NoError(t, err)
	m := byID(got)
	require.Contains(t, m, tn.sales)
	assert.Equal(t, connector.KindGroup, m[tn.sales].Kind)
	assert.Equal(t, "Sales team", m[tn.sales].Attr("displayName"))
	assert.Equal(t, []string{tn.bob}, m[tn.sales].Members)
	require.Contains(t, m, tn.alice)
	assert.Equal(t, connector.KindUser, m[tn.alice].Kind)
	assert.NotContains(t, m[tn.alice].MemberOf, tn.sales)
	assert.Empty(t, m[tn.alice].MemberOf, "alice was in All staff only through Sales")
	assert.Equal(t, "Alice", m[tn.alice].Attr("givenName"), "a complete user entry")
	require.Contains(t, m, tn.all)
	assert.NotContains(t, m[tn.all].Members, tn.alice)
}

// TestLargeGroupMembersDeltaPaged: members@delta of a group larger than a
// page comes over several pages, the group repeated; the connector merges
// them and every added user is re-read.
func TestLargeGroupMembersDeltaPaged(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t) // three a page
	_, cur, err := readChanges(t, c, nil)
	require.NoError(t, err)
	var added []string
	for i := range 7 {
		id := tn.srv.AddUser(map[string]any{"userPrincipalName": "m" + string(rune('a'+i)) + "@contoso.test"})
		tn.srv.AddMember(tn.sales, id)
		added = append(added, id)
	}
	tn.srv.ResetCounts()
	got, _, err := readChanges(t, c, cur)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, tn.srv.RequestsTo("groups/delta"), 3, "seven member references at three a page")
	m := byID(got)
	for _, id := range added {
		require.Contains(t, m, id)
		assert.Equal(t, sorted(tn.sales, tn.all), m[id].MemberOf)
	}
	assert.Len(t, m[tn.sales].Members, 9)
	assert.True(t, slices.IsSorted(m[tn.sales].Members))
}
