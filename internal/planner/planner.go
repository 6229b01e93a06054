package planner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// Sink is what the planner reads of the host's sink: its accounts. The
// root package's Sink satisfies it.
type Sink interface {
	Accounts(ctx context.Context) iter.Seq2[diff.Account, error]
}

// DepartmentLister is the sink capability of the same name in the root
// package: a sink that lists its departments gets create-department
// changes.
type DepartmentLister interface {
	Departments(ctx context.Context) ([][]string, error)
}

// AccountLookup is the sink capability of the same name in the root
// package: the accounts an incremental plan needs, without listing all.
type AccountLookup interface {
	LookupAccounts(ctx context.Context, source string, externalIDs, emails []string) ([]diff.Account, error)
}

// Phase is a stage of a plan, reported through Config.Progress.
type Phase string

// The phases of a plan, in order.
const (
	PhaseRead Phase = "read"
	PhaseMap  Phase = "map"
	PhaseDiff Phase = "diff"
)

// Config is what a Planner plans with: one integration's connector, sink,
// mapping and policy.
type Config struct {
	Source     string
	Connector  connector.Connector
	Sink       Sink
	Mapper     mapping.Mapper
	Policy     *policy.Policy
	Log        *slog.Logger
	Now        func() time.Time
	FullEvery  time.Duration
	AlwaysFull bool
	// Progress, if set, is called as the read, the mapping and the diff
	// advance; total is 0 while unknown.
	Progress func(phase Phase, done, total int)
	// ObserveRead, if set, is called as the directory read begins; it
	// returns the context the read runs with and a function called as the
	// read ends, with how many entries came and the read's error.
	ObserveRead func(ctx context.Context, incremental bool) (context.Context, func(entries int, err error))
}

// State is what the integration remembers between plans, loaded by the
// caller once per plan.
type State struct {
	// Cursor is the connector's position after the last applied plan.
	Cursor connector.Cursor
	// LastFull is when the last full read was applied.
	LastFull time.Time
	// Managed is how many accounts the integration managed after the
	// last applied plan, for the safety limits of incremental plans with
	// an AccountLookup sink.
	Managed int
	// Config is the fingerprint the last full read was made with.
	Config string
	// JoinConflicts are the external IDs several entries were found to
	// map to.
	JoinConflicts []string
	// Exceptions are the exceptions persisted for the integration (those
	// of the policy's config come on top).
	Exceptions []policy.Exception
}

// Result is a computed plan with the numbers it was made with. The caller
// seals it and checks the safety limits.
type Result struct {
	diff.Plan
	// Started is when the read began.
	Started time.Time
	// Managed is how many accounts of the integration the sink holds.
	Managed int
	// SourceUsers is how many users a full read returned.
	SourceUsers int
	// ChangedUsers is how many users an incremental read reported.
	ChangedUsers int
	Incremental  bool
	// Cursor is the connector's position after this read, to save once
	// every change applied; nil when the connector has none.
	Cursor connector.Cursor
	// Config is the fingerprint of a full read with a cursor, to save
	// with it.
	Config string
}

// Planner plans one integration. It holds no state between plans and is
// safe for concurrent use.
type Planner struct {
	source     string
	conn       connector.Connector
	sink       Sink
	mapper     mapping.Mapper
	desc       mapping.Description
	described  bool
	policy     *policy.Policy
	log        *slog.Logger
	now        func() time.Time
	fullEvery  time.Duration
	alwaysFull bool
	progress   func(Phase, int, int)
	observe    func(context.Context, bool) (context.Context, func(int, error))
}

// New returns a Planner. Every field of cfg but Progress and ObserveRead
// must be set.
func New(cfg Config) *Planner {
	pl := &Planner{source: cfg.Source, conn: cfg.Connector, sink: cfg.Sink, mapper: cfg.Mapper, policy: cfg.Policy,
		log: cfg.Log, now: cfg.Now, fullEvery: cfg.FullEvery, alwaysFull: cfg.AlwaysFull, progress: cfg.Progress,
		observe: cfg.ObserveRead}
	if d, ok := cfg.Mapper.(mapping.Describer); ok {
		pl.desc, pl.described = d.Describe(), true
	}
	return pl
}

func (pl *Planner) report(phase Phase, done, total int) {
	if pl.progress != nil {
		pl.progress(phase, done, total)
	}
}

func (pl *Planner) reportMap(done, total int) {
	if done%1000 == 0 || done == total {
		pl.report(PhaseMap, done, total)
	}
}

// Plan reads the directory and the sink and computes the plan that would
// make the sink match: from the changes since st.Cursor when the connector
// can read them and nothing calls for a full read, else from a full read.
// A failed, partial or cancelled read is an error and plans nothing.
func (pl *Planner) Plan(ctx context.Context, st *State) (*Result, error) {
	conn := pl.reader()
	inc, ok := conn.(connector.Incremental)
	if !ok || pl.alwaysFull {
		return pl.full(ctx, readAllSource(conn), st)
	}
	if st.Cursor != nil && pl.incrementalOK(st) {
		res, err := pl.incremental(ctx, inc, st)
		switch {
		case errors.Is(err, connector.ErrCursorExpired):
			pl.log.WarnContext(ctx, "cursor expired; reading the whole directory", "err", err)
		case errors.Is(err, errNeedFull):
			pl.log.InfoContext(ctx, "reading the whole directory", "why", err)
		default:
			return res, err
		}
	}
	return pl.full(ctx, func(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error) {
		return inc.ReadChanges(ctx, nil, yield)
	}, st)
}

// entrySource drives a read: it calls yield for each entry and returns the
// cursor to save, if the connector has one.
type entrySource func(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error)

// readAllSource reads with c.Read.
func readAllSource(c connector.Connector) entrySource {
	return func(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error) {
		for e, err := range c.Read(ctx) {
			if err != nil {
				return nil, err
			}
			if err := yield(e); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
}

// full plans from a read of the whole directory.
func (pl *Planner) full(ctx context.Context, src entrySource, st *State) (*Result, error) {
	start := pl.now()
	src = pl.observed(src, false)
	// The entries are dropped once mapped, before the sink is listed, so
	// that a large directory and a large app are not held twice at once;
	// both sides are kept compactly, and the pairs in step leave the diff
	// (see "Memory" in the package documentation).
	desired, sourceUsers, cursor, err := pl.readDesired(ctx, src)
	if err != nil {
		return nil, err
	}
	in := diff.Input{Source: pl.source}
	pl.diffOptions(&in, st)
	desired.index()
	j, err := pl.join(ctx, desired, diff.NewInStep(&in))
	if err != nil {
		return nil, err
	}
	desired = nil
	if err := pl.departments(ctx, &in); err != nil {
		return nil, err
	}
	in.Desired, in.Current, in.Unchanged, in.WantDepartments = j.desired, j.current, j.unchanged, j.depts
	in.InStepEntries = j.inStep
	res := &Result{Plan: pl.computeInput(in), Started: start, Managed: j.managed, SourceUsers: sourceUsers, Cursor: cursor}
	if cursor != nil {
		res.Config = pl.Fingerprint(st.Exceptions)
	}
	pl.log.InfoContext(ctx, "plan ready", "changes", res.Plan.Summary(), "users", sourceUsers, "accounts", j.listed)
	return res, nil
}

// ErrPanicked ends an observed read left by a panic (which goes on).
var ErrPanicked = errors.New("dirsync: panic in the read (it did not finish)")

// observed is src seen by Config.ObserveRead.
func (pl *Planner) observed(src entrySource, incremental bool) entrySource {
	if pl.observe == nil {
		return src
	}
	return func(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error) {
		ctx, end := pl.observe(ctx, incremental)
		n, err := 0, ErrPanicked
		defer func() { end(n, err) }()
		var c connector.Cursor
		c, err = src(ctx, func(e connector.Entry) error { n++; return yield(e) })
		return c, err
	}
}

// Compute runs the diff of desired against current; unchanged are this
// integration's accounts outside an incremental diff
// (diff.Input.Unchanged).
func (pl *Planner) Compute(ctx context.Context, desired []diff.Desired, current, unchanged []diff.Account, st *State) (*diff.Plan, error) {
	in := diff.Input{Source: pl.source, Desired: desired, Current: current, Unchanged: unchanged}
	if err := pl.departments(ctx, &in); err != nil {
		return nil, err
	}
	pl.diffOptions(&in, st)
	dp := pl.computeInput(in)
	return &dp, nil
}

// departments sets in's departments when the sink manages them.
func (pl *Planner) departments(ctx context.Context, in *diff.Input) error {
	if dl, ok := pl.sink.(DepartmentLister); ok {
		in.ManageDepartments = true
		var err error
		if in.Departments, err = dl.Departments(ctx); err != nil {
			return fmt.Errorf("dirsync: list departments: %w", err)
		}
	}
	return nil
}

// diffOptions sets in's owned fields and the policy's options with the
// stored exceptions.
func (pl *Planner) diffOptions(in *diff.Input, st *State) {
	in.Fields = pl.desc.Fields
	in.Options = pl.policy.Options(pl.now(), st.Exceptions...)
}

// computeInput runs the diff.
func (pl *Planner) computeInput(in diff.Input) diff.Plan {
	pl.report(PhaseDiff, 0, 0)
	dp := diff.Compute(in)
	pl.report(PhaseDiff, len(dp.Changes), len(dp.Changes))
	return *dp
}

// ManagedIn counts the accounts of the integration in a listing.
func ManagedIn(current []diff.Account, source string) int {
	n := 0
	for i := range current {
		if a := &current[i]; a.Managed && a.Source == source {
			n++
		}
	}
	return n
}

// Accounts lists every account of the sink. A failed or cancelled listing
// is an error.
func Accounts(ctx context.Context, sink Sink) ([]diff.Account, error) {
	var out chunked[diff.Account]
	for a, err := range sink.Accounts(ctx) {
		if err != nil {
			return nil, fmt.Errorf("dirsync: list accounts in the app (nothing planned): %w", err)
		}
		out.add(a)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dirsync: list accounts in the app (nothing planned): %w", err)
	}
	return out.slice(), nil
}

// Fingerprint identifies the mapping, the policy, the persisted exceptions
// and the projection, or returns "" when the mapper does not fingerprint
// its rules (mapping.Description.Fingerprint). A full read's fingerprint is
// saved with the cursor; reads stay incremental only while it holds.
func (pl *Planner) Fingerprint(exceptions []policy.Exception) string {
	if pl.desc.Fingerprint == "" {
		return ""
	}
	proj, _ := pl.projection()
	b, err := json.Marshal(struct {
		Mapper     string
		Policy     policy.Config
		Exceptions []policy.Exception
		Projection []string // see projection.go
	}{pl.desc.Fingerprint, pl.policy.Config(), exceptions, proj})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
