package dirsync_test

// At most one run of an integration at a time, across replicas, when the
// integration's lock is lost in the middle of an apply: two Syncers (two
// replicas, each with its own pool) share one pgstore schema, one
// directory and one slow app that counts every create.
//
// These tests fail without a lock that notices its loss: run them with
// DIRSYNC_TEST_HIDE_LOCKER=1 and the replicas' stores hide store.Locker,
// as a Store without the capability (or pgstore before it had it) would.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// Heartbeats of the replicas' locks: a holder notices a lost lock within
// 750 ms of its last renewal; the next holder waits 1.5 s after it.
var lockTestOptions = pgstore.Options{LockHeartbeat: 250 * time.Millisecond, LockHeartbeatTimeout: 500 * time.Millisecond}

// slowApp is the app every replica writes to: each change takes 20 to
// 50 ms and lands at the end of the call, also when the caller's context
// was cancelled meanwhile (a call in flight completes), and every create
// that landed is counted.
type slowApp struct {
	*dirsynctest.MemorySink
	mu      sync.Mutex
	creates map[string]int
	n       int
	at      int
	reached chan struct{} // closed at the at-th create
}

func newSlowApp() *slowApp {
	return &slowApp{MemorySink: dirsynctest.NewMemorySink(), creates: map[string]int{}, reached: make(chan struct{})}
}

func (a *slowApp) Apply(ctx context.Context, c diff.Change) error {
	h := fnv.New32a()
	h.Write([]byte(c.Key))
	if err := ctx.Err(); err != nil {
		return err
	}
	time.Sleep(time.Duration(20+h.Sum32()%31) * time.Millisecond)
	if err := a.MemorySink.Apply(context.WithoutCancel(ctx), c); err != nil {
		return err
	}
	if c.Op == diff.OpCreate {
		a.mu.Lock()
		a.creates[c.Key]++
		if a.n++; a.n == a.at {
			close(a.reached)
		}
		a.mu.Unlock()
	}
	return nil
}

// recStore is a replica's store that notes the keys it wrote.
type recStore struct {
	*pgstore.Store
	mu     sync.Mutex
	writes []string
}

func (s *recStore) note(key string, err error) error {
	if err == nil {
		s.mu.Lock()
		s.writes = append(s.writes, key)
		s.mu.Unlock()
	}
	return err
}

func (s *recStore) Put(ctx context.Context, key string, v []byte) error {
	return s.note(key, s.Store.Put(ctx, key, v))
}

func (s *recStore) Delete(ctx context.Context, key string) error {
	return s.note(key, s.Store.Delete(ctx, key))
}

func (s *recStore) Update(ctx context.Context, key string, f func([]byte, bool) ([]byte, error)) error {
	return s.note(key, s.Store.Update(ctx, key, f))
}

// wrote returns the keys written since the last reset that end in one of
// suffixes.
func (s *recStore) wrote(suffixes ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.writes {
		for _, suf := range suffixes {
			if strings.HasSuffix(k, suf) {
				out = append(out, k)
			}
		}
	}
	return out
}

func (s *recStore) reset() {
	s.mu.Lock()
	s.writes = nil
	s.mu.Unlock()
}

// noLocker is a store without the Locker capability.
type noLocker struct{ s *recStore }

func (n noLocker) Get(ctx context.Context, key string) ([]byte, error) { return n.s.Get(ctx, key) }
func (n noLocker) Put(ctx context.Context, key string, v []byte) error { return n.s.Put(ctx, key, v) }
func (n noLocker) Delete(ctx context.Context, key string) error        { return n.s.Delete(ctx, key) }
func (n noLocker) Update(ctx context.Context, key string, f func([]byte, bool) ([]byte, error)) error {
	return n.s.Update(ctx, key, f)
}

type lockReplica struct {
	pool  *pgxpool.Pool
	store *recStore
	sy    *dirsync.Syncer
}

type lockWorld struct {
	dir    *fake.Directory
	app    *slowApp
	schema string
	admin  *pgxpool.Pool
	a, b   *lockReplica
}

// newLockWorld makes n people in the directory, nobody in the app, and
// two replicas whose pools come from open.
func newLockWorld(t *testing.T, n int, open func(testing.TB, int32) *pgxpool.Pool) *lockWorld {
	t.Helper()
	w := &lockWorld{dir: fake.New(), app: newSlowApp(), admin: open(t, 4)}
	for i := range n {
		require.NoError(t, w.dir.Add(user(fmt.Sprintf("p%03d", i), fmt.Sprintf("person%03d", i), "Users")))
	}
	w.schema = pgtest.Schema(t, w.admin)
	opts := lockTestOptions
	opts.Schema = w.schema
	st, err := pgstore.New(w.admin, &opts)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	hide := os.Getenv("DIRSYNC_TEST_HIDE_LOCKER") == "1"
	replica := func() *lockReplica {
		pool := open(t, 8)
		st, err := pgstore.New(pool, &opts)
		require.NoError(t, err)
		r := &lockReplica{pool: pool, store: &recStore{Store: st}}
		var s dirsync.Store = r.store
		if hide {
			s = noLocker{r.store}
		}
		r.sy, err = dirsync.New(w.dir, w.app, &dirsync.Options{Source: "corp", Store: s, HistoryLimit: 100})
		require.NoError(t, err)
		return r
	}
	w.a, w.b = replica(), replica()
	return w
}

// terminateHolder ends the session that holds the integration's lock, as
// pg_terminate_backend from a DBA, a failover or a proxy's idle timeout
// would. Without a lock there is nothing to end.
func (w *lockWorld) terminateHolder(t *testing.T) {
	t.Helper()
	_, err := w.admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM `+
		pgx.Identifier{w.schema, "locks"}.Sanitize()+` WHERE name = 'integration/corp' AND holder IS NOT NULL`)
	require.NoError(t, err)
}

// loseLockMidApply runs replica A's RunOnce, cuts its lock once the app
// has seen cutAt creates, lets replica B finish the work with next, and
// checks: A's run stops with an error wrapping store.ErrLockLost and
// writes neither cursor nor run record; every person was created exactly
// once; a final plan on either replica is empty.
func (w *lockWorld) loseLockMidApply(t *testing.T, people, cutAt int, cut func(), next func(b *lockReplica)) {
	t.Helper()
	ctx := context.Background()
	w.app.at = cutAt
	w.a.store.reset()
	type result struct {
		rec dirsync.RunRecord
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := w.a.sy.RunOnce(ctx, "replica-a", dirsync.ModeAutomatic)
		done <- result{rec, err}
	}()
	select {
	case <-w.app.reached:
	case <-time.After(60 * time.Second):
		t.Fatal("replica A never reached the middle of its apply")
	}
	cut()
	next(w.b)
	var a result
	select {
	case a = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("replica A's run never returned")
	}

	assert.ErrorIs(t, a.err, store.ErrLockLost, "A's run stopped when it lost its lock")
	assert.Empty(t, w.a.store.wrote("/cursor", "/history"), "A wrote no cursor and no run record")
	hist, err := w.b.sy.History(ctx)
	require.NoError(t, err)
	for _, r := range hist {
		assert.NotEqual(t, dirsync.Trigger("replica-a"), r.Trigger, "A's run is not in History: %+v", r)
	}

	w.app.mu.Lock()
	for i := range people {
		key := "corp/p" + fmt.Sprintf("%03d", i)
		assert.Equal(t, 1, w.app.creates[key], "%s created %d times", key, w.app.creates[key])
	}
	assert.Len(t, w.app.creates, people)
	w.app.mu.Unlock()
	assert.Len(t, w.app.Snapshot(), people, "one account per person in the app")
	for _, r := range []*lockReplica{w.a, w.b} {
		p, err := r.sy.Plan(ctx)
		require.NoError(t, err)
		assert.True(t, p.Empty(), "nothing lost: the final plan is empty:\n%s", p)
	}
}

// applyShownUntilDone is an admin who presses "Sync" on the preview
// until the plan shown is the one applied.
func applyShownUntilDone(t *testing.T, r *lockReplica) {
	ctx := context.Background()
	for range 200 {
		p, err := r.sy.Plan(ctx)
		require.NoError(t, err)
		if p.Empty() {
			return
		}
		_, _, err = r.sy.ApplyShown(ctx, p.Digest(), false)
		if errors.Is(err, dirsync.ErrPlanChanged) {
			continue
		}
		require.NoError(t, err)
		return
	}
	t.Fatal("the plan kept changing")
}

// approveUntilDone is an approval-mode replica and an admin who approves
// each plan it leaves pending, until a run finds nothing to do.
func approveUntilDone(t *testing.T, r *lockReplica) {
	ctx := context.Background()
	for range 200 {
		rec, err := r.sy.RunOnce(ctx, "replica-b", dirsync.ModeApproval)
		require.NoError(t, err)
		if rec.Outcome == dirsync.OutcomeNoChanges {
			return
		}
		require.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
		_, err = r.sy.ApprovePending(ctx, rec.Plan)
		if errors.Is(err, dirsync.ErrPlanChanged) || errors.Is(err, dirsync.ErrNoPendingPlan) {
			continue
		}
		require.NoError(t, err)
	}
	t.Fatal("the plan kept changing")
}

// Replica A's lock connection is terminated while it applies 40 creates;
// at once replica B runs (RunOnce), applies what the admin was shown
// (ApplyShown) or approves a plan it left pending (ApprovePending). B gets
// the lock only after A has stopped: nobody is created twice, nobody is
// left out, and A's interrupted run leaves no cursor and no record.
func TestLockLostMidApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(t *testing.T, b *lockReplica)
	}{
		{"RunOnce", func(t *testing.T, b *lockReplica) {
			_, err := b.sy.RunOnce(context.Background(), "replica-b", dirsync.ModeAutomatic)
			require.NoError(t, err)
		}},
		{"ApplyShown", applyShownUntilDone},
		{"ApprovePending", approveUntilDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const people = 40
			w := newLockWorld(t, people, pgtest.Pool)
			w.loseLockMidApply(t, people, 5, func() { w.terminateHolder(t) }, func(b *lockReplica) { tc.next(t, b) })
		})
	}
}

// PostgreSQL restarts (pg_ctl restart -m fast: every session ends) while
// replica A applies 60 creates; replica B runs as soon as the database is
// back (retrying, as a job queue would, while it is not). Same
// properties.
func TestLockLostInDatabaseRestart(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	const people = 60
	w := newLockWorld(t, people, cluster.Pool)
	w.loseLockMidApply(t, people, 5, func() { cluster.Restart(t) }, func(b *lockReplica) {
		var err error
		for range 50 {
			if _, err = b.sy.RunOnce(context.Background(), "replica-b", dirsync.ModeAutomatic); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.NoError(t, err, "B's run after the restart")
	})
}

// Two paths that apply, on two replicas at once: the console's "Sync"
// (ApplyShown) on A beside a scheduled run on B, and two admins approving
// the same pending plan on A and on B. Each change is applied once.
func TestConcurrentPathsApplyOnce(t *testing.T) {
	ctx := context.Background()
	const people = 20
	check := func(t *testing.T, w *lockWorld) {
		t.Helper()
		w.app.mu.Lock()
		for key, n := range w.app.creates {
			assert.Equal(t, 1, n, "%s created %d times", key, n)
		}
		assert.Len(t, w.app.creates, people)
		w.app.mu.Unlock()
		p, err := w.a.sy.Plan(ctx)
		require.NoError(t, err)
		assert.True(t, p.Empty(), "%s", p)
	}

	t.Run("ApplyShownBesideRunOnce", func(t *testing.T) {
		w := newLockWorld(t, people, pgtest.Pool)
		shown, err := w.a.sy.Plan(ctx)
		require.NoError(t, err)
		var wg sync.WaitGroup
		var shownErr, runErr error
		start := make(chan struct{})
		wg.Go(func() { <-start; _, _, shownErr = w.a.sy.ApplyShown(ctx, shown.Digest(), false) })
		wg.Go(func() { <-start; _, runErr = w.b.sy.RunOnce(ctx, "replica-b", dirsync.ModeAutomatic) })
		close(start)
		wg.Wait()
		assert.NoError(t, runErr)
		if shownErr != nil {
			assert.ErrorIs(t, shownErr, dirsync.ErrPlanChanged, "the run came first: the plan shown is gone")
		}
		check(t, w)
	})

	t.Run("TwoApprovals", func(t *testing.T) {
		w := newLockWorld(t, people, pgtest.Pool)
		rec, err := w.a.sy.RunOnce(ctx, "replica-a", dirsync.ModeApproval)
		require.NoError(t, err)
		require.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, r := range []*lockReplica{w.a, w.b} {
			wg.Go(func() { <-start; _, errs[i] = r.sy.ApprovePending(ctx, rec.Plan) })
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				assert.ErrorIs(t, err, dirsync.ErrNoPendingPlan)
			}
		}
		assert.Equal(t, 1, ok, "one approval applies the plan: %v", errs)
		check(t, w)
	})
}
