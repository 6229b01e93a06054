package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

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

// setPending makes p the plan waiting for approval (nil: none), in memory
// and in the Store. A failed write is logged: the run it belongs to is
// recorded anyway, and the next run writes the pending plan again.
func (s *Syncer) setPending(ctx context.Context, p *Plan) {
	s.pendingMu.Lock()
	s.pending = p
	s.pendingMu.Unlock()
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

// RunOnce is one run as Run makes it, for a host that schedules runs
// itself, such as a job queue (package riversync runs it from River jobs):
// it plans, then applies the plan (ModeAutomatic, within the safety limits)
// or leaves it pending (ModeApproval, or over the limits), records the run
// in History and returns its record. trigger is recorded as the run's
// Trigger ("schedule", "sync-now", ...).
//
// Runs of one Syncer never overlap, but two Syncers of one integration in
// two processes can: the caller serialises those (riversync holds a
// PostgreSQL advisory lock). A run whose plan failed, whose apply failed
// or was interrupted, or that did not start because ctx was done, returns
// an error with its record.
func (s *Syncer) RunOnce(ctx context.Context, trigger string, mode Mode) (RunRecord, error) {
	var rec RunRecord
	ran := false
	s.runOnce(ctx, trigger, RunOptions{Mode: mode, OnRun: func(r RunRecord) { rec, ran = r, true }})
	switch {
	case !ran:
		if err := ctx.Err(); err != nil {
			return rec, fmt.Errorf("dirsync: run not started: %w", err)
		}
		return rec, errors.New("dirsync: run not recorded")
	case rec.Outcome == OutcomePlanError:
		return rec, fmt.Errorf("dirsync: run: plan failed: %s", rec.Error)
	case rec.Outcome == OutcomeFailed:
		return rec, fmt.Errorf("dirsync: run: %d changes failed or were not attempted", rec.Failed+notAttempted(rec))
	}
	return rec, nil
}

func notAttempted(r RunRecord) int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return max(0, n-r.Applied-r.Failed-r.Skipped)
}
