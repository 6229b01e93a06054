package riversync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/riversync"
	"github.com/dirsync-go/dirsync/store/filestore"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// roundSize reads DIRSYNC_BENCH_ROUND ("integrations x users", default
// 100x1000; the figure is 1000x1000).
func roundSize(b *testing.B) (integrations, users int) {
	spec := os.Getenv("DIRSYNC_BENCH_ROUND")
	if spec == "" {
		spec = "100x1000"
	}
	if _, err := fmt.Sscanf(spec, "%dx%d", &integrations, &users); err != nil || integrations < 1 || users < 1 {
		b.Fatalf("DIRSYNC_BENCH_ROUND=%q: want integrations x users, such as 1000x1000", spec)
	}
	return integrations, users
}

// tenants is what a host with many customers holds: per integration a
// directory and the app's accounts of that customer.
type tenants struct {
	names []string
	dirs  map[string]*fake.Directory
	sinks map[string]*dirsynctest.MemorySink
}

func newTenants(n, users int) *tenants {
	t := &tenants{dirs: map[string]*fake.Directory{}, sinks: map[string]*dirsynctest.MemorySink{}}
	for i := range n {
		name := fmt.Sprintf("tenant-%04d", i)
		t.names = append(t.names, name)
		t.dirs[name] = fake.New(fake.Company(users, int64(i+1))...)
		t.sinks[name] = dirsynctest.NewMemorySink()
	}
	return t
}

// changeOne changes the title of one active account's person in every
// directory, so the next round's runs are incremental and apply one
// update each.
func (t *tenants) changeOne(b *testing.B, round int) {
	for _, name := range t.names {
		id := ""
		for _, a := range t.sinks[name].Snapshot() {
			if !a.Blocked && a.ExternalID != "" {
				id = a.ExternalID
				break
			}
		}
		require.NotEmpty(b, id, "%s has an active account", name)
		require.NoError(b, t.dirs[name].Set(id, "title", fmt.Sprintf("Title %d", round)))
	}
}

func (t *tenants) syncer(st dirsync.Store, name string) (*dirsync.Syncer, error) {
	return dirsync.New(t.dirs[name], t.sinks[name], &dirsync.Options{Source: name, Store: st, HistoryLimit: 100})
}

// riverRound is the replicas' side: three River clients, each with its
// own pool and Worker, on one database; a round is one scheduled job per
// integration, inserted through the replicas in turn, and ends when every
// job has run.
type riverRound struct {
	t       *tenants
	clients []*river.Client[pgx.Tx]
	mu      sync.Mutex
	done    int
	applied int
	failed  []error
	allDone chan struct{}
}

func startRiverRound(b *testing.B, t *tenants, replicas int) *riverRound {
	ctx := context.Background()
	admin := pgtest.Pool(b, 4)
	storeSch, riverSch := pgtest.Schema(b, admin), pgtest.Schema(b, admin)
	st, err := pgstore.New(admin, &pgstore.Options{Schema: storeSch})
	require.NoError(b, err)
	require.NoError(b, st.Migrate(ctx))
	require.NoError(b, riversync.Migrate(ctx, admin, riverSch))
	r := &riverRound{t: t}
	for range replicas {
		pool := pgtest.Pool(b, 12)
		rst, err := pgstore.New(pool, &pgstore.Options{Schema: storeSch})
		require.NoError(b, err)
		worker, err := riversync.NewWorker(riversync.Config{
			Pool: pool,
			Resolve: func(ctx context.Context, name string) (*dirsync.Syncer, dirsync.Mode, error) {
				sy, err := t.syncer(rst, name)
				return sy, dirsync.ModeAutomatic, err
			},
			OnRun: func(ctx context.Context, name string, rec dirsync.RunRecord, err error) {
				r.mu.Lock()
				defer r.mu.Unlock()
				if err != nil {
					r.failed = append(r.failed, fmt.Errorf("%s: %w", name, err))
				}
				r.done++
				r.applied += rec.Applied
				if r.done == len(t.names) && r.allDone != nil {
					close(r.allDone)
				}
			},
		})
		require.NoError(b, err)
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
			Schema: riverSch, Workers: workers,
			Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
			FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		})
		require.NoError(b, err)
		require.NoError(b, client.Start(ctx))
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = client.Stop(ctx)
		})
		r.clients = append(r.clients, client)
	}
	return r
}

// round inserts one job per integration, waits for all of them and
// returns how many changes they applied.
func (r *riverRound) round(b *testing.B, trigger dirsync.Trigger) int {
	ctx := context.Background()
	r.mu.Lock()
	r.done, r.applied, r.failed, r.allDone = 0, 0, nil, make(chan struct{})
	wait := r.allDone
	r.mu.Unlock()
	batches := make([][]river.InsertManyParams, len(r.clients))
	for i, name := range r.t.names {
		k := i % len(r.clients)
		batches[k] = append(batches[k], river.InsertManyParams{Args: riversync.SyncArgs{Integration: name, Trigger: trigger}})
	}
	for k, c := range r.clients {
		_, err := c.InsertMany(ctx, batches[k])
		require.NoError(b, err)
	}
	select {
	case <-wait:
	case <-time.After(30 * time.Minute):
		b.Fatal("round did not finish")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(b, r.failed)
	return r.applied
}

// BenchmarkRound is one round of syncs over many integrations: the
// issue's 1,000 integrations × 1,000 users (DIRSYNC_BENCH_ROUND=1000x1000;
// default 100x1000). "river-3-replicas" runs them as River jobs on three
// replicas (clients with their own pools, 4 workers each) with their
// state in PostgreSQL; "one-process-filestore" is the single-replica
// shape: one process running the integrations' RunOnce two at a time,
// each integration's state in its own filestore. Per round, "first" is
// the first import of every integration (full reads, every account
// created); "steady" is the round after one title changed in every
// directory (incremental reads, one update each). Each sub-benchmark's
// ns/op is one round; run-ms/op is that divided by the integrations.
func BenchmarkRound(b *testing.B) {
	n, users := roundSize(b)
	report := func(b *testing.B, elapsed time.Duration, rounds int) {
		b.ReportMetric(float64(elapsed.Milliseconds())/float64(rounds*n), "run-ms/op")
	}
	b.Run("river-3-replicas", func(b *testing.B) {
		b.Run("first", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				t := newTenants(n, users)
				r := startRiverRound(b, t, 3)
				b.StartTimer()
				start := time.Now()
				require.GreaterOrEqual(b, r.round(b, "first"), n, "every integration imports its users")
				report(b, time.Since(start), 1)
			}
		})
		b.Run("steady", func(b *testing.B) {
			t := newTenants(n, users)
			r := startRiverRound(b, t, 3)
			r.round(b, "first")
			var elapsed time.Duration
			rounds := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				t.changeOne(b, i)
				b.StartTimer()
				start := time.Now()
				require.Equal(b, n, r.round(b, dirsync.Trigger(fmt.Sprintf("steady-%d", i))), "one update per integration")
				elapsed += time.Since(start)
				rounds++
			}
			report(b, elapsed, rounds)
		})
	})
	b.Run("one-process-filestore", func(b *testing.B) {
		dir := b.TempDir()
		syncers := func(b *testing.B, t *tenants, sub string) []*dirsync.Syncer {
			var out []*dirsync.Syncer
			for _, name := range t.names {
				st, err := filestore.Open(filepath.Join(dir, sub, name+".json"))
				require.NoError(b, err)
				sy, err := t.syncer(st, name)
				require.NoError(b, err)
				out = append(out, sy)
			}
			return out
		}
		round := func(b *testing.B, sys []*dirsync.Syncer, trigger dirsync.Trigger) int {
			work := make(chan *dirsync.Syncer)
			errs := make(chan error, len(sys))
			var applied atomic.Int64
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					for sy := range work {
						rec, err := sy.RunOnce(context.Background(), trigger, dirsync.ModeAutomatic)
						if err != nil {
							errs <- err
						}
						applied.Add(int64(rec.Applied))
					}
				})
			}
			for _, sy := range sys {
				work <- sy
			}
			close(work)
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			return int(applied.Load())
		}
		b.Run("first", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				t := newTenants(n, users)
				require.NoError(b, os.MkdirAll(filepath.Join(dir, fmt.Sprint(i)), 0o700))
				sys := syncers(b, t, fmt.Sprint(i))
				b.StartTimer()
				start := time.Now()
				require.GreaterOrEqual(b, round(b, sys, "first"), n, "every integration imports its users")
				report(b, time.Since(start), 1)
			}
		})
		b.Run("steady", func(b *testing.B) {
			t := newTenants(n, users)
			require.NoError(b, os.MkdirAll(filepath.Join(dir, "steady"), 0o700))
			sys := syncers(b, t, "steady")
			round(b, sys, "first")
			var elapsed time.Duration
			rounds := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				t.changeOne(b, i)
				b.StartTimer()
				start := time.Now()
				require.Equal(b, n, round(b, sys, dirsync.Trigger(fmt.Sprintf("steady-%d", i))), "one update per integration")
				elapsed += time.Since(start)
				rounds++
			}
			report(b, elapsed, rounds)
		})
	})
}
