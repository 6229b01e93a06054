package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// Options configure a Syncer. A nil *Options, and every zero field, means
// the default.
type Options struct {
	// Source names the integration; it is stored on every account the
	// Syncer manages and keys its cursor, exceptions and history. Default
	// "directory".
	Source string
	// Mapper turns entries into accounts. Default: mapping.ADSpec(). Entra
	// and Google integrations pass mapping.EntraSpec() or GoogleSpec().
	Mapper mapping.Mapper
	// Policy decides scope, exceptions, lifecycle and safety. Default:
	// policy.New(policy.Config{}) — everything in scope, missing accounts
	// blocked, the app's blocks kept, the documented safety limits.
	Policy *policy.Policy
	// Store keeps exceptions and run history. Default: a MemoryStore.
	Store Store
	// Logger receives diagnostics. Default: discard.
	Logger *slog.Logger
	// Progress, if set, is called as a plan is read and built and as it is
	// applied, so a host can draw a progress bar.
	Progress func(Progress)
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// HistoryLimit is how many runs History keeps. Default 100.
	HistoryLimit int
}

// Phase is a stage of a sync, reported through Progress.
type Phase string

// The phases, in order.
const (
	PhaseRead  Phase = "read"
	PhaseMap   Phase = "map"
	PhaseDiff  Phase = "diff"
	PhaseApply Phase = "apply"
)

// Progress reports how far a phase has come. Total is 0 when unknown (a
// directory read does not know its size in advance).
type Progress struct {
	Phase Phase
	Done  int
	Total int
}

// Syncer plans and applies the changes that keep a Sink in step with a
// Connector. Plan has no side effects; Apply carries out exactly the plan it
// is given. A Syncer is safe to use from one goroutine at a time.
type Syncer struct {
	conn     connector.Connector
	sink     Sink
	source   string
	mapper   mapping.Mapper
	policy   *policy.Policy
	store    Store
	log      *slog.Logger
	progress func(Progress)
	now      func() time.Time
	history  int
}

// ErrSafetyLimit is returned by Plan and Apply when a plan would block or
// delete more accounts than the policy allows; errors.As gives the
// *policy.SafetyError with the numbers. Approve the plan to apply it.
var ErrSafetyLimit = policy.ErrSafetyLimit

// New returns a Syncer that reads c and writes s.
func New(c connector.Connector, s Sink, opts *Options) (*Syncer, error) {
	if c == nil {
		return nil, errors.New("dirsync: New: nil connector")
	}
	if s == nil {
		return nil, errors.New("dirsync: New: nil sink")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	sy := &Syncer{conn: c, sink: s, source: o.Source, mapper: o.Mapper, policy: o.Policy,
		store: o.Store, log: o.Logger, progress: o.Progress, now: o.Now, history: o.HistoryLimit}
	if sy.source == "" {
		sy.source = "directory"
	}
	if !validSource.MatchString(sy.source) {
		return nil, fmt.Errorf("dirsync: New: source name %q: use letters, digits, '.', '_' and '-'", sy.source)
	}
	if sy.mapper == nil {
		m, err := mapping.New(mapping.ADSpec())
		if err != nil {
			return nil, fmt.Errorf("dirsync: New: default mapping: %w", err)
		}
		sy.mapper = m
	}
	if sy.policy == nil {
		p, err := policy.New(policy.Config{})
		if err != nil {
			return nil, fmt.Errorf("dirsync: New: default policy: %w", err)
		}
		sy.policy = p
	}
	if sy.store == nil {
		sy.store = NewMemoryStore()
	}
	if sy.log == nil {
		sy.log = slog.New(slog.DiscardHandler)
	}
	sy.log = sy.log.With("integration", sy.source)
	if sy.now == nil {
		sy.now = time.Now
	}
	if sy.history <= 0 {
		sy.history = 100
	}
	return sy, nil
}

var validSource = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Source returns the integration name.
func (s *Syncer) Source() string { return s.source }

func (s *Syncer) report(p Progress) {
	if s.progress != nil {
		s.progress(p)
	}
}

// Plan reads the directory and the sink and returns the plan that would make
// the sink match. It changes nothing. A failed, partial or cancelled read
// returns an error and no plan: it never turns into "block everyone".
//
// When the plan exceeds the policy's safety limits, Plan returns the plan
// together with an error wrapping ErrSafetyLimit, so a host can show it and
// ask an admin to approve it.
func (s *Syncer) Plan(ctx context.Context) (*Plan, error) {
	start := s.now()
	// The entries are dropped once mapped, before the sink is listed, so
	// that a large directory and a large app are not held twice at once.
	desired, sourceUsers, err := s.readDesired(ctx)
	if err != nil {
		return nil, err
	}

	current, err := s.accounts(ctx)
	if err != nil {
		return nil, err
	}
	in := diff.Input{Source: s.source, Desired: desired, Current: current}
	if fo, ok := s.mapper.(mapping.FieldOwner); ok {
		in.Fields = fo.Fields()
	}
	if dl, ok := s.sink.(DepartmentLister); ok {
		in.ManageDepartments = true
		if in.Departments, err = dl.Departments(ctx); err != nil {
			return nil, fmt.Errorf("dirsync: list departments: %w", err)
		}
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return nil, err
	}
	in.Options = s.policy.Options(s.now(), extra...)
	s.report(Progress{Phase: PhaseDiff})
	dp := diff.Compute(in)
	s.report(Progress{Phase: PhaseDiff, Done: len(dp.Changes), Total: len(dp.Changes)})

	plan := &Plan{Plan: *dp, Created: start, SourceUsers: sourceUsers}
	for i := range current {
		if a := &current[i]; a.Managed && a.Source == s.source {
			plan.Managed++
		}
	}
	s.log.InfoContext(ctx, "plan ready", "changes", plan.Summary(), "users", sourceUsers, "accounts", len(current))
	if err := s.checkSafety(plan); err != nil {
		return plan, err
	}
	return plan, nil
}

func (s *Syncer) checkSafety(p *Plan) error {
	err := s.policy.CheckSafety(&p.Plan, policy.SafetyInput{Managed: p.Managed, SourceUsers: p.SourceUsers, Approved: p.approved})
	var se *policy.SafetyError
	if errors.As(err, &se) {
		p.Safety = se
	}
	return err
}

// readDesired reads the directory and maps every user entry. It returns
// the desired accounts and how many users the directory returned.
func (s *Syncer) readDesired(ctx context.Context) ([]diff.Desired, int, error) {
	entries, err := s.read(ctx)
	if err != nil {
		return nil, 0, err
	}
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		return nil, 0, fmt.Errorf("dirsync: read from directory: %w", err)
	}
	return s.desired(snap), len(snap.Users()), nil
}

// read drains the connector, reporting progress. Any error aborts.
func (s *Syncer) read(ctx context.Context) ([]connector.Entry, error) {
	s.report(Progress{Phase: PhaseRead})
	var entries chunked[connector.Entry]
	for e, err := range s.conn.Read(ctx) {
		if err != nil {
			return nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", entries.len(), err)
		}
		entries.add(e)
		if n := entries.len(); n%1000 == 0 {
			s.report(Progress{Phase: PhaseRead, Done: n})
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	n := entries.len()
	s.report(Progress{Phase: PhaseRead, Done: n, Total: n})
	return entries.slice(), nil
}

func (s *Syncer) desired(snap *connector.Snapshot) []diff.Desired {
	users := snap.Users()
	out := make([]diff.Desired, 0, len(users))
	for i, e := range users {
		d := diff.Desired{Disabled: e.Disabled}
		dec := s.policy.Decide(e, snap)
		d.OutOfScope, d.Reason = !dec.In, dec.Reason
		acc, err := s.mapper.Map(e, snap)
		switch {
		case err != nil:
			d.Invalid = true
			d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "Cannot map this entry: " + err.Error()}
			acc.ExternalID = e.ID
			acc.DisplayName = e.Attr("displayName")
		case acc.ExternalID == "":
			d.Invalid = true
			d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "The mapping yields an empty join key; entry skipped"}
			acc.ExternalID = e.ID
		}
		acc.Source = s.source
		d.Account = acc
		out = append(out, d)
		if (i+1)%1000 == 0 {
			s.report(Progress{Phase: PhaseMap, Done: i + 1, Total: len(users)})
		}
	}
	s.report(Progress{Phase: PhaseMap, Done: len(users), Total: len(users)})
	return out
}

func (s *Syncer) accounts(ctx context.Context) ([]diff.Account, error) {
	var out chunked[diff.Account]
	for a, err := range s.sink.Accounts(ctx) {
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

// Apply carries out the plan's changes in order and returns a Report of
// every change. It goes on past a failed change; the returned error joins a
// *ChangeError for each failure. A plan over the safety limit is refused
// unless it was approved. When ctx is cancelled, Apply finishes no further
// change and the report marks the rest as not attempted.
func (s *Syncer) Apply(ctx context.Context, p *Plan) (*Report, error) {
	if p == nil {
		return nil, errors.New("dirsync: Apply: nil plan")
	}
	if p.Source != s.source {
		return nil, fmt.Errorf("dirsync: Apply: plan is for integration %q, not %q", p.Source, s.source)
	}
	if p.Safety != nil && !p.approved {
		return nil, fmt.Errorf("dirsync: Apply: plan not approved: %w", p.Safety)
	}
	r := &Report{Source: s.source, Started: s.now()}
	total := p.Actionable()
	var errs []error
	done := 0
	for _, c := range p.Changes {
		if !c.Op.Actionable() {
			continue
		}
		res := Result{Change: c}
		if ctx.Err() != nil {
			res.Status = StatusNotAttempted
			r.Results = append(r.Results, res)
			continue
		}
		if err := s.sink.Apply(ctx, c); err != nil {
			res.Status, res.Err = StatusFailed, err
			ce := &ChangeError{Change: c, Err: err}
			errs = append(errs, ce)
			s.log.WarnContext(ctx, "change failed", "op", c.Op.String(), "key", c.Key, "err", err)
		} else {
			res.Status = StatusApplied
		}
		r.Results = append(r.Results, res)
		done++
		s.report(Progress{Phase: PhaseApply, Done: done, Total: total})
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("dirsync: apply interrupted: %w", err))
	}
	r.Finished = s.now()
	if err := s.record(context.WithoutCancel(ctx), p, r); err != nil {
		errs = append(errs, err)
	}
	s.log.InfoContext(ctx, "apply finished", "applied", r.Count(StatusApplied), "failed", r.Count(StatusFailed))
	return r, errors.Join(errs...)
}

// Exceptions returns the exceptions persisted in the Store for this
// integration (those in the policy's config come on top).
func (s *Syncer) Exceptions(ctx context.Context) ([]policy.Exception, error) {
	var list []policy.Exception
	if err := s.getJSON(ctx, s.key("exceptions"), &list); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return list, nil
}

// AddException persists an exception: the matching accounts are never
// touched by this integration and are listed in plans as skipped.
func (s *Syncer) AddException(ctx context.Context, x policy.Exception) error {
	if _, err := policy.NewExceptions([]policy.Exception{x}); err != nil {
		return err
	}
	list, err := s.Exceptions(ctx)
	if err != nil {
		return err
	}
	for _, have := range list {
		if have == x {
			return nil
		}
	}
	return s.putJSON(ctx, s.key("exceptions"), append(list, x))
}

// RemoveException removes a persisted exception equal to x.
func (s *Syncer) RemoveException(ctx context.Context, x policy.Exception) error {
	list, err := s.Exceptions(ctx)
	if err != nil {
		return err
	}
	out := list[:0]
	for _, have := range list {
		if have != x {
			out = append(out, have)
		}
	}
	return s.putJSON(ctx, s.key("exceptions"), out)
}

func (s *Syncer) key(name string) string { return "integration/" + s.source + "/" + name }

func (s *Syncer) getJSON(ctx context.Context, key string, v any) error {
	b, err := s.store.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: key %q: %v", ErrCorruptStore, key, err)
	}
	return nil
}

func (s *Syncer) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, key, b)
}
