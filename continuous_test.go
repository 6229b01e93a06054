package dirsync_test

// The promises across time, across replicas and across failures: tests
// that run the Syncer continuously, as a host does, rather than one plan.

import (
	"context"
	"errors"
	"fmt"
	"iter"
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
	"github.com/dirsync-go/dirsync/store"
)

func blocked(sink *dirsynctest.MemorySink) int {
	n := 0
	for _, a := range sink.Snapshot() {
		if a.Blocked {
			n++
		}
	}
	return n
}

func users(n int) []connector.Entry {
	var out []connector.Entry
	for i := range n {
		out = append(out, user(fmt.Sprint(i), fmt.Sprintf("user%03d", i), "Users"))
	}
	return out
}

// A flood of deactivations that arrives one at a time, each followed by
// a run (as SCIM pushes or repeated incremental runs bring it), stops at
// the limits a burst would meet: with the defaults (20 % of 100) at 20
// blocked, whatever the pace, across a restart of the host; the rest wait
// for approval as removals alone, while people added meanwhile are
// created; the DELETEs that follow block nobody more; an approval applies
// what it names and its removals use up the budget.
func TestPacedFloodStopsAtTheBudget(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(users(100)...)
	sink := dirsynctest.NewMemorySink()
	st := store.NewMemory()
	open := func() *dirsync.Syncer { return newSyncer(t, dir, sink, &dirsync.Options{Store: st}) }
	sy := open()
	rec, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	require.NoError(t, err)
	require.Equal(t, 100, rec.Applied)

	for i := range 60 {
		if i == 30 {
			sy = open() // a restart: the budget is in the Store
		}
		require.NoError(t, dir.Disable(fmt.Sprint(i)))
		if i%10 == 5 {
			require.NoError(t, dir.Add(user(fmt.Sprintf("new%d", i), fmt.Sprintf("new%03d", i), "Users")))
		}
		_, err := sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
		require.NoError(t, err)
		require.LessOrEqual(t, blocked(sink), 20, "after deactivation %d", i+1)
	}
	assert.Equal(t, 20, blocked(sink))
	assert.Len(t, sink.Snapshot(), 106, "the six people added during the flood were created")
	held, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	require.NotNil(t, held)
	assert.Equal(t, 40, held.Count(diff.OpBlock))
	assert.Equal(t, held.Actionable(), held.Count(diff.OpBlock), "only removals wait")
	budget, err := sy.RemovalBudget(ctx)
	require.NoError(t, err)
	assert.Equal(t, 20, budget.Used)
	assert.Equal(t, 24*time.Hour, budget.Window)
	assert.False(t, budget.FreesAt.IsZero())

	// The remaining accounts are deleted one by one: nobody more is
	// blocked without an approval.
	for i := 60; i < 100; i++ {
		require.NoError(t, dir.Delete(fmt.Sprint(i)))
		_, err := sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
		require.NoError(t, err)
	}
	assert.Equal(t, 20, blocked(sink))

	// The admin approves what is held now: it applies, and its removals
	// are in the budget.
	held, err = sy.PendingPlan(ctx)
	require.NoError(t, err)
	assert.Equal(t, 80, held.Actionable())
	rep, err := sy.ApprovePending(ctx, held.Digest())
	require.NoError(t, err)
	assert.Equal(t, 80, rep.Count(dirsync.StatusApplied))
	assert.Equal(t, 100, blocked(sink))
	budget, err = sy.RemovalBudget(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100, budget.Used, "an approval resets nothing")
}

// Removals over the limits never freeze the integration: a test user
// created and deleted trips the every-managed-account rule (1 of 1) on an
// incremental read, and the people pushed after it are still created,
// with the deletion held for approval.
func TestHeldRemovalsLetSafeWorkFlow(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(user("t", "test", "Users"))
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	_, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	require.NoError(t, err)
	require.NoError(t, dir.Delete("t"))
	rec, err := sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	assert.Equal(t, 1, rec.Held)
	for i := range 5 {
		require.NoError(t, dir.Add(user(fmt.Sprint(i), fmt.Sprintf("pushed%d", i), "Users")))
		rec, err = sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
		require.NoError(t, err)
		assert.Equal(t, 1, rec.Applied, "run %d", i)
		assert.Equal(t, 1, rec.Held)
	}
	assert.Len(t, sink.Snapshot(), 6)
	assert.Equal(t, 0, blocked(sink))
	held, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, held.Count(diff.OpBlock))
	_, err = sy.ApprovePending(ctx, held.Digest())
	require.NoError(t, err)
	assert.Equal(t, 1, blocked(sink))
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, p.Empty(), "nothing held is lost, nothing applied twice:\n%s", p)
}

// A full read that finds none of the managed accounts (here every ID
// changed: a new base DN or join key) is suspect: everything waits, the
// creates too.
func TestSuspectReadHoldsEverything(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(users(3)...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, fullOnly{dir}, sink, nil)
	_, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, dir.Delete(fmt.Sprint(i)))
		require.NoError(t, dir.Add(user(fmt.Sprintf("x%d", i), fmt.Sprintf("other%d", i), "Users")))
	}
	rec, err := sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	assert.Zero(t, rec.Applied)
	assert.Len(t, sink.Snapshot(), 3)
	assert.Equal(t, 0, blocked(sink))
}

// A panic in OnRun is recovered like one in a sink: here the connector
// panics, and OnRun panics while that run is reported; Run goes on to the
// next run, and the host process lives.
func TestOnRunPanicIsRecovered(t *testing.T) {
	dir := &panicConn{}
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	runs := make(chan dirsync.RunRecord, 10)
	done := make(chan error, 1)
	go func() {
		done <- sy.Run(ctx, &dirsync.RunOptions{Schedule: dirsync.Schedule{Every: time.Hour, Jitter: -1},
			OnRun: func(r dirsync.RunRecord) {
				runs <- r
				panic("the host's hook is broken")
			}})
	}()
	r := <-runs
	assert.Equal(t, dirsync.OutcomePlanError, r.Outcome)
	assert.Contains(t, r.Error, "panic")
	sy.SyncNow()
	r = <-runs
	assert.Equal(t, dirsync.OutcomePlanError, r.Outcome)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

type panicConn struct{}

func (panicConn) Read(context.Context) iter.Seq2[connector.Entry, error] {
	return func(func(connector.Entry, error) bool) { panic("connector bug") }
}

// failingStore fails writes of keys with the suffix while fail is set.
type failingStore struct {
	dirsync.Store
	mu     sync.Mutex
	suffix string
	fail   bool
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) failing(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail && strings.HasSuffix(key, s.suffix)
}

func (s *failingStore) Put(ctx context.Context, key string, v []byte) error {
	if s.failing(key) {
		return errDiskFull
	}
	return s.Store.Put(ctx, key, v)
}

func (s *failingStore) Delete(ctx context.Context, key string) error {
	if s.failing(key) {
		return errDiskFull
	}
	return s.Store.Delete(ctx, key)
}

// A run whose bookkeeping fails says so: a cursor that could not be
// saved, a history that could not be written are errors of that run, in
// RunOnce's return (wrapping the cause) and in its record, and no caller
// ever gets another run's record as its own.
func TestRunBookkeepingFailuresAreTheRunsErrors(t *testing.T) {
	ctx := context.Background()
	for _, key := range []string{"/cursor", "/history", "/removals"} {
		t.Run(key, func(t *testing.T) {
			dir := fake.New(users(3)...)
			sink := dirsynctest.NewMemorySink()
			st := &failingStore{Store: store.NewMemory(), suffix: key}
			// The store has no Update: the Syncer reads and Puts.
			sy := newSyncer(t, dir, sink, &dirsync.Options{Store: struct{ dirsync.Store }{st}})
			first, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
			require.NoError(t, err)
			st.mu.Lock()
			st.fail = true
			st.mu.Unlock()
			require.NoError(t, dir.Disable("1"))
			rec, err := sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
			require.ErrorIs(t, err, errDiskFull)
			assert.NotEqual(t, first.Started.String()+fmt.Sprint(first.Counts), rec.Started.String()+fmt.Sprint(rec.Counts))
			assert.Equal(t, 1, rec.Counts["block"], "this run's record")
			assert.Equal(t, dirsync.OutcomeFailed, rec.Outcome)
			assert.Contains(t, rec.Error, "disk full")
		})
	}
}

// Two admins approving one pending plan on two replicas (two Syncers on
// one Store) apply it once.
func TestApprovalAppliesOnce(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(users(10)...)
	sink := dirsynctest.NewMemorySink()
	st := store.NewMemory()
	a := newSyncer(t, dir, sink, &dirsync.Options{Store: st})
	b := newSyncer(t, dir, sink, &dirsync.Options{Store: st})
	_, err := a.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeApproval)
	require.NoError(t, err)
	p, err := b.PendingPlan(ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, sy := range []*dirsync.Syncer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sy.ApprovePending(ctx, p.Digest())
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.True(t, errors.Is(err, dirsync.ErrNoPendingPlan) || errors.Is(err, dirsync.ErrPlanChanged), "%v", err)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Len(t, sink.Snapshot(), 10, "each person invited once")
}

// A pending plan holding a value that is not valid UTF-8 (raw directory
// bytes) keeps its identity through the Store: it can be approved.
func TestPendingPlanKeepsRawBytes(t *testing.T) {
	ctx := context.Background()
	e := user("1", "alice", "Users")
	e.Attrs.Set("title", "Chef \xff\xfe de cuisine")
	sy := newSyncer(t, fake.New(e), dirsynctest.NewMemorySink(), nil)
	_, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeApproval)
	require.NoError(t, err)
	p, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	rep, err := sy.ApprovePending(ctx, p.Digest())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Count(dirsync.StatusApplied))
}

// over30 returns a Syncer whose plan blocks 30 of 100 accounts: over the
// default limits, not approved.
func over30(t *testing.T, sink dirsync.Sink) (*dirsync.Syncer, *dirsync.Plan) {
	t.Helper()
	dir := fake.New(users(100)...)
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	for i := range 30 {
		require.NoError(t, dir.Disable(fmt.Sprint(i)))
	}
	p, err := sy.Plan(context.Background())
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	require.Equal(t, 30, p.Count(diff.OpBlock))
	return sy, p
}

// A view of an unapproved plan is still unapproved: small Search views of
// a plan over the limits, each within them alone, apply no removal; a
// view without removals applies.
func TestViewsOfAnUnapprovedPlanStayUnapproved(t *testing.T) {
	ctx := context.Background()
	sink := dirsynctest.NewMemorySink()
	sy, p := over30(t, sink)
	for _, pattern := range []string{"user00[0-4]", "user01[0-9]", "user02[0-9]"} {
		v, err := p.Search(pattern)
		require.NoError(t, err)
		require.NotZero(t, v.Count(diff.OpBlock))
		_, err = sy.Apply(ctx, v)
		require.ErrorIs(t, err, dirsync.ErrSafetyLimit, pattern)
	}
	assert.Equal(t, 0, blocked(sink))
	none, err := p.Search("^no such account$")
	require.NoError(t, err)
	_, err = sy.Apply(ctx, none)
	require.NoError(t, err, "a view that removes nobody applies")
}

// opSink records the operations a sink was asked to carry out.
type opSink struct {
	*dirsynctest.MemorySink
	mu  sync.Mutex
	ops []diff.Op
}

func (s *opSink) Apply(ctx context.Context, c diff.Change) error {
	s.mu.Lock()
	s.ops = append(s.ops, c.Op)
	s.mu.Unlock()
	return s.MemorySink.Apply(ctx, c)
}

// Apply decides what a change removes from the sink's account, not from
// the fields a host can edit: an unapproved plan blocking 30 of 100 with
// Before.Managed cleared, or relabelled "update" while the "blocked" field
// stays, is refused; a relabelled block within the limits reaches the sink
// as a block, so the person's sessions end.
func TestApplyCountsRemovalsFromTheSink(t *testing.T) {
	ctx := context.Background()
	edits := map[string]func(c *diff.Change){
		"managed cleared": func(c *diff.Change) { c.Before.Managed = false },
		"relabelled":      func(c *diff.Change) { c.Op = diff.OpUpdate },
		"source cleared":  func(c *diff.Change) { c.Before.Source, c.Before.Managed = "", false },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			sink := dirsynctest.NewMemorySink()
			sy, p := over30(t, sink)
			for i := range p.Changes {
				if c := &p.Changes[i]; c.Op == diff.OpBlock {
					b := c.Before.Clone()
					c.Before = &b
					edit(c)
				}
			}
			_, err := sy.Apply(ctx, p)
			require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
			assert.Equal(t, 0, blocked(sink))
		})
	}

	sink := &opSink{MemorySink: dirsynctest.NewMemorySink()}
	dir := fake.New(users(100)...)
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	require.NoError(t, dir.Disable("7"))
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, p.Count(diff.OpBlock))
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Op == diff.OpBlock {
			c.Op = diff.OpUpdate
		}
	}
	sink.ops = nil
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, []diff.Op{diff.OpBlock}, sink.ops)
	assert.Equal(t, 1, blocked(sink.MemorySink))
}

// failOnce is a connector (full reads only) whose next read fails once.
type failOnce struct {
	dir  *fake.Directory
	fail atomic.Bool
}

func (f *failOnce) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	if f.fail.Swap(false) {
		return func(yield func(connector.Entry, error) bool) {
			yield(connector.Entry{}, errors.New("LDAP server down"))
		}
	}
	return f.dir.Read(ctx)
}

// An approval whose fresh plan cannot be made (the directory is down)
// applies nothing and leaves the plan waiting, as it was, for the next
// approval.
func TestApprovalWithAFailedReadKeepsThePlanPending(t *testing.T) {
	ctx := context.Background()
	dir := &failOnce{dir: fake.New(users(3)...)}
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	_, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeApproval)
	require.NoError(t, err)
	p, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	dir.fail.Store(true)
	_, err = sy.ApprovePending(ctx, p.Digest())
	require.ErrorContains(t, err, "LDAP server down")
	again, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	require.NotNil(t, again, "still waiting")
	assert.Equal(t, p.Digest(), again.Digest())
	rep, err := sy.ApprovePending(ctx, p.Digest())
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Count(dirsync.StatusApplied))
}
