package dirsync_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
)

// A plan left pending survives a restart: a new Syncer on the same store
// (another replica, or the same app restarted) shows it and approves it,
// and approval still re-plans and refuses a plan the directory moved away
// from.
func TestPendingSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"))
	sink := dirsynctest.NewMemorySink()
	replica := func() *dirsync.Syncer {
		st, err := filestore.Open(path)
		require.NoError(t, err)
		return newSyncer(t, dir, sink, &dirsync.Options{Store: st})
	}

	a := replica()
	rec, err := a.RunOnce(ctx, "schedule", dirsync.ModeApproval)
	require.NoError(t, err)
	require.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	shown := pendingPlan(t, a).Digest()
	assert.Equal(t, shown, rec.Plan)

	b := replica() // a restarted
	stored, err := b.PendingPlan(ctx)
	require.NoError(t, err)
	require.NotNil(t, stored)
	assert.Equal(t, shown, stored.Digest())
	assert.Equal(t, 2, stored.Count(diff.OpCreate))

	// The directory moves: approving the old digest applies nothing.
	require.NoError(t, dir.Set("1", "title", "CEO"))
	_, err = b.ApprovePending(ctx, shown)
	require.ErrorIs(t, err, dirsync.ErrPlanChanged)
	assert.Empty(t, sink.Snapshot())

	// The new plan is pending for every replica; approving it on a third
	// applies it, and no plan waits afterwards, anywhere.
	c := replica()
	fresh, err := c.PendingPlan(ctx)
	require.NoError(t, err)
	require.NotNil(t, fresh)
	assert.NotEqual(t, shown, fresh.Digest())
	rep, err := c.ApprovePending(ctx, fresh.Digest())
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count(dirsync.StatusApplied))
	for _, sy := range []*dirsync.Syncer{a, b, c} {
		p, err := sy.PendingPlan(ctx)
		require.NoError(t, err)
		assert.Nil(t, p)
		_, err = sy.ApprovePending(ctx, fresh.Digest())
		assert.ErrorIs(t, err, dirsync.ErrNoPendingPlan)
	}
}

func TestPendingCorrupt(t *testing.T) {
	st := store.NewMemory()
	sy := newSyncer(t, fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Store: st})
	require.NoError(t, st.Put(context.Background(), "integration/ad/pending", []byte("{not a plan")))
	_, err := sy.PendingPlan(context.Background())
	assert.ErrorIs(t, err, dirsync.ErrCorruptStore)
	_, err = sy.ApprovePending(context.Background(), "whatever")
	assert.ErrorIs(t, err, dirsync.ErrCorruptStore)
}

func TestRunOnce(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(user("1", "alice", "Users"))
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	rec, err := sy.RunOnce(ctx, "sync-now", dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeApplied, rec.Outcome)
	assert.Equal(t, dirsync.TriggerSyncNow, rec.Trigger)
	assert.Equal(t, 1, rec.Applied)
	rec, err = sy.RunOnce(ctx, "schedule", dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeNoChanges, rec.Outcome)
	runs, err := sy.History(ctx)
	require.NoError(t, err)
	assert.Len(t, runs, 2)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = sy.RunOnce(cancelled, "schedule", dirsync.ModeAutomatic)
	assert.ErrorIs(t, err, context.Canceled)
}
