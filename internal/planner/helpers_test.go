package planner

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// Progress is one progress report, as the tests collect them.
type Progress struct {
	Phase       Phase
	Done, Total int
}

// testOptions configure newTest; zero fields mean the Syncer's defaults.
type testOptions struct {
	Source   string
	Mapper   mapping.Mapper
	Policy   *policy.Policy
	Now      func() time.Time
	Progress func(Progress)
}

// testPlanner is a Planner with the exceptions a Syncer would have loaded
// from its Store.
type testPlanner struct {
	*Planner
	exceptions []policy.Exception
}

// newTest returns a Planner with the Syncer's defaults: the AD mapping,
// the default policy, the system clock.
func newTest(c connector.Connector, s Sink, o *testOptions) (*testPlanner, error) {
	cfg := Config{Source: o.Source, Connector: c, Sink: s, Mapper: o.Mapper, Policy: o.Policy, Now: o.Now,
		Log: slog.New(slog.DiscardHandler), FullEvery: 24 * time.Hour}
	if cfg.Mapper == nil {
		m, err := mapping.New(mapping.ADSpec())
		if err != nil {
			return nil, err
		}
		cfg.Mapper = m
	}
	if cfg.Policy == nil {
		p, err := policy.New(policy.Config{})
		if err != nil {
			return nil, err
		}
		cfg.Policy = p
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if o.Progress != nil {
		cfg.Progress = func(ph Phase, done, total int) { o.Progress(Progress{ph, done, total}) }
	}
	return &testPlanner{Planner: New(cfg)}, nil
}

// AddException adds an exception, as a Syncer persists one.
func (tp *testPlanner) AddException(_ context.Context, x policy.Exception) error {
	if _, err := policy.NewExceptions([]policy.Exception{x}); err != nil {
		return err
	}
	if !slices.Contains(tp.exceptions, x) {
		tp.exceptions = append(tp.exceptions, x)
	}
	return nil
}

func (tp *testPlanner) state() *State { return &State{Exceptions: tp.exceptions} }

// Plan plans with the exceptions added and no cursor.
func (tp *testPlanner) Plan(ctx context.Context) (*Result, error) {
	return tp.Planner.Plan(ctx, tp.state())
}
