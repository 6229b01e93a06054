package riversync_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
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

// slowWorld is a world with one integration, "corp", of n people, whose
// app takes 20 to 50 ms per change; reached is closed at the app's
// at-th create.
func slowWorld(t *testing.T, n, at int) (*world, chan struct{}) {
	pool := pgtest.Pool(t, 10)
	w := newWorld(t, pool, 0)
	dir := fake.New()
	for i := range n {
		require.NoError(t, dir.Add(user(fmt.Sprintf("p%03d", i), fmt.Sprintf("person%03d", i))))
	}
	w.dirs["corp"] = dir
	reached := make(chan struct{})
	creates := 0
	w.sink.Fail = func(c diff.Change) error {
		h := fnv.New32a()
		h.Write([]byte(c.Key))
		time.Sleep(time.Duration(20+h.Sum32()%31) * time.Millisecond)
		// MemorySink applies every change its Fail lets through: count
		// it as applied.
		if c.Op == diff.OpCreate {
			w.mu.Lock()
			w.creates[c.Key]++
			if creates++; creates == at {
				close(reached)
			}
			w.mu.Unlock()
		}
		return nil
	}
	return w, reached
}

// settled checks what must hold once every job is done: each person
// created once, nobody left out, at most one holder of the lock at any
// time (until it noticed a loss), every read made under the lock, and no
// run that lost its lock in History.
func (w *world) settled(t *testing.T, r *replica, people int) {
	t.Helper()
	ctx := context.Background()
	w.mu.Lock()
	for i := range people {
		key := fmt.Sprintf("corp/p%03d", i)
		assert.Equal(t, 1, w.creates[key], "%s created %d times", key, w.creates[key])
	}
	assert.Len(t, w.creates, people)
	assert.Equal(t, 1, w.maxHeld["corp"], "holders of the lock at once")
	assert.Equal(t, 0, w.unheld["corp"], "reads without the lock")
	lost := w.lost
	w.mu.Unlock()
	assert.Len(t, w.sink.Snapshot(), people)
	sy, err := w.syncer(r.store, "corp")
	require.NoError(t, err)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, p.Empty(), "nothing left out:\n%s", p)
	hist, err := sy.History(ctx)
	require.NoError(t, err)
	for _, l := range lost {
		for _, h := range hist {
			assert.False(t, h.Started.Equal(l.Started), "a run that lost its lock is in History: %+v", h)
		}
	}
}

func terminate(t *testing.T, w *world, r *replica) {
	t.Helper()
	var ok bool
	require.NoError(t, r.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend(pid) FROM `+
		pgx.Identifier{w.storeSch, "locks"}.Sanitize()+` WHERE name = 'integration/corp' AND holder IS NOT NULL`).Scan(&ok))
	require.True(t, ok, "terminated the lock holder's session")
}

// A sync job applies 60 creates when its lock's session is terminated;
// an admin presses "Sync now" on the other replica at once, which queues
// a second job behind the running one. The first job stops with
// store.ErrLockLost (River retries it later), the second gets the lock
// only once the first has stopped and applies the rest: nobody is
// created twice, nobody is left out, and the lost run is not in History.
func TestLockLostMidRunThenSyncNow(t *testing.T) {
	ctx := context.Background()
	const people = 60
	w, reached := slowWorld(t, people, 5)
	a := w.startReplica(t, dirsync.ModeAutomatic, nil)
	b := w.startReplica(t, dirsync.ModeAutomatic, nil)
	ok, err := riversync.SyncNow(ctx, a.pool, a.client, "corp")
	require.NoError(t, err)
	require.True(t, ok)
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("the first run never reached the middle of its apply")
	}
	terminate(t, w, a)
	ok, err = riversync.SyncNow(ctx, b.pool, b.client, "corp")
	require.NoError(t, err)
	assert.True(t, ok, "a press while the first job runs queues one more")
	waitIdle(t, a.pool, w.riverSch)

	w.mu.Lock()
	require.Len(t, w.lost, 1, "the first run lost its lock")
	w.mu.Unlock()
	jobs, err := a.client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateCompleted).First(10))
	require.NoError(t, err)
	lostJob := false
	for _, j := range jobs.Jobs {
		for _, e := range j.Errors {
			if assert.Contains(t, e.Error, store.ErrLockLost.Error()) {
				lostJob = true
			}
		}
	}
	assert.True(t, lostJob, "the job whose run lost its lock failed with ErrLockLost, and was retried")
	w.settled(t, b, people)
}

// An admin approves the pending plan on replica A (Worker.ApprovePending)
// and the lock's session is terminated mid-apply; a press of "Sync now"
// on replica B and the same approval on B come at once. The approval on A
// stops with store.ErrLockLost, the one on B finds the plan claimed, and
// B's run applies the rest: nobody is created twice or left out.
func TestLockLostMidApprovalThenSyncNow(t *testing.T) {
	ctx := context.Background()
	const people = 60
	w, reached := slowWorld(t, people, 5)
	a := w.startReplica(t, dirsync.ModeAutomatic, nil)
	b := w.startReplica(t, dirsync.ModeAutomatic, nil)
	sy, err := w.syncer(a.store, "corp")
	require.NoError(t, err)
	rec, err := sy.RunOnce(ctx, "setup", dirsync.ModeApproval)
	require.NoError(t, err)
	require.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)

	approved := make(chan error, 1)
	go func() {
		_, err := a.worker.ApprovePending(ctx, "corp", rec.Plan)
		approved <- err
	}()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("the approval never reached the middle of its apply")
	}
	terminate(t, w, a)
	_, err = riversync.SyncNow(ctx, b.pool, b.client, "corp")
	require.NoError(t, err)
	_, err = b.worker.ApprovePending(ctx, "corp", rec.Plan)
	assert.ErrorIs(t, err, dirsync.ErrNoPendingPlan, "the plan was claimed by A's approval")
	assert.ErrorIs(t, <-approved, store.ErrLockLost)
	waitIdle(t, a.pool, w.riverSch)
	w.settled(t, b, people)
}

// Two admins approve one plan on two replicas at once: it is applied
// once.
func TestWorkerApprovalsApplyOnce(t *testing.T) {
	ctx := context.Background()
	const people = 20
	w, _ := slowWorld(t, people, -1)
	a := w.startReplica(t, dirsync.ModeApproval, nil)
	b := w.startReplica(t, dirsync.ModeApproval, nil)
	sy, err := w.syncer(a.store, "corp")
	require.NoError(t, err)
	rec, err := sy.RunOnce(ctx, "setup", dirsync.ModeApproval)
	require.NoError(t, err)
	errs := make([]error, 2)
	start := make(chan struct{})
	done := make(chan struct{}, 2)
	for i, r := range []*replica{a, b} {
		go func() {
			<-start
			_, errs[i] = r.worker.ApprovePending(ctx, "corp", rec.Plan)
			done <- struct{}{}
		}()
	}
	close(start)
	<-done
	<-done
	applied := 0
	for _, err := range errs {
		if err == nil {
			applied++
		} else {
			assert.ErrorIs(t, err, dirsync.ErrNoPendingPlan)
		}
	}
	assert.Equal(t, 1, applied, "%v", errs)
	w.settled(t, b, people)
}

// A Syncer whose Store cannot lock across processes is refused: its runs
// could overlap another replica's without anyone noticing.
func TestWorkerRefusesSyncerWithoutLock(t *testing.T) {
	ctx := context.Background()
	resolve := func(ctx context.Context, name string) (*dirsync.Syncer, dirsync.Mode, error) {
		sy, err := dirsync.New(fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Source: name, Store: store.NewMemory()})
		return sy, dirsync.ModeAutomatic, err
	}
	wk, err := riversync.NewWorker(riversync.Config{Resolve: resolve})
	require.NoError(t, err)
	err = wk.Work(ctx, &river.Job[riversync.SyncArgs]{JobRow: &rivertype.JobRow{}, Args: riversync.SyncArgs{Integration: "corp"}})
	assert.ErrorIs(t, err, riversync.ErrNoLock)
	_, err = wk.ApprovePending(ctx, "corp", "digest")
	assert.ErrorIs(t, err, riversync.ErrNoLock)
	assert.False(t, errors.Is(err, dirsync.ErrNoPendingPlan))
}
