package riversync_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/riversync"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

func user(id, name string) connector.Entry {
	e := connector.Entry{ID: id, Kind: connector.KindUser, Path: []string{"Users"}, Attrs: connector.Attrs{},
		DN: "CN=" + name + ",OU=Users,DC=example,DC=test"}
	e.Attrs.Set("sAMAccountName", name)
	e.Attrs.Set("mail", name+"@example.test")
	e.Attrs.Set("givenName", name)
	e.Attrs.Set("sn", "Example")
	return e
}

// world is what all replicas share: the directories, the app (one sink)
// and the database; and what the test observes.
type world struct {
	dirs     map[string]*fake.Directory
	sink     *dirsynctest.MemorySink
	mu       sync.Mutex
	held     map[string]int // holders of the integration's lock now
	maxHeld  map[string]int
	unheld   map[string]int // reads by a run without the lock
	runs     map[string]int
	lost     []dirsync.RunRecord // runs that lost their lock
	creates  map[string]int
	storeSch string
	riverSch string
}

// lockOptions are the replicas' lock heartbeats: a holder notices a lost
// lock within 1 s of its last renewal, and another waits 2 s after it.
// (Tighter bounds make a loaded test machine, with three replicas of
// eight workers each under the race detector, miss renewals: a holder
// that cannot prove its lease in time gives the lock up.)
var lockOptions = pgstore.Options{LockHeartbeat: 300 * time.Millisecond, LockHeartbeatTimeout: 700 * time.Millisecond}

// openStore opens a replica's store on pool, watched by w.
func (w *world) openStore(t testing.TB, pool *pgxpool.Pool) *watched {
	t.Helper()
	opts := lockOptions
	opts.Schema = w.storeSch
	st, err := pgstore.New(pool, &opts)
	require.NoError(t, err)
	return &watched{Store: st, w: w}
}

// watched is a replica's store that counts the holders of each
// integration's lock: from Lock's return until Unlock, or until the
// holder notices it lost the lock (Lost).
type watched struct {
	*pgstore.Store
	w *world
}

func (s *watched) Lock(ctx context.Context, name string) (store.Lock, error) {
	l, err := s.Store.Lock(ctx, name)
	if err != nil {
		return nil, err
	}
	integration := strings.TrimPrefix(name, "integration/")
	s.w.mu.Lock()
	s.w.held[integration]++
	s.w.maxHeld[integration] = max(s.w.maxHeld[integration], s.w.held[integration])
	s.w.mu.Unlock()
	wl := &watchedLock{Lock: l, w: s.w, integration: integration, unlocked: make(chan struct{})}
	go func() {
		select {
		case <-l.Lost():
			wl.release()
		case <-wl.unlocked:
		}
	}()
	return wl, nil
}

type watchedLock struct {
	store.Lock
	w           *world
	integration string
	once        sync.Once
	closing     sync.Once
	unlocked    chan struct{}
}

func (l *watchedLock) release() {
	l.once.Do(func() {
		l.w.mu.Lock()
		l.w.held[l.integration]--
		l.w.mu.Unlock()
	})
}

func (l *watchedLock) Unlock(ctx context.Context) error {
	l.release()
	l.closing.Do(func() { close(l.unlocked) })
	return l.Lock.Unlock(ctx)
}

// counting is a connector that notes the reads of a run that does not
// hold the integration's lock.
type counting struct {
	w    *world
	name string
}

func (c counting) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	c.w.mu.Lock()
	if c.w.held[c.name] != 1 {
		c.w.unheld[c.name]++
	}
	c.w.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // widen the window an overlap would need
	return c.w.dirs[c.name].Read(ctx)
}

func newWorld(t *testing.T, pool *pgxpool.Pool, n int) *world {
	w := &world{dirs: map[string]*fake.Directory{}, held: map[string]int{}, maxHeld: map[string]int{},
		unheld: map[string]int{}, runs: map[string]int{}, creates: map[string]int{}}
	for i := range n {
		name := fmt.Sprintf("corp-%02d", i)
		w.dirs[name] = fake.New(user(name+"-1", name+"-alice"), user(name+"-2", name+"-bob"))
	}
	w.sink = dirsynctest.NewMemorySink()
	w.sink.Fail = func(c diff.Change) error {
		if c.Op == diff.OpCreate {
			w.mu.Lock()
			w.creates[c.Key]++
			w.mu.Unlock()
		}
		return nil
	}
	w.storeSch, w.riverSch = pgtest.Schema(t, pool), pgtest.Schema(t, pool)
	st, err := pgstore.New(pool, &pgstore.Options{Schema: w.storeSch})
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	require.NoError(t, riversync.Migrate(context.Background(), pool, w.riverSch))
	return w
}

type replica struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	worker *riversync.Worker
	store  *watched
}

func (w *world) syncer(st dirsync.Store, name string) (*dirsync.Syncer, error) {
	return dirsync.New(counting{w, name}, w.sink, &dirsync.Options{Source: name, Store: st, HistoryLimit: 1000})
}

func (w *world) startReplica(t *testing.T, mode dirsync.Mode, cfg func(*river.Config)) *replica {
	t.Helper()
	pool := pgtest.Pool(t, 30)
	st := w.openStore(t, pool)
	worker, err := riversync.NewWorker(riversync.Config{
		Resolve: func(ctx context.Context, name string) (*dirsync.Syncer, dirsync.Mode, error) {
			sy, err := w.syncer(st, name)
			return sy, mode, err
		},
		OnRun: func(ctx context.Context, name string, rec dirsync.RunRecord, err error) {
			if err != nil {
				t.Logf("%s: run failed: %v", name, err)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			w.runs[name]++
			if errors.Is(err, store.ErrLockLost) {
				w.lost = append(w.lost, rec)
			}
		},
	})
	require.NoError(t, err)
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	rc := &river.Config{Schema: w.riverSch, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 8}},
		Workers: workers, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
		Logger: nil}
	if cfg != nil {
		cfg(rc)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	return &replica{pool: pool, client: client, worker: worker, store: st}
}

// waitIdle waits until no job is waiting or running.
func waitIdle(t *testing.T, pool *pgxpool.Pool, schema string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT count(*) FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()+
				` WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n))
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still waiting or running", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three replicas, 20 integrations, 200 "sync now" presses spread over the
// replicas while the directories change: no integration ever has two
// runs in flight (its lock has one holder at a time, and every read is
// made under it), no account is created twice, every run is in the
// integration's history exactly once, and the app ends in step.
func TestReplicasNeverOverlap(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	const integrations, presses = 20, 200
	w := newWorld(t, pool, integrations)
	var reps []*replica
	for range 3 {
		reps = append(reps, w.startReplica(t, dirsync.ModeAutomatic, nil))
	}
	var wg sync.WaitGroup
	var inserted atomic.Int64
	for i := range presses {
		wg.Go(func() {
			name := fmt.Sprintf("corp-%02d", i%integrations)
			if i%7 == 0 { // the directory changes between presses
				require.NoError(t, w.dirs[name].Add(user(fmt.Sprintf("%s-x%d", name, i), fmt.Sprintf("%s-x%d", name, i))))
			}
			ok, err := riversync.SyncNow(ctx, reps[i%len(reps)].pool, reps[i%len(reps)].client, name)
			if err == nil && ok {
				inserted.Add(1)
			}
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	waitIdle(t, pool, w.riverSch)

	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	for name := range w.dirs {
		assert.Equal(t, 1, w.maxHeld[name], "%s: holders of the lock at once", name)
		assert.Equal(t, 0, w.held[name], "%s: a run never released its lock", name)
		assert.Equal(t, 0, w.unheld[name], "%s: reads without the lock", name)
		sy, err := w.syncer(reps[0].store, name)
		require.NoError(t, err)
		hist, err := sy.History(ctx)
		require.NoError(t, err)
		assert.Len(t, hist, w.runs[name], "%s: runs in history", name)
		total += w.runs[name]
		// The app holds every directory user, each created once.
		want := w.dirs[name].Len()
		got := 0
		for _, a := range w.sink.Snapshot() {
			if a.Source == name {
				got++
				assert.Equal(t, 1, w.creates[a.Key()], "%s created %d times", a.Key(), w.creates[a.Key()])
			}
		}
		assert.Equal(t, want, got, "%s: accounts in the app", name)
	}
	assert.Equal(t, int(inserted.Load()), total, "one run per inserted job")
	assert.Less(t, total, presses, "presses coalesced")
	t.Logf("%d presses → %d jobs/runs over %d integrations", presses, total, integrations)
}

// Replica A plans into pending (approval mode); A restarts (a new client
// and pool); replica B shows the plan from the shared store and approves
// it.
func TestApprovalAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	w := newWorld(t, pool, 1)
	a := w.startReplica(t, dirsync.ModeApproval, nil)
	_, err := riversync.SyncNow(ctx, a.pool, a.client, "corp-00")
	require.NoError(t, err)
	waitIdle(t, pool, w.riverSch)
	require.NoError(t, a.client.Stop(ctx))
	a.pool.Close()
	assert.Empty(t, w.sink.Snapshot(), "nothing applied before approval")

	b := w.startReplica(t, dirsync.ModeApproval, nil)
	sy, err := w.syncer(b.store, "corp-00")
	require.NoError(t, err)
	p, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, 2, p.Count(diff.OpCreate))
	rep, err := b.worker.ApprovePending(ctx, "corp-00", p.Digest())
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count(dirsync.StatusApplied))
	assert.Len(t, w.sink.Snapshot(), 2)
	p, err = sy.PendingPlan(ctx)
	require.NoError(t, err)
	assert.Nil(t, p)
}

func TestPeriodicJob(t *testing.T) {
	pool := pgtest.Pool(t, 10)
	w := newWorld(t, pool, 1)
	pj, err := riversync.PeriodicJob("corp-00", dirsync.Schedule{Every: 200 * time.Millisecond, Jitter: -1})
	require.NoError(t, err)
	for range 2 {
		w.startReplica(t, dirsync.ModeAutomatic, func(c *river.Config) { c.PeriodicJobs = []*river.PeriodicJob{pj} })
	}
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.runs["corp-00"] >= 3
	}, 30*time.Second, 20*time.Millisecond)
	assert.Len(t, w.sink.Snapshot(), 2)
	_, err = riversync.PeriodicJob("x", dirsync.Schedule{DailyAt: "25:99"})
	assert.Error(t, err)
}
