package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store"
)

// Issue #19's "done when", through SCIM: wired as the package doc shows
// (Config.OnChange → Syncer.SyncNow, Syncer.Run running), with the
// default safety limits (20 % / 500 over 24 h), 100 pushed users, then 60
// deactivations one after another at 0, 20 and 200 ms spacing and DELETEs
// of the other 40, end with at most 20 accounts blocked in the app and
// the other removals pending (the pending plan holds only removals),
// while 5 users created during the flood reach the app. On the memory
// resources and on the journal. The DELETEs go at the deactivations'
// spacing, capped at 20 ms (the 200 ms variant already shows every write
// synced alone); the 200 ms variant takes 12 s by construction (60 × 200
// ms), so the variants run in parallel, and -short skips it.
func TestPacedFloodThroughSCIM(t *testing.T) {
	for _, kind := range []string{"memory", "journal"} {
		for _, spacing := range []time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/%v", kind, spacing), func(t *testing.T) {
				if spacing >= 200*time.Millisecond && testing.Short() {
					t.Skip("12 s of spacing; not in -short")
				}
				t.Parallel()
				var res scim.Resources = scim.NewMemoryResources()
				if kind == "journal" {
					j, err := scim.OpenJournal(t.TempDir() + "/acme.scim")
					require.NoError(t, err)
					t.Cleanup(func() { _ = j.Close() })
					res = j
				}
				pacedFlood(t, res, spacing)
			})
		}
	}
}

func pacedFlood(t *testing.T, res scim.Resources, spacing time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var sy *dirsync.Syncer
	srv, c := open(t, scim.Config{Resources: res, OnChange: func(context.Context) { sy.SyncNow() }})
	sink := dirsynctest.NewMemorySink()
	m, err := mapping.New(mapping.SCIMSpec())
	require.NoError(t, err)
	pol, err := policy.New(policy.Config{}) // the default limits: 20 %, 500
	require.NoError(t, err)
	sy, err = dirsync.New(srv, sink, &dirsync.Options{Source: source, Mapper: m, Policy: pol, Store: store.NewMemory()})
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- sy.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		<-ran
		srv.Wait()
	})

	post := func(name string) string {
		return c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": name, "active": true,
			"name":   map[string]any{"givenName": "U", "familyName": name},
			"emails": []any{map[string]any{"type": "work", "value": name, "primary": true}}}).mustStatus(t, http.StatusCreated).id()
	}
	var ids []string
	for i := range 100 {
		ids = append(ids, post(fmt.Sprintf("u%03d@acme.test", i)))
	}
	unblocked := func(ids ...string) int {
		n := 0
		for _, id := range ids {
			if a, ok := sink.Get(source, id); ok && !a.Blocked {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return unblocked(ids...) == 100 }, 10*time.Second, 5*time.Millisecond, "the 100 users reach the app")

	var fresh []string
	for i, id := range ids[:60] {
		c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})).mustStatus(t, http.StatusOK)
		if i%12 == 5 {
			fresh = append(fresh, post(fmt.Sprintf("new%d@acme.test", i)))
		}
		time.Sleep(spacing)
	}
	for _, id := range ids[60:] {
		c.do(http.MethodDelete, "/Users/"+id, nil).mustStatus(t, http.StatusNoContent)
		time.Sleep(min(spacing, 20*time.Millisecond))
	}
	require.Len(t, fresh, 5)

	// Settled: the new users are in, and every removal is either applied
	// or pending.
	var pending *dirsync.Plan
	blocked := func() int {
		n := 0
		for _, id := range ids {
			if a, ok := sink.Get(source, id); ok && a.Blocked {
				n++
			}
		}
		return n
	}
	removals := func(p *dirsync.Plan) int {
		n := 0
		for _, ch := range p.Changes {
			if ch.Op == diff.OpBlock || ch.Op == diff.OpDelete {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool {
		srv.Wait()
		p, err := sy.PendingPlan(ctx)
		if err != nil || p == nil {
			return false
		}
		pending = p
		return unblocked(fresh...) == 5 && blocked()+removals(p) == 100
	}, 10*time.Second, 10*time.Millisecond, "new users in, every removal applied or pending")

	t.Logf("blocked %d, pending removals %d", blocked(), removals(pending))
	assert.LessOrEqual(t, blocked(), 20, "at most 20 %% of 100 accounts blocked")
	// How many apply depends on how the pushes fall into runs: a run that
	// sees the whole flood at once holds it all, as a burst is held; runs
	// that see it a few at a time apply up to the budget. Never more.
	for _, ch := range pending.Changes {
		if ch.Op.Actionable() {
			assert.Contains(t, []diff.Op{diff.OpBlock, diff.OpDelete}, ch.Op, "the pending plan holds only removals: %s", ch)
		}
	}
	b, err := sy.RemovalBudget(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, b.Used, 20)
	// No other account was touched: the 40 users never deactivated
	// before their DELETE are blocked or pending, never gone.
	for _, id := range ids {
		_, ok := sink.Get(source, id)
		assert.True(t, ok, "%s still has its account", id)
	}
}
