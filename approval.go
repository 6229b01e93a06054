package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoPendingPlan is returned by ApprovePending when no plan waits.
var ErrNoPendingPlan = errors.New("dirsync: no plan is waiting for approval")

// ErrPlanChanged is returned by ApprovePending when the directory or the app
// changed since the pending plan was made: the admin approved a plan that
// no longer describes what would happen. The new plan is pending instead.
var ErrPlanChanged = errors.New("dirsync: the plan changed since it was shown; review the new plan")

// PendingPlan returns the plan waiting for approval as the Store holds it
// (key "integration/<source>/pending"), or nil when none waits. A plan left
// pending by any Syncer of this integration sharing the Store — another
// replica of the app, or this process before a restart — is returned, for
// display and for ApprovePending with its Digest. Like any plan read back
// from JSON it carries no approval and no cursor. A stored value that is
// not a plan is an error wrapping ErrCorruptStore.
func (s *Syncer) PendingPlan(ctx context.Context) (*Plan, error) {
	key := s.key("pending")
	b, err := s.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := new(Plan)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("%w: key %q: %v", ErrCorruptStore, key, err)
	}
	return p, nil
}

// setPending makes p the plan waiting for approval (nil: none) in the
// Store. A failed write is logged: the run it belongs to is
// recorded anyway, and the next run writes the pending plan again.
func (s *Syncer) setPending(ctx context.Context, p *Plan) {
	ctx = context.WithoutCancel(ctx)
	key := s.key("pending")
	var err error
	if p == nil {
		err = s.store.Delete(ctx, key)
	} else {
		var b []byte
		if b, err = json.Marshal(p); err == nil {
			err = s.store.Put(ctx, key, b)
		}
	}
	if err != nil {
		s.log.WarnContext(ctx, "store pending plan", "err", err)
	}
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
		s.recordRun(ctx, RunRecord{Started: fresh.Created, Finished: s.now(), Trigger: TriggerApproval, Mode: ModeApproval.String(),
			Outcome: OutcomeWaiting, Counts: counts(fresh), Safety: safetyText(fresh), Plan: fresh.Digest(),
			Full: !fresh.Incremental})
		return nil, fmt.Errorf("dirsync: approve: %w", ErrPlanChanged)
	}
	fresh.Approve()
	s.setPending(ctx, nil)
	return s.apply(ctx, fresh, TriggerApproval, ModeApproval.String())
}

// ApplyShown applies the plan an admin was shown, named by its Digest: the
// "Sync" button of a preview page. It plans again and applies the new plan
// only when its digest is the one shown, so that what happens is exactly
// what the admin saw, and no other run or apply of this Syncer can come in
// between the new plan and its apply.
//
// It returns the plan it made, also when it applied nothing, so a console
// can show it:
//   - when the directory, the app or the exceptions moved since the plan
//     was shown, nothing is applied and the error wraps ErrPlanChanged;
//   - when the plan exceeds the safety limits and approve is false, nothing
//     is applied and the error wraps ErrSafetyLimit; with approve set (the
//     admin confirmed the plan with its safety warning) the plan is approved
//     and applied.
//
// The run is recorded in History with the trigger "apply", like Apply's. A
// pending plan with the same digest (Run in ModeApproval) is cleared, since
// it has been carried out.
func (s *Syncer) ApplyShown(ctx context.Context, digest string, approve bool) (*Plan, *Report, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	fresh, err := s.Plan(ctx)
	if err != nil && !errors.Is(err, ErrSafetyLimit) {
		return nil, nil, err
	}
	if d := fresh.Digest(); d != digest {
		return fresh, nil, fmt.Errorf("dirsync: apply: the plan is now %s, not the %q shown: %w", short(d), short(digest), ErrPlanChanged)
	}
	if fresh.Safety != nil {
		if !approve {
			return fresh, nil, fmt.Errorf("dirsync: apply: %w", fresh.Safety)
		}
		fresh.Approve()
	}
	if p, err := s.PendingPlan(ctx); err == nil && p != nil && p.Digest() == digest {
		s.setPending(ctx, nil)
	}
	rep, err := s.apply(ctx, fresh, TriggerApply, "")
	return fresh, rep, err
}
