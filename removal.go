package dirsync

import (
	"context"
	"strings"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/internal/planner"
	"github.com/dirsync-go/dirsync/policy"
)

// ReasonIntegrationRemoved marks the changes of PlanRemoval.
const ReasonIntegrationRemoved = "integration.removed"

// PlanRemoval returns the plan for removing this integration: every
// account it manages is blocked (or deleted, or left, as the lifecycle
// policy says for accounts that left the directory), and no other
// integration's account or unmanaged account is touched. The directory is
// not read. Such a plan always exceeds the safety limits (it empties the
// source), so Apply carries it out only after Plan.Approve.
func (s *Syncer) PlanRemoval(ctx context.Context) (*Plan, error) {
	current, err := planner.Accounts(ctx, s.sink)
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
	var recent policy.SafetyInput
	if err := s.recent(ctx, &recent); err != nil {
		return nil, err
	}
	return s.finish(&planner.Result{Plan: *dp, Started: s.now(), Managed: planner.ManagedIn(current, s.source)}, recent)
}
