package dirsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
)

// ApplyShown applies exactly the plan shown when nothing moved, and
// nothing at all (returning the new plan) when the directory, the app or
// the exceptions moved since.
func TestApplyShownAppliesOnlyThePlanShown(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"), user("3", "carol", "Users"))
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)

	shown, err := sy.Plan(ctx)
	require.NoError(t, err)

	// The directory moves before the admin clicks "Sync".
	require.NoError(t, dir.Set("2", "title", "CFO"))
	fresh, rep, err := sy.ApplyShown(ctx, shown.Digest(), false)
	require.ErrorIs(t, err, dirsync.ErrPlanChanged)
	assert.Nil(t, rep)
	assert.Empty(t, sink.Snapshot(), "nothing applied")
	require.NotNil(t, fresh)
	assert.NotEqual(t, shown.Digest(), fresh.Digest())

	// The admin sees the fresh plan and syncs it.
	got, rep, err := sy.ApplyShown(ctx, fresh.Digest(), false)
	require.NoError(t, err)
	assert.Equal(t, fresh.Digest(), got.Digest())
	assert.Equal(t, 3, rep.Count(dirsync.StatusApplied))
	b, ok := sink.Get("ad", "2")
	require.True(t, ok)
	assert.Equal(t, "CFO", b.Title)

	runs, err := sy.History(ctx)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, dirsync.TriggerApply, runs[0].Trigger)
	assert.Equal(t, fresh.Digest(), runs[0].Plan)

	// An exception added after the plan was shown changes the plan too.
	require.NoError(t, dir.Set("1", "title", "CEO"))
	require.NoError(t, dir.Set("3", "title", "CTO"))
	shown, err = sy.Plan(ctx)
	require.NoError(t, err)
	require.NoError(t, sy.AddException(ctx, policy.Exception{ID: "3"}))
	fresh, _, err = sy.ApplyShown(ctx, shown.Digest(), false)
	require.ErrorIs(t, err, dirsync.ErrPlanChanged)
	assert.Equal(t, 1, fresh.Count(diff.OpUpdate))
	c, _ := sink.Get("ad", "3")
	assert.Empty(t, c.Title)
}

// A plan over the safety limits is applied only with approve set.
func TestApplyShownOverTheLimitsNeedsApproval(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(usersN(20, "Users")...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	for i := range 10 {
		require.NoError(t, dir.Disable(fmt.Sprintf("u%03d", i)))
	}
	shown, err := sy.Plan(ctx)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)

	_, rep, err := sy.ApplyShown(ctx, shown.Digest(), false)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	assert.Nil(t, rep)
	for _, a := range sink.Snapshot() {
		assert.False(t, a.Blocked, a.Username)
	}

	_, rep, err = sy.ApplyShown(ctx, shown.Digest(), true)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Count(dirsync.StatusApplied))
}

// Property: whatever moves between preview and click, ApplyShown applies
// iff the plan it makes has the digest shown, and then leaves nothing to
// do; otherwise the sink is untouched.
func TestApplyShownProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(1, 8).Draw(rt, "users")
		dir := fake.New(usersN(n, "Users")...)
		sink := dirsynctest.NewMemorySink()
		sy := newSyncer(t, dir, sink, &dirsync.Options{Policy: mustPolicy(t, policy.Config{Safety: policy.Safety{Disabled: true}})})
		if rapid.Bool().Draw(rt, "synced before") {
			syncOnce(t, sy)
		}
		shown, err := sy.Plan(ctx)
		if err != nil {
			require.ErrorIs(rt, err, dirsync.ErrSafetyLimit) // removing everyone
		}
		for range rapid.IntRange(0, 3).Draw(rt, "moves") {
			id := fmt.Sprintf("u%03d", rapid.IntRange(0, n-1).Draw(rt, "who"))
			switch rapid.IntRange(0, 2).Draw(rt, "what") {
			case 0:
				require.NoError(rt, dir.Set(id, "title", rapid.StringMatching(`[a-z]{0,3}`).Draw(rt, "title")))
			case 1:
				require.NoError(rt, dir.Disable(id))
			default:
				require.NoError(rt, dir.Enable(id))
			}
		}
		want, err := sy.Plan(ctx)
		if err != nil {
			require.ErrorIs(rt, err, dirsync.ErrSafetyLimit)
		}
		before := sink.Snapshot()
		fresh, rep, err := sy.ApplyShown(ctx, shown.Digest(), true)
		require.Equal(rt, want.Digest(), fresh.Digest())
		if want.Digest() != shown.Digest() {
			require.ErrorIs(rt, err, dirsync.ErrPlanChanged)
			require.Nil(rt, rep)
			require.Equal(rt, before, sink.Snapshot())
			return
		}
		require.NoError(rt, err)
		require.Equal(rt, shown.Actionable(), rep.Count(dirsync.StatusApplied))
		after, _ := sy.Plan(ctx)
		require.True(rt, after.Empty(), "left to do:\n%s", after)
	})
}

// NextRun says when Run waits to sync next, and is zero outside Run's
// waits.
func TestNextRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := newFakeClock()
	sy := newSyncer(t, fake.New(user("1", "alice", "Users")), dirsynctest.NewMemorySink(), &dirsync.Options{Clock: clk})
	assert.True(t, sy.NextRun().IsZero())
	done := make(chan error, 1)
	go func() {
		done <- sy.Run(ctx, &dirsync.RunOptions{Schedule: dirsync.Schedule{Every: time.Hour, Jitter: -1}})
	}()
	clk.waitIdle(t)
	assert.Equal(t, clk.Now().Add(time.Hour), sy.NextRun())
	clk.Advance(time.Hour)
	clk.waitIdle(t)
	assert.Equal(t, clk.Now().Add(time.Hour), sy.NextRun())
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.True(t, sy.NextRun().IsZero())
}

func mustPolicy(t testing.TB, cfg policy.Config) *policy.Policy {
	t.Helper()
	p, err := policy.New(cfg)
	require.NoError(t, err)
	return p
}
