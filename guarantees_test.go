package dirsync_test

// Tests of the engine's promises to a host, from issue 9: the plan an
// admin approved is the plan applied, under today's exceptions; a subset
// never moves the cursor; state updates are atomic; the safety limits
// hold for incremental plans; a panic in host code fails one change, not
// the schedule; group changes reach incremental runs.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
)

func usersN(n int, ou string) []connector.Entry {
	out := make([]connector.Entry, n)
	for i := range out {
		out[i] = user(fmt.Sprintf("u%03d", i), fmt.Sprintf("user%03d", i), ou)
	}
	return out
}

// An exception added after the plan was shown wins at apply time.
func TestApplyHonoursExceptionsAddedAfterThePlan(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"), user("3", "carol", "Users"))
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)

	require.NoError(t, dir.Disable("2"))
	require.NoError(t, dir.Set("3", "title", "Boss"))
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, p.Count(diff.OpBlock), p.String())

	// The admin excepts bob (by email) and carol (by ID) after seeing the plan.
	require.NoError(t, sy.AddException(ctx, policy.Exception{Email: " BOB@example.test "}))
	require.NoError(t, sy.AddException(ctx, policy.Exception{ID: "3"}))
	r, err := sy.Apply(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Count(dirsync.StatusSkipped))
	assert.Zero(t, r.Count(dirsync.StatusApplied))
	for _, res := range r.Results {
		assert.Equal(t, dirsync.ReasonExceptionAtApply, res.Reason.Code)
	}
	for _, a := range sink.Snapshot() {
		assert.False(t, a.Blocked, "%s blocked despite the exception", a.Email)
		assert.NotEqual(t, "Boss", a.Title)
	}
	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	assert.Contains(t, text.String(), "became an exception")

	runs, err := sy.History(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, runs[0].Skipped)
	assert.Len(t, runs[0].Skips, 2)
}

// Apply checks the limits itself: a plan over them, rebuilt by the host or
// with its Safety field cleared, does not apply without an approval.
func TestApplyChecksSafetyItself(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(usersN(30, "Users")...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	for i := range 20 {
		require.NoError(t, dir.Disable(fmt.Sprintf("u%03d", i)))
	}
	p, err := sy.Plan(ctx)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)

	t.Run("safety field cleared", func(t *testing.T) {
		q := *p
		q.Safety, q.Managed, q.SourceUsers = nil, 1_000_000, 1_000_000
		_, err := sy.Apply(ctx, &q)
		require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	})
	t.Run("rebuilt from JSON", func(t *testing.T) {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		var stored struct {
			Plan diff.Plan `json:"plan"`
		}
		require.NoError(t, json.Unmarshal(b, &stored))
		rebuilt := &dirsync.Plan{Plan: stored.Plan}
		require.Equal(t, 20, rebuilt.Count(diff.OpBlock))
		_, err = sy.Apply(ctx, rebuilt)
		require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
		for _, a := range sink.Snapshot() {
			require.False(t, a.Blocked)
		}
		// An approval bound to the digest the admin saw lets it through.
		require.NoError(t, rebuilt.ApproveDigest(p.Digest()))
		r, err := sy.Apply(ctx, rebuilt)
		require.NoError(t, err)
		assert.Equal(t, 20, r.Count(dirsync.StatusApplied))
	})
}

// An approval covers the changes approved, not changes added afterwards.
func TestApprovalIsBoundToTheChanges(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(usersN(30, "Users")...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	for i := range 8 {
		require.NoError(t, dir.Disable(fmt.Sprintf("u%03d", i)))
	}
	p, err := sy.Plan(ctx)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	p.Approve()
	assert.True(t, p.Approved())

	// A host appends a block of someone else after the approval.
	other := p.Changes[len(p.Changes)-1]
	for _, a := range sink.Snapshot() {
		if a.ExternalID == "u029" {
			after := a.Clone()
			after.Blocked = true
			other = diff.Change{Op: diff.OpBlock, Key: a.Key(), Before: &a, After: &after,
				Fields: []diff.FieldChange{{Name: "blocked", Old: "false", New: "true"}}}
		}
	}
	tampered := *p
	tampered.Plan.Changes = append(append([]diff.Change(nil), p.Changes...), other)
	assert.False(t, tampered.Approved())
	_, err = sy.Apply(ctx, &tampered)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	assert.Contains(t, err.Error(), "not approved")

	// A subset of the approved plan stays approved.
	sub, err := p.Search("user00[0-3]")
	require.NoError(t, err)
	require.Equal(t, 4, sub.Count(diff.OpBlock), sub.String())
	r, err := sy.Apply(ctx, sub)
	require.NoError(t, err)
	assert.Equal(t, 4, r.Count(dirsync.StatusApplied))
}

// ApprovePending approves the plan the admin saw, not a later one.
func TestApprovePendingNamesThePlanShown(t *testing.T) {
	ctx := context.Background()
	h := startRun(t, dirsync.ModeApproval, nil)
	r := h.nextRun(t)
	require.Equal(t, dirsync.OutcomeWaiting, r.Outcome)
	shown := pendingPlan(t, h.sy)
	require.NotNil(t, shown)
	require.Equal(t, shown.Digest(), r.Plan, "the history names the pending plan")

	// A newer run replaces the pending plan: the directory moved meanwhile.
	require.NoError(t, h.dir.Add(user("3", "carol", "Users")))
	h.sy.SyncNow()
	r = h.nextRun(t)
	require.Equal(t, dirsync.OutcomeWaiting, r.Outcome)
	require.NotEqual(t, shown.Digest(), pendingPlan(t, h.sy).Digest())

	_, err := h.sy.ApprovePending(ctx, shown.Digest())
	require.ErrorIs(t, err, dirsync.ErrPlanChanged)
	assert.Empty(t, h.sink.Snapshot(), "nothing applied")

	_, err = h.sy.ApprovePending(ctx, "")
	require.ErrorIs(t, err, dirsync.ErrPlanChanged)

	rep, err := h.sy.ApprovePending(ctx, pendingPlan(t, h.sy).Digest())
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Count(dirsync.StatusApplied))
	assert.Nil(t, pendingPlan(t, h.sy))
}

// Applying a subset applies it and leaves the cursor, so the rest is planned
// again on the next (incremental) run.
func TestSubsetNeverMovesTheCursor(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(usersN(12, "Users")...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)

	for _, id := range []string{"u001", "u002", "u003"} {
		require.NoError(t, dir.Set(id, "title", "Engineer"))
	}
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	require.True(t, p.Incremental)
	require.Equal(t, 3, p.Count(diff.OpUpdate))

	check := func(t *testing.T, sub *dirsync.Plan, want int) {
		t.Helper()
		_, err := sy.Apply(ctx, sub)
		require.NoError(t, err)
		next, err := sy.Plan(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, next.Count(diff.OpUpdate), "the changes left out are planned again:\n%s", next)
	}
	t.Run("search", func(t *testing.T) {
		sub, err := p.Search("user001")
		require.NoError(t, err)
		check(t, sub, 2)
	})
	t.Run("sliced by hand", func(t *testing.T) {
		q, err := sy.Plan(ctx)
		require.NoError(t, err)
		q.Changes = q.Changes[:1]
		check(t, q, 1)
	})
	t.Run("whole plan moves it", func(t *testing.T) {
		q, err := sy.Plan(ctx)
		require.NoError(t, err)
		check(t, q, 0)
	})
}

// Concurrent exception updates lose none.
func TestExceptionsUpdatedAtomically(t *testing.T) {
	ctx := context.Background()
	for name, store := range map[string]dirsync.Store{
		"memory": store.NewMemory(),
		"file":   mustFileStore(t),
		"plain":  plainStore{store.NewMemory()},
	} {
		t.Run(name, func(t *testing.T) {
			// Two Syncers of one integration share the store, as two
			// request handlers of one host would.
			a := newSyncer(t, fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Store: store})
			b := newSyncer(t, fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Store: store})
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sy := a
					if i%2 == 1 {
						sy = b
					}
					assert.NoError(t, sy.AddException(ctx, policy.Exception{Email: fmt.Sprintf("p%d@example.test", i)}))
				}()
			}
			wg.Wait()
			list, err := a.Exceptions(ctx)
			require.NoError(t, err)
			assert.Len(t, list, 40)

			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					assert.NoError(t, b.RemoveException(ctx, policy.Exception{Email: fmt.Sprintf("p%d@example.test", i)}))
				}()
			}
			wg.Wait()
			list, err = b.Exceptions(ctx)
			require.NoError(t, err)
			assert.Len(t, list, 20)
		})
	}
}

// plainStore hides the Updater capability.
type plainStore struct{ s *store.Memory }

func (p plainStore) Get(ctx context.Context, k string) ([]byte, error) { return p.s.Get(ctx, k) }
func (p plainStore) Put(ctx context.Context, k string, v []byte) error { return p.s.Put(ctx, k, v) }
func (p plainStore) Delete(ctx context.Context, k string) error        { return p.s.Delete(ctx, k) }

func mustFileStore(t *testing.T) *filestore.Store {
	st, err := filestore.Open(t.TempDir() + "/state.json")
	require.NoError(t, err)
	return st
}

// Incremental plans meet the limits as full ones do: a small tenant whose
// every managed account is deleted needs an approval.
func TestIncrementalEveryoneDeletedNeedsApproval(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 3, 9} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := fake.New(usersN(n, "Users")...)
			sink := dirsynctest.NewMemorySink()
			sy := newSyncer(t, dir, sink, nil)
			syncOnce(t, sy)
			for i := range n {
				require.NoError(t, dir.Delete(fmt.Sprintf("u%03d", i)))
			}
			p, err := sy.Plan(ctx)
			require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
			require.True(t, p.Incremental)
			assert.True(t, p.Safety.Everyone, p.Safety.Error())
			_, err = sy.Apply(ctx, p)
			require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
			for _, a := range sink.Snapshot() {
				assert.False(t, a.Blocked)
			}
		})
	}
}

// The managed count behind the incremental percentage follows adoptions and
// deletions.
func TestIncrementalManagedCountFollowsAdoptionsAndDeletes(t *testing.T) {
	ctx := context.Background()
	// 10 accounts of the directory, 10 more that the first sync adopts.
	var entries []connector.Entry
	var unmanaged []diff.Account
	for i := range 20 {
		e := user(fmt.Sprintf("u%03d", i), fmt.Sprintf("user%03d", i), "Users")
		entries = append(entries, e)
		if i >= 10 {
			unmanaged = append(unmanaged, diff.Account{Email: e.Attr("mail")})
		}
	}
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink(unmanaged...)
	pol, err := policy.New(policy.Config{Safety: policy.Safety{MaxPercent: 20, MaxRemovals: 100}})
	require.NoError(t, err)
	sy := newSyncer(t, dir, sink, &dirsync.Options{Policy: pol})
	p, _ := syncOnce(t, sy)
	require.Equal(t, 10, p.Count(diff.OpCreate))

	// 4 of 20 managed is 20%: within the limit. Counted on 10 (the
	// creates only) it would be 40%.
	for i := range 4 {
		require.NoError(t, dir.Delete(fmt.Sprintf("u%03d", i)))
	}
	p, err = sy.Plan(ctx)
	require.NoError(t, err, "20 accounts are managed, adopted ones included")
	require.True(t, p.Incremental)
	assert.Equal(t, 20, p.Managed)
}

// A last full read stamped in the future counts as stale.
func TestLastFullInTheFutureIsStale(t *testing.T) {
	ctx := context.Background()
	now := clock
	dir := fake.New(usersN(3, "Users")...)
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Clock: clockFunc(func() time.Time { return now })})
	syncOnce(t, sy)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	require.True(t, p.Incremental)

	now = clock.Add(-48 * time.Hour) // the clock is corrected backwards
	p, err = sy.Plan(ctx)
	require.NoError(t, err)
	assert.False(t, p.Incremental, "a full read time in the future is not trusted")
}

// AlwaysFull reads everything every time.
func TestAlwaysFull(t *testing.T) {
	dir := fake.New(usersN(3, "Users")...)
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{AlwaysFull: true})
	syncOnce(t, sy)
	require.NoError(t, dir.Set("u001", "title", "X"))
	p, _ := syncOnce(t, sy)
	assert.False(t, p.Incremental)
	assert.Equal(t, 3, p.SourceUsers)
	assert.Zero(t, p.ChangedUsers)
}

// On an incremental plan the counts say what they count.
func TestIncrementalCounts(t *testing.T) {
	dir := fake.New(usersN(5, "Users")...)
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), nil)
	syncOnce(t, sy)
	require.NoError(t, dir.Set("u001", "title", "X"))
	require.NoError(t, dir.Delete("u002"))
	p, _ := syncOnce(t, sy)
	require.True(t, p.Incremental)
	assert.Zero(t, p.SourceUsers)
	assert.Equal(t, 2, p.ChangedUsers)
	assert.Equal(t, 5, p.Managed)
}

// Report text cannot be forged by a name or a sink error.
func TestReportTextCleansControlCharacters(t *testing.T) {
	ctx := context.Background()
	e := user("1", "mallory", "Users")
	e.Attrs.Set("displayName", "Mallory\napplied  create  Fake Row\u2028x\u0085y")
	sink := dirsynctest.NewMemorySink()
	sink.Fail = func(diff.Change) error { return errors.New("db down\nRESULT applied everyone") }
	sy := newSyncer(t, fake.New(e), sink, nil)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	r, _ := sy.Apply(ctx, p)
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	assert.Len(t, lines, 3, "header, one row, summary:\n%s", b.String())
	assert.NotContains(t, b.String(), "\u2028")
	assert.NotContains(t, b.String(), "\u0085")
}

// A panic in the sink or in OnApplied fails that change, is recorded, and
// the schedule goes on.
func TestPanicInHostCodeIsRecovered(t *testing.T) {
	var calls atomic.Int32 // OnApplied and the sink run on several goroutines with concurrent apply
	h := startRun(t, dirsync.ModeAutomatic, &dirsync.Options{OnApplied: func(ctx context.Context, r dirsync.Result) {
		calls.Add(1)
		if r.Change.After != nil && r.Change.After.Username == "bob" {
			panic("invitation service exploded")
		}
	}}, func(c diff.Change) error {
		if c.After != nil && c.After.Username == "alice" && calls.Load() < 10 {
			panic(fmt.Sprintf("nil map in sink for %s", c.After.Username))
		}
		return nil
	})
	r := h.nextRun(t)
	assert.Equal(t, dirsync.OutcomeFailed, r.Outcome)
	require.Len(t, r.Failures, 2, "%+v", r)
	for _, f := range r.Failures {
		assert.Contains(t, f.Error, "panic")
	}

	// The schedule goes on.
	h.clock.waitIdle(t)
	h.clock.Advance(time.Hour)
	r = h.nextRun(t)
	assert.NotEqual(t, dirsync.OutcomePlanError, r.Outcome)

	// A direct Apply recovers the same way.
	dir := fake.New(user("9", "zed", "Users"))
	sink := dirsynctest.NewMemorySink()
	sink.Fail = func(diff.Change) error { panic("boom") }
	sy := newSyncer(t, dir, sink, nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	rep, err := sy.Apply(context.Background(), p)
	require.ErrorIs(t, err, dirsync.ErrPanic)
	assert.Equal(t, 1, rep.Count(dirsync.StatusFailed))
}

// A panic while planning fails the run, not Run.
func TestPanicWhilePlanningIsRecovered(t *testing.T) {
	h := startRun(t, dirsync.ModeAutomatic, &dirsync.Options{Progress: func(p dirsync.Progress) {
		if p.Phase == dirsync.PhaseDiff {
			panic("progress bar broke")
		}
	}})
	r := h.nextRun(t)
	assert.Equal(t, dirsync.OutcomePlanError, r.Outcome)
	assert.Contains(t, r.Error, "progress bar broke")
	h.clock.waitIdle(t)
	h.clock.Advance(time.Hour)
	r = h.nextRun(t)
	assert.Equal(t, dirsync.OutcomePlanError, r.Outcome, "and the next run happens")
}

// Removing a member from a group that grants a role changes their roles in
// the next incremental run.
func TestGroupChangeReachesIncrementalRun(t *testing.T) {
	admins := connector.Entry{ID: "g-admins", Kind: connector.KindGroup, DN: "CN=Admins,OU=Groups,DC=example,DC=test",
		Attrs: connector.Attrs{}}
	admins.Attrs.Set("cn", "Admins")
	other := connector.Entry{ID: "g-other", Kind: connector.KindGroup, DN: "CN=Other,OU=Groups,DC=example,DC=test",
		Attrs: connector.Attrs{}}
	other.Attrs.Set("cn", "Other")
	dir := fake.New(append(usersN(5, "Users"), admins, other)...)
	require.NoError(t, dir.AddMember("g-admins", "u001"))
	require.NoError(t, dir.AddMember("g-admins", "u002"))

	spec := mapping.ADSpec()
	spec.Roles = []mapping.RoleLink{{Group: "Admins", Role: "admin"}}
	m, err := mapping.New(spec)
	require.NoError(t, err)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, &dirsync.Options{Mapper: m})
	syncOnce(t, sy)
	roles := func(id string) []string {
		for _, a := range sink.Snapshot() {
			if a.ExternalID == id {
				return a.Roles
			}
		}
		return nil
	}
	require.Equal(t, []string{"admin"}, roles("u001"))

	require.NoError(t, dir.RemoveMember("g-admins", "u001"))
	p, _ := syncOnce(t, sy)
	assert.Empty(t, roles("u001"), "the admin role is revoked at the next run:\n%s", p)
	assert.Equal(t, []string{"admin"}, roles("u002"))

	m2, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	assert.False(t, m2.UsesGroups())
	assert.True(t, m.UsesGroups())
}

// Plan text cannot be forged by a directory value either: C0, C1 and the
// Unicode line separators are blanked.
func TestPlanTextControlCharacters(t *testing.T) {
	for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029", "\t"} {
		e := user("1", "mallory", "Users")
		e.Attrs.Set("displayName", "Mallory"+sep+"create  Fake Person  fake@example.test  New in the directory")
		e.Attrs.Set("title", "x"+sep+"y")
		sy := newSyncer(t, fake.New(e), dirsynctest.NewMemorySink(), nil)
		p, err := sy.Plan(context.Background())
		require.NoError(t, err)
		text := p.String()
		for _, line := range strings.Split(text, "\n") {
			assert.False(t, strings.ContainsAny(line, "\r\t\u0085\u2028\u2029"), "separator %q: %q", sep, line)
		}
		assert.Len(t, strings.Split(strings.TrimSuffix(text, "\n"), "\n"), 1+1+len(p.Changes[0].Fields)+1,
			"header, one row, its fields, summary; separator %q:\n%s", sep, text)
	}
}

// A plan kept as JSON reads back with the same digest but no approval:
// Apply checks it as a plan it did not make.
func TestPlanJSONRoundTripIsUntrusted(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(usersN(20, "Users")...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	for i := range 10 {
		require.NoError(t, dir.Disable(fmt.Sprintf("u%03d", i)))
	}
	p, err := sy.Plan(ctx)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	p.Approve()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.Contains(t, string(b), `"approved":true`)

	var back dirsync.Plan
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, p.Digest(), back.Digest())
	assert.False(t, back.Approved(), "an approval does not travel in JSON")
	require.NotNil(t, back.Safety)
	_, err = sy.Apply(ctx, &back)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)

	require.ErrorIs(t, back.ApproveDigest("0123"), dirsync.ErrPlanChanged)
	require.NoError(t, back.ApproveDigest(p.Digest()))
	r, err := sy.Apply(ctx, &back)
	require.NoError(t, err)
	assert.Equal(t, 10, r.Count(dirsync.StatusApplied))
	// The stored plan carried no cursor: the next plan is incremental from
	// the old one and finds nothing left to do.
	next, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, next.Empty(), next.String())
}
