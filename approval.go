package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dirsync-go/dirsync/store"
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
// from JSON it carries no approval and no cursor. Its Digest is the one the
// plan had when it was stored, also where the JSON could not carry a value
// byte for byte (a value that is not valid UTF-8). A stored value that is
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
	return decodePending(key, b)
}

// storedPlan is a pending plan in the Store: the plan's JSON and its
// digest as made.
type storedPlan struct {
	Digest string          `json:"digest"`
	Plan   json.RawMessage `json:"plan"`
	// Held marks the removals of a plan whose other changes applied.
	Held bool `json:"held,omitempty"`
}

func decodePending(key string, b []byte) (*Plan, error) {
	p, _, err := decodeStored(key, b)
	return p, err
}

// decodeStored reads a stored pending plan and whether it holds the
// removals of a plan whose other changes applied.
func decodeStored(key string, b []byte) (*Plan, bool, error) {
	var sp *storedPlan
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, false, fmt.Errorf("%w: key %s: %v", ErrCorruptStore, store.QuoteKey(key), err)
	}
	if sp == nil {
		return nil, false, nil // claimed
	}
	p := new(Plan)
	if err := json.Unmarshal(sp.Plan, p); err != nil || sp.Digest == "" {
		return nil, false, fmt.Errorf("%w: key %s: not a pending plan (%v)", ErrCorruptStore, store.QuoteKey(key), err)
	}
	p.digest = sp.Digest
	return p, sp.Held, nil
}

// setPending makes p the plan waiting for approval (nil: none) in the
// Store; held marks the removals of a plan whose other changes applied.
func (s *Syncer) setPending(ctx context.Context, p *Plan, held bool) error {
	ctx = context.WithoutCancel(ctx)
	key := s.key("pending")
	var err error
	if p == nil {
		err = s.store.Delete(ctx, key)
	} else {
		var inner, b []byte
		if inner, err = json.Marshal(p); err == nil {
			if b, err = json.Marshal(storedPlan{Digest: p.Digest(), Plan: inner, Held: held}); err == nil {
				err = s.store.Put(ctx, key, b)
			}
		}
	}
	if err != nil {
		s.log.WarnContext(ctx, "store pending plan", "err", err)
		return fmt.Errorf("dirsync: store the plan waiting for approval: %w", err)
	}
	return nil
}

// claimPending takes the pending plan whose digest is d out of the Store in
// one atomic update (store.Updater where the Store has it, across processes
// where it is shared), so that of two admins approving it on two replicas
// one applies it and the other gets ErrNoPendingPlan.
func (s *Syncer) claimPending(ctx context.Context, d string) (held bool, stored []byte, _ error) {
	key := s.key("pending")
	var why error
	err := updateJSON(ctx, s.store, key, func(raw *json.RawMessage) error {
		p, h, err := decodeStored(key, *raw)
		held, stored = h, slices.Clone(*raw)
		switch {
		case len(*raw) == 0 || p == nil && err == nil:
			why = ErrNoPendingPlan
		case err != nil:
			why = err
		case p.Digest() != d:
			why = fmt.Errorf("dirsync: approve: the pending plan is %s, not the %q shown: %w", short(p.Digest()), short(d), ErrPlanChanged)
		default:
			*raw = json.RawMessage("null")
			return nil
		}
		return why
	})
	if why != nil {
		return false, nil, why
	}
	return held, stored, err
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
// error wraps ErrPlanChanged. The pending plan is claimed from the Store
// atomically first, so two approvals of one plan (two admins, two
// replicas) apply it once. Exceptions added since (AddException) are
// part of that new plan, so "add exceptions, then approve" is:
// AddException, then ApprovePending with the shown digest — which answers
// ErrPlanChanged with the new plan pending — then ApprovePending with the
// new plan's digest once the admin has seen it.
func (s *Syncer) ApprovePending(ctx context.Context, digest string) (*Report, error) {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	held, stored, err := s.claimPending(ctx, digest)
	if err != nil {
		return nil, err
	}
	fresh, err := s.Plan(ctx)
	if err != nil && !errors.Is(err, ErrSafetyLimit) {
		// No plan to compare with: the claimed plan waits again, as it
		// was, for the next approval.
		if perr := s.store.Put(context.WithoutCancel(ctx), s.key("pending"), stored); perr != nil {
			err = errors.Join(err, fmt.Errorf("dirsync: put the pending plan back: %w", perr))
		}
		return nil, err
	}
	// The admin saw the whole plan, or (when only its removals were over
	// the limits and the rest applied) its removals.
	shown := fresh
	if held {
		_, shown = fresh.split(s.isRemoval)
	}
	if shown.Digest() != digest {
		_ = s.setPending(ctx, fresh, false)
		s.recordRun(ctx, RunRecord{Started: fresh.Created, Finished: s.now(), Trigger: TriggerApproval, Mode: ModeApproval.String(),
			Outcome: OutcomeWaiting, Counts: counts(fresh), Safety: safetyText(fresh), Plan: fresh.Digest(),
			Full: !fresh.Incremental})
		return nil, fmt.Errorf("dirsync: approve: %w", ErrPlanChanged)
	}
	fresh.Approve()
	r, _, err := s.apply(ctx, fresh, TriggerApproval, ModeApproval.String(), nil)
	return r, err
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
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
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
		_ = s.setPending(ctx, nil, false)
	}
	rep, _, err := s.apply(ctx, fresh, TriggerApply, "", nil)
	return fresh, rep, err
}
