package riversync

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
)

// River cancels a job after its client's JobTimeout (one minute by
// default) unless the worker says otherwise: a sync of a large directory
// must not be cut short by that default. Nor may the worker say "no
// timeout": River never rescues such a job from a replica that died
// (TestReplicaDiesMidApply).
func TestWorkerTimeout(t *testing.T) {
	resolve := func(context.Context, string) (*dirsync.Syncer, dirsync.Mode, error) { return nil, 0, nil }
	w, err := NewWorker(Config{Pool: &pgxpool.Pool{}, Resolve: resolve})
	require.NoError(t, err)
	assert.Equal(t, DefaultJobTimeout, w.Timeout(&river.Job[SyncArgs]{}))
	assert.Positive(t, w.Timeout(&river.Job[SyncArgs]{}), "a job without a timeout is never rescued")

	w, err = NewWorker(Config{Pool: &pgxpool.Pool{}, Resolve: resolve, JobTimeout: 3 * time.Hour})
	require.NoError(t, err)
	assert.Equal(t, 3*time.Hour, w.Timeout(&river.Job[SyncArgs]{}))

	w, err = NewWorker(Config{Pool: &pgxpool.Pool{}, Resolve: resolve, JobTimeout: -1})
	require.NoError(t, err)
	assert.Zero(t, w.Timeout(&river.Job[SyncArgs]{}), "the River client's own timeout")
}
