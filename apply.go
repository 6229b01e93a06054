package dirsync

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/internal/planner"
	"github.com/dirsync-go/dirsync/internal/seal"
	"github.com/dirsync-go/dirsync/policy"
)

// Apply carries out the plan's changes in order and returns a Report of
// every change. It goes on past a failed change; the returned error joins a
// *ChangeError for each failure. When ctx is cancelled, Apply finishes no
// further change and the report marks the rest as not attempted.
//
// Apply trusts nothing a host can change in the Plan value:
//   - It checks the safety limits itself, on the changes it is given and
//     with the numbers the Syncer made the plan with (for a Plan value the
//     Syncer did not make, with the sink's own count of managed accounts).
//     A plan over the limits is refused, with an error wrapping
//     ErrSafetyLimit, unless every one of its changes was approved
//     (Plan.Approve, Plan.ApproveDigest).
//   - It applies under the exceptions as they are now: a change to an
//     account that became an exception after the plan was made is skipped
//     (StatusSkipped, with the exception as its reason), as is a change to
//     an account another integration manages.
//   - It saves the connector's cursor only when every change of the plan
//     as made applied: a subset (Plan.Search, or any selection) applies
//     its changes and leaves the cursor, so what was left out is planned
//     again by the next run.
//
// With Options.ApplyConcurrency (or a ConcurrentSink) above 1, calls to
// the sink overlap, and the plan's meaning is kept: departments first, one
// at a time, parents before children; then the creates; then updates and
// unblocks; then blocks and deletes, each kind starting only when the one
// before has ended (a manager is created before the updates that point at
// it, and nobody is blocked while the creates are still going); the changes
// of one account in plan order, one at a time. Cancelling ctx starts no new
// call and waits for those in flight. The Report lists each change once,
// in plan order, whatever the interleaving; the safety limits, the
// approval check, exceptions at apply time and the cursor rule are the
// same as for one change at a time, and OnApplied and Progress are called
// one at a time.
//
// A panic in the sink's Apply or in Options.OnApplied is recovered and
// reported as that change's failure (its error wraps ErrPanic); Apply goes
// on with the next change, and the cursor stays where it was.
func (s *Syncer) Apply(ctx context.Context, p *Plan) (*Report, error) {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	r, _, err := s.apply(ctx, p, TriggerApply, "", nil)
	return r, err
}

// ErrPanic is wrapped by the error of a change whose sink Apply or
// OnApplied hook panicked.
var ErrPanic = errors.New("dirsync: panic")

// ReasonExceptionAtApply marks a change skipped by Apply because its
// account became an exception after the plan was made.
const ReasonExceptionAtApply = "policy.exception-at-apply"

// ReasonForeign marks a change skipped by Apply because its account belongs
// to another integration.
const ReasonForeign = "conflict.foreign-account"

// apply is applyPlan seen by the Observer as a StageApply.
func (s *Syncer) apply(ctx context.Context, p *Plan, trigger Trigger, mode string, adjust func(*RunRecord)) (*Report, RunRecord, error) {
	ctx, end := s.observe(ctx, StageStart{Stage: StageApply, Trigger: trigger})
	e := stagePanicked
	defer func() { end(e) }()
	r, run, err := s.applyPlan(ctx, p, trigger, mode, adjust)
	e = StageEnd{Err: err, Report: r}
	return r, run, err
}

// applyPlan carries out p and records the run. It returns the report, the
// run's record (zero when nothing was applied), and an error joining every
// failure: of changes, and of the bookkeeping after them (cursor, removal
// budget, history), which the record names too. adjust, if set, completes
// the record before it is written.
func (s *Syncer) applyPlan(ctx context.Context, p *Plan, trigger Trigger, mode string, adjust func(*RunRecord)) (*Report, RunRecord, error) {
	if p == nil {
		return nil, RunRecord{}, errors.New("dirsync: Apply: nil plan")
	}
	if p.Source != s.source {
		return nil, RunRecord{}, fmt.Errorf("dirsync: Apply: plan is for integration %q, not %q", p.Source, s.source)
	}
	if err := s.verifySafety(ctx, p); err != nil {
		return nil, RunRecord{}, err
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return nil, RunRecord{}, fmt.Errorf("dirsync: Apply: read exceptions (nothing applied): %w", err)
	}
	except := s.policy.Options(s.now(), extra...).Except

	r := &Report{Source: s.source, Started: s.now()}
	changes := make([]diff.Change, 0, p.Actionable())
	for _, c := range p.Changes {
		if !c.Op.Actionable() {
			continue
		}
		if c.Op != diff.OpBlock && c.Op != diff.OpDelete && setsBlocked(&c) && (c.Before == nil || !c.Before.Blocked) {
			c.Op = diff.OpBlock // a block under another name still ends the sessions
		}
		changes = append(changes, c)
	}
	id := newRunID(r.Started)
	lw := s.newLogWriter(id, r.Started, len(changes))
	r.Results = s.applyAll(ctx, changes, except, lw)
	var errs []error
	skipped := 0
	for i := range r.Results {
		switch res := &r.Results[i]; res.Status {
		case StatusFailed:
			errs = append(errs, &ChangeError{Change: res.Change, Err: res.Err})
		case StatusSkipped:
			skipped++
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("dirsync: apply interrupted: %w", err))
	}
	r.Finished = s.now()
	var books []error // bookkeeping that failed after the changes
	lost := stillHeld(ctx)
	if lost != nil {
		books = append(books, lost)
	}
	if lost == nil && len(errs) == 0 && skipped == 0 && p.cursor != nil && p.unchanged() {
		// Every change of the plan as made applied: the connector's
		// position may move on.
		if err := s.saveCursor(context.WithoutCancel(ctx), p, r); err != nil {
			books = append(books, fmt.Errorf("dirsync: save the cursor (the changes will be read again): %w", err))
		}
	}
	if err := s.noteRemovals(ctx, r); err != nil {
		books = append(books, fmt.Errorf("dirsync: note the removals applied in the removal budget: %w", err))
	}
	if err := lw.close(ctx, s); err != nil {
		books = append(books, fmt.Errorf("dirsync: provisioning log not written in full: %w", err))
	}
	run := s.runRecord(p, r, trigger, mode)
	run.ID = id
	if adjust != nil {
		adjust(&run)
	}
	if len(books) > 0 {
		run.Outcome = OutcomeFailed
		run.Error = errors.Join(books...).Error()
	}
	if lost != nil {
		// Another replica may run now: this run's record is not written,
		// only returned.
	} else if err := s.recordRun(ctx, run); err != nil {
		books = append(books, fmt.Errorf("dirsync: run not recorded in History: %w", err))
		run.Outcome, run.Error = OutcomeFailed, errors.Join(books...).Error()
	}
	errs = append(errs, books...)
	s.log.InfoContext(ctx, "apply finished", "applied", r.Count(StatusApplied), "failed", r.Count(StatusFailed),
		"skipped", skipped)
	return r, run, errors.Join(errs...)
}

// verifySafety checks the safety limits with numbers Apply trusts, and the
// approval against the changes it is about to apply.
//
// What a change removes is decided from the change as the Syncer made it,
// or, for a change it did not make (edited, added, or in a plan value it
// did not make at all), from the sink's current account: a foreign change
// that blocks or deletes an account this integration manages, or sets its
// "blocked" field, is a removal whatever its Op and Before say. A view of a
// plan that was over the limits (Search, a selection) carries that plan's
// decision while it removes anyone.
func (s *Syncer) verifySafety(ctx context.Context, p *Plan) error {
	in := policy.SafetyInput{Managed: p.facts.managed, SourceUsers: p.facts.sourceUsers, Incremental: p.facts.incremental}
	checked := &p.Plan
	if !p.facts.made || !p.unchanged() {
		made := seal.AsMade(&p.Plan, p.facts.changes)
		if slices.Contains(made, false) || !p.facts.made {
			current, err := planner.Accounts(ctx, s.sink)
			if err != nil {
				return fmt.Errorf("dirsync: Apply: %w", err)
			}
			checked = s.foreignRemovals(p, made, current)
			if !p.facts.made {
				// How many users the directory returned is unknown, so
				// the empty-source rule cannot apply, but the limits and
				// the every-account rule do.
				in.Managed, in.Incremental = planner.ManagedIn(current, s.source), true
			}
		}
	}
	if err := s.recent(ctx, &in); err != nil {
		return fmt.Errorf("dirsync: Apply (nothing applied): %w", err)
	}
	err := s.policy.CheckSafety(checked, in)
	if err == nil && p.facts.overLimit != nil && policy.Removals(checked) > 0 {
		err = p.facts.overLimit
	}
	if err == nil {
		return nil
	}
	if p.approved != nil && p.covered() {
		return nil
	}
	if p.approved != nil {
		return fmt.Errorf("dirsync: Apply: the plan holds changes that were not approved: %w", err)
	}
	return fmt.Errorf("dirsync: Apply: plan not approved: %w", err)
}

// foreignRemovals is p as the safety limits count it: the changes made
// (made[i]) as they are, and each foreign change as what it would do to
// the sink's account: a block of that account when it removes one the
// integration manages.
func (s *Syncer) foreignRemovals(p *Plan, made []bool, current []diff.Account) *diff.Plan {
	byID := map[string]*diff.Account{}
	byKey := map[[2]string]*diff.Account{}
	for i := range current {
		a := &current[i]
		if a.ID != "" {
			byID[a.ID] = a
		}
		if a.Managed && a.ExternalID != "" {
			byKey[[2]string{a.Source, a.ExternalID}] = a
		}
	}
	find := func(c *diff.Change) *diff.Account {
		for _, x := range []*diff.Account{c.Before, c.After} {
			if x == nil {
				continue
			}
			if a := byID[x.ID]; x.ID != "" && a != nil {
				return a
			}
			if a := byKey[[2]string{s.source, x.ExternalID}]; x.ExternalID != "" && a != nil {
				return a
			}
		}
		return nil
	}
	out := &diff.Plan{Source: p.Source}
	for i := range p.Changes {
		c := &p.Changes[i]
		if !c.Op.Actionable() {
			continue
		}
		if made[i] {
			out.Changes = append(out.Changes, *c)
			continue
		}
		a := find(c)
		if a == nil || !a.Managed || a.Source != s.source || !removes(c, a) {
			continue
		}
		out.Changes = append(out.Changes, diff.Change{Op: diff.OpBlock, Key: c.Key, Before: a})
	}
	return out
}

// removes reports whether c blocks or deletes the sink's account a.
func removes(c *diff.Change, a *diff.Account) bool {
	switch {
	case c.Op == diff.OpDelete:
		return true
	case a.Blocked:
		return false
	case c.Op == diff.OpBlock:
		return true
	}
	return setsBlocked(c)
}

// setsBlocked reports whether c's field changes block the account.
func setsBlocked(c *diff.Change) bool {
	if c.After == nil || !c.After.Blocked {
		return false
	}
	for _, f := range c.Fields {
		if f.Name == diff.FieldBlocked {
			return true
		}
	}
	return false
}

// skipAtApply reports a change Apply must not carry out: its account is an
// exception now, or belongs to another integration.
func (s *Syncer) skipAtApply(c *diff.Change, except func(*diff.Account) (diff.Reason, bool)) (diff.Reason, bool) {
	for _, a := range []*diff.Account{c.Before, c.After} {
		if a == nil {
			continue
		}
		if a.Managed && a.Source != "" && a.Source != s.source {
			return diff.Reason{Code: ReasonForeign, Detail: "Not applied: the account is managed by another integration (" + a.Source + ")"}, true
		}
		if except == nil {
			continue
		}
		if r, ok := except(a); ok {
			detail := r.Detail
			if detail == "" {
				detail = "never touched by sync"
			}
			return diff.Reason{Code: ReasonExceptionAtApply,
				Detail: "Not applied: the account became an exception after the plan was made (" + detail + ")"}, true
		}
	}
	return diff.Reason{}, false
}

// applyChange carries out one change: not attempted once ctx is done,
// skipped when it is an exception now or another integration's, else
// handed to the sink and OnApplied.
func (s *Syncer) applyChange(ctx context.Context, c diff.Change, except func(*diff.Account) (diff.Reason, bool)) Result {
	res := Result{Change: c}
	if ctx.Err() != nil {
		res.Status = StatusNotAttempted
		return res
	}
	if why, skip := s.skipAtApply(&c, except); skip {
		res.Status, res.Reason = StatusSkipped, why
		s.log.InfoContext(ctx, "change skipped", "op", c.Op.String(), "key", c.Key, "why", why.Detail)
		return res
	}
	if err := s.applyOne(ctx, &res); err != nil {
		res.Status, res.Err = StatusFailed, err
		s.log.WarnContext(ctx, "change failed", "op", c.Op.String(), "key", c.Key, "err", err)
	} else {
		res.Status = StatusApplied
	}
	return res
}

// applyOne hands one change to the sink and then to OnApplied, turning a
// panic in either into an error wrapping ErrPanic.
func (s *Syncer) applyOne(ctx context.Context, res *Result) (err error) {
	stage := "sink Apply"
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "panic", "in", stage, "key", res.Change.Key, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			err = fmt.Errorf("%w in %s: %v", ErrPanic, stage, v)
		}
	}()
	if err := s.sink.Apply(ctx, res.Change); err != nil {
		return err
	}
	if s.applied != nil {
		stage = "OnApplied"
		applied := *res
		applied.Status = StatusApplied
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		s.applied(ctx, applied)
	}
	return nil
}
