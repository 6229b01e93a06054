// Package pgstore is a store.Store on PostgreSQL, through pgx v5, for
// hosts that run their app on several replicas: every replica opens the
// same Store, and each key (an integration's cursor, exceptions, history,
// fingerprint, pending plan) stays consistent under concurrent writers in
// several processes.
//
// The store keeps its table in its own schema (Options.Schema, default
// "dirsync"). Its migrations are embedded in the package and applied by an
// explicit call to Migrate, typically at deploy time or when the app
// starts; several replicas calling Migrate at once is safe (they take turns
// on an advisory lock). Using a store whose schema was not migrated is an
// error wrapping ErrNotMigrated.
//
// Store implements store.Updater: Update reads the row with SELECT ...
// FOR UPDATE in a transaction (a missing key is inserted with ON CONFLICT
// DO NOTHING and retried when another writer created it first), so a
// read-modify-write of one key never interleaves with another, in any
// process.
//
// Values are opaque bytes (bytea); the store cannot tell a damaged value
// from a valid one, so corrupt JSON is reported by the Syncer that reads
// it, as an error wrapping store.ErrCorruptStore.
//
// # Locks
//
// Store implements store.Locker, so a Syncer on it takes its
// integration's lock here on every path that applies (runs, Apply,
// ApplyShown, ApprovePending), and Syncers of one integration in any
// number of processes sharing the schema never apply side by side. A held
// lock, and a Lock waiting for one, keeps one connection of the pool for
// itself: give the pool more connections than runs that may hold or wait
// for a lock at once (River's MaxWorkers, say), since each run needs
// others for its reads and writes. A held lock is two things on its
// connection:
//
//   - a session-level advisory lock (pg_advisory_lock, keyed by the schema
//     and the lock's name), which nobody else gets while the holder's
//     session lives, and which a waiter gets the moment it is released;
//   - a lease, a row of the schema's locks table (holder token, renewed_at,
//     grace, the holder's backend pid), which a heartbeat on the same
//     connection renews every Options.LockHeartbeat (default 1s), each
//     renewal bounded by Options.LockHeartbeatTimeout (default 1s).
//
// A holder that has not renewed its lease within heartbeat + timeout of
// its last renewal (2s by default) gives the lock up: it closes the lock's
// connection, which ends the advisory lock if the session still lived, and
// closes Lost, upon which the Syncer stops (store.Locker). That covers the
// ways a lock goes without its holder asking: pg_terminate_backend, a
// restart or failover of the database, a proxy or firewall that drops the
// connection, a partition, a database too slow to answer.
//
// The advisory lock alone goes the instant the holder's session ends,
// long before the holder can notice. So Lock, when it finds a lease that
// was not released (its holder still set) and was renewed less than its
// grace ago, holds the advisory lock and waits until that grace has passed
// before it returns. The grace is twice the time its holder needs to
// notice (Store.LockGrace: 4s with the defaults), and each holder writes
// its own into its lease, so replicas with different settings still wait
// long enough for each other; renewed_at and the wait are both measured on
// the database's clock. An Unlock clears the lease, and the next holder
// proceeds at once: the grace is paid only after a lock was lost.
//
// What is guaranteed: when Lock returns, no other Lock of that name in
// that schema, in any process, is held or still unaware that it was lost:
// a holder that lost it has closed Lost, at least half a grace before —
// provided the holder's process keeps running (one stopped for longer than
// the grace, by SIGSTOP, a frozen VM or a stop-the-world pause, notices
// only when it runs again) and the database keeps what it committed (a
// failover to an asynchronous standby that missed the last renewals
// shortens the wait by as much; the clocks of the old and new primary
// should agree).
//
// What is not: Lost stops the holder's next step, not the one it is in. A
// sink call in flight when the holder notices completes, and if it takes
// longer than the rest of the grace (2s or more with the defaults), it
// completes after the next holder started; sinks must be idempotent, as
// the dirsync Sink contract requires, so that the next run's repeat of
// that change does no harm. Likewise a store write (a cursor, a run record)
// the holder began just before it noticed can land late; the Syncer writes
// a cursor only when every change of its plan applied, so a late one is
// never ahead of the app. The lock needs a real session: a pooler in
// transaction mode (PgBouncer's pool_mode=transaction) breaks session-level
// advisory locks and must not sit between the Store and PostgreSQL.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dirsync-go/dirsync/internal/pgmigrate"

	"github.com/dirsync-go/dirsync/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var migrationSet = pgmigrate.Set{FS: migrationFS, Prefix: "pgstore", Table: "migrations", TooNew: ErrSchemaTooNew}

// ErrNotMigrated reports a store whose schema lacks the tables of this
// version: call Migrate.
var ErrNotMigrated = errors.New("pgstore: schema not migrated (call Migrate)")

// ErrSchemaTooNew reports a schema migrated by a newer version of this
// package than the running one.
var ErrSchemaTooNew = errors.New("pgstore: schema was migrated by a newer version")

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables.
	// Default "dirsync". Letters, digits and '_', starting with a letter
	// or '_', at most 63 bytes.
	Schema string
	// LockHeartbeat is how often a held lock (Lock) renews its lease, on
	// the lock's own connection. Default DefaultLockHeartbeat (1s).
	LockHeartbeat time.Duration
	// LockHeartbeatTimeout bounds each renewal: a holder that has not
	// renewed within LockHeartbeat+LockHeartbeatTimeout of its last
	// renewal gives the lock up as lost. Default
	// DefaultLockHeartbeatTimeout (1s). A lock that was not released
	// cleanly is taken by another holder no sooner than twice that sum
	// after its last renewal (LockGrace: 4s with the defaults).
	LockHeartbeatTimeout time.Duration
}

// Store is a store.Store and store.Updater in a PostgreSQL schema. It
// is safe for concurrent use, and any number of processes may open it on
// the same database.
type Store struct {
	pool        *pgxpool.Pool
	schema      string // as given, unquoted
	table       string // quoted schema.kv
	locks       string // quoted schema.locks
	beat        time.Duration
	beatTimeout time.Duration
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Updater = (*Store)(nil)
)

var validSchema = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// New returns a Store on pool. It does not touch the database: call
// Migrate once before the first use.
func New(pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New: nil pool")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = "dirsync"
	}
	if !validSchema.MatchString(o.Schema) {
		return nil, fmt.Errorf("pgstore: New: schema name %s: use letters, digits and '_' (at most 63)", store.QuoteKey(o.Schema))
	}
	if o.LockHeartbeat == 0 {
		o.LockHeartbeat = DefaultLockHeartbeat
	}
	if o.LockHeartbeatTimeout == 0 {
		o.LockHeartbeatTimeout = DefaultLockHeartbeatTimeout
	}
	if o.LockHeartbeat < time.Millisecond || o.LockHeartbeatTimeout < time.Millisecond {
		return nil, fmt.Errorf("pgstore: New: LockHeartbeat %v and LockHeartbeatTimeout %v: want at least 1ms each (0 for the defaults)",
			o.LockHeartbeat, o.LockHeartbeatTimeout)
	}
	return &Store{pool: pool, schema: o.Schema,
		table: pgx.Identifier{o.Schema, "kv"}.Sanitize(), locks: pgx.Identifier{o.Schema, "locks"}.Sanitize(),
		beat: o.LockHeartbeat, beatTimeout: o.LockHeartbeatTimeout}, nil
}

// Schema returns the name of the store's schema.
func (s *Store) Schema() string { return s.schema }

// Latest returns the version of the newest embedded migration.
func Latest() int {
	ms, err := migrationSet.Load()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Migrate creates the schema when missing and applies the embedded
// migrations it has not applied yet, in one transaction with the versions
// they reach, so a failed migration leaves the schema as it was.
// It is safe to call from several replicas at once and on every start.
// A schema migrated by a newer version is an error wrapping
// ErrSchemaTooNew, and nothing is changed.
func (s *Store) Migrate(ctx context.Context) error {
	return migrationSet.Migrate(ctx, s.pool, s.schema)
}

// wrap names the operation and the key (bounded by store.QuoteKey) and
// turns a missing table into ErrNotMigrated.
func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // undefined_table, invalid_schema_name
		return fmt.Errorf("%w: schema %s: %s %s: %v", ErrNotMigrated, s.schema, op, store.QuoteKey(key), err)
	}
	return fmt.Errorf("pgstore: %s %s: %w", op, store.QuoteKey(key), err)
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM `+s.table+` WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, store.QuoteKey(key))
	}
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.table+` (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`, key, value)
	return s.wrap("put", key, err)
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE key = $1`, key)
	return s.wrap("delete", key, err)
}

// maxInsertRaces bounds the retries of an Update that keeps losing the race
// to create a missing key; each loss means another writer made progress.
const maxInsertRaces = 100

// Update implements store.Updater, atomically across processes: the row
// is locked (SELECT ... FOR UPDATE) for the whole read-modify-write. When
// the key is missing and another writer creates it meanwhile, the insert
// does nothing and f is called again with that writer's value.
func (s *Store) Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error {
	for range maxInsertRaces {
		retry := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var old []byte
			err := tx.QueryRow(ctx, `SELECT value FROM `+s.table+` WHERE key = $1 FOR UPDATE`, key).Scan(&old)
			found := err == nil
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return s.wrap("update", key, err)
			}
			if found && old == nil {
				old = []byte{}
			}
			v, err := f(old, found)
			if err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			if found {
				_, err := tx.Exec(ctx, `UPDATE `+s.table+` SET value = $2, updated_at = now() WHERE key = $1`, key, v)
				return s.wrap("update", key, err)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO `+s.table+` (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, v)
			if err != nil {
				return s.wrap("update", key, err)
			}
			if tag.RowsAffected() == 0 {
				retry = true // created by another writer since our read
			}
			return nil
		})
		if err != nil || !retry {
			return err
		}
	}
	return fmt.Errorf("pgstore: update %s: lost the race to create the key %d times", store.QuoteKey(key), maxInsertRaces)
}
