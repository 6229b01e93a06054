package riversync_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/riversync"
)

// SyncNow's two slots, driven through every state pair that matters. The
// test relies on what River v0.51 returns for a unique insert it skips
// (riverpgxv5's JobInsertFastMany: ON CONFLICT on the unique key, RETURNING
// the existing row, UniqueSkippedAsDuplicate from xmax): the row of the
// job already there, in its current state. A press inserts a job exactly
// when no job of the integration waits to start; a running job does not
// count as waiting. The jobs are moved between states by SQL, as workers
// and the rescuer would; no client works them.
func TestSyncNowSlots(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t, 5)
	schema := pgtest.Schema(t, pool)
	require.NoError(t, riversync.Migrate(ctx, pool, schema))
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	table := pgx.Identifier{schema, "river_job"}.Sanitize()
	setState := func(slot int, from, to string) {
		t.Helper()
		tag, err := pool.Exec(ctx, `UPDATE `+table+` SET state = $3::text::`+pgx.Identifier{schema, "river_job_state"}.Sanitize()+
			`, finalized_at = CASE WHEN $3 IN ('completed','cancelled','discarded') THEN now() END
			WHERE args->>'integration' = 'corp' AND coalesce((args->>'slot')::int, 0) = $1 AND state::text = $2`, slot, from, to)
		require.NoError(t, err)
		require.EqualValues(t, 1, tag.RowsAffected(), "slot %d: no job %s", slot, from)
	}
	press := func(want bool, msg string) {
		t.Helper()
		for _, integration := range []string{"corp", "other"} {
			got, err := riversync.SyncNow(ctx, pool, client, integration)
			require.NoError(t, err)
			if integration == "corp" {
				assert.Equal(t, want, got, msg)
			}
		}
	}
	jobs := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE args->>'integration' = 'corp'`).Scan(&n))
		return n
	}

	press(true, "no job: insert into slot 0")
	press(false, "slot 0 waits: coalesce")
	setState(0, "available", "running")
	press(true, "slot 0 runs: queue slot 1 behind it")
	press(false, "slot 1 waits")
	setState(0, "running", "completed")
	press(false, "slot 0 finished, slot 1 still waits: coalesce")
	setState(0, "completed", "running") // as if it still ran
	setState(1, "available", "running")
	press(false, "both run, and one of them waits for the lock without having read")
	setState(0, "running", "completed")
	press(true, "slot 0 finished: a new slot-0 job")
	press(false, "slot 0 waits again")
	setState(1, "running", "retryable")
	press(false, "a retryable job will run again, after the press")
	setState(0, "available", "discarded")
	press(false, "slot 1 still waits to retry")
	setState(1, "retryable", "cancelled")
	press(true, "nothing waits or runs: insert")
	assert.Equal(t, 4, jobs(), "one job per insert reported, no more")
}
