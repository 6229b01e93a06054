package dirsync_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
)

// fakeClock is a Clock that moves only when Advance is called.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan struct{} // a waiter was registered
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: clock, added: make(chan struct{}, 100)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.added <- struct{}{}
	return ch
}

// Advance moves the clock and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitIdle waits until Run waits on the clock again.
func (c *fakeClock) waitIdle(t *testing.T) {
	t.Helper()
	select {
	case <-c.added:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not come back to wait on the clock")
	}
}

// pendingPlan is the plan waiting for approval in sy's Store, or nil.
func pendingPlan(t testing.TB, sy *dirsync.Syncer) *dirsync.Plan {
	t.Helper()
	p, err := sy.PendingPlan(context.Background())
	require.NoError(t, err)
	return p
}

type runHarness struct {
	sy    *dirsync.Syncer
	dir   *fake.Directory
	sink  *dirsynctest.MemorySink
	clock *fakeClock
	runs  chan dirsync.RunRecord
	stop  func()
	done  chan error
}

func startRun(t *testing.T, mode dirsync.Mode, o *dirsync.Options, fail ...func(diff.Change) error) *runHarness {
	t.Helper()
	h := &runHarness{dir: fake.New(user("1", "alice", "Users"), user("2", "bob", "Users")),
		sink: dirsynctest.NewMemorySink(), clock: newFakeClock(), runs: make(chan dirsync.RunRecord, 100), done: make(chan error, 1)}
	if len(fail) > 0 {
		h.sink.Fail = fail[0]
	}
	if o == nil {
		o = &dirsync.Options{}
	}
	o.Clock = h.clock
	h.sy = newSyncer(t, h.dir, h.sink, o)
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() {
		h.done <- h.sy.Run(ctx, &dirsync.RunOptions{Mode: mode,
			Schedule: dirsync.Schedule{Every: time.Hour, Jitter: -1},
			OnRun:    func(r dirsync.RunRecord) { h.runs <- r }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	})
	return h
}

func (h *runHarness) nextRun(t *testing.T) dirsync.RunRecord {
	t.Helper()
	select {
	case r := <-h.runs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no run")
		return dirsync.RunRecord{}
	}
}

func TestRunScheduleAndSyncNow(t *testing.T) {
	h := startRun(t, dirsync.ModeAutomatic, nil)
	r := h.nextRun(t)
	assert.Equal(t, dirsync.TriggerStart, r.Trigger)
	assert.Equal(t, dirsync.OutcomeApplied, r.Outcome)
	assert.Equal(t, 2, r.Applied)
	h.clock.waitIdle(t)

	// Nothing happens before the hour is up.
	h.clock.Advance(59 * time.Minute)
	select {
	case r := <-h.runs:
		t.Fatalf("early run: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, h.dir.Set("1", "title", "Head of Sales"))
	h.clock.Advance(time.Minute)
	r = h.nextRun(t)
	assert.Equal(t, dirsync.TriggerSchedule, r.Trigger)
	assert.Equal(t, map[string]int{"update": 1}, r.Counts)
	h.clock.waitIdle(t)

	h.sy.SyncNow()
	r = h.nextRun(t)
	assert.Equal(t, dirsync.TriggerSyncNow, r.Trigger)
	assert.Equal(t, dirsync.OutcomeNoChanges, r.Outcome)

	runs, err := h.sy.History(context.Background())
	require.NoError(t, err)
	require.Len(t, runs, 3)
	assert.Equal(t, dirsync.TriggerSyncNow, runs[0].Trigger, "newest first")
}

func TestSyncNowCoalescesAndRunsNeverOverlap(t *testing.T) {
	release := make(chan struct{})
	var inApply, maxInApply atomic.Int32
	var armed atomic.Bool
	var once sync.Once
	holding := make(chan struct{}) // closed once a run holds its apply
	// Once armed, the first change applied waits for release, holding its
	// run while "sync now" is pressed many times from many goroutines.
	// Overlapping runs are detected as overlapping sink calls, which one
	// concurrent apply makes on purpose: this test applies one change at
	// a time (runs are serialised the same way either way).
	h := startRun(t, dirsync.ModeAutomatic, &dirsync.Options{ApplyConcurrency: 1}, func(diff.Change) error {
		n := inApply.Add(1)
		defer inApply.Add(-1)
		for {
			m := maxInApply.Load()
			if n <= m || maxInApply.CompareAndSwap(m, n) {
				break
			}
		}
		if armed.Load() {
			once.Do(func() { close(holding); <-release })
		}
		return nil
	})
	_ = h.nextRun(t) // the start run, unarmed
	h.clock.waitIdle(t)
	armed.Store(true)
	require.NoError(t, h.dir.Set("1", "title", "CFO"))
	h.sy.SyncNow()
	// The presses below must come while that run is in its apply, not
	// before it took the first press off the queue (then they would all
	// coalesce into it).
	select {
	case <-holding:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync-now run never reached its apply")
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); h.sy.SyncNow() }()
	}
	wg.Wait()
	// An Apply from the host waits for the run in progress, too.
	applied := make(chan error, 1)
	go func() {
		p, err := h.sy.Plan(context.Background())
		if err == nil {
			_, err = h.sy.Apply(context.Background(), p)
		}
		applied <- err
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	require.NoError(t, <-applied)
	first := h.nextRun(t)
	assert.Equal(t, dirsync.TriggerSyncNow, first.Trigger)
	second := h.nextRun(t)
	assert.Equal(t, dirsync.TriggerSyncNow, second.Trigger, "the presses during the run coalesce into one more run")
	select {
	case r := <-h.runs:
		t.Fatalf("a third run: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	assert.Equal(t, int32(1), maxInApply.Load(), "two applies overlapped")
}

func TestRunApprovalMode(t *testing.T) {
	h := startRun(t, dirsync.ModeApproval, nil)
	r := h.nextRun(t)
	assert.Equal(t, dirsync.OutcomeWaiting, r.Outcome)
	assert.Equal(t, map[string]int{"create": 2}, r.Counts)
	require.NotNil(t, pendingPlan(t, h.sy))
	assert.Empty(t, h.sink.Snapshot(), "nothing applied before approval")

	shown := pendingPlan(t, h.sy).Digest()
	rep, err := h.sy.ApprovePending(context.Background(), shown)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count(dirsync.StatusApplied))
	assert.Nil(t, pendingPlan(t, h.sy))
	_, err = h.sy.ApprovePending(context.Background(), shown)
	assert.ErrorIs(t, err, dirsync.ErrNoPendingPlan)

	// A plan that changed since it was shown is not applied.
	h.clock.waitIdle(t)
	require.NoError(t, h.dir.Disable("2"))
	h.sy.SyncNow()
	r = h.nextRun(t)
	require.Equal(t, dirsync.OutcomeWaiting, r.Outcome)
	require.NoError(t, h.dir.Set("1", "title", "CEO"))
	_, err = h.sy.ApprovePending(context.Background(), pendingPlan(t, h.sy).Digest())
	require.ErrorIs(t, err, dirsync.ErrPlanChanged)
	bob, _ := h.sink.Get("ad", "2")
	assert.False(t, bob.Blocked)
	// The new plan is pending; approving it applies it.
	assert.Equal(t, 1, pendingPlan(t, h.sy).Count(diff.OpUpdate))
	_, err = h.sy.ApprovePending(context.Background(), pendingPlan(t, h.sy).Digest())
	require.NoError(t, err)
	bob, _ = h.sink.Get("ad", "2")
	assert.True(t, bob.Blocked)

	runs, err := h.sy.History(context.Background())
	require.NoError(t, err)
	assert.Equal(t, dirsync.TriggerApproval, runs[0].Trigger)
	assert.True(t, runs[0].Approved || runs[0].Outcome == dirsync.OutcomeApplied)
}

func TestRunSafetyLimitWaitsEvenInAutomaticMode(t *testing.T) {
	pol, err := policy.New(policy.Config{Safety: policy.Safety{MaxRemovals: 1}})
	require.NoError(t, err)
	h := startRun(t, dirsync.ModeAutomatic, &dirsync.Options{Policy: pol})
	h.nextRun(t)
	h.clock.waitIdle(t)
	require.NoError(t, h.dir.Delete("1"))
	require.NoError(t, h.dir.Delete("2"))
	require.NoError(t, h.dir.Add(user("3", "carol", "Users")))
	h.sy.SyncNow()
	r := h.nextRun(t)
	assert.Equal(t, dirsync.OutcomeWaiting, r.Outcome)
	assert.NotEmpty(t, r.Safety)
	for _, a := range h.sink.Snapshot() {
		assert.False(t, a.Blocked)
	}
}

func TestRunPlanFailureIsRecorded(t *testing.T) {
	h := startRun(t, dirsync.ModeAutomatic, nil)
	h.nextRun(t)
	h.clock.waitIdle(t)
	h.dir.FailAfter(1, errors.New("connection reset"))
	h.sy.SyncNow()
	r := h.nextRun(t)
	assert.Equal(t, dirsync.OutcomePlanError, r.Outcome)
	assert.Contains(t, r.Error, "connection reset")
}

func TestOnAppliedHook(t *testing.T) {
	var got []string
	sy := newSyncer(t, fake.New(user("1", "alice", "Users")), dirsynctest.NewMemorySink(), &dirsync.Options{
		OnApplied: func(_ context.Context, r dirsync.Result) {
			got = append(got, r.Change.Op.String()+" "+r.Change.Reasons[0].Code)
		}})
	syncOnce(t, sy)
	assert.Equal(t, []string{"create source.new"}, got)
}

func TestScheduleNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, ny)
	assert.Equal(t, 2*time.Hour, dirsync.Schedule{Every: 2 * time.Hour}.Next(now, 0.5))
	assert.Equal(t, 2*time.Hour+6*time.Minute, dirsync.Schedule{Every: 2 * time.Hour, Jitter: 12 * time.Minute}.Next(now, 0.5))
	assert.Equal(t, 6*time.Hour, dirsync.Schedule{DailyAt: "18:00", Location: ny}.Next(now, 0))
	assert.Equal(t, 18*time.Hour, dirsync.Schedule{DailyAt: "06:00", Location: ny}.Next(now, 0))
	assert.Error(t, dirsync.Schedule{DailyAt: "25:00"}.Validate())
}

func TestPlanRemoval(t *testing.T) {
	sink := dirsynctest.NewMemorySink(
		diff.Account{Source: "google", ExternalID: "g1", Managed: true, Email: "g@example.test"},
		diff.Account{Email: "self@example.test"})
	ad := newSyncer(t, fake.New(user("1", "alice", "Users"), user("2", "bob", "Users")), sink, nil)
	syncOnce(t, ad)
	p, err := ad.PlanRemoval(context.Background())
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit, "removing an integration always needs approval")
	assert.Equal(t, 2, p.Count(diff.OpBlock))
	assert.Equal(t, 2, len(p.Changes), "other integrations and unmanaged accounts are not in the plan:\n%s", p)
	assert.True(t, p.Changes[0].HasReason(dirsync.ReasonIntegrationRemoved))
	p.Approve()
	_, err = ad.Apply(context.Background(), p)
	require.NoError(t, err)
	for _, a := range sink.Snapshot() {
		assert.Equal(t, a.Source == "ad", a.Blocked, "%+v", a)
	}
}

// Two integrations feed one sink; each keeps to its own accounts, and the
// same person in both is a conflict, not a duplicate.
func TestTwoIntegrations(t *testing.T) {
	sink := dirsynctest.NewMemorySink()
	corp := newSyncer(t, fake.New(user("1", "alice", "Users")), sink, &dirsync.Options{Source: "corp-ad"})
	sub := newSyncer(t, fake.New(user("x1", "alice", "Users"), user("x2", "zed", "Users")), sink, &dirsync.Options{Source: "subsidiary-ad"})
	syncOnce(t, corp)
	p, _ := syncOnce(t, sub)
	assert.Equal(t, 1, p.Count(diff.OpCreate))
	var conflict *diff.Change
	for i := range p.Changes {
		if p.Changes[i].HasReason(diff.ReasonConflictIntegration) {
			conflict = &p.Changes[i]
		}
	}
	require.NotNil(t, conflict, p.String())
	assert.Contains(t, conflict.Status(), "corp-ad")
	assert.Len(t, sink.Snapshot(), 2)
	p, err := corp.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Empty(), "corp-ad does not touch subsidiary-ad's accounts:\n%s", p)
}

func TestHistoryRetention(t *testing.T) {
	dir := fake.New(user("1", "alice", "Users"))
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{HistoryLimit: 3})
	for i := range 5 {
		require.NoError(t, dir.Set("1", "title", "T"+string(rune('0'+i))))
		syncOnce(t, sy)
	}
	runs, err := sy.History(context.Background())
	require.NoError(t, err)
	require.Len(t, runs, 3, "only the newest runs are kept")
	assert.Equal(t, 1, runs[0].Counts["update"])
	assert.True(t, runs[0].Started.Equal(runs[2].Started) || !runs[0].Started.Before(runs[2].Started), "newest first")
	assert.Equal(t, dirsync.TriggerApply, runs[0].Trigger)
}
