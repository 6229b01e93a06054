package dirsync

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Run is one applied plan as History records it: a host renders these as
// "import sessions".
type Run struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Counts   map[string]int `json:"counts"`
	Applied  int            `json:"applied"`
	Failed   int            `json:"failed"`
	// Failures lists each failed change with its error.
	Failures []RunFailure `json:"failures,omitempty"`
	// Safety is the safety decision, when the plan exceeded the limits.
	Safety   string `json:"safety,omitempty"`
	Approved bool   `json:"approved,omitempty"`
}

// RunFailure is a failed change in a Run.
type RunFailure struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Name  string `json:"name"`
	Error string `json:"error"`
}

// History returns the recorded runs of this integration, newest first.
func (s *Syncer) History(ctx context.Context) ([]Run, error) {
	var runs []Run
	if err := s.getJSON(ctx, s.key("history"), &runs); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	slices.Reverse(runs)
	return runs, nil
}

func (s *Syncer) record(ctx context.Context, p *Plan, r *Report) error {
	var runs []Run
	if err := s.getJSON(ctx, s.key("history"), &runs); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	run := Run{Started: r.Started, Finished: r.Finished, Counts: map[string]int{},
		Applied: r.Count(StatusApplied), Failed: r.Count(StatusFailed), Approved: p.approved}
	for _, res := range r.Results {
		run.Counts[res.Change.Op.String()]++
		if res.Err != nil {
			run.Failures = append(run.Failures, RunFailure{Op: res.Change.Op.String(), Key: res.Change.Key,
				Name: res.Change.Label(), Error: res.Err.Error()})
		}
	}
	if p.Safety != nil {
		run.Safety = p.Safety.Error()
	}
	runs = append(runs, run)
	if over := len(runs) - s.history; over > 0 {
		runs = runs[over:]
	}
	return s.putJSON(ctx, s.key("history"), runs)
}
