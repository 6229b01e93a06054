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
//   - at most one sync of an integration runs at any moment across all
//     replicas: Worker.Work holds a PostgreSQL advisory lock, keyed by the
//     integration, on its own connection for the whole run, and
//     Worker.ApprovePending takes the same lock. A replica that dies
//     mid-run loses its connection, so the lock is released; River rescues
//     the job after RescueStuckJobsAfter and another replica runs it. Apply
//     is idempotent and the cursor is saved only after every change
//     applied, so the retry converges.
//
// The integrations' state must live in a store every replica shares
// (store/pgstore) so that cursors, exceptions, history and pending plans
// are the same everywhere.
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
// store, and the mode its runs use. The Worker calls it for every job,
// with the integration's lock held.
type Resolver func(ctx context.Context, integration string) (*dirsync.Syncer, dirsync.Mode, error)

// Config configures a Worker.
type Config struct {
	// Pool is the database the advisory locks are taken on: the one every
	// replica's River client uses.
	Pool *pgxpool.Pool
	// Resolve finds an integration's Syncer. Required.
	Resolve Resolver
	// OnRun, if set, is called after each run with its record and error,
	// with the integration's lock still held.
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
	if cfg.Pool == nil || cfg.Resolve == nil {
		return nil, errors.New("riversync: NewWorker: Pool and Resolve are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg}, nil
}

// Work implements river.Worker: one run of the integration (Syncer.RunOnce)
// under its lock. A run whose plan or apply failed returns the error, so
// River retries it with backoff.
func (w *Worker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	name := job.Args.Integration
	trigger := job.Args.Trigger
	if trigger == "" {
		trigger = dirsync.TriggerSchedule
	}
	return w.withLock(ctx, name, func(ctx context.Context) error {
		sy, mode, err := w.cfg.Resolve(ctx, name)
		if err != nil {
			return fmt.Errorf("riversync: integration %q: %w", name, err)
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
	})
}

// ApprovePending approves the integration's pending plan (the one with the
// digest an admin was shown, on any replica) under the integration's
// lock, so it never overlaps a scheduled run. See Syncer.ApprovePending.
func (w *Worker) ApprovePending(ctx context.Context, integration, digest string) (*dirsync.Report, error) {
	var rep *dirsync.Report
	err := w.withLock(ctx, integration, func(ctx context.Context) error {
		sy, _, err := w.cfg.Resolve(ctx, integration)
		if err != nil {
			return fmt.Errorf("riversync: integration %q: %w", integration, err)
		}
		rep, err = sy.ApprovePending(ctx, digest)
		return err
	})
	return rep, err
}

// withLock runs f holding the integration's session-level advisory lock on
// a connection of its own, waiting for the lock as long as ctx allows. If
// the process dies, PostgreSQL ends the session and releases the lock.
func (w *Worker) withLock(ctx context.Context, integration string, f func(context.Context) error) error {
	conn, err := w.cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("riversync: lock %q: %w", integration, err)
	}
	defer conn.Release()
	const key = `hashtextextended('dirsync.sync/' || $1, 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`, integration); err != nil {
		return fmt.Errorf("riversync: lock %q: %w", integration, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+key+`)`, integration); err != nil {
			// The session may still hold the lock: end it.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return f(ctx)
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
		// and the other waits for it, so it has not read the directory.
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
