package dirsync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/diff"
)

// Clock is the time source of Run. The default is the system clock; tests
// pass one they advance by hand.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

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
	// Clock defaults to the system clock.
	Clock Clock
	// OnRun, if set, is called after each run is recorded.
	OnRun func(RunRecord)
}

// Run outcomes, as History records them.
const (
	OutcomeApplied   = "applied"
	OutcomeFailed    = "failed"
	OutcomeNoChanges = "no-changes"
	OutcomeWaiting   = "waiting-for-approval"
	OutcomePlanError = "plan-failed"
)

// ErrNoPendingPlan is returned by ApprovePending when no plan waits.
var ErrNoPendingPlan = errors.New("dirsync: no plan is waiting for approval")

// ErrPlanChanged is returned by ApprovePending when the directory or the app
// changed since the pending plan was made: the admin approved a plan that
// no longer describes what would happen. The new plan is pending instead.
var ErrPlanChanged = errors.New("dirsync: the plan changed since it was shown; review the new plan")

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
	if r.Clock == nil {
		r.Clock = systemClock{}
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
		s.runOnce(ctx, "start", o)
	}
	for {
		now := o.Clock.Now()
		wait := o.Schedule.Next(now, rand.Float64())
		next := now.Add(wait)
		s.nextRun.Store(&next)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.Clock.After(wait):
			s.nextRun.Store(nil)
			s.runOnce(ctx, "schedule", o)
		case <-s.syncNow:
			s.nextRun.Store(nil)
			s.runOnce(ctx, "sync-now", o)
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

// Pending returns the plan waiting for approval as this Syncer last left
// it, or nil. The plan is also kept in the Store (see PendingPlan), where
// it survives a restart and other replicas see it.
func (s *Syncer) Pending() *Plan {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	return s.pending
}

// ApprovePending applies the plan waiting for approval, the one whose
// Digest the admin was shown. When another plan has replaced it meanwhile
// (a later run found more to do), nothing is applied and the error wraps
// ErrPlanChanged: the admin must look at the new one.
//
// The pending plan is read from the Store (PendingPlan), so an admin can
// approve on any replica a plan another one made, also after a restart.
//
// It plans again first: if anything but timestamps differs from the plan
// the admin saw, nothing is applied, the new plan becomes pending and the
// error wraps ErrPlanChanged. Exceptions added since (AddException) are
// part of that new plan, so "add exceptions, then approve" is:
// AddException, then ApprovePending with the shown digest — which answers
// ErrPlanChanged with the new plan pending — then ApprovePending with the
// new plan's digest once the admin has seen it.
func (s *Syncer) ApprovePending(ctx context.Context, digest string) (*Report, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	seen, err := s.PendingPlan(ctx)
	if err != nil {
		return nil, err
	}
	if seen == nil {
		return nil, ErrNoPendingPlan
	}
	if d := seen.Digest(); d != digest {
		return nil, fmt.Errorf("dirsync: approve: the pending plan is %s, not the %q shown: %w", short(d), short(digest), ErrPlanChanged)
	}
	fresh, err := s.Plan(ctx)
	if err != nil && !errors.Is(err, ErrSafetyLimit) {
		return nil, err
	}
	if fresh.Digest() != digest {
		s.setPending(ctx, fresh)
		s.recordRun(ctx, RunRecord{Started: fresh.Created, Finished: s.now(), Trigger: "approval", Mode: ModeApproval.String(),
			Outcome: OutcomeWaiting, Counts: counts(fresh), Safety: safetyText(fresh), Plan: fresh.Digest(),
			Full: !fresh.Incremental})
		return nil, fmt.Errorf("dirsync: approve: %w", ErrPlanChanged)
	}
	fresh.Approve()
	s.setPending(ctx, nil)
	return s.apply(ctx, fresh, "approval", ModeApproval.String())
}

// runOnce is one scheduled or requested run.
func (s *Syncer) runOnce(ctx context.Context, trigger string, o RunOptions) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if ctx.Err() != nil {
		return
	}
	rec := func(r RunRecord) {
		r.Trigger, r.Mode = trigger, o.Mode.String()
		s.recordRun(ctx, r)
		if o.OnRun != nil {
			o.OnRun(r)
		}
	}
	start := s.now()
	defer func() {
		// A panic in the connector, the mapping or the sink fails this
		// run, not the schedule: later runs, and the host's other
		// integrations, go on.
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "run: panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			rec(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomePlanError,
				Error: fmt.Sprintf("%v: %v", ErrPanic, v)})
		}
	}()
	plan, err := s.Plan(ctx)
	switch {
	case err != nil && !errors.Is(err, ErrSafetyLimit):
		s.log.WarnContext(ctx, "run: plan failed", "err", err)
		rec(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomePlanError, Error: err.Error()})
		return
	case plan.Empty() && plan.Safety == nil:
		s.setPending(ctx, nil)
		// Nothing to apply, but the read moved the cursor on.
		if plan.cursor != nil {
			if err := s.saveCursor(ctx, plan, nil); err != nil {
				s.log.WarnContext(ctx, "run: save cursor", "err", err)
			}
		}
		rec(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomeNoChanges, Full: !plan.Incremental, Counts: counts(plan)})
		return
	case o.Mode == ModeApproval || plan.Safety != nil:
		s.setPending(ctx, plan)
		rec(RunRecord{Started: start, Finished: s.now(), Outcome: OutcomeWaiting, Full: !plan.Incremental, Counts: counts(plan),
			Safety: safetyText(plan), Plan: plan.Digest()})
		return
	}
	s.setPending(ctx, nil)
	if _, err := s.apply(ctx, plan, trigger, o.Mode.String()); err != nil {
		s.log.WarnContext(ctx, "run: apply", "err", err)
	}
	if o.OnRun != nil {
		if runs, err := s.History(context.WithoutCancel(ctx)); err == nil && len(runs) > 0 {
			o.OnRun(runs[0])
		}
	}
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

// ReasonIntegrationRemoved marks the changes of PlanRemoval.
const ReasonIntegrationRemoved = "integration.removed"

// PlanRemoval returns the plan for removing this integration: every
// account it manages is blocked (or deleted, or left, as the lifecycle
// policy says for accounts that left the directory), and no other
// integration's account or unmanaged account is touched. The directory is
// not read. Such a plan always exceeds the safety limits (it empties the
// source), so Apply carries it out only after Plan.Approve.
func (s *Syncer) PlanRemoval(ctx context.Context) (*Plan, error) {
	current, err := s.accounts(ctx)
	if err != nil {
		return nil, err
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return nil, err
	}
	dp := diff.Compute(diff.Input{Source: s.source, Current: current, Options: s.policy.Options(s.now(), extra...)})
	kept := dp.Changes[:0]
	for _, c := range dp.Changes {
		if c.Before == nil || c.Before.Source != s.source || !c.Before.Managed {
			continue // unmanaged accounts are not this plan's business
		}
		for i, r := range c.Reasons {
			if r.Code == diff.ReasonDeleted {
				c.Reasons[i] = diff.Reason{Code: ReasonIntegrationRemoved,
					Detail: "The integration " + s.source + " is being removed" + strings.TrimPrefix(r.Detail, "No longer in the directory")}
			}
		}
		kept = append(kept, c)
	}
	dp.Changes = kept
	plan := &Plan{Plan: *dp, Created: s.now()}
	plan.Managed = managedIn(current, s.source)
	s.seal(plan)
	if err := s.checkSafety(plan); err != nil {
		return plan, err
	}
	return plan, nil
}
