package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dirsync-go/dirsync/store"
)

// The defaults of Options.LockHeartbeat and Options.LockHeartbeatTimeout.
const (
	DefaultLockHeartbeat        = time.Second
	DefaultLockHeartbeatTimeout = time.Second
)

// graceMargin multiplies the time a holder needs to notice a lost lock
// (heartbeat interval + timeout) into the grace another holder waits.
const graceMargin = 2

// unlockTimeout bounds Unlock's statements; when they do not finish in
// time the connection is closed, which releases the lock as well.
const unlockTimeout = 10 * time.Second

var _ store.Locker = (*Store)(nil)

// lockKey is the advisory-lock key of a lock name in a schema: locks of
// stores in two schemas of one database never meet.
func lockKey(schema, name string) string {
	return `hashtextextended('dirsync.pgstore.lock/' || ` + schema + ` || '/' || ` + name + `, 0)`
}

// LockGrace returns how long after a holder's last renewal another
// holder of the same lock waits, when the holder did not release it: the
// time the holder needs to notice a lost lock (LockHeartbeat plus
// LockHeartbeatTimeout), twice.
func (s *Store) LockGrace() time.Duration {
	return graceMargin * (s.beat + s.beatTimeout)
}

// Lock implements store.Locker: it blocks until the lock name is held or
// ctx is done, and returns the held lock, which keeps a connection of the
// pool for itself until Unlock or until it is lost. See the package
// documentation for what it guarantees.
func (s *Store) Lock(ctx context.Context, name string) (store.Lock, error) {
	q := store.QuoteKey(name)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: lock %s: connect: %w", q, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey("$1", "$2")+`)`, s.schema, name); err != nil {
		// A wait cut short may still be granted to the session: end it.
		discard(conn)
		return nil, fmt.Errorf("pgstore: lock %s: %w", q, err)
	}
	token := newToken()
	grace := s.LockGrace().Microseconds()
	sent := time.Now()
	var left *float64
	var claimed bool
	err = conn.QueryRow(ctx, `WITH prev AS (
			SELECT holder, extract(epoch FROM renewed_at + grace - clock_timestamp())::float8 AS remaining
			FROM `+s.locks+` WHERE name = $1
		), claim AS (
			INSERT INTO `+s.locks+` (name, holder, renewed_at, grace, pid)
			SELECT $1, $2, now(), $3::bigint * interval '1 microsecond', pg_backend_pid()
			WHERE NOT EXISTS (SELECT FROM prev WHERE holder IS NOT NULL AND remaining > 0)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, renewed_at = excluded.renewed_at,
				grace = excluded.grace, pid = excluded.pid
			RETURNING true
		)
		SELECT (SELECT remaining FROM prev WHERE holder IS NOT NULL), EXISTS (SELECT FROM claim)`,
		name, token, grace).Scan(&left, &claimed)
	if err != nil {
		discard(conn)
		return nil, s.wrap("lock", name, err)
	}
	if !claimed {
		// The previous holder did not release the lock, and renewed it
		// less than its grace ago: it may not have noticed yet that it
		// lost it, and may still be applying. Hold the advisory lock,
		// wait out the grace, then take the lease.
		var wait time.Duration
		if left != nil {
			wait = time.Duration(*left * float64(time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			// The lease row was not touched: whoever comes next waits
			// out the same grace.
			l := &lease{s: s, name: name, conn: conn}
			_ = l.unlockSession(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("pgstore: lock %s: waiting out the grace of a holder that lost it: %w", q, context.Cause(ctx))
		case <-t.C:
		}
		sent = time.Now()
		cctx, cancel := context.WithDeadline(ctx, sent.Add(s.beatTimeout))
		_, err := conn.Exec(cctx, `INSERT INTO `+s.locks+` (name, holder, renewed_at, grace, pid)
			VALUES ($1, $2, now(), $3::bigint * interval '1 microsecond', pg_backend_pid())
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, renewed_at = excluded.renewed_at,
				grace = excluded.grace, pid = excluded.pid`,
			name, token, grace)
		cancel()
		if err != nil {
			discard(conn)
			return nil, s.wrap("lock", name, err)
		}
	}
	l := &lease{s: s, name: name, token: token, conn: conn,
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	go l.heartbeat(context.WithoutCancel(ctx), sent)
	return l, nil
}

// renew moves the lease's renewed_at to now, if the lease is still
// token's, before deadline.
func (s *Store) renew(ctx context.Context, conn *pgxpool.Conn, name, token string, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tag, err := conn.Exec(ctx, `UPDATE `+s.locks+` SET renewed_at = now() WHERE name = $1 AND holder = $2`, name, token)
	if err != nil {
		return fmt.Errorf("renew the lease: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("renew the lease: another holder has it")
	}
	return nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// discard ends conn's session, and with it every lock the session holds,
// and gives the (closed) connection back to the pool, which drops it.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Conn().Close(ctx)
	conn.Release()
}

// lease is a held lock: a session-level advisory lock on conn, and the
// lease row that conn's heartbeat renews.
type lease struct {
	s     *Store
	name  string
	token string
	conn  *pgxpool.Conn // used by heartbeat until done, then by Unlock
	stop  chan struct{} // closed by Unlock
	done  chan struct{} // closed when heartbeat returns
	lost  chan struct{}

	mu       sync.Mutex
	err      error
	unlocked bool
}

var _ store.Lock = (*lease)(nil)

func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// heartbeat renews the lease every LockHeartbeat, each renewal sent at
// most LockHeartbeat after the previous successful one was sent and
// bounded so that it succeeds at most LockHeartbeat+LockHeartbeatTimeout
// after that: renewed_at is never earlier than a send, so a holder that
// cannot renew in time notices within that bound of its last renewed_at.
// It then closes the connection (which ends the advisory lock if the
// session still lived) and Lost.
func (l *lease) heartbeat(ctx context.Context, last time.Time) {
	defer close(l.done)
	every, timeout := l.s.beat, l.s.beatTimeout
	t := time.NewTimer(time.Until(last.Add(every)))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		if err := l.s.renew(ctx, l.conn, l.name, l.token, last.Add(every+timeout)); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("lease not renewed within %v of the last renewal (%w)", every+timeout, err)
			}
			l.mu.Lock()
			l.err = fmt.Errorf("%w: pgstore: lock %s: %v", store.ErrLockLost, store.QuoteKey(l.name), err)
			l.mu.Unlock()
			close(l.lost)
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = l.conn.Conn().Close(cctx)
			cancel()
			return
		}
		last = sent
		t.Reset(time.Until(last.Add(every)))
	}
}

// Unlock implements store.Lock: it stops the heartbeat, clears the lease
// (so the next holder need not wait out a grace) and releases the
// advisory lock. Unlocking a lost lock, or unlocking twice, does nothing.
// When the statements fail, the connection is closed, which releases the
// advisory lock too; the lease then stays, and the next holder waits out
// its grace.
func (l *lease) Unlock(ctx context.Context) error {
	l.mu.Lock()
	if l.unlocked {
		l.mu.Unlock()
		return nil
	}
	l.unlocked = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		l.conn.Release() // closed: the pool drops it
		return nil
	default:
	}
	return l.release(ctx)
}

// release clears the lease and releases the advisory lock, then gives the
// connection back to the pool; on failure it ends the session.
func (l *lease) release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, unlockTimeout)
	defer cancel()
	// Cleared and committed before the advisory lock goes, so that the
	// next holder does not find it still set.
	if _, err := l.conn.Exec(ctx, `UPDATE `+l.s.locks+` SET holder = NULL, pid = NULL WHERE name = $1 AND holder = $2`, l.name, l.token); err != nil {
		discard(l.conn)
		return fmt.Errorf("pgstore: unlock %s (the session was ended, which releases it): %w", store.QuoteKey(l.name), err)
	}
	return l.unlockSession(ctx)
}

// unlockSession releases the advisory lock and gives the connection back
// to the pool; on failure it ends the session.
func (l *lease) unlockSession(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, unlockTimeout)
	defer cancel()
	released := false
	err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock(`+lockKey("$1", "$2")+`)`, l.s.schema, l.name).Scan(&released)
	if err == nil && !released {
		err = errors.New("the session did not hold the advisory lock")
	}
	if err != nil {
		discard(l.conn)
		return fmt.Errorf("pgstore: unlock %s (the session was ended, which releases it): %w", store.QuoteKey(l.name), err)
	}
	l.conn.Release()
	return nil
}
