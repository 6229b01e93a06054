package scim_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/riversync"
	"github.com/dirsync-go/dirsync/scimpg"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// pgReplicas opens one scimpg.Store per replica, each on a pool of its
// own, in one migrated schema of the test database (DIRSYNC_PG_URL; the
// test fails under CI=true without it).
func pgReplicas(t testing.TB, n int) (stores []*scimpg.Store, schema string) {
	t.Helper()
	for i := range n {
		pool := pgtest.Pool(t, 20)
		if i == 0 {
			schema = pgtest.Schema(t, pool)
		}
		st, err := scimpg.New(pool, &scimpg.Options{Schema: schema})
		require.NoError(t, err)
		require.NoError(t, st.Migrate(context.Background()))
		stores = append(stores, st)
	}
	return stores, schema
}

// Two replicas, two pools, one PostgreSQL: Entra's and Okta's sequences
// through a round-robin front, conflicting creates, concurrent membership
// patches, token rotation and the Syncer's reads (testReplicas).
func TestReplicasOnPostgreSQL(t *testing.T) {
	stores, _ := pgReplicas(t, 2)
	var n atomic.Int32
	testReplicas(t, func(t *testing.T) (scim.Resources, scim.Resources) {
		name := fmt.Sprintf("integration-%d", n.Add(1))
		return stores[0].Resources(name), stores[1].Resources(name)
	})
}

// Writes spread over both replicas, each replica's OnChange calling
// riversync.SyncNow: the burst leaves one River job, and that one sync,
// run against the replica that took half of the writes, applies all of
// them.
func TestReplicasOneSyncPerBurst(t *testing.T) {
	ctx := context.Background()
	stores, schema := pgReplicas(t, 2)
	pool := pgtest.Pool(t, 8)
	require.NoError(t, riversync.Migrate(ctx, pool, schema))
	state, err := pgstore.New(pool, &pgstore.Options{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, state.Migrate(ctx))

	sink := dirsynctest.NewMemorySink()
	var srv []*scim.Server
	var runs atomic.Int32
	var syncer *dirsync.Syncer
	var once sync.Once
	worker, err := riversync.NewWorker(riversync.Config{
		Resolve: func(ctx context.Context, integration string) (*dirsync.Syncer, dirsync.Mode, error) {
			once.Do(func() {
				m, err := mapping.New(mapping.SCIMSpec())
				require.NoError(t, err)
				syncer, err = dirsync.New(srv[1], sink, &dirsync.Options{Source: integration, Mapper: m, Store: state})
				require.NoError(t, err)
			})
			return syncer, dirsync.ModeAutomatic, nil
		},
		OnRun: func(_ context.Context, _ string, _ dirsync.RunRecord, err error) {
			assert.NoError(t, err)
			runs.Add(1)
		},
	})
	require.NoError(t, err)
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: schema,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers: workers, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)

	var syncNows atomic.Int32
	onChange := func(ctx context.Context) {
		syncNows.Add(1)
		_, err := riversync.SyncNow(ctx, pool, client, "acme")
		assert.NoError(t, err)
	}
	r := openReplicas(t, scim.Config{OnChange: onChange}, stores[0].Resources("acme"), stores[1].Resources("acme"))
	srv = r.srv

	const users = 40
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < users; i += 8 {
				newUser(t, r.front, fmt.Sprintf("burst%02d@x", i))
			}
		})
	}
	wg.Wait()
	for _, s := range r.srv {
		s.Wait()
	}
	require.GreaterOrEqual(t, syncNows.Load(), int32(2), "both replicas called OnChange")
	jobs := func(where string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()+
			` WHERE args->>'integration' = 'acme' `+where).Scan(&n))
		return n
	}
	require.Equal(t, 1, jobs(""), "one job for the whole burst, from both replicas")

	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	require.Eventually(t, func() bool { return jobs(`AND state = 'completed'`) == 1 }, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, int32(1), runs.Load(), "one sync")
	assert.Len(t, sink.Snapshot(), users, "the one sync applied every write of both replicas")
	assert.Equal(t, 1, jobs(""))
}
