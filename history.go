package dirsync

import (
	"context"
	"errors"
	"slices"
	"time"
)

// RunRecord is one run as History records it: a host renders these as
// "import sessions".
type RunRecord struct {
	// ID names the run, in the provisioning log too (LogQuery.Run). Runs
	// recorded before it existed have none.
	ID       string    `json:"id,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Trigger is what started the run.
	Trigger Trigger `json:"trigger,omitempty"`
	// Outcome is what became of it.
	Outcome Outcome `json:"outcome,omitempty"`
	// Mode is "automatic" or "approval" for runs of Run, "" for a direct
	// Apply.
	Mode string `json:"mode,omitempty"`
	// Full is set for a run that read the whole directory.
	Full bool `json:"full"`
	// Counts holds the planned changes per op.
	Counts  map[string]int `json:"counts"`
	Applied int            `json:"applied"`
	Failed  int            `json:"failed"`
	// Skipped counts the changes Apply did not carry out on purpose.
	Skipped int `json:"skipped,omitempty"`
	// Failures lists each failed change with its error.
	Failures []RunFailure `json:"failures,omitempty"`
	// Skips lists each skipped change with its reason (in Error).
	Skips []RunFailure `json:"skips,omitempty"`
	// Plan is the digest of the plan (Plan.Digest) the run applied or left
	// waiting for approval.
	Plan string `json:"plan,omitempty"`
	// Safety is the safety decision, when the plan exceeded the limits.
	Safety   string `json:"safety,omitempty"`
	Approved bool   `json:"approved,omitempty"`
	// Error is why a plan could not be made, or what of the run's
	// bookkeeping failed (saving the cursor, the removal budget).
	Error string `json:"error,omitempty"`
	// Held counts the removals left waiting for approval while the rest
	// of the plan applied (see RunOptions).
	Held int `json:"held,omitempty"`
}

// RunFailure is a failed change in a RunRecord.
type RunFailure struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Name  string `json:"name"`
	Error string `json:"error"`
}

// History returns the recorded runs of this integration, newest first.
func (s *Syncer) History(ctx context.Context) ([]RunRecord, error) {
	var runs []RunRecord
	if err := s.getJSON(ctx, s.key("history"), &runs); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	slices.Reverse(runs)
	return runs, nil
}

// runRecord is the record of an applied plan.
func (s *Syncer) runRecord(p *Plan, r *Report, trigger Trigger, mode string) RunRecord {
	run := RunRecord{Started: r.Started, Finished: r.Finished, Trigger: trigger, Mode: mode, Outcome: OutcomeApplied, Full: !p.Incremental,
		Counts: map[string]int{}, Applied: r.Count(StatusApplied), Failed: r.Count(StatusFailed), Skipped: r.Count(StatusSkipped),
		Approved: p.Approved(), Plan: p.Digest()}
	for _, res := range r.Results {
		run.Counts[res.Change.Op.String()]++
		if res.Err != nil {
			run.Failures = append(run.Failures, RunFailure{Op: res.Change.Op.String(), Key: res.Change.Key,
				Name: res.Change.Label(), Error: res.Err.Error()})
		}
	}
	for _, res := range r.Results {
		if res.Status == StatusSkipped {
			run.Skips = append(run.Skips, RunFailure{Op: res.Change.Op.String(), Key: res.Change.Key,
				Name: res.Change.Label(), Error: res.Reason.Detail})
		}
	}
	if run.Failed > 0 || r.Count(StatusNotAttempted) > 0 {
		run.Outcome = OutcomeFailed
	}
	run.Safety = safetyText(p)
	return run
}

// recordRun appends a run to the history, keeping the newest HistoryLimit.
func (s *Syncer) recordRun(ctx context.Context, run RunRecord) error {
	ctx = context.WithoutCancel(ctx)
	if run.Counts == nil {
		run.Counts = map[string]int{}
	}
	if run.ID == "" {
		run.ID = newRunID(run.Started)
	}
	return updateJSON(ctx, s.store, s.key("history"), func(runs *[]RunRecord) error {
		*runs = append(*runs, run)
		if over := len(*runs) - s.history; over > 0 {
			*runs = (*runs)[over:]
		}
		return nil
	})
}
