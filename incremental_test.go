package dirsync_test

import (
	"context"
	"errors"
	"hash/fnv"
	"iter"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
)

func usersOf(entries []connector.Entry) []string {
	var ids []string
	for _, e := range entries {
		if e.Kind == connector.KindUser {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// listOnly hides the in-memory sink's AccountLookup capability, so that
// incremental runs list every account.
type listOnly struct{ *dirsynctest.MemorySink }

func (l listOnly) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return l.MemorySink.Accounts(ctx)
}

func (l listOnly) Apply(ctx context.Context, c diff.Change) error { return l.MemorySink.Apply(ctx, c) }

func TestIncrementalRunAppliesExactlyTheChange(t *testing.T) {
	t.Run("account lookup", func(t *testing.T) {
		sink := dirsynctest.NewMemorySink()
		testIncrementalExactly(t, sink, sink)
	})
	t.Run("full listing", func(t *testing.T) {
		sink := dirsynctest.NewMemorySink()
		testIncrementalExactly(t, listOnly{sink}, sink)
	})
}

func testIncrementalExactly(t *testing.T, s dirsync.Sink, sink *dirsynctest.MemorySink) {
	entries := fake.Company(120, 11)
	dir := fake.New(entries...)
	sy := newSyncer(t, dir, s, nil)
	p, _ := syncOnce(t, sy)
	assert.False(t, p.Incremental, "the first plan reads everything")

	ids := usersOf(entries)
	require.NoError(t, dir.Set(ids[3], "title", "Chief Of Staff"))
	p, _ = syncOnce(t, sy)
	assert.True(t, p.Incremental)
	require.Equal(t, 1, p.Actionable(), p.String())
	assert.Equal(t, diff.OpUpdate, p.Changes[0].Op)
	assert.Equal(t, []diff.FieldChange{{Name: "title", Old: entries[3].Attr("title"), New: "Chief Of Staff"}}, p.Changes[0].Fields,
		"the manager, resolved in the full read, is not blanked although the manager is not in the change set")

	// A newcomer whose email an unmanaged app account has is adopted.
	newcomer := user("new-1", "newcomer", "Users")
	require.NoError(t, sink.Apply(context.Background(), diff.Change{Op: diff.OpCreate,
		After: &diff.Account{Email: "newcomer@example.test"}, Fields: []diff.FieldChange{{Name: "email"}}}))
	require.NoError(t, dir.Add(newcomer))
	p, _ = syncOnce(t, sy)
	assert.True(t, p.Incremental)
	require.Equal(t, 1, p.Actionable(), p.String())
	assert.True(t, p.Changes[0].HasReason(diff.ReasonAdopted), p.String())

	require.NoError(t, dir.Delete(ids[5]))
	p, _ = syncOnce(t, sy)
	assert.True(t, p.Incremental)
	assert.Equal(t, 1, p.Count(diff.OpBlock), p.String())
	assert.Equal(t, p.Count(diff.OpBlock), p.Actionable(), "a deletion blocks that account and nothing else:\n%s", p)

	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Incremental)
	assert.True(t, p.Empty(), p.String())

	runs, err := sy.History(context.Background())
	require.NoError(t, err)
	assert.False(t, runs[0].Full)
	assert.True(t, runs[len(runs)-1].Full)
}

func TestIncrementalCursorExpiryFallsBackToFullRead(t *testing.T) {
	entries := fake.Company(60, 12)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	dir.ExpireCursors()
	require.NoError(t, dir.Set(sink.Snapshot()[0].ExternalID, "title", "Founder"))
	p, _ := syncOnce(t, sy)
	assert.False(t, p.Incremental, "an expired cursor leads to a full read, not an error")
	assert.Equal(t, 1, p.Count(diff.OpUpdate))
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Incremental, "and a fresh cursor")
}

func TestIncrementalFullReadEveryPeriodHealsDrift(t *testing.T) {
	entries := fake.Company(40, 13)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	now := clock
	sy := newSyncer(t, dir, sink, &dirsync.Options{Clock: clockFunc(func() time.Time { return now }), FullEvery: 24 * time.Hour})
	syncOnce(t, sy)
	// Someone edits an account in the app by hand.
	victim := sink.Snapshot()[0]
	edited := victim.Clone()
	edited.Title = "edited by hand"
	require.NoError(t, sink.Apply(context.Background(), diff.Change{Op: diff.OpUpdate, Before: &victim, After: &edited,
		Fields: []diff.FieldChange{{Name: "title"}}}))
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Incremental)
	assert.True(t, p.Empty(), "an incremental read does not see drift in the app")
	now = now.Add(25 * time.Hour)
	p, _ = syncOnce(t, sy)
	assert.False(t, p.Incremental)
	assert.Equal(t, 1, p.Count(diff.OpUpdate), "the daily full read heals it:\n%s", p)
}

// A sink that fails one change in ten: the cursor never moves past work
// that did not apply, and once the sink recovers everything converges.
func TestIncrementalFlakySinkConverges(t *testing.T) {
	entries := fake.Company(150, 14)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	st := store.NewMemory()
	flaky := true
	sink.Fail = func(c diff.Change) error {
		h := fnv.New32a()
		h.Write([]byte(c.Key + c.Op.String()))
		if flaky && h.Sum32()%10 == 0 {
			return errors.New("database is busy")
		}
		return nil
	}
	sy := newSyncer(t, dir, sink, &dirsync.Options{Store: st})
	cursorKey := "integration/ad/cursor"
	ids := usersOf(entries)
	for round := range 6 {
		require.NoError(t, dir.Set(ids[round*7], "title", "Round "+string(rune('A'+round))))
		require.NoError(t, dir.Disable(ids[round*7+1]))
		before, _ := st.Get(context.Background(), cursorKey)
		p, err := sy.Plan(context.Background())
		require.NoError(t, err)
		rep, err := sy.Apply(context.Background(), p)
		after, _ := st.Get(context.Background(), cursorKey)
		if err != nil {
			assert.Positive(t, rep.Count(dirsync.StatusFailed))
			assert.Equal(t, before, after, "round %d: the cursor moved past failed changes", round)
		} else if p.Actionable() > 0 {
			assert.NotEqual(t, before, after, "round %d: the cursor stays behind applied work", round)
		}
	}
	flaky = false
	for range 3 {
		syncOnce(t, sy)
	}
	assertMatchesFreshSync(t, dir, sink)
}

// A process killed in the middle of an apply (its Syncer cancelled and
// thrown away) converges when a new process starts from the file Store.
func TestIncrementalKilledMidApplyConvergesOnRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	entries := fake.Company(80, 15)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	store, err := filestore.Open(path)
	require.NoError(t, err)
	sy := newSyncer(t, dir, sink, &dirsync.Options{Store: store})
	syncOnce(t, sy)
	ids := usersOf(entries)
	for i := range 10 {
		require.NoError(t, dir.Set(ids[i], "title", "Moved"))
	}
	require.NoError(t, dir.Delete(ids[20]))

	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32 // Fail runs on several goroutines with concurrent apply
	sink.Fail = func(diff.Change) error {
		if n.Add(1) == 4 {
			cancel() // the process dies during the fourth change
		}
		return nil
	}
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	_, err = sy.Apply(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	sink.Fail = nil

	store2, err := filestore.Open(path)
	require.NoError(t, err)
	restarted := newSyncer(t, dir, sink, &dirsync.Options{Store: store2})
	syncOnce(t, restarted)
	p, err = restarted.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Empty(), p.String())
	assertMatchesFreshSync(t, dir, sink)
}

// assertMatchesFreshSync checks that sink holds what one full sync of dir
// into an empty sink makes.
func assertMatchesFreshSync(t *testing.T, dir *fake.Directory, sink *dirsynctest.MemorySink) {
	t.Helper()
	fresh := dirsynctest.NewMemorySink()
	syncOnce(t, newSyncer(t, dir, fresh, &dirsync.Options{FullEvery: -1}))
	want := map[string]diff.Account{}
	for _, a := range fresh.Snapshot() {
		want[a.Key()] = a
	}
	for _, a := range sink.Snapshot() {
		w, ok := want[a.Key()]
		if a.Blocked && !ok {
			continue // blocked when it left; a fresh sync never created it
		}
		require.True(t, ok, "unexpected account %s", a.Key())
		for _, f := range diff.Fields {
			assert.Equal(t, w.Get(f), a.Get(f), "%s %s", a.Key(), f)
		}
		assert.Equal(t, w.Blocked, a.Blocked, a.Key())
		delete(want, a.Key())
	}
	assert.Empty(t, want, "accounts missing from the sink")
}
