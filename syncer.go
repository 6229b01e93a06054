package dirsync

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Store keeps exceptions and run history. Default: store.NewMemory().
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
	// FullEvery is how often a connector with incremental reads is read
	// in full anyway, to heal drift made in the app by hand and anything an
	// incremental read cannot see. Default 24 hours; negative: only when
	// the cursor is missing or expired. A last full read whose time lies
	// in the future (a clock set back) counts as stale.
	FullEvery time.Duration
	// AlwaysFull reads the whole directory on every plan, even where the
	// connector can read only what changed.
	AlwaysFull bool
	// OnApplied, if set, is called after each change that applied, in plan
	// order, with the change and its reasons: a created account is the
	// host's cue to send the invitation, a blocked one to end sessions if
	// its sink did not.
	OnApplied func(context.Context, Result)
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
// is given. Run syncs on a schedule. Applies never overlap: Apply, Run's
// runs and ApprovePending take turns; SyncNow and Pending may be called
// from any goroutine.
type Syncer struct {
	conn       connector.Connector
	sink       Sink
	source     string
	mapper     mapping.Mapper
	policy     *policy.Policy
	store      Store
	log        *slog.Logger
	progress   func(Progress)
	now        func() time.Time
	history    int
	applied    func(context.Context, Result)
	fullEvery  time.Duration
	alwaysFull bool

	runMu     sync.Mutex // one run or apply at a time
	syncNow   chan struct{}
	pendingMu sync.Mutex
	pending   *Plan
	nextRun   atomic.Pointer[time.Time] // NextRun; nil while Run is not waiting
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
		store: o.Store, log: o.Logger, progress: o.Progress, now: o.Now, history: o.HistoryLimit,
		applied: o.OnApplied, fullEvery: o.FullEvery, alwaysFull: o.AlwaysFull, syncNow: make(chan struct{}, 1)}
	if sy.fullEvery == 0 {
		sy.fullEvery = 24 * time.Hour
	}
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
		sy.store = newMemoryStore()
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
	conn := s.reader() // see projection.go
	inc, ok := conn.(connector.Incremental)
	if !ok || s.alwaysFull {
		return s.planFull(ctx, readAllSource(conn))
	}
	if st, err := s.loadCursor(ctx); err != nil {
		return nil, err
	} else if st.Cursor != nil && s.incrementalOK(ctx, st) {
		plan, err := s.planIncremental(ctx, inc, st.Cursor)
		switch {
		case errors.Is(err, connector.ErrCursorExpired):
			s.log.WarnContext(ctx, "cursor expired; reading the whole directory", "err", err)
		case errors.Is(err, errNeedFull):
			s.log.InfoContext(ctx, "reading the whole directory", "why", err)
		default:
			return plan, err
		}
	}
	return s.planFull(ctx, func(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error) {
		return inc.ReadChanges(ctx, nil, yield)
	})
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

func (s *Syncer) planFull(ctx context.Context, src entrySource) (*Plan, error) {
	start := s.now()
	// The entries are dropped once mapped, before the sink is listed, so
	// that a large directory and a large app are not held twice at once;
	// both sides are kept compactly, and the pairs in step leave the diff
	// (see "Memory" in the package documentation).
	desired, sourceUsers, cursor, err := s.readDesired(ctx, src)
	if err != nil {
		return nil, err
	}
	in := diff.Input{Source: s.source}
	if err := s.diffOptions(ctx, &in); err != nil {
		return nil, err
	}
	desired.index()
	j, err := s.join(ctx, desired, diff.NewInStep(&in))
	if err != nil {
		return nil, err
	}
	desired = nil
	if err := s.departments(ctx, &in); err != nil {
		return nil, err
	}
	in.Desired, in.Current, in.Unchanged, in.WantDepartments = j.desired, j.current, j.unchanged, j.depts
	plan := s.computeInput(in, j.managed)
	plan.Created, plan.SourceUsers, plan.cursor = start, sourceUsers, cursor
	plan.facts.sourceUsers = sourceUsers
	if cursor != nil {
		plan.config = s.fingerprint(ctx)
	}
	s.seal(plan)
	s.log.InfoContext(ctx, "plan ready", "changes", plan.Summary(), "users", sourceUsers, "accounts", j.listed)
	if err := s.checkSafety(plan); err != nil {
		return plan, err
	}
	return plan, nil
}

// compute runs the diff of desired against current; unchanged are this
// integration's accounts outside an incremental diff (diff.Input.Unchanged).
func (s *Syncer) compute(ctx context.Context, desired []diff.Desired, current, unchanged []diff.Account) (*Plan, error) {
	in := diff.Input{Source: s.source, Desired: desired, Current: current, Unchanged: unchanged}
	if err := s.departments(ctx, &in); err != nil {
		return nil, err
	}
	if err := s.diffOptions(ctx, &in); err != nil {
		return nil, err
	}
	return s.computeInput(in, managedIn(current, s.source)), nil
}

// departments sets in's departments when the sink manages them.
func (s *Syncer) departments(ctx context.Context, in *diff.Input) error {
	if dl, ok := s.sink.(DepartmentLister); ok {
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
func (s *Syncer) diffOptions(ctx context.Context, in *diff.Input) error {
	if fo, ok := s.mapper.(mapping.FieldOwner); ok {
		in.Fields = fo.Fields()
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return err
	}
	in.Options = s.policy.Options(s.now(), extra...)
	return nil
}

// computeInput runs the diff; managed is the count of the integration's
// accounts in the sink.
func (s *Syncer) computeInput(in diff.Input, managed int) *Plan {
	s.report(Progress{Phase: PhaseDiff})
	dp := diff.Compute(in)
	s.report(Progress{Phase: PhaseDiff, Done: len(dp.Changes), Total: len(dp.Changes)})
	plan := &Plan{Plan: *dp}
	plan.Managed = managed
	return plan
}

// managedIn counts the accounts of the integration in a listing.
func managedIn(current []diff.Account, source string) int {
	n := 0
	for i := range current {
		if a := &current[i]; a.Managed && a.Source == source {
			n++
		}
	}
	return n
}

// seal records the numbers a plan was made with and the hash of its
// changes: what Apply trusts, whatever a host does to the exported fields.
func (s *Syncer) seal(p *Plan) {
	p.facts.made = true
	p.facts.managed = p.Managed
	p.facts.incremental = p.Incremental
	p.facts.whole, p.facts.actionable = seal(&p.Plan)
}

// checkSafety sets p.Safety from the plan's own facts.
func (s *Syncer) checkSafety(p *Plan) error {
	err := s.policy.CheckSafety(&p.Plan, policy.SafetyInput{Managed: p.facts.managed, SourceUsers: p.facts.sourceUsers,
		Incremental: p.facts.incremental})
	var se *policy.SafetyError
	if errors.As(err, &se) {
		p.Safety = se
	}
	return err
}

// readDesired reads the directory and maps every user entry. It returns
// the desired accounts, compactly, and how many users the directory
// returned.
//
// With a mapping.TargetResolver mapper (the rule mapper is one) and no
// groups used by the mapping or the scope, no entry is kept
// (readDesiredCompact). Otherwise, with a mapping.Deferred mapper, entries
// are mapped as they arrive and only slim copies are kept for the index
// that lookups, roles and group scope rules need; with any other mapper
// the whole read is held and mapped afterwards.
func (s *Syncer) readDesired(ctx context.Context, src entrySource) (*desiredSet, int, connector.Cursor, error) {
	if tr, ok := s.mapper.(mapping.TargetResolver); ok && !s.usesGroups() {
		return s.readDesiredCompact(ctx, tr, src)
	}
	if dm, ok := s.mapper.(mapping.Deferred); ok {
		return s.readDesiredStreaming(ctx, dm, src)
	}
	entries, cursor, err := s.read(ctx, src)
	if err != nil {
		return nil, 0, nil, err
	}
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory: %w", err)
	}
	users := snap.Users()
	out := &desiredSet{}
	for i, e := range users {
		acc, err := s.mapper.Map(e, snap)
		d := s.toDesired(e, acc, err, snap)
		out.add(&d)
		s.reportMap(i+1, len(users))
	}
	return out, len(users), cursor, nil
}

func (s *Syncer) readDesiredStreaming(ctx context.Context, dm mapping.Deferred, src entrySource) (*desiredSet, int, connector.Cursor, error) {
	keep := append(dm.ReferencedAttributes(), s.policy.Attributes()...)
	var users, others chunked[connector.Entry]
	var mapped arena // the accounts as MapEntry left them
	var refs chunked[ref]
	var pending chunked[*mapping.Pending]
	var errs chunked[error]
	s.report(Progress{Phase: PhaseRead})
	n := 0
	cursor, err := src(ctx, func(e connector.Entry) error {
		n++
		if n%1000 == 0 {
			s.report(Progress{Phase: PhaseRead, Done: n})
		}
		if e.Kind != connector.KindUser && e.Kind != "" {
			others.add(e)
			return nil
		}
		lowerAttrNames(&e)
		acc, p, err := dm.MapEntry(&e)
		refs.add(mapped.addAccount(&acc, 0))
		pending.add(p)
		errs.add(err)
		users.add(slimEntry(e, keep))
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	s.report(Progress{Phase: PhaseRead, Done: n, Total: n})

	nUsers := users.len()
	entries := others.appendTo(users.appendTo(make([]connector.Entry, 0, nUsers+others.len())))
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory: %w", err)
	}
	rs, ps, mapErrs := refs.slice(), pending.slice(), errs.slice()
	out := &desiredSet{}
	var rd reader
	var acc diff.Account
	for i := range nUsers {
		e := &entries[i]
		if e.Deleted {
			continue // a tombstone has no place in a full read
		}
		mapped.account(rs[i], &rd, &acc)
		if mapErrs[i] == nil {
			dm.Resolve(&acc, ps[i], e, snap)
		}
		ps[i] = nil
		d := s.toDesired(e, acc, mapErrs[i], snap)
		out.add(&d)
		s.reportMap(out.len(), len(snap.Users())) // tombstones not counted: the last report is the end
	}
	return out, len(snap.Users()), cursor, nil
}

// readDesiredCompact is readDesiredStreaming for a mapping and a scope
// that use no groups: each entry is mapped and its scope decided as it
// arrives, the account is kept compactly, and of the entry only what
// lookups need goes into a mapping.Targets index: no entry is kept.
func (s *Syncer) readDesiredCompact(ctx context.Context, tr mapping.TargetResolver, src entrySource) (*desiredSet, int, connector.Cursor, error) {
	targets := mapping.NewTargets(tr.ReferencedAttributes())
	var mapped arena // the desired accounts as MapEntry left them, and what is pending
	var refs chunked[ref]
	var tail []byte
	const tombstone = ^ref(0)
	s.report(Progress{Phase: PhaseRead})
	n, nUsers, live := 0, 0, 0
	cursor, err := src(ctx, func(e connector.Entry) error {
		n++
		if n%1000 == 0 {
			s.report(Progress{Phase: PhaseRead, Done: n})
		}
		lowerAttrNames(&e)
		targets.Add(&e)
		if e.Kind != connector.KindUser && e.Kind != "" {
			return nil
		}
		nUsers++
		if e.Deleted {
			refs.add(tombstone) // a tombstone has no place in a full read
			return nil
		}
		live++
		acc, p, err := tr.MapEntry(&e)
		dec := s.policy.Decide(&e, nil) // no group rule: the entry alone decides
		d := diff.Desired{EntryID: e.ID, Disabled: e.Disabled, OutOfScope: !dec.In, Reason: dec.Reason}
		if err != nil {
			d.Invalid = true
			d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "Cannot map this entry: " + err.Error()}
			acc.ExternalID = e.ID
			acc.DisplayName = e.Attr("displayName")
			p = nil
		}
		// The entry's ID is in targets: the record names it by number.
		tail = tail[:0]
		if acc.ExternalID == e.ID {
			acc.ExternalID, tail = "", append(tail, 1)
		} else {
			tail = append(tail, 0)
		}
		d.EntryID = ""
		d.Account = acc
		tail = binary.AppendUvarint(tail, uint64(targets.Len()-1))
		tail = tr.AppendPending(tail, p, targets)
		refs.add(mapped.addDesiredTail(&d, tail))
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	s.report(Progress{Phase: PhaseRead, Done: n, Total: n})
	if err := targets.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory: %w", err)
	}

	rs := refs.slice()
	out := &desiredSet{refs: make([]ref, 0, live)}
	var rd reader
	var d diff.Desired
	for i := range nUsers {
		if rs[i] == tombstone {
			continue
		}
		mapped.releaseBefore(rs[i])
		mapped.desired(rs[i], &rd, &d)
		extIsID := rd.s[0] == 1
		rd.s = rd.s[1:]
		d.EntryID = targets.ID(int(rd.uvarint()))
		if extIsID {
			d.Account.ExternalID = d.EntryID
		}
		if p, _ := tr.ReadPending(rd.s, targets); p != nil {
			tr.ResolveTargets(&d.Account, p, targets)
		}
		if !d.Invalid && d.Account.ExternalID == "" {
			d.Invalid = true
			d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "The mapping yields an empty join key; entry skipped"}
			d.Account.ExternalID = d.EntryID
		}
		d.Account.Source = s.source
		out.add(&d)
		s.reportMap(out.len(), live) // tombstones not counted: the last report is the end
	}
	return out, live, cursor, nil
}

// lowerAttrNames gives e's attributes lower-case names, merging the values
// of names spelled in several cases in the order connector.NewSnapshot
// merges them, so that an entry mapped as it arrives reads as the same
// entry in a Snapshot does: a connector that builds Attrs literally
// ("Mail") plans alike on every read path. The connector's map is copied,
// not changed, and only when a name needs it (rare).
func lowerAttrNames(e *connector.Entry) {
	var odd []string
	for k := range e.Attrs {
		if strings.ToLower(k) != k {
			odd = append(odd, k)
		}
	}
	if odd == nil {
		return
	}
	slices.Sort(odd)
	a := maps.Clone(e.Attrs)
	for _, k := range odd {
		lower := strings.ToLower(k)
		a[lower] = append(slices.Clip(a[lower]), a[k]...)
		delete(a, k)
	}
	e.Attrs = a
}

// slimEntry keeps what the index needs of a mapped user entry: identity,
// place, memberships and the named attributes.
func slimEntry(e connector.Entry, keep []string) connector.Entry {
	slim := connector.Entry{ID: e.ID, Kind: e.Kind, DN: e.DN, Path: e.Path, Disabled: e.Disabled,
		Deleted: e.Deleted, MemberOf: e.MemberOf, Members: e.Members}
	for _, name := range keep {
		if v := e.Attrs.Values(name); v != nil {
			if slim.Attrs == nil {
				slim.Attrs = make(connector.Attrs, len(keep))
			}
			slim.Attrs.Set(name, v...)
		}
	}
	return slim
}

func (s *Syncer) reportMap(done, total int) {
	if done%1000 == 0 || done == total {
		s.report(Progress{Phase: PhaseMap, Done: done, Total: total})
	}
}

// read drains src, reporting progress. Any error aborts.
func (s *Syncer) read(ctx context.Context, src entrySource) ([]connector.Entry, connector.Cursor, error) {
	s.report(Progress{Phase: PhaseRead})
	var entries chunked[connector.Entry]
	cursor, err := src(ctx, func(e connector.Entry) error {
		entries.add(e)
		if n := entries.len(); n%1000 == 0 {
			s.report(Progress{Phase: PhaseRead, Done: n})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", entries.len(), err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	n := entries.len()
	s.report(Progress{Phase: PhaseRead, Done: n, Total: n})
	return entries.slice(), cursor, nil
}

// toDesired turns a mapped entry into the diff's input: the scope
// decision, and the mapping's failure or an empty join key as a reason to
// skip.
func (s *Syncer) toDesired(e *connector.Entry, acc diff.Account, mapErr error, snap *connector.Snapshot) diff.Desired {
	d := diff.Desired{EntryID: e.ID, Disabled: e.Disabled}
	dec := s.policy.Decide(e, snap)
	d.OutOfScope, d.Reason = !dec.In, dec.Reason
	switch {
	case mapErr != nil:
		d.Invalid = true
		d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "Cannot map this entry: " + mapErr.Error()}
		acc.ExternalID = e.ID
		acc.DisplayName = e.Attr("displayName")
	case acc.ExternalID == "":
		d.Invalid = true
		d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "The mapping yields an empty join key; entry skipped"}
		acc.ExternalID = e.ID
	}
	acc.Source = s.source
	d.Account = acc
	return d
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
// *ChangeError for each failure. When ctx is cancelled, Apply finishes no
// further change and the report marks the rest as not attempted.
//
// Apply trusts nothing a host can change in the Plan value:
//   - It checks the safety limits itself, on the changes it is given and
//     with the numbers the Syncer made the plan with (for a Plan value the
//     Syncer did not make, with the sink's own count of managed accounts).
//     A plan over the limits is refused, with an error wrapping
//     ErrSafetyLimit, unless every one of its changes was approved
//     (Plan.Approve, Plan.ApproveDigest).
//   - It applies under the exceptions as they are now: a change to an
//     account that became an exception after the plan was made is skipped
//     (StatusSkipped, with the exception as its reason), as is a change to
//     an account another integration manages.
//   - It saves the connector's cursor only when every change of the plan
//     as made applied: a subset (Plan.Search, or any selection) applies
//     its changes and leaves the cursor, so what was left out is planned
//     again by the next run.
//
// A panic in the sink's Apply or in Options.OnApplied is recovered and
// reported as that change's failure (its error wraps ErrPanic); Apply goes
// on with the next change, and the cursor stays where it was.
func (s *Syncer) Apply(ctx context.Context, p *Plan) (*Report, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.apply(ctx, p, "apply", "")
}

// ErrPanic is wrapped by the error of a change whose sink Apply or
// OnApplied hook panicked.
var ErrPanic = errors.New("dirsync: panic")

// ReasonExceptionAtApply marks a change skipped by Apply because its
// account became an exception after the plan was made.
const ReasonExceptionAtApply = "policy.exception-at-apply"

// ReasonForeign marks a change skipped by Apply because its account belongs
// to another integration.
const ReasonForeign = "conflict.foreign-account"

func (s *Syncer) apply(ctx context.Context, p *Plan, trigger, mode string) (*Report, error) {
	if p == nil {
		return nil, errors.New("dirsync: Apply: nil plan")
	}
	if p.Source != s.source {
		return nil, fmt.Errorf("dirsync: Apply: plan is for integration %q, not %q", p.Source, s.source)
	}
	if err := s.verifySafety(ctx, p); err != nil {
		return nil, err
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("dirsync: Apply: read exceptions (nothing applied): %w", err)
	}
	except := s.policy.Options(s.now(), extra...).Except

	r := &Report{Source: s.source, Started: s.now()}
	total := p.Actionable()
	var errs []error
	done, skipped := 0, 0
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
		if why, skip := s.skipAtApply(&c, except); skip {
			res.Status, res.Reason = StatusSkipped, why
			r.Results = append(r.Results, res)
			skipped++
			s.log.InfoContext(ctx, "change skipped", "op", c.Op.String(), "key", c.Key, "why", why.Detail)
			continue
		}
		if err := s.applyOne(ctx, &res); err != nil {
			res.Status, res.Err = StatusFailed, err
			errs = append(errs, &ChangeError{Change: c, Err: err})
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
	if len(errs) == 0 && skipped == 0 && p.cursor != nil && p.unchanged() {
		// Every change of the plan as made applied: the connector's
		// position may move on.
		if err := s.saveCursor(context.WithoutCancel(ctx), p, r); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.record(ctx, p, r, trigger, mode); err != nil {
		errs = append(errs, err)
	}
	s.log.InfoContext(ctx, "apply finished", "applied", r.Count(StatusApplied), "failed", r.Count(StatusFailed),
		"skipped", skipped)
	return r, errors.Join(errs...)
}

// verifySafety checks the safety limits with numbers Apply trusts, and the
// approval against the changes it is about to apply.
func (s *Syncer) verifySafety(ctx context.Context, p *Plan) error {
	in := policy.SafetyInput{Managed: p.facts.managed, SourceUsers: p.facts.sourceUsers, Incremental: p.facts.incremental}
	if !p.facts.made {
		// Not a plan this Syncer made: count for ourselves. How many
		// users the directory returned is unknown, so the empty-source
		// rule cannot apply, but the limits and the every-account rule do.
		current, err := s.accounts(ctx)
		if err != nil {
			return fmt.Errorf("dirsync: Apply: %w", err)
		}
		in.Managed, in.Incremental = managedIn(current, s.source), true
	}
	err := s.policy.CheckSafety(&p.Plan, in)
	if err == nil {
		return nil
	}
	if p.approved != nil && p.covered() {
		return nil
	}
	if p.approved != nil {
		return fmt.Errorf("dirsync: Apply: the plan holds changes that were not approved: %w", err)
	}
	return fmt.Errorf("dirsync: Apply: plan not approved: %w", err)
}

// skipAtApply reports a change Apply must not carry out: its account is an
// exception now, or belongs to another integration.
func (s *Syncer) skipAtApply(c *diff.Change, except func(*diff.Account) (diff.Reason, bool)) (diff.Reason, bool) {
	for _, a := range []*diff.Account{c.Before, c.After} {
		if a == nil {
			continue
		}
		if a.Managed && a.Source != "" && a.Source != s.source {
			return diff.Reason{Code: ReasonForeign, Detail: "Not applied: the account is managed by another integration (" + a.Source + ")"}, true
		}
		if except == nil {
			continue
		}
		if r, ok := except(a); ok {
			detail := r.Detail
			if detail == "" {
				detail = "never touched by sync"
			}
			return diff.Reason{Code: ReasonExceptionAtApply,
				Detail: "Not applied: the account became an exception after the plan was made (" + detail + ")"}, true
		}
	}
	return diff.Reason{}, false
}

// applyOne hands one change to the sink and then to OnApplied, turning a
// panic in either into an error wrapping ErrPanic.
func (s *Syncer) applyOne(ctx context.Context, res *Result) (err error) {
	stage := "sink Apply"
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "panic", "in", stage, "key", res.Change.Key, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			err = fmt.Errorf("%w in %s: %v", ErrPanic, stage, v)
		}
	}()
	if err := s.sink.Apply(ctx, res.Change); err != nil {
		return err
	}
	if s.applied != nil {
		stage = "OnApplied"
		applied := *res
		applied.Status = StatusApplied
		s.applied(ctx, applied)
	}
	return nil
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
// touched by this integration and are listed in plans as skipped. A plan
// made before still holds changes to them; Apply skips those. Concurrent
// calls lose no update (see Updater).
func (s *Syncer) AddException(ctx context.Context, x policy.Exception) error {
	if _, err := policy.NewExceptions([]policy.Exception{x}); err != nil {
		return err
	}
	return updateJSON(ctx, s.store, s.key("exceptions"), func(list *[]policy.Exception) error {
		if !slices.Contains(*list, x) {
			*list = append(*list, x)
		}
		return nil
	})
}

// RemoveException removes a persisted exception equal to x.
func (s *Syncer) RemoveException(ctx context.Context, x policy.Exception) error {
	return updateJSON(ctx, s.store, s.key("exceptions"), func(list *[]policy.Exception) error {
		*list = slices.DeleteFunc(*list, func(have policy.Exception) bool { return have == x })
		if *list == nil {
			*list = []policy.Exception{}
		}
		return nil
	})
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
