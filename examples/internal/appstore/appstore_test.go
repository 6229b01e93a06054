package appstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// testOptions are the quickstart's: IDs u-000001…, two sessions a
// create, and a fixed clock.
var testOptions = &Options{IDPrefix: "u-", Sessions: 2, Now: func() time.Time { return t0 }}

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	s, err := Open(path, testOptions)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func all(t *testing.T, s *Store) []diff.Account {
	t.Helper()
	var out []diff.Account
	for a, err := range s.Accounts(context.Background()) {
		require.NoError(t, err)
		out = append(out, a)
	}
	return out
}

func apply(t *testing.T, s *Store, c diff.Change) {
	t.Helper()
	require.NoError(t, s.Apply(context.Background(), c))
}

func activeSessions(t *testing.T, s *Store, id string) int {
	t.Helper()
	ss, err := s.Sessions(context.Background(), id)
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
func create(t *testing.T, s *Store, a *diff.Account) diff.Account {
	t.Helper()
	apply(t, s, createChange(a))
	got, ok, err := s.Lookup(context.Background(), a.Source, a.ExternalID)
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

	byID, ok, err := s.Get(context.Background(), "u-000001")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, exp, byID)

	ss, err := s.Sessions(context.Background(), got.ID)
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

	got, _, err := s.Get(context.Background(), cur.ID)
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
		got, _, err := s.Get(context.Background(), cur.ID)
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
	got, _, err := s.Get(context.Background(), bob.ID)
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
		assert.ErrorIs(t, err, ErrNotFound, op.String())
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
	got, _, err := s.Get(ctx, cur.ID)
	require.NoError(t, err)
	assert.True(t, got.Blocked)
	assert.True(t, got.BlockedBySync)
	assert.True(t, got.BlockedAt.Equal(t0))
	assert.Equal(t, 0, activeSessions(t, s, cur.ID))
	assert.Equal(t, 2, activeSessions(t, s, other.ID), "another user's sessions ended")

	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.SessionsEnded)
	assert.Equal(t, 1, st.Blocked)
	assert.Equal(t, 2, st.Sessions)

	// Idempotent: the same block again changes nothing.
	apply(t, s, c)
	again, _, err := s.Get(ctx, cur.ID)
	require.NoError(t, err)
	assert.Equal(t, got, again)
	st, err = s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.SessionsEnded)

	after := got.Clone()
	after.Blocked, after.BlockedBySync, after.BlockedAt = false, false, time.Time{}
	apply(t, s, diff.Change{Op: diff.OpUnblock, Key: got.Key(), Before: &got, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldBlocked, Old: "true", New: "false"}}})
	got, _, err = s.Get(ctx, cur.ID)
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
	require.NoError(t, s.AdminBlock(ctx, cur.ID))
	got, _, err := s.Get(ctx, cur.ID)
	require.NoError(t, err)
	assert.True(t, got.Blocked)
	assert.False(t, got.BlockedBySync)
	assert.Equal(t, 0, activeSessions(t, s, cur.ID))
	assert.ErrorIs(t, s.AdminBlock(ctx, "u-000404"), ErrNotFound)
}

func TestDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	cur := create(t, s, desired("g-1", "ada@example.test"))
	c := diff.Change{Op: diff.OpDelete, Key: cur.Key(), Before: &cur}
	apply(t, s, c)
	assert.Empty(t, all(t, s))
	_, ok, err := s.Lookup(ctx, "ad", "g-1")
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
	require.NoError(t, s.AdminBlock(ctx, first.ID))
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

	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Accounts)
}

func TestPersistence(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	first := create(t, s, desired("g-1", "ada@example.test"))
	apply(t, s, diff.Change{Op: diff.OpCreateDepartment, Department: []string{"Engineering"}})
	apply(t, s, block(first, t0))
	seeded, err := s.Seed(ctx, SampleSignups())
	require.NoError(t, err)
	assert.False(t, seeded, "seeded a store that holds accounts")
	before := all(t, s)
	stBefore, err := s.Stats(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2, err := Open(path, testOptions)
	require.NoError(t, err)
	defer s2.Close()
	assert.Equal(t, before, all(t, s2))
	stAfter, err := s2.Stats(ctx)
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
	_, err := Open(path, &Options{LockTimeout: 50 * time.Millisecond})
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
	seeded, err := s.Seed(ctx, SampleSignups())
	require.NoError(t, err)
	require.True(t, seeded)
	accts := all(t, s)
	require.Len(t, accts, 3)
	for _, a := range accts {
		assert.False(t, a.Managed, a.Email)
		assert.Empty(t, a.ExternalID, a.Email)
		assert.Equal(t, 2, activeSessions(t, s, a.ID), a.Email)
	}
	seeded, err = s.Seed(ctx, SampleSignups())
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
	got, ok, err := s.Lookup(ctx, "ad", "guid-ceo")
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
	s2, err := Open(path, testOptions)
	require.NoError(t, err)
	defer s2.Close()
	seeded, err = s2.Seed(ctx, SampleSignups())
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

// The store passes the sink conformance suite that every host sink should
// pass, with the quickstart's options and with the console's.
func TestAppStoreConformance(t *testing.T) {
	for name, o := range map[string]*Options{"quickstart": testOptions, "plain": nil, "console": {Concurrency: 16}} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			n := 0
			err := dirsynctest.TestSink(context.Background(), func(context.Context) (dirsync.Sink, error) {
				n++
				s, err := Open(filepath.Join(dir, fmt.Sprintf("app%d.db", n)), o)
				if err != nil {
					return nil, err
				}
				t.Cleanup(func() { s.Close() })
				return s, nil
			})
			require.NoError(t, err)
		})
	}
}

// Without options: IDs without a prefix, no sessions.
func TestNoSessions(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "app.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	seeded, err := s.Seed(ctx, SampleSignups())
	require.NoError(t, err)
	require.True(t, seeded)
	got := create(t, s, desired("g-1", "ada@example.test"))
	assert.Equal(t, "000004", got.ID)
	apply(t, s, block(got, t0))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, Stats{Accounts: 4, Managed: 1, Blocked: 1}, st)
}

func lookupIDs(t *testing.T, s *Store, source string, ids, emails []string) []string {
	t.Helper()
	got, err := s.LookupAccounts(context.Background(), source, ids, emails)
	require.NoError(t, err)
	out := []string{}
	for _, a := range got {
		out = append(out, a.ID)
	}
	return out
}

// LookupAccounts finds accounts by join key and by email as
// diff.NormalizeEmail compares them, and the indexes follow updates,
// adoptions and deletes.
func TestLookupAccounts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seeded, err := s.Seed(ctx, SampleSignups()) // u-000001 Olivia, u-000002 Priya, u-000003 Ethan
	require.NoError(t, err)
	require.True(t, seeded)
	ada := create(t, s, desired("g-1", "ada@example.test"))   // u-000004
	bob := create(t, s, desired("g-2", "Bob@Example.test"))   // u-000005
	twin := create(t, s, desired("g-3", " bob@example.test")) // u-000006: the same email
	other := desired("g-1", "ada2@example.test")
	other.Source = "google"
	create(t, s, other) // u-000007: the same external ID, another source

	assert.Equal(t, []string{ada.ID}, lookupIDs(t, s, "ad", []string{"g-1", "nope"}, nil))
	assert.Equal(t, []string{"u-000007"}, lookupIDs(t, s, "google", []string{"g-1"}, nil))
	assert.Equal(t, []string{bob.ID, twin.ID}, lookupIDs(t, s, "ad", nil, []string{"BOB@example.TEST"}))
	assert.Equal(t, []string{"u-000001", ada.ID}, lookupIDs(t, s, "ad", []string{"g-1"}, []string{"olivia.bennett@example.test", "", "bob@example.test\x00"}))
	// NFD and NFC are one email.
	nfc := create(t, s, desired("g-8", "jos\u00e9@example.test"))
	assert.Equal(t, []string{nfc.ID}, lookupIDs(t, s, "ad", nil, []string{"JOSE\u0301@example.test"}))

	// An email change moves the account in the index.
	after := bob.Clone()
	after.Email = "robert@example.test"
	apply(t, s, diff.Change{Op: diff.OpUpdate, Key: bob.Key(), Before: &bob, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldEmail}}})
	assert.Equal(t, []string{twin.ID}, lookupIDs(t, s, "ad", nil, []string{"bob@example.test"}))
	assert.Equal(t, []string{bob.ID}, lookupIDs(t, s, "ad", nil, []string{"robert@example.test"}))

	// Adoption gives the unmanaged account a join key.
	ceo, _, err := s.Get(ctx, "u-000001")
	require.NoError(t, err)
	adopted := ceo.Clone()
	adopted.Source, adopted.ExternalID, adopted.Managed = "ad", "g-ceo", true
	apply(t, s, diff.Change{Op: diff.OpUpdate, Key: "ad/g-ceo", Before: &ceo, After: &adopted,
		Fields: []diff.FieldChange{{Name: diff.FieldSource}, {Name: diff.FieldExternalID}, {Name: diff.FieldManaged}}})
	assert.Equal(t, []string{ceo.ID}, lookupIDs(t, s, "ad", []string{"g-ceo"}, nil))

	// A delete leaves nothing in either index.
	apply(t, s, diff.Change{Op: diff.OpDelete, Key: ada.Key(), Before: &ada})
	assert.Empty(t, lookupIDs(t, s, "ad", []string{"g-1"}, []string{"ada@example.test"}))
	assertIndexesMatch(t, s)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.LookupAccounts(cancelled, "ad", []string{"g-2"}, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

// assertIndexesMatch checks the index buckets against indexes rebuilt from
// the accounts.
func assertIndexesMatch(t *testing.T, s *Store) {
	t.Helper()
	dump := func(tx *bolt.Tx) map[string][]string {
		out := map[string][]string{}
		for _, name := range [][]byte{bucketKeys, bucketEmails} {
			require.NoError(t, tx.Bucket(name).ForEach(func(k, v []byte) error {
				out[string(name)] = append(out[string(name)], fmt.Sprintf("%q=%q", k, v))
				return nil
			}))
		}
		return out
	}
	var kept, rebuilt map[string][]string
	err := s.db.Update(func(tx *bolt.Tx) error {
		kept = dump(tx)
		if err := (storeTx{tx: tx}).reindex(); err != nil {
			return err
		}
		rebuilt = dump(tx)
		return errors.New("roll back")
	})
	require.EqualError(t, err, "roll back")
	assert.Equal(t, rebuilt, kept)
}

// writeFile writes a bbolt file bucket by bucket, as an earlier build did.
func writeFile(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(f))
	require.NoError(t, db.Close())
}

func putJSON(t *testing.T, b *bolt.Bucket, k string, v any) {
	t.Helper()
	j, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, b.Put([]byte(k), j))
}

// A file the console wrote before the indexes (accounts, departments and
// meta, the ID sequence in meta) opens with its indexes rebuilt, and new
// accounts get new IDs.
func TestOpenConsoleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	signups := SampleSignups()
	writeFile(t, path, func(tx *bolt.Tx) error {
		accts, _ := tx.CreateBucket([]byte("accounts"))
		depts, _ := tx.CreateBucket([]byte("departments"))
		meta, _ := tx.CreateBucket([]byte("meta"))
		for i, a := range append(signups, *desired("g-1", "ada@example.test")) {
			n, err := meta.NextSequence()
			require.NoError(t, err)
			a.ID = fmt.Sprintf("%06d", n)
			if i == 0 { // adopted: the CEO
				a.Source, a.ExternalID, a.Managed = "ad", "g-ceo", true
			}
			putJSON(t, accts, a.ID, a)
		}
		require.NoError(t, depts.Put([]byte("Engineering"), nil))
		return meta.Put([]byte("seeded"), []byte("1"))
	})

	s, err := Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	before := all(t, s)
	require.Len(t, before, 4)
	assert.Equal(t, []string{"000001", "000004"}, lookupIDs(t, s, "ad", []string{"g-ceo", "g-1"}, nil))
	assert.Equal(t, []string{"000003"}, lookupIDs(t, s, "ad", nil, []string{"Ethan.Walker@example.test"}))
	got, ok, err := s.Lookup(ctx, "ad", "g-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "000004", got.ID)

	// A repeated create finds the account; a new one gets the next ID.
	apply(t, s, createChange(desired("g-1", "ada@example.test")))
	bob := create(t, s, desired("g-2", "bob@example.test"))
	assert.Equal(t, "000005", bob.ID)
	assert.Len(t, all(t, s), 5)
	seeded, err := s.Seed(ctx, SampleSignups())
	require.NoError(t, err)
	assert.False(t, seeded)
	depts, err := s.Departments(ctx)
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"Engineering"}}, depts)
	assertIndexesMatch(t, s)

	// Reopened, the file is current: nothing is rebuilt, nothing lost.
	require.NoError(t, s.Close())
	s, err = Open(path, nil)
	require.NoError(t, err)
	assert.Len(t, all(t, s), 5)
	assert.Equal(t, []string{"000005"}, lookupIDs(t, s, "ad", []string{"g-2"}, nil))
}

// A file the quickstart wrote before the email index opens with it built;
// accounts, sessions and counters stay as they were.
func TestOpenQuickstartFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	writeFile(t, path, func(tx *bolt.Tx) error {
		accts, _ := tx.CreateBucket([]byte("accounts"))
		keys, _ := tx.CreateBucket([]byte("keys"))
		sessions, _ := tx.CreateBucket([]byte("sessions"))
		_, _ = tx.CreateBucket([]byte("departments"))
		meta, _ := tx.CreateBucket([]byte("meta"))
		for _, a := range []*diff.Account{desired("g-1", "ada@example.test"), desired("g-2", "Bob@example.test")} {
			n, err := accts.NextSequence()
			require.NoError(t, err)
			a.ID = fmt.Sprintf("u-%06d", n)
			putJSON(t, accts, a.ID, a)
			require.NoError(t, keys.Put([]byte("ad\x00"+a.ExternalID), []byte(a.ID)))
			putJSON(t, sessions, a.ID+"/s-00000"+fmt.Sprint(n), Session{ID: "s-00000" + fmt.Sprint(n), Device: "iPad app", Started: t0})
		}
		require.NoError(t, meta.Put([]byte("seeded"), []byte("1")))
		return meta.Put([]byte("sessionsEnded"), binary.BigEndian.AppendUint64(nil, 7))
	})

	s, err := Open(path, testOptions)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, Stats{Accounts: 2, Managed: 2, Sessions: 2, SessionsEnded: 7}, st)
	assert.Equal(t, []string{"u-000002"}, lookupIDs(t, s, "ad", nil, []string{"bob@example.test"}))
	assert.Equal(t, 1, activeSessions(t, s, "u-000001"))
	assert.Equal(t, "u-000003", create(t, s, desired("g-3", "cy@example.test")).ID)
	assertIndexesMatch(t, s)
}

// A file the indexes cannot be built for, or from a newer build, is
// refused and left as it was.
func TestOpenRefusesFile(t *testing.T) {
	dir := t.TempDir()
	twins := filepath.Join(dir, "twins.db")
	writeFile(t, twins, func(tx *bolt.Tx) error {
		accts, _ := tx.CreateBucket([]byte("accounts"))
		for _, id := range []string{"000001", "000002"} {
			a := desired("g-1", "ada@example.test")
			a.ID = id
			putJSON(t, accts, id, a)
		}
		return nil
	})
	_, err := Open(twins, nil)
	require.ErrorContains(t, err, "accounts 000001 and 000002 share the join key ad/g-1")
	writeFile(t, twins, func(tx *bolt.Tx) error {
		for _, b := range []string{"keys", "emails", "meta"} {
			assert.Nil(t, tx.Bucket([]byte(b)), "bucket %s created by a refused open", b)
		}
		return nil
	})

	newer := filepath.Join(dir, "newer.db")
	writeFile(t, newer, func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		return meta.Put([]byte("format"), binary.BigEndian.AppendUint64(nil, format+1))
	})
	_, err = Open(newer, nil)
	require.ErrorContains(t, err, "newer than this program's")
}

// BenchmarkCreates applies b.N creates of new accounts to one store, as
// the first sync of a directory of b.N people does; -benchtime=10000x
// gives the cost of such a sync's applies. Each create is one bbolt
// transaction, fsync included.
func BenchmarkCreates(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "app.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	changes := make([]diff.Change, b.N)
	for i := range changes {
		a := &diff.Account{Source: "bench", ExternalID: fmt.Sprintf("guid-%08d", i), Managed: true,
			Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.test", i),
			GivenName: "Given", FamilyName: fmt.Sprintf("Family %d", i), DisplayName: fmt.Sprintf("Given Family %d", i),
			Title: "Engineer", Department: []string{"Engineering", "Backend"}, Roles: []string{"user"}}
		changes[i] = diff.Change{Op: diff.OpCreate, Key: a.Key(), After: a,
			Fields: []diff.FieldChange{{Name: diff.FieldEmail, New: a.Email}}}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Apply(ctx, changes[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// Changes applied at once share commits, and one that fails is taken out
// of its batch: the others apply, it changes nothing, and its caller gets
// its own error.
func TestBatchedApply(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "app.db"), &Options{Concurrency: 32})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 32, s.ApplyConcurrency())
	changes := benchCreates(200)
	// Every tenth change updates an account the app does not hold.
	for i := 0; i < len(changes); i += 10 {
		a := changes[i].After.Clone()
		a.ExternalID = "missing-" + a.ExternalID
		changes[i] = diff.Change{Op: diff.OpUpdate, Key: a.Key(), Before: &a, After: &a,
			Fields: []diff.FieldChange{{Name: diff.FieldTitle, New: "x"}}}
	}
	errs := make([]error, len(changes))
	var wg sync.WaitGroup
	for i := range changes {
		wg.Go(func() { errs[i] = s.Apply(ctx, changes[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if i%10 == 0 {
			assert.ErrorIs(t, err, ErrNotFound, "change %d", i)
		} else {
			assert.NoError(t, err, "change %d", i)
		}
	}
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 180, st.Accounts)
	seen := map[string]bool{}
	page, total, err := s.Page(ctx, 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, 180, total)
	for _, a := range page {
		assert.False(t, seen[a.ID], "app IDs are unique")
		seen[a.ID] = true
	}
	v, err := s.Version()
	require.NoError(t, err)
	require.NoError(t, s.Apply(ctx, benchCreates(201)[200]))
	v2, err := s.Version()
	require.NoError(t, err)
	assert.Greater(t, v2, v, "a commit moves the version")
	v3, err := s.Version()
	require.NoError(t, err)
	assert.Equal(t, v2, v3, "a read does not")
	// Pages follow the app IDs.
	p2, total, err := s.Page(ctx, 170, 50)
	require.NoError(t, err)
	assert.Equal(t, 181, total)
	require.Len(t, p2, 11)
	assert.Equal(t, page[170].ID, p2[0].ID)
}

func benchCreates(n int) []diff.Change {
	changes := make([]diff.Change, n)
	for i := range changes {
		a := &diff.Account{Source: "bench", ExternalID: fmt.Sprintf("guid-%08d", i), Managed: true,
			Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.test", i),
			GivenName: "Given", FamilyName: fmt.Sprintf("Family %d", i), DisplayName: fmt.Sprintf("Given Family %d", i),
			Title: "Engineer", Department: []string{"Engineering", "Backend"}, Roles: []string{"user"}}
		changes[i] = diff.Change{Op: diff.OpCreate, Key: a.Key(), After: a,
			Fields: []diff.FieldChange{{Name: diff.FieldEmail, New: a.Email}}}
	}
	return changes
}

// BenchmarkBulkInsert is the store's own bulk insert, the floor a sync's
// apply is measured against: b.N creates of new accounts written
// directly, 1,000 to a transaction, by one goroutine.
func BenchmarkBulkInsert(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "app.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	changes := benchCreates(b.N)
	b.ResetTimer()
	if err := s.Import(context.Background(), changes); err != nil {
		b.Fatal(err)
	}
}

// Import commits a thousand changes at a time and stops at the first
// failing one, keeping the transactions before it.
func TestImport(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "app.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	changes := benchCreates(2500)
	bad := changes[1500].After.Clone()
	bad.ExternalID = "missing"
	changes[1500] = diff.Change{Op: diff.OpBlock, Key: bad.Key(), Before: &bad, After: &bad}
	err = s.Import(ctx, changes)
	require.ErrorIs(t, err, ErrNotFound)
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1000, st.Accounts, "the first transaction is kept, the failing one's changes are not")
	require.NoError(t, s.Import(ctx, changes[2000:]))
	st, err = s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1500, st.Accounts)
}

// BenchmarkBatchedCreates applies b.N creates through Apply from 256
// goroutines, as a Syncer does with the console's store (Concurrency
// 256): the commits are shared.
func BenchmarkBatchedCreates(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "app.db"), &Options{Concurrency: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	changes := benchCreates(b.N)
	b.ResetTimer()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for i := range work {
				if err := s.Apply(ctx, changes[i]); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range changes {
		work <- i
	}
	close(work)
	wg.Wait()
}
