package dirsync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"
)

// Schedule says when Run syncs.
type Schedule struct {
	// Every is the interval between runs. Default 2 hours.
	Every time.Duration `json:"every,omitempty"`
	// Jitter adds a random delay of up to this much to each interval, so
	// that many integrations do not hit their directories at once.
	// Default Every/10; negative for none.
	Jitter time.Duration `json:"jitter,omitempty"`
	// DailyAt, "15:04", runs once a day at that time in Location (default
	// time.Local) instead of every interval.
	DailyAt  string         `json:"dailyAt,omitempty"`
	Location *time.Location `json:"-"`
}

// Mode says what a scheduled run does with its plan.
type Mode int

const (
	// ModeAutomatic applies every plan within the safety limits.
	ModeAutomatic Mode = iota
	// ModeApproval stops at "plan ready, waiting for approval": the plan is
	// kept as Pending until ApprovePending applies it.
	ModeApproval
)

func (m Mode) String() string {
	if m == ModeApproval {
		return "approval"
	}
	return "automatic"
}

// RunOptions configure Run. A nil *RunOptions means the defaults.
type RunOptions struct {
	Schedule Schedule
	Mode     Mode
	// SkipInitial waits for the first scheduled time instead of syncing
	// when Run starts.
	SkipInitial bool
	// OnRun, if set, is called after each run is recorded.
	OnRun func(RunRecord)
}

// Outcome is what became of a run, as History records it.
type Outcome string

// The outcomes of a run.
const (
	// OutcomeApplied: the plan was applied, every change of it.
	OutcomeApplied Outcome = "applied"
	// OutcomeFailed: the plan was applied in part; some changes failed or
	// were not attempted (RunRecord.Failures).
	OutcomeFailed Outcome = "failed"
	// OutcomeNoChanges: the directory and the app were in step.
	OutcomeNoChanges Outcome = "no-changes"
	// OutcomeWaiting: the plan waits for approval (PendingPlan).
	OutcomeWaiting Outcome = "waiting-for-approval"
	// OutcomePlanError: no plan could be made (RunRecord.Error).
	OutcomePlanError Outcome = "plan-failed"
)

// Trigger is what started a run, as History records it.
type Trigger string

// The triggers of a run.
const (
	// TriggerStart: Run started (unless RunOptions.SkipInitial).
	TriggerStart Trigger = "start"
	// TriggerSchedule: the schedule came.
	TriggerSchedule Trigger = "schedule"
	// TriggerSyncNow: SyncNow was called.
	TriggerSyncNow Trigger = "sync-now"
	// TriggerApproval: ApprovePending applied a pending plan.
	TriggerApproval Trigger = "approval"
	// TriggerApply: Apply or ApplyShown was called directly.
	TriggerApply Trigger = "apply"
)

func (o *RunOptions) withDefaults() RunOptions {
	var r RunOptions
	if o != nil {
		r = *o
	}
	if r.Schedule.Every <= 0 {
		r.Schedule.Every = 2 * time.Hour
	}
	if r.Schedule.Jitter == 0 {
		r.Schedule.Jitter = r.Schedule.Every / 10
	}
	if r.Schedule.Location == nil {
		r.Schedule.Location = time.Local
	}
	return r
}

// Validate reports a schedule that cannot run.
func (sc Schedule) Validate() error {
	if sc.DailyAt != "" {
		if _, err := time.Parse("15:04", sc.DailyAt); err != nil {
			return fmt.Errorf("dirsync: schedule dailyAt %q: want HH:MM", sc.DailyAt)
		}
	}
	return nil
}

// Next returns the delay from now to the next run. jitter is a number in
// [0, 1) that scales the schedule's Jitter.
func (sc Schedule) Next(now time.Time, jitter float64) time.Duration {
	if sc.DailyAt != "" {
		at, _ := time.Parse("15:04", sc.DailyAt)
		loc := sc.Location
		if loc == nil {
			loc = time.Local
		}
		local := now.In(loc)
		next := time.Date(local.Year(), local.Month(), local.Day(), at.Hour(), at.Minute(), 0, 0, loc)
		if !next.After(local) {
			next = next.AddDate(0, 0, 1)
		}
		return next.Sub(local)
	}
	d := sc.Every
	if sc.Jitter > 0 {
		d += time.Duration(jitter * float64(sc.Jitter))
	}
	return d
}

// Run syncs on the schedule until ctx is cancelled, and whenever SyncNow is
// called. Runs of one Syncer never overlap. Cancelling ctx stops Run; an
// apply in progress finishes the change it is on and stops (its report
// marks the rest as not attempted, and the next run plans them again).
// Run returns ctx's error.
func (s *Syncer) Run(ctx context.Context, opts *RunOptions) error {
	o := opts.withDefaults()
	if err := o.Schedule.Validate(); err != nil {
		return err
	}
	defer s.nextRun.Store(nil)
	if !o.SkipInitial {
		s.runOnce(ctx, TriggerStart, o)
	}
	for {
		now := s.clock.Now()
		wait := o.Schedule.Next(now, rand.Float64())
		next := now.Add(wait)
		s.nextRun.Store(&next)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clock.After(wait):
			s.nextRun.Store(nil)
			s.runOnce(ctx, TriggerSchedule, o)
		case <-s.syncNow:
			s.nextRun.Store(nil)
			s.runOnce(ctx, TriggerSyncNow, o)
		}
	}
}

// SyncNow asks Run to sync at once. Presses while a run is going or
// already requested coalesce into one run. It never blocks.
func (s *Syncer) SyncNow() {
	select {
	case s.syncNow <- struct{}{}:
	default:
	}
}

// runOnce is one scheduled or requested run. It returns the run's
// record, whether a run happened (not when ctx was done before it began),
// and the run's error: a plan that could not be made, changes that failed,
// bookkeeping that failed (cursor, removal budget, pending plan, history).
// The record goes to OnRun, whose panic is recovered.
func (s *Syncer) runOnce(ctx context.Context, trigger Trigger, o RunOptions) (rec RunRecord, ran bool, err error) {
	if ctx.Err() != nil {
		return RunRecord{}, false, nil
	}
	ctx, end := s.observe(ctx, StageStart{Stage: StageRun, Trigger: trigger})
	defer func() { end(StageEnd{Err: err, Run: ranRecord(ran, &rec)}) }()
	ctx, release, lerr := s.acquire(ctx)
	if lerr != nil {
		if ctx.Err() != nil {
			return RunRecord{}, false, nil
		}
		return RunRecord{Started: s.now(), Finished: s.now(), Trigger: trigger, Mode: o.Mode.String(),
			Outcome: OutcomePlanError, Error: lerr.Error()}, true, lerr
	}
	defer release()
	mode := o.Mode.String()
	// finish records a run that applied nothing.
	finish := func(r RunRecord, runErr error) {
		r.Trigger, r.Mode = trigger, mode
		if r.ID == "" {
			r.ID = newRunID(r.Started)
		}
		if lost := stillHeld(ctx); lost != nil {
			// Another replica may run now: the record is returned, not
			// written.
			rec, ran, err = r, true, errors.Join(runErr, lost)
			return
		}
		s.pruneLog(ctx)
		if werr := s.recordRun(ctx, r); werr != nil {
			werr = fmt.Errorf("dirsync: run not recorded in History: %w", werr)
			runErr = errors.Join(runErr, werr)
			if r.Outcome != OutcomePlanError {
				r.Outcome = OutcomeFailed
			}
			r.Error = strings.TrimPrefix(r.Error+"\n"+werr.Error(), "\n")
		}
		rec, ran, err = r, true, runErr
	}
	start := s.now()
	defer func() {
		// A panic in the connector, the mapping or the sink fails this
		// run, not the schedule: later runs, and the host's other
		// integrations, go on.
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "run: panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			finish(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomePlanError,
				Error: fmt.Sprintf("%v: %v", ErrPanic, v)}, fmt.Errorf("dirsync: run: %w: %v", ErrPanic, v))
		}
		if ran {
			s.onRun(ctx, o.OnRun, rec)
		}
	}()
	plan, perr := s.Plan(ctx)
	switch {
	case perr != nil && !errors.Is(perr, ErrSafetyLimit):
		s.log.WarnContext(ctx, "run: plan failed", "err", perr)
		finish(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomePlanError, Error: perr.Error()},
			fmt.Errorf("dirsync: run: plan failed: %w", perr))
		return
	case plan.Empty() && plan.Safety == nil:
		books := s.setPending(ctx, nil, false)
		// Nothing to apply, but the read moved the cursor on.
		if plan.cursor != nil {
			if cerr := s.saveCursor(ctx, plan, nil); cerr != nil {
				books = errors.Join(books, fmt.Errorf("dirsync: save the cursor (the changes will be read again): %w", cerr))
			}
		}
		r := RunRecord{Started: start, Finished: s.now(), Outcome: OutcomeNoChanges, Full: !plan.Incremental, Counts: counts(plan)}
		if books != nil {
			r.Outcome, r.Error = OutcomeFailed, books.Error()
		}
		finish(r, books)
		return
	case o.Mode == ModeApproval || plan.Safety != nil && plan.Safety.Suspect():
		// Everything waits: the admin reviews every plan, or the read
		// itself is suspect (empty, or none of the managed accounts found).
		finish(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomeWaiting, Full: !plan.Incremental, Counts: counts(plan),
			Safety: safetyText(plan), Plan: plan.Digest()}, s.setPending(ctx, plan, false))
		return
	case plan.Safety != nil:
		// Over the removal limits: the removals wait for approval, and
		// everything else of the plan applies now.
		safe, held := plan.split(s.isRemoval)
		books := s.setPending(ctx, held, true)
		if safe.Actionable() == 0 {
			finish(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomeWaiting, Full: !plan.Incremental,
				Counts: counts(plan), Safety: safetyText(plan), Plan: held.Digest(), Held: held.Actionable()}, books)
			return
		}
		_, run, aerr := s.apply(ctx, safe, trigger, mode, func(r *RunRecord) {
			r.Held, r.Plan, r.Safety = held.Actionable(), held.Digest(), safetyText(plan)
			if r.Outcome == OutcomeApplied {
				r.Outcome = OutcomeWaiting
			}
		})
		return run, true, errors.Join(aerr, books)
	}
	books := s.setPending(ctx, nil, false)
	_, run, aerr := s.apply(ctx, plan, trigger, mode, nil)
	if aerr != nil {
		s.log.WarnContext(ctx, "run: apply", "err", aerr)
	}
	return run, true, errors.Join(aerr, books)
}

// onRun calls the host's OnRun, recovering a panic in it: a broken hook
// fails nothing but itself.
func (s *Syncer) onRun(ctx context.Context, f func(RunRecord), r RunRecord) {
	if f == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "panic", "in", "OnRun", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	f(r)
}

func counts(p *Plan) map[string]int {
	out := map[string]int{}
	for _, c := range p.Changes {
		if c.Op.Actionable() {
			out[c.Op.String()]++
		}
	}
	return out
}

func safetyText(p *Plan) string {
	if p.Safety == nil {
		return ""
	}
	return p.Safety.Error()
}

// RunOnce is one run as Run makes it, for a host that schedules runs
// itself, such as a job queue (package riversync runs it from River jobs):
// it plans, then applies the plan (ModeAutomatic, within the safety limits)
// or leaves it pending (ModeApproval, or over the limits), records the run
// in History and returns its record. trigger is recorded as the run's
// Trigger.
//
// Runs of one Syncer never overlap; two Syncers of one integration in two
// processes do not either when their Store locks across processes
// (store.Locker: store/pgstore does), since every run takes the
// integration's lock through it. A run whose plan failed, whose apply failed
// or was interrupted, or that did not start because ctx was done, returns
// an error with its record.
func (s *Syncer) RunOnce(ctx context.Context, trigger Trigger, mode Mode) (RunRecord, error) {
	rec, ran, err := s.runOnce(ctx, trigger, RunOptions{Mode: mode})
	if !ran {
		return rec, fmt.Errorf("dirsync: run not started: %w", context.Cause(ctx))
	}
	if err == nil && rec.Outcome == OutcomeFailed {
		err = fmt.Errorf("dirsync: run: %d changes failed or were not attempted", rec.Failed+notAttempted(rec))
	}
	return rec, err
}

func notAttempted(r RunRecord) int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return max(0, n-r.Applied-r.Failed-r.Skipped)
}

// NextRun returns when Run will sync next on its schedule (a SyncNow
// comes sooner), for an "Integrations" page. It is the zero time while no
// Run of this Syncer is waiting: before Run starts, during a run, and after
// Run returned.
func (s *Syncer) NextRun() time.Time {
	if t := s.nextRun.Load(); t != nil {
		return *t
	}
	return time.Time{}
}
