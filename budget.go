package dirsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// The removal budget
//
// The safety limits hold over time, not per plan: every removal (a block
// or delete of an account the integration manages) that applies is noted
// in the Store with its time, under "integration/<source>/removals", and
// the removals within the policy's window (24 hours by default) count
// against the limits with those of the next plan. The ledger lives in the
// Store, so the budget spans runs, SCIM pushes, restarts and replicas
// sharing a store. An approval lets the plan it names through; its
// removals are noted like any other and use up the budget, so nothing is
// reset silently.

// removal is an entry of the removal ledger: N removals applied at At,
// Deletes of them deletes.
type removal struct {
	At      time.Time `json:"at"`
	N       int       `json:"n"`
	Deletes int       `json:"deletes,omitempty"`
}

// Budget is how much of the removal budget an integration has used: what
// a host shows the admin beside a plan held for approval ("19 of 20
// removals used in the last 24 h; frees up at 14:05").
type Budget struct {
	// Window is the span the limits count over; 0 when each plan counts
	// alone.
	Window time.Duration
	// Used is how many managed accounts were blocked or deleted within
	// the window.
	Used int
	// MaxRemovals and MaxPercent are the limits (-1: off). MaxPercent is
	// of the accounts managed at the window's start.
	MaxRemovals int
	MaxPercent  float64
	// FreesAt is when the oldest removal within the window leaves it,
	// freeing budget; zero when none is within it.
	FreesAt time.Time

	deletes int // of Used
}

// RemovalBudget returns how much of the removal budget is used now.
func (s *Syncer) RemovalBudget(ctx context.Context) (Budget, error) {
	maxN, maxP, window := s.policy.Limits()
	b := Budget{Window: window, MaxRemovals: maxN, MaxPercent: maxP}
	ledger, err := s.removals(ctx)
	if err != nil {
		return b, err
	}
	now := s.now()
	for _, r := range ledger {
		if window > 0 && now.Sub(r.At) < window {
			b.Used += r.N
			b.deletes += r.Deletes
			if end := r.At.Add(window); b.FreesAt.IsZero() || end.Before(b.FreesAt) {
				b.FreesAt = end
			}
		}
	}
	return b, nil
}

// recent sets in's removals applied within the window.
func (s *Syncer) recent(ctx context.Context, in *policy.SafetyInput) error {
	b, err := s.RemovalBudget(ctx)
	if err != nil {
		return fmt.Errorf("dirsync: read the removal budget: %w", err)
	}
	in.Recent, in.RecentDeletes = b.Used, b.deletes
	return nil
}

func (s *Syncer) removals(ctx context.Context) ([]removal, error) {
	var ledger []removal
	if err := s.getJSON(ctx, s.key("removals"), &ledger); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return ledger, nil
}

// noteRemovals adds the removals a report applied to the ledger, and
// drops the entries the window has left behind.
func (s *Syncer) noteRemovals(ctx context.Context, r *Report) error {
	n, deletes := 0, 0
	for i := range r.Results {
		res := &r.Results[i]
		if res.Status == StatusApplied && s.isRemoval(&res.Change) {
			n++
			if res.Change.Op == diff.OpDelete {
				deletes++
			}
		}
	}
	_, _, window := s.policy.Limits()
	now := s.now()
	return updateJSON(context.WithoutCancel(ctx), s.store, s.key("removals"), func(ledger *[]removal) error {
		kept := (*ledger)[:0]
		for _, e := range *ledger {
			if window > 0 && now.Sub(e.At) < window {
				kept = append(kept, e)
			}
		}
		if n > 0 {
			kept = append(kept, removal{At: now, N: n, Deletes: deletes})
		}
		*ledger = kept
		if *ledger == nil {
			*ledger = []removal{}
		}
		return nil
	})
}

// isRemoval reports whether a change blocks or deletes an account this
// integration manages.
func (s *Syncer) isRemoval(c *diff.Change) bool {
	return (c.Op == diff.OpBlock || c.Op == diff.OpDelete) && c.Before != nil && c.Before.Managed &&
		(c.Before.Source == s.source || c.Before.Source == "")
}
