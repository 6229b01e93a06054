package dirsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/planner"
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
	// Clock is the time source: of plans (the time a block is stamped
	// with, a grace period's end), of history records and of Run's
	// schedule. Default: the system clock. Tests pass one they control.
	Clock Clock
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
	// ApplyConcurrency bounds the sink calls Apply makes at once (see
	// Syncer.Apply for the order it keeps). Default: what the sink
	// declares (ConcurrentSink), else 1, one change at a time.
	ApplyConcurrency int
	// OnApplied, if set, is called after each change that applied, in plan
	// order (with ApplyConcurrency above 1, one call at a time, in the
	// order the changes finish), with the change and its reasons: a created account is the
	// host's cue to send the invitation, a blocked one to end sessions if
	// its sink did not.
	OnApplied func(context.Context, Result)
	// Observer, if set, is told as each stage of a run begins and ends
	// (see Observer): package telemetry turns that into metrics and
	// traces.
	Observer Observer
	// Log configures the provisioning log: one entry per change each
	// apply carried out, failed or skipped, kept in Store for a bounded
	// time and count and read with Syncer.Log. On by default.
	Log LogOptions
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

// Clock is a Syncer's time source (Options.Clock).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

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
// runs, ApplyShown and ApprovePending take turns; SyncNow and NextRun
// may be called from any goroutine.
type Syncer struct {
	conn             connector.Connector
	sink             Sink
	source           string
	mapper           mapping.Mapper
	policy           *policy.Policy
	store            Store
	log              *slog.Logger
	progress         func(Progress)
	clock            Clock
	planner          *planner.Planner
	history          int
	applied          func(context.Context, Result)
	applyConcurrency int
	fullEvery        time.Duration
	alwaysFull       bool
	observer         Observer
	logOpts          LogOptions

	runMu   sync.Mutex // one run or apply at a time
	hookMu  sync.Mutex // OnApplied and Progress, one call at a time
	syncNow chan struct{}
	nextRun atomic.Pointer[time.Time] // NextRun; nil while Run is not waiting
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
		store: o.Store, log: o.Logger, progress: o.Progress, clock: o.Clock, history: o.HistoryLimit,
		applied: o.OnApplied, applyConcurrency: o.ApplyConcurrency, fullEvery: o.FullEvery, alwaysFull: o.AlwaysFull, observer: o.Observer,
		logOpts: o.Log, syncNow: make(chan struct{}, 1)}
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
	if sy.clock == nil {
		sy.clock = systemClock{}
	}
	if sy.history <= 0 {
		sy.history = 100
	}
	if sy.logOpts.MaxAge == 0 {
		sy.logOpts.MaxAge = DefaultLogMaxAge
	}
	if sy.logOpts.MaxEntries == 0 {
		sy.logOpts.MaxEntries = DefaultLogMaxEntries
	}
	sy.planner = planner.New(planner.Config{Source: sy.source, Connector: c, Sink: s, Mapper: sy.mapper,
		Policy: sy.policy, Log: sy.log, Now: sy.now, FullEvery: sy.fullEvery, AlwaysFull: sy.alwaysFull,
		Progress: func(ph planner.Phase, done, total int) {
			sy.report(Progress{Phase: Phase(ph), Done: done, Total: total})
		}, ObserveRead: sy.observeRead()})
	return sy, nil
}

var validSource = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Source returns the integration name.
func (s *Syncer) Source() string { return s.source }

func (s *Syncer) now() time.Time { return s.clock.Now() }

func (s *Syncer) report(p Progress) {
	if s.progress != nil {
		s.progress(p)
	}
}
