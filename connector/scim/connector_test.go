package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// populate pushes n users (every third inactive), two groups and a
// deleted user through the handler, and returns the live ids.
func populate(t testing.TB, c *client, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		p := person{userName: fmt.Sprintf("u%03d@example.com", i), given: "G", family: fmt.Sprint(i), email: fmt.Sprintf("u%03d@example.com", i), externalID: fmt.Sprint("x", i), department: "D"}
		id := oktaCreateUser(t, c, p)
		if i%3 == 0 {
			oktaSetActive(t, c, id, false)
		}
		ids = append(ids, id)
	}
	g1 := oktaCreateGroup(t, c, "One")
	g2 := oktaCreateGroup(t, c, "Two")
	oktaAddMembers(t, c, g1, ids[:n/2]...)
	oktaAddMembers(t, c, g2, ids[n/3:]...)
	oktaAddMembers(t, c, g2, g1) // a nested group
	gone := oktaCreateUser(t, c, person{userName: "gone@example.com", email: "gone@example.com"})
	oktaAddMembers(t, c, g1, gone)
	c.do(http.MethodDelete, "/Users/"+gone, nil).mustStatus(t, http.StatusNoContent)
	return append(ids, g1, g2)
}

func TestConformance(t *testing.T) {
	srv, c := open(t, scim.Config{})
	ids := populate(t, c, 12)
	require.NoError(t, connectortest.Test(context.Background(), srv, ids...))
}

// What the connector reads is what the provider wrote: inactive users are
// disabled, memberships both ways, a deleted member left out.
func TestEntriesFromResources(t *testing.T) {
	srv, c := open(t, scim.Config{})
	ids := populate(t, c, 6)
	entries, err := connector.ReadAll(context.Background(), srv)
	require.NoError(t, err)
	require.Len(t, entries, len(ids))
	byID := map[string]connector.Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	g1, g2 := ids[6], ids[7]
	for i, id := range ids[:6] {
		e := byID[id]
		assert.Equal(t, connector.KindUser, e.Kind)
		assert.Equal(t, i%3 == 0, e.Disabled, "user %d", i)
		assert.Equal(t, fmt.Sprintf("u%03d@example.com", i), e.Attr("userName"))
		assert.Equal(t, fmt.Sprintf("u%03d@example.com", i), e.Attr("emails.primary"))
		assert.Equal(t, fmt.Sprintf("u%03d@example.com", i), e.Attr("emails.work"))
		assert.Equal(t, "G", e.Attr("name.givenName"))
		var want []string
		if i < 3 {
			want = append(want, g1)
		}
		if i >= 2 {
			want = append(want, g2)
		}
		slices.Sort(want)
		assert.Equal(t, want, e.MemberOf, "user %d", i)
	}
	assert.Equal(t, connector.KindGroup, byID[g1].Kind)
	assert.Len(t, byID[g1].Members, 3, "the deleted member is left out")
	assert.Contains(t, byID[g2].Members, g1)
	assert.Equal(t, []string{g2}, byID[g1].MemberOf)
}

// An incremental read reports exactly what was written since the cursor,
// a DELETE as a tombstone; a cursor from elsewhere has expired.
func TestReadChanges(t *testing.T) {
	srv, c := open(t, scim.Config{})
	ids := populate(t, c, 4)
	ctx := context.Background()
	cur, err := srv.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)

	changes := func() []connector.Entry {
		var got []connector.Entry
		next, err := srv.ReadChanges(ctx, cur, func(e connector.Entry) error { got = append(got, e); return nil })
		require.NoError(t, err)
		cur = next
		return got
	}
	assert.Empty(t, changes())
	oktaSetActive(t, c, ids[1], false)
	c.do(http.MethodDelete, "/Users/"+ids[2], nil).mustStatus(t, http.StatusNoContent)
	got := changes()
	require.Len(t, got, 2)
	assert.Equal(t, ids[1], got[0].ID)
	assert.True(t, got[0].Disabled)
	assert.Equal(t, connector.Entry{ID: ids[2], Kind: connector.KindUser, Deleted: true}, got[1])
	// A PATCH that changes nothing is not a change.
	oktaSetActive(t, c, ids[1], false)
	assert.Empty(t, changes())

	_, err = srv.ReadChanges(ctx, connector.Cursor("scim/v1/999999"), func(connector.Entry) error { return nil })
	require.ErrorIs(t, err, connector.ErrCursorExpired)
	_, err = srv.ReadChanges(ctx, connector.Cursor("fake/v1/0/1"), func(connector.Entry) error { return nil })
	require.ErrorIs(t, err, connector.ErrCursorExpired)
}

// The journal keeps every resource, tombstones and the token across a
// restart; the provider reads back the same bodies, and a cursor taken
// before the restart still works.
func TestJournalSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "acme.scim")
	st, err := scim.OpenJournal(path)
	require.NoError(t, err)
	srv, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	c := newClient(t, srv, tok)
	ids := populate(t, c, 5)
	before := map[string][]byte{}
	for _, id := range ids[:5] {
		before[id] = c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK).raw
	}
	cur, err := srv.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)
	entries, err := connector.ReadAll(ctx, srv)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	st2, err := scim.OpenJournal(path)
	require.NoError(t, err)
	defer st2.Close()
	srv2, err := scim.Open(ctx, scim.Config{Resources: st2})
	require.NoError(t, err)
	c2 := newClient(t, srv2, tok)
	for id, raw := range before {
		assert.JSONEq(t, string(raw), string(c2.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK).raw))
	}
	entries2, err := connector.ReadAll(ctx, srv2)
	require.NoError(t, err)
	assert.Equal(t, entries, entries2)
	var none []connector.Entry
	_, err = srv2.ReadChanges(ctx, cur, func(e connector.Entry) error { none = append(none, e); return nil })
	require.NoError(t, err)
	assert.Empty(t, none)
	// The userName index came back too.
	c2.do(http.MethodPost, "/Users", oktaUser(person{userName: "U001@example.com"}, true)).scimError(t, http.StatusConflict, "uniqueness")
}

// A write cut short by a crash (a torn last line) was never acknowledged
// and is dropped; any other damage is reported, never guessed at.
func TestJournalTornAndCorrupt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "acme.scim")
	st, err := scim.OpenJournal(path)
	require.NoError(t, err)
	srv, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	populate(t, newClient(t, srv, tok), 3)
	want, err := connector.ReadAll(ctx, srv)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"record":{"id":"half`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	st2, err := scim.OpenJournal(path)
	require.NoError(t, err)
	srv2, err := scim.Open(ctx, scim.Config{Resources: st2})
	require.NoError(t, err)
	got, err := connector.ReadAll(ctx, srv2)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	require.NoError(t, st2.Close())

	require.NoError(t, os.WriteFile(path, []byte("{\"record\":{\"id\":\"x\",\"type\":\"User\"}}\nnot json\n"), 0o600))
	_, err = scim.OpenJournal(path)
	require.ErrorIs(t, err, scim.ErrCorruptResources)
}

// Open compacts a journal that grew to more than twice its resources, and
// the compacted journal holds the same state.
func TestJournalCompacts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "acme.scim")
	st, err := scim.OpenJournal(path)
	require.NoError(t, err)
	srv, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	c := newClient(t, srv, tok)
	id := oktaCreateUser(t, c, person{userName: "flip@example.com"})
	for i := range 100 {
		oktaSetActive(t, c, id, i%2 == 0)
	}
	want, err := connector.ReadAll(ctx, srv)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	big, err := os.Stat(path)
	require.NoError(t, err)

	st2, err := scim.OpenJournal(path)
	require.NoError(t, err)
	defer st2.Close()
	small, err := os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, small.Size()*10, big.Size())
	srv2, err := scim.Open(ctx, scim.Config{Resources: st2})
	require.NoError(t, err)
	got, err := connector.ReadAll(ctx, srv2)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	newClient(t, srv2, tok).do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
}

// Resources created within one millisecond keep their order (and so their
// pages) across a restart.
func TestOrderSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	st := scim.NewMemoryResources()
	frozen := func() time.Time { return time.Date(2026, 5, 5, 5, 5, 5, 0, time.UTC) }
	srv, err := scim.Open(ctx, scim.Config{Resources: st, Now: frozen})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	c := newClient(t, srv, tok)
	for i := range 30 {
		newUser(t, c, fmt.Sprintf("o%02d@x", i))
	}
	before, err := connector.ReadAll(ctx, srv)
	require.NoError(t, err)
	srv2, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	after, err := connector.ReadAll(ctx, srv2)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	for i, e := range after {
		assert.Equal(t, fmt.Sprintf("o%02d@x", i), e.Attr("userName"))
	}
}

// An incremental read brings the manager of a changed user along, so that
// a plan from the changes alone can look it up; a deleted manager does
// not come back as live.
func TestReadChangesBringsManager(t *testing.T) {
	srv, c := open(t, scim.Config{})
	boss := newUser(t, c, "boss@x")
	gone := newUser(t, c, "gone@x")
	worker := newUser(t, c, "worker@x")
	_, cur := changesSince(t, srv, nil)
	entraPatch(t, c, "/Users", worker, map[string]any{"op": "Add", "path": urnEnterprise + ":manager", "value": boss}).mustStatus(t, http.StatusOK)
	got, cur := changesSince(t, srv, cur)
	require.Len(t, got, 2)
	assert.Equal(t, worker, got[0].ID)
	assert.Equal(t, boss, got[1].ID)
	assert.Equal(t, "boss@x", got[1].Attr("userName"))

	c.do(http.MethodDelete, "/Users/"+gone, nil).mustStatus(t, http.StatusNoContent)
	entraPatch(t, c, "/Users", worker, map[string]any{"op": "Replace", "path": urnEnterprise + ":manager", "value": gone}).mustStatus(t, http.StatusOK)
	got, _ = changesSince(t, srv, cur)
	require.Len(t, got, 2)
	assert.True(t, got[0].Deleted)
	assert.Equal(t, worker, got[1].ID)
}
