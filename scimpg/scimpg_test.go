package scimpg_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/connector/scim/scimtest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/scimpg"
)

// The scim.Resources conformance suite, Shared checks included; a second
// pool stands for a second replica when the suite opens one name twice.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	var stores []*scimpg.Store
	schema := ""
	for i := range 2 {
		pool := pgtest.Pool(t, 8)
		if i == 0 {
			schema = pgtest.Schema(t, pool)
		}
		st, err := scimpg.New(pool, &scimpg.Options{Schema: schema})
		require.NoError(t, err)
		require.NoError(t, st.Migrate(ctx))
		stores = append(stores, st)
	}
	var mu sync.Mutex
	opened := map[string]int{}
	require.NoError(t, scimtest.TestResources(ctx, func(_ context.Context, name string) (scim.Resources, error) {
		mu.Lock()
		defer mu.Unlock()
		opened[name]++
		return stores[opened[name]%2].Resources(name), nil
	}))
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 0)
	schema := pgtest.Schema(t, pool)
	st, err := scimpg.New(pool, &scimpg.Options{Schema: schema})
	require.NoError(t, err)
	res := st.Resources("acme")

	// Before Migrate: a clear error, not a bare SQL one.
	_, err = res.Load(ctx)
	assert.ErrorIs(t, err, scimpg.ErrNotMigrated)
	assert.ErrorIs(t, res.SetTokenHash(ctx, []byte("h")), scimpg.ErrNotMigrated)
	_, err = scim.Open(ctx, scim.Config{Resources: res})
	assert.ErrorIs(t, err, scimpg.ErrNotMigrated)

	// Replicas migrating at once, and again: all succeed, once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = st.Migrate(ctx) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.NoError(t, st.Migrate(ctx))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "scim_migrations"}.Sanitize()).Scan(&n))
	assert.Equal(t, 1, n)

	// A schema from a newer version is refused, and left alone.
	_, err = pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "scim_migrations"}.Sanitize()+` (version, name) VALUES (99, 'future')`)
	require.NoError(t, err)
	assert.ErrorIs(t, st.Migrate(ctx), scimpg.ErrSchemaTooNew)

	// Remove deletes an integration's resources and token, no other's.
	require.NoError(t, res.SetTokenHash(ctx, []byte("h")))
	other := st.Resources("other")
	require.NoError(t, other.Put(ctx, scim.Record{ID: "x", Type: "User", Seq: 1, CreatedSeq: 1, Attrs: []byte(`{}`)}))
	require.NoError(t, res.Put(ctx, scim.Record{ID: "y", Type: "User", Seq: 2, CreatedSeq: 2, Attrs: []byte(`{}`)}))
	require.NoError(t, st.Remove(ctx, "acme"))
	got, err := res.Load(ctx)
	require.NoError(t, err)
	assert.Empty(t, got.Records)
	assert.Nil(t, got.TokenHash)
	got, err = other.Load(ctx)
	require.NoError(t, err)
	assert.Len(t, got.Records, 1)
}

func TestNewValidates(t *testing.T) {
	_, err := scimpg.New(nil, nil)
	assert.Error(t, err)
	pool := pgtest.Pool(t, 1)
	_, err = scimpg.New(pool, &scimpg.Options{Schema: "bad-name; DROP"})
	assert.Error(t, err)
}
