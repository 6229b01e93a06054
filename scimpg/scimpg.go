// Package scimpg keeps the resources of connector/scim on PostgreSQL,
// through pgx v5, so that every replica of a host serves every
// integration's SCIM endpoint: a load balancer may send each request of
// a provider to any replica.
//
// Each replica opens a Store on its pool, and for each integration a
// scim.Server on Store.Resources(integration). Resources implements
// scim.Shared, so the Servers of one integration on all replicas behave
// as one:
//
//   - a write acknowledged by one replica is read back from any other at
//     once: before it answers a request (and before the Syncer's Read
//     and ReadChanges), a Server reads what was written after its own
//     sequence number, one indexed query that returns nothing more than
//     the integration's row when nothing changed;
//   - writes are serialised per integration across replicas by a row
//     lock on the integration (SELECT ... FOR UPDATE, held until the
//     write commits): under it the Server catches up, checks userName
//     and group displayName uniqueness and applies a PATCH to the current
//     version, takes the next sequence number and stores the resource, so
//     two replicas never both accept one userName, never lose one of two
//     concurrent PATCHes of a group's members, and never hand out one
//     sequence number twice;
//   - the token hash is in the same row: a token rotated or revoked on one
//     replica is refused by every replica from the moment RotateToken
//     returns.
//
// A write is acknowledged to the provider after its transaction
// committed, so it is as durable as the database's commits
// (synchronous_commit). A commit whose outcome is unknown (the
// connection dropped during COMMIT) is answered 500; when it did commit,
// every replica reads it back from the next request on, and the
// provider's retry finds it (a POST retried gets 409 uniqueness, which
// Entra and Okta resolve by querying the userName).
//
// The lock is a row lock of the write's own transaction: nothing is held
// between requests, a replica that dies mid-write loses nothing (the
// transaction rolls back), and a pooler in transaction mode (PgBouncer's
// pool_mode=transaction) is fine. The requests a replica receives while
// one transaction runs go together in its next one (group commit: four
// round trips and one commit for the batch); reads cost one query each.
//
// The tables live in the schema Options.Schema (default "dirsync",
// beside store/pgstore's), named scim_integrations and scim_resources,
// with their own migration versions (scim_migrations). Migrate applies
// the embedded migrations; call it at deploy time or on start (replicas
// calling it at once take turns). Using a schema that was not migrated is
// an error wrapping ErrNotMigrated.
//
// OnChange of each Server runs on the replica that accepted the write:
// wire it to riversync.SyncNow, which coalesces the calls of every
// replica into one waiting job per integration.
package scimpg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dirsync-go/dirsync/internal/pgmigrate"

	"github.com/dirsync-go/dirsync/connector/scim"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var migrationSet = pgmigrate.Set{FS: migrationFS, Prefix: "scimpg", Table: "scim_migrations", TooNew: ErrSchemaTooNew}

// ErrNotMigrated reports a schema without this package's tables: call
// Migrate.
var ErrNotMigrated = errors.New("scimpg: schema not migrated (call Migrate)")

// ErrSchemaTooNew reports a schema migrated by a newer version of this
// package than the running one.
var ErrSchemaTooNew = errors.New("scimpg: schema was migrated by a newer version")

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the tables. Default
	// "dirsync". Letters, digits and '_', starting with a letter or '_',
	// at most 63 bytes.
	Schema string
}

// Store keeps the SCIM resources of any number of integrations in one
// PostgreSQL schema. It is safe for concurrent use, and any number of
// processes may open it on the same database.
type Store struct {
	pool         *pgxpool.Pool
	schema       string
	integrations string // quoted schema.scim_integrations
	resources    string // quoted schema.scim_resources
}

var validSchema = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// New returns a Store on pool. It does not touch the database: call
// Migrate before the first use.
func New(pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("scimpg: New: nil pool")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = "dirsync"
	}
	if !validSchema.MatchString(o.Schema) {
		return nil, fmt.Errorf("scimpg: New: schema name %q: use letters, digits and '_' (at most 63)", o.Schema)
	}
	return &Store{pool: pool, schema: o.Schema,
		integrations: pgx.Identifier{o.Schema, "scim_integrations"}.Sanitize(),
		resources:    pgx.Identifier{o.Schema, "scim_resources"}.Sanitize()}, nil
}

// Migrate creates the schema when missing and applies the embedded
// migrations it has not applied yet, in one transaction, so a failed
// migration leaves the schema as it was. It is safe to call from several
// replicas at once and on every start. A schema migrated by a newer
// version is an error wrapping ErrSchemaTooNew, and nothing is changed.
func (s *Store) Migrate(ctx context.Context) error {
	return migrationSet.Migrate(ctx, s.pool, s.schema)
}

// Resources returns the resources of one integration (any name the host
// gives it, such as the integration's Source), for scim.Config.Resources.
// It does not touch the database.
func (s *Store) Resources(integration string) *Resources {
	return &Resources{st: s, name: integration}
}

// Remove deletes everything an integration's resources hold: what a host
// does when the integration is removed (after the Syncer's PlanRemoval
// was applied). The Servers of the integration must no longer serve it.
func (s *Store) Remove(ctx context.Context, integration string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.integrations+` WHERE integration = $1`, integration)
	return s.wrap("remove", integration, err)
}

// wrap names the operation and the integration and turns a missing table
// into ErrNotMigrated.
func (s *Store) wrap(op, integration string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // undefined_table, invalid_schema_name
		return fmt.Errorf("%w: schema %s: %s %q: %v", ErrNotMigrated, s.schema, op, integration, err)
	}
	return fmt.Errorf("scimpg: %s %q: %w", op, integration, err)
}

// Resources are one integration's SCIM resources in a Store: a
// scim.Resources and scim.Shared. Any number of them, in any number of
// processes, may serve one integration at once.
type Resources struct {
	st   *Store
	name string
}

var (
	_ scim.Resources = (*Resources)(nil)
	_ scim.Shared    = (*Resources)(nil)
)

const recordColumns = `id, type, seq, created_seq, created, modified, deleted, attrs`

// Load implements scim.Resources.
func (r *Resources) Load(ctx context.Context) (*scim.State, error) {
	d, err := r.Since(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &scim.State{Records: d.Records, TokenHash: d.TokenHash}, nil
}

// Since implements scim.Shared, in one query (one snapshot).
func (r *Resources) Since(ctx context.Context, seq uint64) (*scim.Delta, error) {
	rows, err := r.st.pool.Query(ctx, `SELECT i.seq, i.token_hash, `+prefixed("x.", recordColumns)+`
		FROM `+r.st.integrations+` i
		LEFT JOIN `+r.st.resources+` x ON x.integration = i.integration AND x.seq > $2
		WHERE i.integration = $1
		ORDER BY x.seq`, r.name, int64(seq))
	if err != nil {
		return nil, r.st.wrap("read", r.name, err)
	}
	defer rows.Close()
	d := &scim.Delta{}
	for rows.Next() {
		var (
			iseq  int64
			token []byte
			n     nullRecord
		)
		if err := rows.Scan(append([]any{&iseq, &token}, n.dest()...)...); err != nil {
			return nil, r.st.wrap("read", r.name, err)
		}
		d.Seq, d.TokenHash = uint64(iseq), token
		if rec, ok := n.record(); ok {
			d.Records = append(d.Records, rec)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, r.st.wrap("read", r.name, err)
	}
	return d, nil
}

// Write implements scim.Shared: one transaction that locks the
// integration's row, reads what was stored after seq, calls f, and
// stores its write.
func (r *Resources) Write(ctx context.Context, seq uint64, f func(*scim.Delta) ([]scim.Write, error)) error {
	return r.tx(ctx, "write", func(tx pgx.Tx, d *scim.Delta) ([]scim.Write, error) {
		if d.Seq > seq {
			rows, err := tx.Query(ctx, `SELECT `+recordColumns+` FROM `+r.st.resources+`
				WHERE integration = $1 AND seq > $2 ORDER BY seq`, r.name, int64(seq))
			if err != nil {
				return nil, err
			}
			recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scim.Record, error) {
				var n nullRecord
				if err := row.Scan(n.dest()...); err != nil {
					return scim.Record{}, err
				}
				rec, _ := n.record()
				return rec, nil
			})
			if err != nil {
				return nil, err
			}
			d.Records = recs
		}
		ws, err := f(d)
		if err != nil {
			return nil, &callerError{err}
		}
		return ws, nil
	})
}

// Put implements scim.Resources, for callers other than a scim.Server
// (which writes through Write): it stores the record under the
// integration's lock and moves the sequence number up to its Seq.
func (r *Resources) Put(ctx context.Context, rec scim.Record) error {
	return r.tx(ctx, "put", func(_ pgx.Tx, d *scim.Delta) ([]scim.Write, error) {
		return []scim.Write{{Seq: max(d.Seq, rec.Seq), Record: &rec}}, nil
	})
}

// SetTokenHash implements scim.Resources, for callers other than a
// scim.Server: it replaces the token hash and takes the next sequence
// number, so that every replica sees the change.
func (r *Resources) SetTokenHash(ctx context.Context, hash []byte) error {
	return r.tx(ctx, "store token hash", func(_ pgx.Tx, d *scim.Delta) ([]scim.Write, error) {
		return []scim.Write{{Seq: d.Seq + 1, TokenHash: hash}}, nil
	})
}

// callerError carries the error of Write's f through the transaction,
// returned as it is.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }

// tx runs one write transaction: it locks the integration's row
// (creating it first when missing), passes its sequence number and token
// hash to f, and stores what f returns, in one round trip. Each write
// must carry the next sequence number (a Record write its Record's Seq
// too); Put's single write may carry the integration's own or any above.
func (r *Resources) tx(ctx context.Context, op string, f func(pgx.Tx, *scim.Delta) ([]scim.Write, error)) error {
	err := pgx.BeginFunc(ctx, r.st.pool, func(tx pgx.Tx) error {
		d, err := r.lock(ctx, tx)
		if err != nil {
			return err
		}
		cur := d.Seq
		token, tokenSet := d.TokenHash, false
		ws, err := f(tx, d)
		if err != nil || len(ws) == 0 {
			return err
		}
		var batch pgx.Batch
		for i, w := range ws {
			want := cur + uint64(i) + 1
			switch {
			case w.Record == nil && w.Seq != want:
				return fmt.Errorf("a token write at sequence number %d: want %d", w.Seq, want)
			case w.Record != nil && (w.Record.ID == "" || w.Record.Type == ""):
				return errors.New("a record without id or type")
			case w.Record != nil && op == "put" && (len(ws) != 1 || w.Record.Seq > w.Seq || w.Seq < cur):
				return fmt.Errorf("record %s at sequence number %d (write %d, integration %d)", w.Record.ID, w.Record.Seq, w.Seq, cur)
			case w.Record != nil && op != "put" && (w.Seq != want || w.Record.Seq != w.Seq):
				return fmt.Errorf("record %s at sequence number %d (write %d): want %d", w.Record.ID, w.Record.Seq, w.Seq, want)
			}
			if w.Record == nil {
				token, tokenSet = w.TokenHash, true
				continue
			}
			x := w.Record
			batch.Queue(`INSERT INTO `+r.st.resources+` (integration, `+recordColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (integration, id) DO UPDATE SET type = excluded.type, seq = excluded.seq,
					created_seq = excluded.created_seq, created = excluded.created, modified = excluded.modified,
					deleted = excluded.deleted, attrs = excluded.attrs`,
				r.name, x.ID, x.Type, int64(x.Seq), int64(x.CreatedSeq), x.Created, x.Modified, x.Deleted, []byte(x.Attrs))
		}
		last := ws[len(ws)-1].Seq
		if tokenSet {
			batch.Queue(`UPDATE `+r.st.integrations+` SET seq = $2, token_hash = $3, updated_at = now() WHERE integration = $1`,
				r.name, int64(last), token)
		} else {
			batch.Queue(`UPDATE `+r.st.integrations+` SET seq = $2, updated_at = now() WHERE integration = $1`, r.name, int64(last))
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
	var ce *callerError
	if errors.As(err, &ce) {
		return ce.err
	}
	return r.st.wrap(op, r.name, err)
}

// lock locks the integration's row, creating it when missing, and
// returns its sequence number and token hash.
func (r *Resources) lock(ctx context.Context, tx pgx.Tx) (*scim.Delta, error) {
	for range 2 {
		var seq int64
		var token []byte
		err := tx.QueryRow(ctx, `SELECT seq, token_hash FROM `+r.st.integrations+` WHERE integration = $1 FOR UPDATE`, r.name).Scan(&seq, &token)
		if err == nil {
			return &scim.Delta{Seq: uint64(seq), TokenHash: token}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		// The first write of the integration: create its row (or find
		// the one another writer just created) and lock it.
		if _, err := tx.Exec(ctx, `INSERT INTO `+r.st.integrations+` (integration) VALUES ($1) ON CONFLICT DO NOTHING`, r.name); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("the row of integration %q vanished (removed meanwhile?)", r.name)
}

// nullRecord scans the record columns of an outer join.
type nullRecord struct {
	id, typ           *string
	seq, createdSeq   *int64
	created, modified *time.Time
	deleted           *bool
	attrs             []byte
}

func (n *nullRecord) dest() []any {
	return []any{&n.id, &n.typ, &n.seq, &n.createdSeq, &n.created, &n.modified, &n.deleted, &n.attrs}
}

func (n *nullRecord) record() (scim.Record, bool) {
	if n.id == nil {
		return scim.Record{}, false
	}
	rec := scim.Record{ID: *n.id, Type: *n.typ, Seq: uint64(*n.seq), CreatedSeq: uint64(*n.createdSeq),
		Created: n.created.UTC(), Modified: n.modified.UTC(), Deleted: *n.deleted}
	if len(n.attrs) > 0 {
		rec.Attrs = n.attrs
	}
	return rec, true
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
