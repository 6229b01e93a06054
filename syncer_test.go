package dirsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store/filestore"
)

var clock = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// fixedClock is a dirsync.Clock stopped at t; its After waits for real.
type fixedClock time.Time

func (c fixedClock) Now() time.Time                       { return time.Time(c) }
func (fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// clockFunc is a dirsync.Clock whose Now is the function; its After waits
// for real.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time                       { return f() }
func (clockFunc) After(d time.Duration) <-chan time.Time { return time.After(d) }

// systemClock is the real clock, for tests that need time to pass.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func user(id, sam, ou string) connector.Entry {
	e := connector.Entry{ID: id, Kind: connector.KindUser, Path: []string{ou}, Attrs: connector.Attrs{},
		DN: "CN=" + sam + ",OU=" + ou + ",DC=example,DC=test"}
	e.Attrs.Set("sAMAccountName", sam)
	e.Attrs.Set("mail", sam+"@example.test")
	e.Attrs.Set("givenName", strings.ToUpper(sam[:1])+sam[1:])
	e.Attrs.Set("sn", "Example")
	return e
}

func newSyncer(t testing.TB, c connector.Connector, s dirsync.Sink, o *dirsync.Options) *dirsync.Syncer {
	t.Helper()
	if o == nil {
		o = &dirsync.Options{}
	}
	if o.Source == "" {
		o.Source = "ad"
	}
	if o.Clock == nil {
		o.Clock = fixedClock(clock)
	}
	if o.ApplyConcurrency == 0 {
		// scripts/test.sh runs the package's tests again with concurrent
		// apply switched on: every promise must hold with it too.
		o.ApplyConcurrency, _ = strconv.Atoi(os.Getenv("DIRSYNC_TEST_APPLY_CONCURRENCY"))
	}
	sy, err := dirsync.New(c, s, o)
	require.NoError(t, err)
	return sy
}

func syncOnce(t testing.TB, sy *dirsync.Syncer) (*dirsync.Plan, *dirsync.Report) {
	t.Helper()
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	r, err := sy.Apply(context.Background(), p)
	require.NoError(t, err)
	return p, r
}

func TestSyncerLifecycle(t *testing.T) {
	dir := fake.New(user("1", "alice", "Sales department users"), user("2", "bob", "IT Users"), user("3", "carol", "IT Users"))
	sink := dirsynctest.NewMemorySink(diff.Account{Email: "carol@example.test", DisplayName: "Carol (signed up herself)"})
	sy := newSyncer(t, dir, sink, nil)

	p, r := syncOnce(t, sy)
	assert.Equal(t, 2, p.Count(diff.OpCreate), p.String())
	assert.Equal(t, 1, p.Count(diff.OpUpdate), "carol is adopted by email:\n%s", p)
	assert.Equal(t, p.Actionable(), r.Count(dirsync.StatusApplied))
	assert.Len(t, sink.Snapshot(), 3, "adopted, not duplicated")

	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Empty(), "second plan:\n%s", p)

	// Rename, disable, delete at the source.
	dir.Set("1", "sn", "Renamed")
	dir.Disable("2")
	dir.Delete("3")
	p, _ = syncOnce(t, sy)
	assert.Equal(t, 1, p.Count(diff.OpUpdate), p.String())
	assert.Equal(t, 2, p.Count(diff.OpBlock), p.String())
	bob, ok := sink.Get("ad", "2")
	require.True(t, ok)
	assert.True(t, bob.Blocked && bob.BlockedBySync)
	assert.Zero(t, sink.Sessions(bob.ID), "blocking ends sessions")

	// Re-enabled: sync lifts its own block.
	dir.Enable("2")
	p, _ = syncOnce(t, sy)
	assert.Equal(t, 1, p.Count(diff.OpUnblock), p.String())
	bob, _ = sink.Get("ad", "2")
	assert.False(t, bob.Blocked)

	runs, err := sy.History(context.Background())
	require.NoError(t, err)
	require.Len(t, runs, 3)
	assert.Equal(t, 1, runs[0].Counts["unblock"], "newest first")
}

func TestSyncerReadFailureAbortsPlan(t *testing.T) {
	entries := fake.Company(50, 1)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	before := sink.Snapshot()

	boom := errors.New("connection reset by peer")
	dir.FailAfter(10, boom)
	p, err := sy.Plan(context.Background())
	assert.Nil(t, p)
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "nothing planned")
	assert.Equal(t, before, sink.Snapshot(), "a failed read changes nothing")
}

func TestSyncerCancelledRead(t *testing.T) {
	dir := fake.New(fake.Company(20, 1)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := newSyncer(t, dir, dirsynctest.NewMemorySink(), nil).Plan(ctx)
	assert.Nil(t, p)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestSyncerQuietCancelIsStillAFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := connectorFunc(func(ctx context.Context, yield func(connector.Entry, error) bool) {
		// Yields nothing and no error once cancelled.
	})
	sink := dirsynctest.NewMemorySink(diff.Account{ID: "x", Source: "ad", ExternalID: "1", Managed: true})
	p, err := newSyncer(t, c, sink, nil).Plan(ctx)
	assert.Nil(t, p)
	assert.ErrorIs(t, err, context.Canceled)
}

type connectorFunc func(ctx context.Context, yield func(connector.Entry, error) bool)

func (f connectorFunc) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) { f(ctx, yield) }
}

func TestSyncerDuplicateID(t *testing.T) {
	c := connectorFunc(func(ctx context.Context, yield func(connector.Entry, error) bool) {
		_ = yield(user("1", "alice", "Users"), nil) && yield(user("1", "alice2", "Users"), nil)
	})
	_, err := newSyncer(t, c, dirsynctest.NewMemorySink(), nil).Plan(context.Background())
	var dup *connector.DuplicateIDError
	require.ErrorAs(t, err, &dup)
	assert.Equal(t, "1", dup.ID)
}

func TestSyncerEmptySourceIsNotEveryoneLeft(t *testing.T) {
	dir := fake.New(fake.Company(30, 2)...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)

	empty := newSyncer(t, fake.New(), sink, nil)
	p, err := empty.Plan(context.Background())
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	require.NotNil(t, p, "the plan is returned for review")
	var se *policy.SafetyError
	require.ErrorAs(t, err, &se)
	assert.True(t, se.EmptySource)
	assert.Contains(t, p.String(), "Safety limit")

	_, err = empty.Apply(context.Background(), p)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	for _, a := range sink.Snapshot() {
		assert.False(t, a.Blocked, "nothing blocked before approval")
	}

	p.Approve()
	r, err := empty.Apply(context.Background(), p)
	require.NoError(t, err)
	assert.Equal(t, p.Count(diff.OpBlock), r.Count(dirsync.StatusApplied))
}

func TestSyncerMassRemovalNeedsApproval(t *testing.T) {
	entries := fake.Company(100, 3)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	users := 0
	for _, e := range entries {
		if e.Kind == connector.KindUser && users < 40 {
			dir.Delete(e.ID)
			users++
		}
	}
	p, err := sy.Plan(context.Background())
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	var se *policy.SafetyError
	require.ErrorAs(t, err, &se)
	assert.Positive(t, se.Removals)
	assert.Equal(t, p.Count(diff.OpBlock)+p.Count(diff.OpDelete), se.Removals)
}

func TestSyncerApplyGoesOnPastFailures(t *testing.T) {
	dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"), user("3", "carol", "Users"))
	sink := dirsynctest.NewMemorySink()
	denied := errors.New("quota exceeded")
	sink.Fail = func(c diff.Change) error {
		if c.After != nil && c.After.Username == "bob" {
			return denied
		}
		return nil
	}
	sy := newSyncer(t, dir, sink, nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	r, err := sy.Apply(context.Background(), p)
	require.Error(t, err)
	assert.ErrorIs(t, err, denied)
	var ce *dirsync.ChangeError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ad/2", ce.Change.Key)
	assert.Equal(t, 2, r.Count(dirsync.StatusApplied))
	assert.Equal(t, 1, r.Count(dirsync.StatusFailed))
	var buf bytes.Buffer
	require.NoError(t, r.WriteText(&buf))
	assert.Contains(t, buf.String(), "quota exceeded")

	runs, err := sy.History(context.Background())
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Len(t, runs[0].Failures, 1)
	assert.Equal(t, "ad/2", runs[0].Failures[0].Key)

	// The failed change is planned again next time, and converges.
	sink.Fail = nil
	p, _ = syncOnce(t, sy)
	assert.Equal(t, 1, p.Count(diff.OpCreate))
}

func TestSyncerCancelledApply(t *testing.T) {
	dir := fake.New(fake.Company(20, 4)...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32 // Fail runs on several goroutines with concurrent apply
	sink.Fail = func(diff.Change) error {
		if n.Add(1) == 5 {
			cancel()
		}
		return nil
	}
	r, err := sy.Apply(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	assert.Positive(t, r.Count(dirsync.StatusNotAttempted))
	assert.Equal(t, len(r.Results), r.Count(dirsync.StatusApplied)+r.Count(dirsync.StatusNotAttempted)+r.Count(dirsync.StatusFailed))

	// A new run picks up the rest.
	sink.Fail = nil
	syncOnce(t, sy)
	p, err = sy.Plan(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Empty(), p.String())
}

func TestSyncerExceptionsPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dirsync.json")
	store, err := filestore.Open(path)
	require.NoError(t, err)
	dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"))
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, &dirsync.Options{Store: store})
	require.NoError(t, sy.AddException(context.Background(), policy.Exception{ID: "2", Note: "CEO's account, managed by hand"}))

	store2, err := filestore.Open(path)
	require.NoError(t, err)
	sy2 := newSyncer(t, dir, sink, &dirsync.Options{Store: store2})
	p, _ := syncOnce(t, sy2)
	assert.Equal(t, 1, p.Count(diff.OpCreate))
	var skipped *diff.Change
	for i := range p.Changes {
		if p.Changes[i].Key == "ad/2" {
			skipped = &p.Changes[i]
		}
	}
	require.NotNil(t, skipped, p.String())
	assert.Equal(t, diff.OpSkip, skipped.Op)
	assert.True(t, skipped.HasReason(diff.ReasonException))
	assert.Contains(t, skipped.Status(), "CEO")
	_, ok := sink.Get("ad", "2")
	assert.False(t, ok)

	require.NoError(t, sy2.RemoveException(context.Background(), policy.Exception{ID: "2", Note: "CEO's account, managed by hand"}))
	p, _ = syncOnce(t, sy2)
	assert.Equal(t, 1, p.Count(diff.OpCreate))
}

func TestSyncerEmptyJoinKeySkipped(t *testing.T) {
	spec := mapping.ADSpec()
	bad := user("1", "alice", "Users")
	good := user("2", "bob", "Users")
	good.Attrs.Set("employeeID", "E2")
	spec.Rules = append(spec.Rules, mapping.Rule{Target: mapping.TargetExternalID, From: []string{"employeeID"}})
	custom, err := mapping.New(spec)
	require.NoError(t, err)
	sy := newSyncer(t, fake.New(bad, good), dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: custom})
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	require.Len(t, p.Changes, 2, p.String())
	assert.Equal(t, diff.OpCreate, p.Changes[0].Op)
	assert.Equal(t, "ad/E2", p.Changes[0].Key)
	assert.Equal(t, diff.OpSkip, p.Changes[1].Op)
	assert.True(t, p.Changes[1].HasReason(diff.ReasonInvalid))
	assert.Contains(t, p.Changes[1].Status(), "empty join key")
}

func TestSyncerProgress(t *testing.T) {
	dir := fake.New(fake.Company(2500, 5)...)
	var phases []dirsync.Phase
	last := map[dirsync.Phase]dirsync.Progress{}
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Progress: func(p dirsync.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		last[p.Phase] = p
	}})
	p, r := syncOnce(t, sy)
	assert.Equal(t, []dirsync.Phase{dirsync.PhaseRead, dirsync.PhaseMap, dirsync.PhaseDiff, dirsync.PhaseApply}, phases)
	assert.Equal(t, last[dirsync.PhaseApply].Total, last[dirsync.PhaseApply].Done)
	assert.Equal(t, p.Actionable(), last[dirsync.PhaseApply].Done)
	assert.Equal(t, p.Actionable(), r.Count(dirsync.StatusApplied))
	assert.Positive(t, last[dirsync.PhaseRead].Done)
}

func TestSyncerBadInput(t *testing.T) {
	_, err := dirsync.New(nil, dirsynctest.NewMemorySink(), nil)
	assert.Error(t, err)
	_, err = dirsync.New(fake.New(), nil, nil)
	assert.Error(t, err)
	_, err = dirsync.New(fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Source: "bad name/x"})
	assert.ErrorContains(t, err, "source name")
	sy := newSyncer(t, fake.New(), dirsynctest.NewMemorySink(), nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	_, err = p.Search("(unclosed")
	assert.Error(t, err)
	other := newSyncer(t, fake.New(), dirsynctest.NewMemorySink(), &dirsync.Options{Source: "google"})
	_, err = other.Apply(context.Background(), p)
	assert.ErrorContains(t, err, "integration")
}

func TestPlanJSON(t *testing.T) {
	dir := fake.New(user("1", "alice", "Users"))
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	var back struct {
		Plan struct {
			Source  string         `json:"source"`
			Counts  map[string]int `json:"counts"`
			Changes []diff.Change  `json:"changes"`
		} `json:"plan"`
		SourceUsers int `json:"sourceUsers"`
	}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, map[string]int{"create": 1}, back.Plan.Counts)
	assert.Equal(t, diff.OpCreate, back.Plan.Changes[0].Op)
	assert.Equal(t, 1, back.SourceUsers)
}

// The same directory, read in any order, renders a byte-identical plan.
func TestSyncerPlanDeterministic(t *testing.T) {
	entries := fake.Company(300, 6)
	sink := dirsynctest.NewMemorySink(diff.Account{Email: "nobody@example.test"})
	render := func(seed int64) []byte {
		dir := fake.New(entries...)
		dir.Shuffle(seed)
		p, err := newSyncer(t, dir, sink, nil).Plan(context.Background())
		require.NoError(t, err)
		j, err := json.Marshal(p)
		require.NoError(t, err)
		return append([]byte(p.String()), j...)
	}
	first := render(1)
	for seed := int64(2); seed < 6; seed++ {
		assert.Equal(t, string(first), string(render(seed)))
	}
}

// Over generated directories and app states: plan, apply, plan again — the
// second plan is empty.
func TestSyncerConvergesProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(t, "users")
		seed := rapid.Int64().Draw(t, "seed")
		entries := fake.Company(n, seed)
		var pre []diff.Account
		for i, e := range entries {
			if e.Kind != connector.KindUser {
				continue
			}
			switch rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("app%d", i)) {
			case 1: // an unmanaged account with the same email
				pre = append(pre, diff.Account{Email: e.Attr("mail"), DisplayName: "Self signup"})
			case 2: // a managed account with stale fields, maybe blocked
				pre = append(pre, diff.Account{Source: "ad", ExternalID: e.ID, Managed: true, Title: "stale",
					Blocked: rapid.Bool().Draw(t, fmt.Sprintf("blocked%d", i)), BlockedBySync: rapid.Bool().Draw(t, fmt.Sprintf("bySync%d", i))})
			}
		}
		pre = append(pre, diff.Account{Source: "ad", ExternalID: "gone", Managed: true, Email: "gone@example.test"})
		sink := dirsynctest.NewMemorySink(pre...)
		policyCfg := policy.Config{Safety: policy.Safety{Disabled: true}}
		if rapid.Bool().Draw(t, "usersOnly") {
			policyCfg.Scope.Rules = []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}
		}
		pol, err := policy.New(policyCfg)
		if err != nil {
			t.Fatal(err)
		}
		sy, err := dirsync.New(fake.New(entries...), sink, &dirsync.Options{Source: "ad", Policy: pol,
			Clock: fixedClock(clock)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := sy.Plan(context.Background())
		if err != nil && !errors.Is(err, dirsync.ErrSafetyLimit) {
			t.Fatal(err)
		}
		p.Approve()
		if _, err := sy.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		again, err := sy.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !again.Empty() {
			t.Fatalf("second plan not empty:\n%s", again)
		}
	})
}

func TestMemorySinkConformance(t *testing.T) {
	for _, n := range []int{0, 8} {
		err := dirsynctest.TestSink(context.Background(), func(context.Context) (dirsync.Sink, error) {
			s := dirsynctest.NewMemorySink()
			s.Concurrency = n
			return s, nil
		})
		require.NoError(t, err, "concurrency %d", n)
	}
}

// A mapper without the Deferred capability gets the whole read indexed
// first; both paths plan alike.
func TestSyncerPlainMapper(t *testing.T) {
	rm, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	plain := mapping.MapperFunc(rm.Map)
	entries := fake.Company(120, 9)
	render := func(m mapping.Mapper) string {
		p, err := newSyncer(t, fake.New(entries...), dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: m}).Plan(context.Background())
		require.NoError(t, err)
		return p.String()
	}
	assert.Equal(t, render(rm), render(plain))
}
