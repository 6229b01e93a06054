package dirsync_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
)

// stagePath is the context key under which pathObserver nests the stages.
type stagePath struct{}

func pathOf(ctx context.Context) string {
	p, _ := ctx.Value(stagePath{}).(string)
	return p
}

// pathObserver is an Observer as a host writes one: it records each stage
// as it begins and ends, and derives a context naming the stages it is in,
// as a tracer's span would.
type pathObserver struct {
	mu     sync.Mutex
	events []string
	ends   map[dirsync.Stage][]dirsync.StageEnd
}

func (o *pathObserver) Start(ctx context.Context, s dirsync.StageStart) (context.Context, func(dirsync.StageEnd)) {
	path := strings.TrimPrefix(pathOf(ctx)+"/"+string(s.Stage), "/")
	o.mu.Lock()
	o.events = append(o.events, fmt.Sprintf("start %s %s trigger=%s incremental=%v", path, s.Source, s.Trigger, s.Incremental))
	o.mu.Unlock()
	return context.WithValue(ctx, stagePath{}, path), func(e dirsync.StageEnd) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.events = append(o.events, "end "+path)
		if o.ends == nil {
			o.ends = map[dirsync.Stage][]dirsync.StageEnd{}
		}
		o.ends[s.Stage] = append(o.ends[s.Stage], e)
	}
}

func (o *pathObserver) take() ([]string, map[dirsync.Stage][]dirsync.StageEnd) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev, ends := o.events, o.ends
	o.events, o.ends = nil, nil
	return ev, ends
}

// seenConnector records the stage path its reads run in.
type seenConnector struct {
	c    connector.Connector
	mu   sync.Mutex
	seen []string
}

func (c *seenConnector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	c.mu.Lock()
	c.seen = append(c.seen, pathOf(ctx))
	c.mu.Unlock()
	return c.c.Read(ctx)
}

// seenSink records the stage path each change is applied in.
type seenSink struct {
	*dirsynctest.MemorySink
	mu   sync.Mutex
	seen map[string]bool
}

func (s *seenSink) Apply(ctx context.Context, c diff.Change) error {
	s.mu.Lock()
	s.seen[pathOf(ctx)] = true
	s.mu.Unlock()
	return s.MemorySink.Apply(ctx, c)
}

// An Observer sees each run begin and end, with the plan, read and apply
// stages nested in it; the contexts it returns reach the connector and the
// sink; the ends carry the plan, the report, the run's record (a failed
// change, then a safety hold) and the removal budget.
func TestObserverSeesStagesOfARun(t *testing.T) {
	dir := &seenConnector{c: fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"), user("3", "carol", "Users"),
		user("4", "dave", "Users"))}
	sink := &seenSink{MemorySink: dirsynctest.NewMemorySink(), seen: map[string]bool{}}
	sink.Fail = func(c diff.Change) error {
		if c.Op == diff.OpCreate && c.After.ExternalID == "2" {
			return errors.New("app refused bob")
		}
		return nil
	}
	pol, err := policy.New(policy.Config{Safety: policy.Safety{MaxRemovals: 1}})
	require.NoError(t, err)
	obs := &pathObserver{}
	sy := newSyncer(t, dir, sink, &dirsync.Options{Source: "hr-ad", Policy: pol, Observer: obs})
	ctx := context.Background()

	rec, err := sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.Error(t, err, "bob's create failed")
	assert.Equal(t, dirsync.OutcomeFailed, rec.Outcome)
	events, ends := obs.take()
	assert.Equal(t, []string{
		"start run hr-ad trigger=sync-now incremental=false",
		"start run/plan hr-ad trigger= incremental=false",
		"start run/plan/read hr-ad trigger= incremental=false",
		"end run/plan/read",
		"end run/plan",
		"start run/apply hr-ad trigger=sync-now incremental=false",
		"end run/apply",
		"end run",
	}, events)
	assert.Equal(t, []string{"run/plan/read"}, dir.seen, "the connector reads in the read stage's context")
	assert.Equal(t, map[string]bool{"run/apply": true}, sink.seen, "the sink applies in the apply stage's context")
	require.Len(t, ends[dirsync.StageRead], 1)
	assert.Equal(t, 4, ends[dirsync.StageRead][0].Entries)
	require.Len(t, ends[dirsync.StagePlan], 1)
	assert.Equal(t, 4, ends[dirsync.StagePlan][0].Plan.Count(diff.OpCreate))
	apply := ends[dirsync.StageApply][0]
	require.NotNil(t, apply.Report)
	assert.Equal(t, 3, apply.Report.Count(dirsync.StatusApplied))
	assert.Equal(t, 1, apply.Report.Count(dirsync.StatusFailed))
	var ce *dirsync.ChangeError
	assert.ErrorAs(t, apply.Err, &ce)
	run := ends[dirsync.StageRun][0]
	require.NotNil(t, run.Run)
	assert.Equal(t, rec, *run.Run)
	assert.Error(t, run.Err)
	require.NotNil(t, run.Budget)
	assert.Equal(t, 1, run.Budget.MaxRemovals)

	// Alice and Carol leave: two removals over a limit of one are held,
	// and Bob's create (the sink takes it now) applies.
	sink.Fail = nil
	inner := dir.c.(*fake.Directory)
	require.NoError(t, inner.Delete("1"))
	require.NoError(t, inner.Delete("3"))
	rec, err = sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	assert.Equal(t, 2, rec.Held)
	_, ends = obs.take()
	run = ends[dirsync.StageRun][0]
	require.NotNil(t, run.Run)
	assert.Equal(t, 2, run.Run.Held)
	assert.NotEmpty(t, run.Run.Safety)
	assert.ErrorIs(t, ends[dirsync.StagePlan][0].Err, dirsync.ErrSafetyLimit, "the plan stage ends over the limits")
	assert.Equal(t, 1, ends[dirsync.StageApply][0].Report.Count(dirsync.StatusApplied), "bob, not the removals")
	require.NotNil(t, run.Budget)
	assert.Equal(t, 0, run.Budget.Used, "nothing was removed")
}

// Outside a run (Apply, a preview's Plan) the stages begin under the
// caller's context; an incremental read says so.
func TestObserverOutsideARun(t *testing.T) {
	dir := fake.New(user("1", "alice", "Users"))
	obs := &pathObserver{}
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Observer: obs})
	ctx := context.WithValue(context.Background(), stagePath{}, "request")
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	require.NoError(t, dir.Set("1", "title", "Engineer"))
	_, err = sy.Plan(ctx)
	require.NoError(t, err)
	events, ends := obs.take()
	assert.Equal(t, []string{
		"start request/plan ad trigger= incremental=false",
		"start request/plan/read ad trigger= incremental=false",
		"end request/plan/read",
		"end request/plan",
		"start request/apply ad trigger=apply incremental=false",
		"end request/apply",
		"start request/plan ad trigger= incremental=false",
		"start request/plan/read ad trigger= incremental=true",
		"end request/plan/read",
		"end request/plan",
	}, events)
	assert.Equal(t, 1, ends[dirsync.StageRead][1].Entries, "the one changed entry")
	require.NotNil(t, ends[dirsync.StageApply][0].Budget)
}

// panicObserver panics in Start or in the end function.
type panicObserver struct{ inEnd bool }

func (o panicObserver) Start(ctx context.Context, s dirsync.StageStart) (context.Context, func(dirsync.StageEnd)) {
	if !o.inEnd {
		panic("observer broke")
	}
	return ctx, func(dirsync.StageEnd) { panic("observer broke at the end") }
}

// A broken Observer fails nothing but itself.
func TestObserverPanicFailsNothing(t *testing.T) {
	for _, inEnd := range []bool{false, true} {
		sink := dirsynctest.NewMemorySink()
		sy := newSyncer(t, fake.New(user("1", "alice", "Users")), sink, &dirsync.Options{Observer: panicObserver{inEnd}})
		rec, err := sy.RunOnce(context.Background(), dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
		require.NoError(t, err, "inEnd=%v", inEnd)
		assert.Equal(t, dirsync.OutcomeApplied, rec.Outcome)
		assert.Len(t, sink.Snapshot(), 1)
	}
}

// panicConnector panics in the middle of its read.
type panicConnector struct{}

func (panicConnector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		if yield(user("1", "alice", "Users"), nil) {
			panic("connector bug")
		}
	}
}

// A panic in the connector ends every stage it was in, with an error
// wrapping ErrPanic: the run's names the panic.
func TestObserverSeesAPanicEndEveryStage(t *testing.T) {
	obs := &pathObserver{}
	sy := newSyncer(t, panicConnector{}, dirsynctest.NewMemorySink(), &dirsync.Options{Observer: obs})
	rec, err := sy.RunOnce(context.Background(), dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.ErrorIs(t, err, dirsync.ErrPanic)
	assert.Equal(t, dirsync.OutcomePlanError, rec.Outcome)
	events, ends := obs.take()
	assert.Equal(t, []string{
		"start run ad trigger=sync-now incremental=false",
		"start run/plan ad trigger= incremental=false",
		"start run/plan/read ad trigger= incremental=false",
		"end run/plan/read",
		"end run/plan",
		"end run",
	}, events)
	for _, stage := range []dirsync.Stage{dirsync.StageRead, dirsync.StagePlan, dirsync.StageRun} {
		require.Len(t, ends[stage], 1, stage)
		assert.ErrorIs(t, ends[stage][0].Err, dirsync.ErrPanic, stage)
	}
	assert.Equal(t, 1, ends[dirsync.StageRead][0].Entries)
	assert.Contains(t, ends[dirsync.StageRun][0].Err.Error(), "connector bug")
}
