package riversync_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/riversync"
	"github.com/dirsync-go/dirsync/store"
)

var errDead = errors.New("replica is dead")

// killer dials a replica's database connections and can drop them all at
// once, as the kernel does when a process dies: PostgreSQL sees the
// sockets close, ends the sessions and releases their advisory locks.
// After kill, every dial fails.
type killer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errDead
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killer) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		_ = c.Close()
	}
}

// dyingSink passes the first n changes to the app, then blocks: the
// replica is in the middle of an apply. Once the replica is dead it
// writes nothing more, as a dead process cannot.
type dyingSink struct {
	app     *dirsynctest.MemorySink
	n       int64
	applied atomic.Int64
	reached chan struct{}
	once    sync.Once
	dead    chan struct{}
}

func (s *dyingSink) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return s.app.Accounts(ctx)
}

func (s *dyingSink) Apply(ctx context.Context, c diff.Change) error {
	select {
	case <-s.dead:
		return errDead
	default:
	}
	if s.applied.Add(1) > s.n {
		s.once.Do(func() { close(s.reached) })
		select {
		case <-s.dead:
		case <-ctx.Done():
		}
		return errDead
	}
	return s.app.Apply(ctx, c)
}

// normalized is the app's accounts of one source without the app's own
// IDs (assigned in creation order) and block times, sorted by join key.
func normalized(sink *dirsynctest.MemorySink) []diff.Account {
	var out []diff.Account
	for _, a := range sink.Snapshot() {
		a.ID, a.BlockedAt = "", time.Time{}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b diff.Account) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// Replica A dies in the middle of an apply (some changes applied, its
// sockets closed, its client stopped without cleanup). River rescues the
// job and replica B runs it again: the app ends exactly as one
// uninterrupted run leaves it, no account was created twice, and the cursor saved in
// the shared store never ran ahead of the applied work.
//
// River's rescuer runs on the leader, when it takes office and every 30 s
// after; a leader that dies keeps its lease up to 15 s. So that the test
// takes seconds, leadership sits on a third client M, which resigns
// (stops cleanly, as in a rolling deploy) after A died; B then takes
// office and its rescuer finds A's job at once. In production the rescue
// comes within RescueStuckJobsAfter plus at most a lease and a rescuer
// interval.
func TestReplicaDiesMidApply(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	w := newWorld(t, pool, 0)
	const name = "corp"
	dir := fake.New()
	for i := range 20 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%02d", i))))
	}
	st := w.openStore(t, pool)
	newSyncer := func(st dirsync.Store, sink dirsync.Sink) (*dirsync.Syncer, error) {
		return dirsync.New(dir, sink, &dirsync.Options{Source: name, Store: st, HistoryLimit: 100})
	}

	// A first full sync, and a cursor in the store.
	sy, err := newSyncer(st, w.sink)
	require.NoError(t, err)
	_, err = sy.RunOnce(ctx, "setup", dirsync.ModeAutomatic)
	require.NoError(t, err)
	cursorKey := "integration/" + name + "/cursor"
	cursor0, err := st.Get(ctx, cursorKey)
	require.NoError(t, err)
	twin := dirsynctest.NewMemorySink()
	tsy, err := newSyncer(store.NewMemory(), twin)
	require.NoError(t, err)
	_, err = tsy.RunOnce(ctx, "setup", dirsync.ModeAutomatic)
	require.NoError(t, err)

	// The directory moves on: 10 hires, 5 new mail addresses, 2 leavers.
	for i := 20; i < 30; i++ {
		require.NoError(t, dir.Add(user(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%02d", i))))
	}
	for i := range 5 {
		require.NoError(t, dir.Set(fmt.Sprintf("u%02d", i), "mail", fmt.Sprintf("new%02d@example.test", i)))
	}
	require.NoError(t, dir.Disable("u10"))
	require.NoError(t, dir.Disable("u11"))

	// What one uninterrupted run makes of the same change, in a twin
	// app that saw the same first sync.
	_, err = tsy.RunOnce(ctx, "twin", dirsync.ModeAutomatic)
	require.NoError(t, err)

	const rescueAfter = 2 * time.Second
	workers := func(resolve riversync.Resolver, p *pgxpool.Pool) *river.Workers {
		wk, err := riversync.NewWorker(riversync.Config{Pool: p, Resolve: resolve, JobTimeout: rescueAfter})
		require.NoError(t, err)
		ws := river.NewWorkers()
		river.AddWorker(ws, wk)
		return ws
	}
	newClient := func(p *pgxpool.Pool, queue string, resolve riversync.Resolver) *river.Client[pgx.Tx] {
		c, err := river.NewClient(riverpgxv5.New(p), &river.Config{
			Schema: w.riverSch, Queues: map[string]river.QueueConfig{queue: {MaxWorkers: 4}},
			Workers: workers(resolve, p), FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler), JobTimeout: rescueAfter, RescueStuckJobsAfter: rescueAfter, RetryPolicy: retryNow{},
		})
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		return c
	}
	stop := func(c *river.Client[pgx.Tx]) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
	}

	// M holds River's leadership and works a queue no sync job goes to.
	mPool := pgtest.Pool(t, 5)
	m := newClient(mPool, "standby", func(context.Context, string) (*dirsync.Syncer, dirsync.Mode, error) {
		return nil, 0, errors.New("M runs no sync")
	})
	t.Cleanup(func() { stop(m) })
	require.Eventually(t, func() bool { return leader(t, pool, w.riverSch) == m.ID() }, 20*time.Second, 20*time.Millisecond)

	// Replica A, whose sink stops after 5 of the changes.
	k := &killer{}
	aCfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	aCfg.ConnConfig.DialFunc = k.dial
	aPool, err := pgxpool.NewWithConfig(ctx, aCfg)
	require.NoError(t, err)
	aStore := w.openStore(t, aPool)
	aSink := &dyingSink{app: w.sink, n: 5, reached: make(chan struct{}), dead: make(chan struct{})}
	a := newClient(aPool, river.QueueDefault, func(ctx context.Context, _ string) (*dirsync.Syncer, dirsync.Mode, error) {
		sy, err := newSyncer(aStore, aSink)
		return sy, dirsync.ModeAutomatic, err
	})
	ok, err := riversync.SyncNow(ctx, mPool, m, name)
	require.NoError(t, err)
	require.True(t, ok)
	select {
	case <-aSink.reached:
	case <-time.After(20 * time.Second):
		t.Fatal("replica A never reached the middle of its apply")
	}
	assert.NotEqual(t, normalized(twin), normalized(w.sink), "A is in the middle of its apply")
	cur, err := st.Get(ctx, cursorKey)
	require.NoError(t, err)
	assert.Equal(t, cursor0, cur, "the cursor does not move while the apply is unfinished")

	// A dies: its sockets close, then its goroutines wake to a world
	// that refuses them. Nothing waits for it.
	k.kill()
	close(aSink.dead)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = a.StopAndCancel(sctx)
	}()
	cur, err = st.Get(ctx, cursorKey)
	require.NoError(t, err)
	assert.Equal(t, cursor0, cur, "a dead replica saved no cursor")

	// B starts, M resigns, B's rescuer finds the stuck job and B runs it.
	time.Sleep(rescueAfter)
	b := newClient(pgtest.Pool(t, 10), river.QueueDefault, func(ctx context.Context, _ string) (*dirsync.Syncer, dirsync.Mode, error) {
		sy, err := newSyncer(st, w.sink)
		return sy, dirsync.ModeAutomatic, err
	})
	t.Cleanup(func() { stop(b) })
	stop(m)
	var job *rivertype.JobRow
	require.Eventually(t, func() bool {
		var err error
		job, err = b.JobGet(ctx, jobID(t, pool, w.riverSch))
		require.NoError(t, err)
		return job.State == rivertype.JobStateCompleted
	}, 60*time.Second, 50*time.Millisecond, "B completes the rescued job") // a bound for a loaded machine, not a timing
	assert.Equal(t, 2, job.Attempt, "the job ran twice: on A, then on B")
	require.NotEmpty(t, job.Errors)
	assert.Contains(t, job.Errors[0].Error, "Stuck job rescued")

	// The app is what one uninterrupted run made of the twin.
	assert.Equal(t, normalized(twin), normalized(w.sink))
	w.mu.Lock()
	for key, n := range w.creates {
		assert.Equal(t, 1, n, "%s created %d times", key, n)
	}
	assert.Len(t, w.creates, 30)
	w.mu.Unlock()

	// The cursor moved on once the work was done: the next plan is
	// incremental and empty.
	cur, err = st.Get(ctx, cursorKey)
	require.NoError(t, err)
	assert.NotEqual(t, cursor0, cur)
	sy, err = newSyncer(st, w.sink)
	require.NoError(t, err)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, p.Incremental)
	assert.True(t, p.Empty(), "nothing left to do: %v", p.Changes)
}

// retryNow retries a failed or rescued job at once.
type retryNow struct{}

func (retryNow) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

func leader(t *testing.T, pool *pgxpool.Pool, schema string) string {
	var id string
	err := pool.QueryRow(context.Background(), `SELECT leader_id FROM `+pgx.Identifier{schema, "river_leader"}.Sanitize()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	require.NoError(t, err)
	return id
}

func jobID(t *testing.T, pool *pgxpool.Pool, schema string) int64 {
	var id int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT id FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()).Scan(&id))
	return id
}
