package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/pgstore"
	"github.com/dirsync-go/dirsync/store/storetest"
)

func open(t testing.TB, pool *pgxpool.Pool, schema string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.New(pool, &pgstore.Options{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	return st
}

func TestConformance(t *testing.T) {
	pool := pgtest.Pool(t, 0)
	err := storetest.Test(context.Background(), func(ctx context.Context) (store.Store, error) {
		return open(t, pool, pgtest.Schema(t, pool)), nil
	})
	require.NoError(t, err)
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 0)
	schema := pgtest.Schema(t, pool)
	st, err := pgstore.New(pool, &pgstore.Options{Schema: schema})
	require.NoError(t, err)

	// Before Migrate: a clear error, not a bare SQL one.
	_, err = st.Get(ctx, "k")
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated)
	assert.ErrorIs(t, st.Put(ctx, "k", []byte("v")), pgstore.ErrNotMigrated)

	// Replicas migrating at once, and again: all succeed, once.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = st.Migrate(ctx) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.NoError(t, st.Migrate(ctx))
	var n, v int
	require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), max(version) FROM %q.migrations`, schema)).Scan(&n, &v))
	assert.Equal(t, pgstore.Latest(), n)
	assert.Equal(t, pgstore.Latest(), v)
	require.NoError(t, st.Put(ctx, "k", []byte("v")))

	// A schema from a newer version is refused, and left alone.
	_, err = pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %q.migrations (version, name) VALUES (9999, 'future')`, schema))
	require.NoError(t, err)
	assert.ErrorIs(t, st.Migrate(ctx), pgstore.ErrSchemaTooNew)
	got, err := st.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got))

	// Two schemas in one database are two stores.
	other := open(t, pool, pgtest.Schema(t, pool))
	_, err = other.Get(ctx, "k")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// TestLongKeyErrors: an error about a huge key quotes only its start and
// its length, whether the database refuses the key (a 1 MiB primary key
// does not fit a B-tree page) or the store reports it missing or not
// migrated.
func TestLongKeyErrors(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 0)
	st := open(t, pool, pgtest.Schema(t, pool))
	b := make([]byte, 1<<19)
	_, _ = rand.Read(b)
	key := hex.EncodeToString(b) // 1 MiB that does not compress
	short := func(err error) {
		t.Helper()
		require.Error(t, err)
		assert.Less(t, len(err.Error()), 1024, "%.300s", err)
		assert.Contains(t, err.Error(), store.QuoteKey(key))
		assert.Contains(t, err.Error(), "…(1048576 bytes)")
	}
	_, err := st.Get(ctx, key)
	assert.ErrorIs(t, err, store.ErrNotFound)
	short(err)
	short(st.Put(ctx, key, []byte("v")))
	short(st.Update(ctx, key, func([]byte, bool) ([]byte, error) { return []byte("v"), nil }))

	unmigrated, err := pgstore.New(pool, &pgstore.Options{Schema: pgtest.Schema(t, pool)})
	require.NoError(t, err)
	_, err = unmigrated.Get(ctx, key)
	assert.ErrorIs(t, err, pgstore.ErrNotMigrated)
	short(err)
	short(unmigrated.Delete(ctx, key))

	_, err = pgstore.New(pool, &pgstore.Options{Schema: key})
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1024, "%.300s", err)
}

func TestSchemaName(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://unused@localhost/x")
	require.NoError(t, err) // lazy: connects on first use
	defer pool.Close()
	for _, bad := range []string{"a;DROP TABLE x", `a"b`, "1abc", "with space", "é", string(make([]byte, 64))} {
		_, err := pgstore.New(pool, &pgstore.Options{Schema: bad})
		assert.Error(t, err, "%q", bad)
	}
	st, err := pgstore.New(pool, nil)
	require.NoError(t, err)
	assert.Equal(t, "dirsync", st.Schema())
	_, err = pgstore.New(nil, nil)
	assert.Error(t, err)
}

const (
	helperEnv    = "DIRSYNC_PGSTORE_HELPER_SCHEMA"
	helperRounds = 40
)

// TestHelperProcess is run as a child process by
// TestConcurrentProcesses; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	schema := os.Getenv(helperEnv)
	if schema == "" {
		return
	}
	pool := pgtest.Pool(t, 4)
	st, err := pgstore.New(pool, &pgstore.Options{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, increment(context.Background(), st, helperRounds))
}

func increment(ctx context.Context, st *pgstore.Store, rounds int) error {
	for range rounds {
		err := st.Update(ctx, "counter", func(old []byte, found bool) ([]byte, error) {
			n := 0
			if found {
				var err error
				if n, err = strconv.Atoi(string(old)); err != nil {
					return nil, err
				}
			}
			return []byte(strconv.Itoa(n + 1)), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestConcurrentProcesses has three child processes and three pools of
// this one increment one counter that starts missing: every increment
// counts.
func TestConcurrentProcesses(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 0)
	schema := pgtest.Schema(t, pool)
	open(t, pool, schema)

	const procs, pools = 3, 3
	var wg sync.WaitGroup
	errs := make([]error, procs+pools)
	for i := range procs {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+schema)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("child %d: %v\n%s", i, err, out)
			}
		})
	}
	for i := range pools {
		p := pgtest.Pool(t, 4)
		st, err := pgstore.New(p, &pgstore.Options{Schema: schema})
		require.NoError(t, err)
		wg.Go(func() { errs[procs+i] = increment(ctx, st, helperRounds) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	got, err := open(t, pool, schema).Get(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa((procs+pools)*helperRounds), string(got))
}
