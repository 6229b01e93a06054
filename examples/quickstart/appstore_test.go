package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*appStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := openAppStore(path)
	require.NoError(t, err)
	s.now = func() time.Time { return t0 }
	t.Cleanup(func() { s.Close() })
	return s, path
}

func all(t *testing.T, s *appStore) []diff.Account {
	t.Helper()
	var out []diff.Account
	for a, err := range s.Accounts(context.Background()) {
		require.NoError(t, err)
		out = append(out, a)
	}
	return out
}

func apply(t *testing.T, s *appStore, c diff.Change) {
	t.Helper()
	require.NoError(t, s.Apply(context.Background(), c))
}

func activeSessions(t *testing.T, s *appStore, id string) int {
	t.Helper()
	ss, err := s.sessions(context.Background(), id)
	require.NoError(t, err)
	return len(ss)
}

func desired(id, email string) *diff.Account {
	return &diff.Account{
		Source: "ad", ExternalID: id, Managed: true,
		Username: strings.Split(email, "@")[0], Email: email,
		GivenName: "Ada", FamilyName: "Lovelace", DisplayName: "Ada Lovelace",
		Title: "Engineer", Phone: "+1 206 555 0100",
		Department: []string{"Engineering", "Backend"},
		Roles:      []string{"user"},
		Extra:      map[string]string{"employeeId": "E01234"},
	}
}

func createChange(a *diff.Account) diff.Change {
	return diff.Change{Op: diff.OpCreate, Key: a.Key(), After: a,
		Fields:  []diff.FieldChange{{Name: diff.FieldEmail, New: a.Email}},
		Reasons: []diff.Reason{{Code: diff.ReasonNew}}}
}

// create applies a create and returns the stored account.
func create(t *testing.T, s *appStore, a *diff.Account) diff.Account {
	t.Helper()
	apply(t, s, createChange(a))
	got, ok, err := s.lookup(context.Background(), a.Source, a.ExternalID)
	require.NoError(t, err)
	require.True(t, ok)
	return got
}

func TestCreateAndReadBack(t *testing.T) {
	s, _ := newStore(t)
	want := desired("g-1", "ada@example.test")
	got := create(t, s, want)

	assert.Equal(t, "u-000001", got.ID)
	exp := want.Clone()
	exp.ID = got.ID
	assert.Equal(t, exp, got)
	assert.Empty(t, want.ID, "Apply must not modify the change")

	accts := all(t, s)
	require.Len(t, accts, 1)
	assert.Equal(t, exp, accts[0])

	byID, ok, err := s.get(context.Background(), "u-000001")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, exp, byID)

	ss, err := s.sessions(context.Background(), got.ID)
	require.NoError(t, err)
	require.Len(t, ss, 2)
	assert.NotEqual(t, ss[0].Device, ss[1].Device)
	assert.True(t, ss[0].Started.Equal(t0))

	create(t, s, desired("g-2", "bob@example.test"))
	accts = all(t, s)
	require.Len(t, accts, 2)
	assert.Equal(t, []string{"u-000001", "u-000002"}, []string{accts[0].ID, accts[1].ID})
}

func TestUpdateSetsOnlyListedFields(t *testing.T) {
	s, _ := newStore(t)
	cur := create(t, s, desired("g-1", "ada@example.test"))

	after := cur.Clone()
	after.Title = "Staff Engineer"
	after.Department = []string{"Engineering", "Platform"}
	after.Extra = map[string]string{} // employeeId removed
	after.Phone = "+1 206 555 0199"   // changed in After, but not listed
	after.DisplayName = "Someone Else"
	apply(t, s, diff.Change{Op: diff.OpUpdate, Key: cur.Key(), Before: &cur, After: &after,
		Fields: []diff.FieldChange{
			{Name: diff.FieldDepartment},
			{Name: "extra.employeeId"},
			{Name: diff.FieldTitle},
		}})

	got, _, err := s.get(context.Background(), cur.ID)
	require.NoError(t, err)
	assert.Equal(t, "Staff Engineer", got.Title)
	assert.Equal(t, []string{"Engineering", "Platform"}, got.Department)
	assert.Empty(t, got.Extra["employeeId"])
	assert.Equal(t, "+1 206 555 0100", got.Phone, "unlisted field changed")
	assert.Equal(t, "Ada Lovelace", got.DisplayName, "unlisted field changed")
	assert.Equal(t, 2, activeSessions(t, s, cur.ID), "an update ends no session")
}

func TestUpdateFindsByJoinKey(t *testing.T) {
	s, _ := newStore(t)
	cur := create(t, s, desired("g-1", "ada@example.test"))

	// A Before without the app ID, and one with a stale ID.
	for i, id := range []string{"", "u-999999"} {
		before := cur.Clone()
		before.ID = id
		after := cur.Clone()
		after.Title = []string{"A", "B"}[i]
		apply(t, s, diff.Change{Op: diff.OpUpdate, Key: cur.Key(), Before: &before, After: &after,
			Fields: []diff.FieldChange{{Name: diff.FieldTitle}}})
		got, _, err := s.get(context.Background(), cur.ID)
		require.NoError(t, err)
		assert.Equal(t, after.Title, got.Title)
	}
}

func TestJoinKeyIsUnique(t *testing.T) {
	s, _ := newStore(t)
	ada := create(t, s, desired("g-1", "ada@example.test"))
	bob := create(t, s, desired("g-2", "bob@example.test"))
	after := bob.Clone()
	after.ExternalID = ada.ExternalID
	err := s.Apply(context.Background(), diff.Change{Op: diff.OpUpdate, Key: bob.Key(), Before: &bob, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldExternalID}}})
	require.ErrorContains(t, err, "belongs to account "+ada.ID)
	got, _, err := s.get(context.Background(), bob.ID)
	require.NoError(t, err)
	assert.Equal(t, bob, got, "a failed change applied in part")
}

func TestUpdateMissingAccount(t *testing.T) {
	s, _ := newStore(t)
	a := desired("g-404", "nobody@example.test")
	a.ID = "u-000404"
	for _, op := range []diff.Op{diff.OpUpdate, diff.OpBlock, diff.OpUnblock} {
		err := s.Apply(context.Background(), diff.Change{Op: op, Key: a.Key(), Before: a, After: a,
			Fields: []diff.FieldChange{{Name: diff.FieldTitle}}})
		assert.ErrorIs(t, err, errAccountNotFound, op.String())
	}
	assert.Empty(t, all(t, s))
}

func block(cur diff.Account, at time.Time) diff.Change {
	after := cur.Clone()
	after.Blocked, after.BlockedBySync, after.BlockedAt = true, true, at
	return diff.Change{Op: diff.OpBlock, Key: cur.Key(), Before: &cur, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldBlocked, Old: "false", New: "true"}}}
}

func TestBlockEndsSessionsAndUnblock(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	cur := create(t, s, desired("g-1", "ada@example.test"))
	other := create(t, s, desired("g-2", "bob@example.test"))
	require.Equal(t, 2, activeSessions(t, s, cur.ID))

	c := block(cur, t0)
	apply(t, s, c)
	got, _, err := s.get(ctx, cur.ID)
	require.NoError(t, err)
	assert.True(t, got.Blocked)
	assert.True(t, got.BlockedBySync)
	assert.True(t, got.BlockedAt.Equal(t0))
	assert.Equal(t, 0, activeSessions(t, s, cur.ID))
	assert.Equal(t, 2, activeSessions(t, s, other.ID), "another user's sessions ended")

	st, err := s.stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.SessionsEnded)
	assert.Equal(t, 1, st.Blocked)
	assert.Equal(t, 2, st.Sessions)

	// Idempotent: the same block again changes nothing.
	apply(t, s, c)
	again, _, err := s.get(ctx, cur.ID)
	require.NoError(t, err)
	assert.Equal(t, got, again)
	st, err = s.stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.SessionsEnded)

	after := got.Clone()
	after.Blocked, after.BlockedBySync, after.BlockedAt = false, false, time.Time{}
	apply(t, s, diff.Change{Op: diff.OpUnblock, Key: got.Key(), Before: &got, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldBlocked, Old: "true", New: "false"}}})
	got, _, err = s.get(ctx, cur.ID)
	require.NoError(t, err)
	assert.False(t, got.Blocked)
	assert.False(t, got.BlockedBySync)
	assert.True(t, got.BlockedAt.IsZero())
	assert.Equal(t, 0, activeSessions(t, s, cur.ID), "an unblock signs nobody in")
}

func TestAdminBlock(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	cur := create(t, s, desired("g-1", "ada@example.test"))
	require.NoError(t, s.adminBlock(ctx, cur.ID))
	got, _, err := s.get(ctx, cur.ID)
	require.NoError(t, err)
	assert.True(t, got.Blocked)
	assert.False(t, got.BlockedBySync)
	assert.Equal(t, 0, activeSessions(t, s, cur.ID))
	assert.ErrorIs(t, s.adminBlock(ctx, "u-000404"), errAccountNotFound)
}

func TestDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	cur := create(t, s, desired("g-1", "ada@example.test"))
	c := diff.Change{Op: diff.OpDelete, Key: cur.Key(), Before: &cur}
	apply(t, s, c)
	assert.Empty(t, all(t, s))
	_, ok, err := s.lookup(ctx, "ad", "g-1")
	require.NoError(t, err)
	assert.False(t, ok, "join key index kept")
	assert.Equal(t, 0, activeSessions(t, s, cur.ID))

	// Deleting what is gone is not an error: again, and never-existing.
	apply(t, s, c)
	ghost := desired("g-404", "ghost@example.test")
	ghost.ID = "u-000404"
	apply(t, s, diff.Change{Op: diff.OpDelete, Key: ghost.Key(), Before: ghost})

	// The key is free again: a new create gets a new account.
	again := create(t, s, desired("g-1", "ada@example.test"))
	assert.Equal(t, "u-000002", again.ID)
}

func TestCreateIsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	want := desired("g-1", "ada@example.test")
	first := create(t, s, want)

	// An admin blocks the account between the two runs; the repeated
	// create does not lift the block.
	require.NoError(t, s.adminBlock(ctx, first.ID))
	again := want.Clone()
	again.Title = "Principal Engineer"
	apply(t, s, createChange(&again))

	accts := all(t, s)
	require.Len(t, accts, 1)
	got := accts[0]
	assert.Equal(t, first.ID, got.ID)
	assert.Equal(t, "Principal Engineer", got.Title)
	assert.True(t, got.Blocked)
	assert.Equal(t, 0, activeSessions(t, s, got.ID), "a repeated create signed someone in")

	st, err := s.stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Accounts)
}

func TestPersistence(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	first := create(t, s, desired("g-1", "ada@example.test"))
	apply(t, s, diff.Change{Op: diff.OpCreateDepartment, Department: []string{"Engineering"}})
	apply(t, s, block(first, t0))
	seeded, err := seedUnmanaged(ctx, s)
	require.NoError(t, err)
	assert.False(t, seeded, "seeded a store that holds accounts")
	before := all(t, s)
	stBefore, err := s.stats(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2, err := openAppStore(path)
	require.NoError(t, err)
	defer s2.Close()
	s2.now = func() time.Time { return t0 }
	assert.Equal(t, before, all(t, s2))
	stAfter, err := s2.stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, stBefore, stAfter)
	depts, err := s2.Departments(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"Engineering"}}, depts)

	// The ID sequence carries on.
	second := create(t, s2, desired("g-2", "bob@example.test"))
	assert.Equal(t, "u-000002", second.ID)
}

func TestFileLocked(t *testing.T) {
	_, path := newStore(t)
	old := openTimeout
	openTimeout = 50 * time.Millisecond
	defer func() { openTimeout = old }()
	_, err := openAppStore(path)
	require.ErrorContains(t, err, "locked")
}

func TestDepartments(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	dept := func(p ...string) diff.Change {
		return diff.Change{Op: diff.OpCreateDepartment, Key: "department/" + strings.Join(p, " / "), Department: p}
	}
	apply(t, s, dept("Sales"))
	apply(t, s, dept("Engineering"))
	apply(t, s, dept("Engineering", "Backend"))
	apply(t, s, dept("Engineering", "Backend")) // idempotent
	apply(t, s, dept("Московский офис"))

	err := s.Apply(ctx, dept("Marketing", "Events"))
	require.ErrorContains(t, err, "parent department")
	require.Error(t, s.Apply(ctx, dept()))
	require.Error(t, s.Apply(ctx, dept("Engineering", "")))

	got, err := s.Departments(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]string{
		{"Engineering"},
		{"Engineering", "Backend"},
		{"Sales"},
		{"Московский офис"},
	}, got)
}

func TestSeedUnmanagedAndAdopt(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	seeded, err := seedUnmanaged(ctx, s)
	require.NoError(t, err)
	require.True(t, seeded)
	accts := all(t, s)
	require.Len(t, accts, 3)
	for _, a := range accts {
		assert.False(t, a.Managed, a.Email)
		assert.Empty(t, a.ExternalID, a.Email)
		assert.Equal(t, 2, activeSessions(t, s, a.ID), a.Email)
	}
	seeded, err = seedUnmanaged(ctx, s)
	require.NoError(t, err)
	assert.False(t, seeded, "seeded twice")

	// Adopt the CEO's account as diff.Compute does: by app ID, taking on
	// the join key.
	ceo := accts[0]
	require.Equal(t, "Olivia.Bennett@example.test", ceo.Email)
	after := ceo.Clone()
	after.Source, after.ExternalID, after.Managed = "ad", "guid-ceo", true
	after.Email, after.Title = "olivia.bennett@example.test", "Chief Executive Officer"
	apply(t, s, diff.Change{Op: diff.OpUpdate, Key: "ad/guid-ceo", Before: &ceo, After: &after,
		Fields: []diff.FieldChange{
			{Name: diff.FieldEmail}, {Name: diff.FieldExternalID}, {Name: diff.FieldManaged},
			{Name: diff.FieldSource}, {Name: diff.FieldTitle},
		}})
	got, ok, err := s.lookup(ctx, "ad", "guid-ceo")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, ceo.ID, got.ID)
	assert.True(t, got.Managed)
	assert.Equal(t, "Olivia (CEO)", got.DisplayName, "unlisted field changed")
	assert.Equal(t, 2, activeSessions(t, s, ceo.ID))

	// A reopened store is not seeded again, even with its accounts gone.
	for _, a := range all(t, s) {
		apply(t, s, diff.Change{Op: diff.OpDelete, Key: "app/" + a.ID, Before: &a})
	}
	require.NoError(t, s.Close())
	s2, err := openAppStore(path)
	require.NoError(t, err)
	defer s2.Close()
	seeded, err = seedUnmanaged(ctx, s2)
	require.NoError(t, err)
	assert.False(t, seeded)
}

func TestAccountsContext(t *testing.T) {
	s, _ := newStore(t)
	create(t, s, desired("g-1", "ada@example.test"))
	create(t, s, desired("g-2", "bob@example.test"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var errs int
	for _, err := range s.Accounts(ctx) {
		require.ErrorIs(t, err, context.Canceled)
		errs++
	}
	assert.Equal(t, 1, errs)
	assert.ErrorIs(t, s.Apply(ctx, createChange(desired("g-3", "c@example.test"))), context.Canceled)

	// Breaking out early is fine, and applying while ranging does not
	// deadlock.
	for a, err := range s.Accounts(context.Background()) {
		require.NoError(t, err)
		apply(t, s, block(a, t0))
		break
	}
}

// TestSeedMatchesSample checks the story seedUnmanaged tells against
// company.ldif: the CEO is an enabled directory user, Ethan Walker a
// disabled one, Priya Raman is not in the directory.
func TestSeedMatchesSample(t *testing.T) {
	f, err := os.Open("company.ldif")
	require.NoError(t, err)
	defer f.Close()

	// mail → userAccountControl, from a minimal LDIF read.
	uac := map[string]string{}
	var mail, ctl string
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, " ") && len(lines) > 0 {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	lines = append(lines, "")
	for _, l := range lines {
		switch {
		case l == "":
			if mail != "" {
				uac[strings.ToLower(mail)] = ctl
			}
			mail, ctl = "", ""
		case strings.HasPrefix(l, "mail: "):
			mail = strings.TrimPrefix(l, "mail: ")
		case strings.HasPrefix(l, "mail:: "):
			b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "mail:: "))
			require.NoError(t, err)
			mail = string(b)
		case strings.HasPrefix(l, "userAccountControl: "):
			ctl = strings.TrimPrefix(l, "userAccountControl: ")
		}
	}
	require.Greater(t, len(uac), 150)

	assert.Equal(t, "512", uac[strings.ToLower(seedAccounts[0].Email)], "CEO")
	assert.NotContains(t, uac, strings.ToLower(seedAccounts[1].Email), "consultant")
	assert.Equal(t, "514", uac[strings.ToLower(seedAccounts[2].Email)], "Ethan Walker")
}

// The quickstart's store passes the sink conformance suite that every host
// sink should pass.
func TestAppStoreConformance(t *testing.T) {
	err := dirsynctest.TestSink(context.Background(), func(context.Context) (dirsync.Sink, error) {
		s, _ := newStore(t)
		return s, nil
	})
	require.NoError(t, err)
}
