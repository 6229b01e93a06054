package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// Short heartbeats, so that the tests wait out graces of a fraction of a
// second: notice within 300 ms, grace 600 ms.
var fast = pgstore.Options{LockHeartbeat: 150 * time.Millisecond, LockHeartbeatTimeout: 150 * time.Millisecond}

// replica opens the store on a pool of its own, as another process
// would.
func replica(t testing.TB, schema string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	opts.Schema = schema
	st, err := pgstore.New(pgtest.Pool(t, 4), &opts)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	return st
}

func lockOrFail(t testing.TB, st *pgstore.Store, name string) store.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := st.Lock(ctx, name)
	require.NoError(t, err)
	return l
}

// notLockable asserts that st cannot take name within d.
func notLockable(t testing.TB, st *pgstore.Store, name string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	l, err := st.Lock(ctx, name)
	if err == nil {
		_ = l.Unlock(context.Background())
		t.Fatalf("%s was taken while another holder had it", name)
	}
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// terminate ends the session of name's holder, as pg_terminate_backend
// from a DBA, a failover or a proxy would.
func terminate(t testing.TB, pool *pgxpool.Pool, schema, name string) {
	t.Helper()
	var ok bool
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT pg_terminate_backend(pid) FROM `+pgx.Identifier{schema, "locks"}.Sanitize()+` WHERE name = $1 AND holder IS NOT NULL AND pid IS NOT NULL`,
		name).Scan(&ok))
	require.True(t, ok, "terminated the holder of %s", name)
}

func TestLockOptions(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://unused@localhost/x")
	require.NoError(t, err)
	defer pool.Close()
	st, err := pgstore.New(pool, nil)
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, st.LockGrace(), "1s heartbeat + 1s timeout, twice")
	st, err = pgstore.New(pool, &fast)
	require.NoError(t, err)
	assert.Equal(t, 600*time.Millisecond, st.LockGrace())
	for _, bad := range []pgstore.Options{{LockHeartbeat: -1}, {LockHeartbeatTimeout: -time.Second}, {LockHeartbeat: time.Microsecond}} {
		_, err := pgstore.New(pool, &bad)
		assert.Error(t, err, "%+v", bad)
	}
}

// One holder at a time, across pools; a clean Unlock hands over at once;
// names and schemas are separate locks.
func TestLockExcludes(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	schema := pgtest.Schema(t, pool)
	a, b := replica(t, schema, fast), replica(t, schema, fast)
	other := replica(t, pgtest.Schema(t, pool), fast)

	la := lockOrFail(t, a, "integration/corp")
	notLockable(t, b, "integration/corp", 300*time.Millisecond)
	notLockable(t, a, "integration/corp", 300*time.Millisecond) // another Lock of the same Store too
	lo := lockOrFail(t, b, "integration/other")                 // another name
	ls := lockOrFail(t, other, "integration/corp")              // another schema
	require.NoError(t, lo.Unlock(context.Background()))
	require.NoError(t, ls.Unlock(context.Background()))

	got := make(chan time.Time)
	go func() {
		l := lockOrFail(t, b, "integration/corp")
		got <- time.Now()
		assert.NoError(t, l.Unlock(context.Background()))
	}()
	time.Sleep(200 * time.Millisecond) // b waits in pg_advisory_lock
	released := time.Now()
	require.NoError(t, la.Unlock(context.Background()))
	assert.Less(t, (<-got).Sub(released), b.LockGrace(), "a released lock passes on without a grace")
	require.NoError(t, la.Unlock(context.Background()), "a second Unlock does nothing")
	assert.NoError(t, la.Err())
	select {
	case <-la.Lost():
		t.Fatal("Unlock closed Lost")
	default:
	}

	// The heartbeat keeps a lock held for longer than its grace.
	la = lockOrFail(t, a, "integration/corp")
	time.Sleep(3 * a.LockGrace())
	assert.NoError(t, la.Err())
	notLockable(t, b, "integration/corp", 300*time.Millisecond)
	require.NoError(t, la.Unlock(context.Background()))
}

// The holder's session ends (pg_terminate_backend): it notices within its
// heartbeat interval plus timeout, and the next holder gets the lock only
// after the grace from the last renewal, so never before the holder
// noticed.
func TestLockLostWhenSessionEnds(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	schema := pgtest.Schema(t, pool)
	a, b := replica(t, schema, fast), replica(t, schema, fast)
	la := lockOrFail(t, a, "integration/corp")
	time.Sleep(200 * time.Millisecond) // a renewal or so

	var renewed time.Time
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT renewed_at FROM `+pgx.Identifier{schema, "locks"}.Sanitize()+
		` WHERE name = 'integration/corp'`).Scan(&renewed))
	terminated := time.Now()
	terminate(t, pool, schema, "integration/corp")

	lost := make(chan time.Time, 1)
	go func() { <-la.Lost(); lost <- time.Now() }()
	lb := lockOrFail(t, b, "integration/corp")
	taken := time.Now()
	select {
	case <-la.Lost():
	default:
		t.Fatal("b took the lock before a noticed it lost it")
	}
	at := <-lost
	assert.Less(t, at.Sub(terminated), 150*time.Millisecond+150*time.Millisecond+100*time.Millisecond, "noticed within heartbeat + timeout (+ slack)")
	assert.Less(t, at, taken)
	assert.ErrorIs(t, la.Err(), store.ErrLockLost)
	assert.Contains(t, la.Err().Error(), "integration/corp")
	var ok bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT clock_timestamp() >= $1::timestamptz + interval '600 ms'`, renewed).Scan(&ok))
	assert.True(t, ok, "b waited out the grace after a's last renewal")

	assert.NoError(t, la.Unlock(context.Background()), "unlocking a lost lock is not an error")
	notLockable(t, a, "integration/corp", 300*time.Millisecond)
	require.NoError(t, lb.Unlock(context.Background()))
	lockOrFail(t, a, "integration/corp").Unlock(context.Background())
}

// The database is too slow to answer the heartbeat (its row is locked by
// another transaction): the holder gives the lock up when a renewal
// misses its bound, and ends its session, so the lock passes on after
// the grace.
func TestLockLostWhenHeartbeatStalls(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 4)
	schema := pgtest.Schema(t, pool)
	a, b := replica(t, schema, fast), replica(t, schema, fast)
	la := lockOrFail(t, a, "integration/corp")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT FROM `+pgx.Identifier{schema, "locks"}.Sanitize()+` WHERE name = 'integration/corp' FOR UPDATE`)
	require.NoError(t, err)
	stalled := time.Now()
	select {
	case <-la.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder never noticed its heartbeat stalled")
	}
	assert.Less(t, time.Since(stalled), 300*time.Millisecond+150*time.Millisecond, "within heartbeat + timeout (+ slack)")
	assert.ErrorIs(t, la.Err(), store.ErrLockLost)
	assert.Contains(t, la.Err().Error(), "not renewed within 300ms of the last renewal")
	require.NoError(t, tx.Rollback(ctx))
	lb := lockOrFail(t, b, "integration/corp")
	assert.GreaterOrEqual(t, time.Since(stalled), b.LockGrace()-300*time.Millisecond,
		"the next holder waited out the grace after the last renewal")
	require.NoError(t, lb.Unlock(ctx))
	require.NoError(t, la.Unlock(ctx))
}

// Waits cut short by ctx leave nothing behind: not a session holding the
// advisory lock, and not a cleared lease (the next holder still waits out
// the grace of the holder that lost it).
func TestLockCancelled(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 4)
	schema := pgtest.Schema(t, pool)
	a, b := replica(t, schema, fast), replica(t, schema, fast)

	la := lockOrFail(t, a, "integration/corp")
	notLockable(t, b, "integration/corp", 100*time.Millisecond) // cancelled in pg_advisory_lock
	require.NoError(t, la.Unlock(ctx))
	lockOrFail(t, b, "integration/corp").Unlock(ctx)

	// Cut short while waiting out a grace.
	slow := replica(t, schema, pgstore.Options{LockHeartbeat: time.Second, LockHeartbeatTimeout: time.Second}) // grace 4s
	ls := lockOrFail(t, slow, "integration/corp")
	terminate(t, pool, schema, "integration/corp")
	start := time.Now()
	notLockable(t, b, "integration/corp", 500*time.Millisecond)
	lb := lockOrFail(t, b, "integration/corp")
	assert.Greater(t, time.Since(start), 3*time.Second, "the grace of the lost holder still holds")
	<-ls.Lost()
	require.NoError(t, lb.Unlock(ctx))
	require.NoError(t, ls.Unlock(ctx))
}

func TestLockNotMigrated(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 4)
	st, err := pgstore.New(pool, &pgstore.Options{Schema: pgtest.Schema(t, pool)})
	require.NoError(t, err)
	_, err = st.Lock(ctx, "integration/corp")
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated)
	require.NoError(t, st.Migrate(ctx))
	lockOrFail(t, st, "integration/corp").Unlock(ctx) // the failed Lock left no advisory lock behind
}

const lockHelperEnv = "DIRSYNC_PGSTORE_LOCK_HELPER_SCHEMA"

// TestLockHelperProcess is run as a child process by
// TestLockAcrossProcesses: it takes the lock, says so, and holds it until
// it is killed. It does nothing in a normal run.
func TestLockHelperProcess(t *testing.T) {
	schema := os.Getenv(lockHelperEnv)
	if schema == "" {
		return
	}
	opts := fast
	opts.Schema = schema
	st, err := pgstore.New(pgtest.Pool(t, 2), &opts)
	require.NoError(t, err)
	l := lockOrFail(t, st, "integration/corp")
	fmt.Println("locked")
	<-l.Lost()
	t.Fatal("lost the lock")
}

// A process holds the lock; another cannot take it while the holder
// lives. The holder is killed (SIGKILL: no Unlock, its sockets closed by
// the kernel): the lock passes on, but only after the grace from the
// holder's last renewal.
func TestLockAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 4)
	schema := pgtest.Schema(t, pool)
	st := replica(t, schema, fast)

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+schema)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "locked") {
		n, err := out.Read(buf)
		require.NoError(t, err, "child: %s", seen.String())
		seen.Write(buf[:n])
	}

	notLockable(t, st, "integration/corp", time.Second)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	var renewed time.Time
	var grace time.Duration
	require.NoError(t, pool.QueryRow(ctx, `SELECT renewed_at, grace FROM `+pgx.Identifier{schema, "locks"}.Sanitize()+
		` WHERE name = 'integration/corp'`).Scan(&renewed, &grace))
	assert.Equal(t, 600*time.Millisecond, grace, "the holder's own grace is in its lease")
	l := lockOrFail(t, st, "integration/corp")
	var ok bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT clock_timestamp() >= $1::timestamptz + interval '600 ms'`, renewed).Scan(&ok))
	assert.True(t, ok, "the lock passed on no sooner than the grace after the dead holder's last renewal")
	require.NoError(t, l.Unlock(ctx))
}

// BenchmarkLock is the cost a run pays for the integration's lock: Lock
// and Unlock of a free lock (a pool connection, the advisory lock, the
// lease's claim; its release), with no other holder.
func BenchmarkLock(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b, 4)
	st := replica(b, pgtest.Schema(b, pool), pgstore.Options{})
	for b.Loop() {
		l, err := st.Lock(ctx, "integration/corp")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
