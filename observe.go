package dirsync

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/dirsync-go/dirsync/internal/planner"
)

// Observer watches a Syncer at work, as the work happens: what a host
// needs for metrics and traces. Package telemetry implements one on
// OpenTelemetry; set it as Options.Observer.
//
// The Syncer calls Start as each stage of its work begins. Start returns
// the context the stage goes on with — ctx itself, or a context derived
// from it, such as one carrying a trace span, so that what the stage calls
// (the connector, the sink) sees it — and the function the Syncer calls
// once, as the stage ends, with what came of it. The stages nest:
//
//	StageRun      a run of Run or RunOnce: scheduled, "sync now", a job
//	  StagePlan   Syncer.Plan: state, removal budget, read, diff, safety
//	    StageRead the read of the directory (mapping as entries arrive)
//	  StageApply  carrying out a plan (or refusing it)
//
// Apply, ApplyShown and ApprovePending are not runs: their plan and apply
// stages begin under the caller's context (its request's span, say).
//
// Start and the end function are called on the goroutine doing the work,
// from several goroutines at once when several Syncers share the
// Observer or a host plans while a run goes on, so they must be safe for
// concurrent use and return quickly. A panic in them is logged and
// otherwise ignored. A nil Observer costs nothing.
type Observer interface {
	Start(ctx context.Context, s StageStart) (context.Context, func(StageEnd))
}

// Stage names a stage of a Syncer's work (Observer).
type Stage string

// The stages.
const (
	StageRun   Stage = "run"
	StagePlan  Stage = "plan"
	StageRead  Stage = "read"
	StageApply Stage = "apply"
)

// StageStart describes a stage as it begins.
type StageStart struct {
	Stage Stage
	// Source is the integration (Options.Source).
	Source string
	// Trigger is what started the run (StageRun, StageApply).
	Trigger Trigger
	// Incremental is set on a StageRead that reads only the changes since
	// the saved cursor.
	Incremental bool
}

// StageEnd is what came of a stage.
type StageEnd struct {
	// Err is the stage's error, nil when it succeeded. A plan over the
	// safety limits ends with an error wrapping ErrSafetyLimit, and its
	// Plan set. A stage a panic left (in the connector, the mapping) ends
	// with an error wrapping ErrPanic; the run's names the panic.
	Err error
	// Entries is how many entries a StageRead returned.
	Entries int
	// Plan is the plan a StagePlan made; nil when it made none.
	Plan *Plan
	// Report is what a StageApply did, change by change; nil when it
	// applied nothing (a plan refused, say).
	Report *Report
	// Run is the record of a StageRun, as History keeps it: its outcome,
	// counts, and what waits for approval (a safety hold: Safety set, and
	// Outcome OutcomeWaiting or Held above 0). Nil when the run did not
	// start (ctx was done while it waited for the integration's lock).
	Run *RunRecord
	// Budget is the removal budget as a StageRun or StageApply ended; nil
	// when it could not be read.
	Budget *Budget
}

// observe begins a stage for the Observer. Without one it returns ctx and
// a function that does nothing.
func (s *Syncer) observe(ctx context.Context, st StageStart) (context.Context, func(StageEnd)) {
	if s.observer == nil {
		return ctx, ignoreEnd
	}
	st.Source = s.source
	octx, end := ctx, func(StageEnd) {}
	s.guard(ctx, "Observer.Start", func() {
		if c, e := s.observer.Start(ctx, st); c != nil {
			octx, end = c, e
		} else {
			end = e
		}
	})
	return octx, func(e StageEnd) {
		if end == nil {
			return
		}
		if st.Stage == StageRun || st.Stage == StageApply {
			if b, err := s.RemovalBudget(context.WithoutCancel(ctx)); err == nil {
				e.Budget = &b
			}
		}
		s.guard(ctx, "Observer end of "+string(st.Stage), func() { end(e) })
	}
}

func ignoreEnd(StageEnd) {}

// stagePanicked ends a stage left by a panic (which goes on: a run records
// it, and its value, as the run's error).
var stagePanicked = StageEnd{Err: fmt.Errorf("%w (the stage did not finish)", ErrPanic)}

// ranRecord is rec when a run happened.
func ranRecord(ran bool, rec *RunRecord) *RunRecord {
	if !ran {
		return nil
	}
	return rec
}

// observeRead is the planner's hook for StageRead; nil without an
// Observer.
func (s *Syncer) observeRead() func(context.Context, bool) (context.Context, func(int, error)) {
	if s.observer == nil {
		return nil
	}
	return func(ctx context.Context, incremental bool) (context.Context, func(int, error)) {
		ctx, end := s.observe(ctx, StageStart{Stage: StageRead, Incremental: incremental})
		return ctx, func(n int, err error) {
			if errors.Is(err, planner.ErrPanicked) {
				err = stagePanicked.Err
			}
			end(StageEnd{Entries: n, Err: err})
		}
	}
}

// guard calls f, logging and dropping a panic in it.
func (s *Syncer) guard(ctx context.Context, in string, f func()) {
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "panic", "in", in, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	f()
}
