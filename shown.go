package dirsync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

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
	rep, err := s.apply(ctx, fresh, "apply", "")
	return fresh, rep, err
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
