// Package riversync runs dirsync integrations from River
// (github.com/riverqueue/river), the Go job queue on PostgreSQL, for hosts
// that run their app on several replicas. The in-process Syncer.Run stays
// the default for one replica; with several, each replica runs a River
// client with this package's Worker, and:
//
//   - a sync is a River job (SyncArgs: the integration and the trigger);
//   - PeriodicJob schedules one integration (every N hours with jitter, or
//     daily at a time); River's leader election means one replica inserts
//     each scheduled job;
//   - SyncNow inserts a "sync now" job with River's uniqueness, so presses
//     on any replica coalesce: while one sync-now job waits, more presses
//     add nothing; while one runs, presses queue exactly one more run
//     (which will read the directory after the press);
//   - at most one run of an integration applies at any moment across all
//     replicas, and the same holds for Worker.ApprovePending and for what
//     the host's console calls on a Syncer (Apply, ApplyShown,
//     ApprovePending): each takes the integration's lock through the
//     Syncer's Store, which must be able to lock across processes
//     (store.Locker; store/pgstore is). The Worker takes no lock of its
//     own: a Syncer whose Store is not a store.Locker is refused with an
//     error wrapping ErrNoLock, since its runs could overlap another
//     replica's unseen.
//
// A lock can be lost while a run holds it: its connection is terminated,
// the database restarts or fails over, a proxy drops it. The holder
// notices within a bounded time (with store/pgstore, its heartbeat
// interval plus timeout), stops the apply after the sink call it is in,
// and writes neither the cursor nor the run record; the job then fails
// with an error wrapping store.ErrLockLost and River retries it. No other
// replica gets the lock before the holder that lost it must have noticed
// (store/pgstore's lease and grace), so the two never apply side by side.
// A replica that dies mid-run loses its connections, hence its lock; River
// rescues the job after its timeout (Config.JobTimeout) and another
// replica runs it. Apply is idempotent and the cursor is saved only after
// every change applied, so the retry converges.
//
// The integrations' state must live in a store every replica shares
// (store/pgstore) so that cursors, exceptions, history, pending plans and
// locks are the same everywhere.
package riversync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/dirsync-go/dirsync"
)

// SyncArgs is the job of one sync of one integration.
type SyncArgs struct {
	// Integration is the integration's name, its Syncer's Source.
	Integration string `json:"integration" river:"unique"`
	// Trigger is recorded as the run's trigger.
	Trigger dirsync.Trigger `json:"trigger" river:"unique"`
	// Slot tells apart the two "sync now" jobs an integration may have at
	// once: one running, one waiting (see SyncNow).
	Slot int `json:"slot,omitempty" river:"unique"`
}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return "dirsync.sync" }

// Resolver returns the Syncer of an integration, built over the shared
// store, and the mode its runs use. The Worker calls it for every job and
// approval, before the Syncer takes the integration's lock: it must not
// apply anything itself.
type Resolver func(ctx context.Context, integration string) (*dirsync.Syncer, dirsync.Mode, error)

// Config configures a Worker.
type Config struct {
	// Pool is optional and not used by the Worker: the integration's lock
	// is the Syncer's, taken through its Store.
	Pool *pgxpool.Pool
	// Resolve finds an integration's Syncer. Required.
	Resolve Resolver
	// OnRun, if set, is called after each run with its record and error,
	// once the run has released the integration's lock (another replica
	// may be running the integration by then). A run that lost its lock
	// has an error wrapping store.ErrLockLost, and its record was not
	// written to History.
	OnRun func(ctx context.Context, integration string, rec dirsync.RunRecord, err error)
	// Logger receives diagnostics. Default: discard.
	Logger *slog.Logger
	// JobTimeout is how long one sync may run before River cancels it,
	// and so also how long a sync of a replica that died stays stuck
	// before River rescues it onto another replica: River's rescuer
	// leaves a job alone until its timeout has passed, and never rescues
	// a job without one. Default (zero) DefaultJobTimeout; negative: the
	// River client's own JobTimeout (River's default, one minute, would
	// cut a large first import short). A sync cancelled by the timeout
	// loses nothing: the cursor is saved only after every change applied,
	// and the next attempt plans what is left.
	JobTimeout time.Duration
}

// Worker is the River worker of SyncArgs jobs.
type Worker struct {
	river.WorkerDefaults[SyncArgs]
	cfg Config
}

// DefaultJobTimeout is the default Config.JobTimeout.
const DefaultJobTimeout = time.Hour

// Timeout implements river.Worker (see Config.JobTimeout).
func (w *Worker) Timeout(*river.Job[SyncArgs]) time.Duration {
	switch {
	case w.cfg.JobTimeout > 0:
		return w.cfg.JobTimeout
	case w.cfg.JobTimeout < 0:
		return 0 // River: the client's JobTimeout
	}
	return DefaultJobTimeout
}

// NewWorker returns a Worker; register it with river.AddWorker.
func NewWorker(cfg Config) (*Worker, error) {
	if cfg.Resolve == nil {
		return nil, errors.New("riversync: NewWorker: Resolve is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg}, nil
}

// ErrNoLock reports an integration whose Syncer cannot take its lock
// across processes (its Store is not a store.Locker): the Worker refuses
// to run it, since its runs could overlap another replica's.
var ErrNoLock = errors.New("riversync: the Syncer's Store cannot lock across processes (use store/pgstore)")

// Work implements river.Worker: one run of the integration (Syncer.RunOnce,
// which holds the integration's lock for the whole run). A run whose plan
// or apply failed, or that lost its lock, returns the error, so River
// retries it with backoff.
func (w *Worker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	name := job.Args.Integration
	trigger := job.Args.Trigger
	if trigger == "" {
		trigger = dirsync.TriggerSchedule
	}
	sy, mode, err := w.resolve(ctx, name)
	if err != nil {
		return err
	}
	rec, err := sy.RunOnce(ctx, trigger, mode)
	if w.cfg.OnRun != nil {
		w.cfg.OnRun(ctx, name, rec, err)
	}
	if err != nil {
		w.cfg.Logger.WarnContext(ctx, "sync failed", "integration", name, "attempt", job.Attempt, "err", err)
		return err
	}
	w.cfg.Logger.InfoContext(ctx, "sync done", "integration", name, "outcome", rec.Outcome)
	return nil
}

// ApprovePending approves the integration's pending plan (the one with the
// digest an admin was shown, on any replica) under the integration's
// lock, so it never overlaps a run or another approval on any replica. See
// Syncer.ApprovePending.
func (w *Worker) ApprovePending(ctx context.Context, integration, digest string) (*dirsync.Report, error) {
	sy, _, err := w.resolve(ctx, integration)
	if err != nil {
		return nil, err
	}
	return sy.ApprovePending(ctx, digest)
}

// resolve finds the integration's Syncer, and refuses one that cannot
// lock across processes.
func (w *Worker) resolve(ctx context.Context, integration string) (*dirsync.Syncer, dirsync.Mode, error) {
	sy, mode, err := w.cfg.Resolve(ctx, integration)
	if err != nil {
		return nil, 0, fmt.Errorf("riversync: integration %q: %w", integration, err)
	}
	if sy == nil {
		return nil, 0, fmt.Errorf("riversync: integration %q: Resolve returned no Syncer", integration)
	}
	if !sy.LocksAcrossProcesses() {
		return nil, 0, fmt.Errorf("riversync: integration %q: %w", integration, ErrNoLock)
	}
	return sy, mode, nil
}

// Inserter is what SyncNow needs of a River client (*river.Client[pgx.Tx]
// has it).
type Inserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// TxBeginner begins a transaction: *pgxpool.Pool, *pgx.Conn, or a
// pgx.Tx (then SyncNow's insert becomes part of that transaction, on a
// savepoint).
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// uniqueStates are the states in which a job blocks an equal one.
var uniqueStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}

// SyncNow asks for a sync of integration as soon as a worker is free, on
// any replica. Presses coalesce: it inserts a job only when no job of the
// integration waits to start (available, scheduled, retryable or
// pending). A job that is already running does not count as waiting — its
// read may predate the press — so one more job is queued behind it. It
// reports whether it inserted a job.
//
// River's uniqueness cannot skip running jobs, so an integration has two
// "sync now" slots (SyncArgs.Slot), each unique while its job waits or
// runs. SyncNow probes both in one transaction on db, serialised per
// integration by a transaction-level advisory lock: a unique insert that
// River skips returns the job already in the slot, in its current state,
// and a probe that did insert is rolled back to its savepoint. Then it
// inserts into a free slot only if neither slot's job waits. (Before, it
// tried slot 0 first and inserted there whenever slot 0 was free, even
// while slot 1's job still waited: a press between two runs queued a
// third.)
func SyncNow(ctx context.Context, db TxBeginner, client Inserter, integration string) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("riversync: sync now %q: %w", integration, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	inserted, err := syncNowTx(ctx, tx, client, integration)
	if err != nil {
		return false, fmt.Errorf("riversync: sync now %q: %w", integration, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("riversync: sync now %q: %w", integration, err)
	}
	return inserted, nil
}

func syncNowTx(ctx context.Context, tx pgx.Tx, client Inserter, integration string) (bool, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('dirsync.sync-now/' || $1, 0))`, integration); err != nil {
		return false, err
	}
	opts := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
	args := func(slot int) SyncArgs {
		return SyncArgs{Integration: integration, Trigger: dirsync.TriggerSyncNow, Slot: slot}
	}
	free := -1
	for slot := range 2 {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return false, err
		}
		res, err := client.InsertTx(ctx, sp, args(slot), opts)
		if err != nil {
			_ = sp.Rollback(ctx)
			return false, err
		}
		// Undo the probe: an insert is redone below if it is wanted.
		if err := sp.Rollback(ctx); err != nil {
			return false, err
		}
		switch {
		case !res.UniqueSkippedAsDuplicate:
			if free < 0 {
				free = slot
			}
		case res.Job == nil || res.Job.State != rivertype.JobStateRunning:
			return false, nil // that slot's job waits: it will read after the press
		}
	}
	if free < 0 {
		// Both slots' jobs are running: one holds the integration's lock
		// and the other waits for it (a run takes the lock before it
		// reads), so it has not read the directory.
		return false, nil
	}
	res, err := client.InsertTx(ctx, tx, args(free), opts)
	if err != nil {
		return false, err
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

// schedule adapts a dirsync.Schedule to river.PeriodicSchedule.
type schedule struct{ sc dirsync.Schedule }

func (s schedule) Next(t time.Time) time.Time { return t.Add(s.sc.Next(t, rand.Float64())) }

// PeriodicJob returns the River periodic job that syncs integration on sc
// (Every with Jitter, or DailyAt in Location; zero fields take the
// defaults of dirsync.RunOptions). Pass it in river.Config.PeriodicJobs or
// add it to a running client with PeriodicJobs().Add. Its jobs are unique
// per integration while one waits or runs.
func PeriodicJob(integration string, sc dirsync.Schedule) (*river.PeriodicJob, error) {
	if sc.Every <= 0 {
		sc.Every = 2 * time.Hour
	}
	if sc.Jitter == 0 {
		sc.Jitter = sc.Every / 10
	}
	if sc.Location == nil {
		sc.Location = time.Local
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return river.NewPeriodicJob(schedule{sc}, func() (river.JobArgs, *river.InsertOpts) {
		return SyncArgs{Integration: integration, Trigger: dirsync.TriggerSchedule},
			&river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
	}, &river.PeriodicJobOpts{ID: "dirsync.sync/" + integration}), nil
}

// Migrate creates or upgrades River's tables in schema ("" for the
// connection's search_path), with River's own migrations
// (rivermigrate). Call it, like pgstore's Migrate, at deploy time or on
// start; it is safe to repeat.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("riversync: migrate: %w", err)
	}
	if schema != "" {
		if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("riversync: migrate: %w", err)
		}
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("riversync: migrate: %w", err)
	}
	return nil
}
