package dirsync_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// slowSink is a MemorySink behind a network: each call takes a while. It
// records the order in which changes started and the most calls in
// flight at once.
type slowSink struct {
	*dirsynctest.MemorySink
	delay    time.Duration
	inFlight atomic.Int32
	most     atomic.Int32
	mu       sync.Mutex
	started  []diff.Change
	ended    map[string]int // key → changes ended
}

func newSlowSink(delay time.Duration, n int) *slowSink {
	s := &slowSink{MemorySink: dirsynctest.NewMemorySink(), delay: delay, ended: map[string]int{}}
	s.Concurrency = n
	return s
}

func (s *slowSink) Apply(ctx context.Context, c diff.Change) error {
	now := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		most := s.most.Load()
		if now <= most || s.most.CompareAndSwap(most, now) {
			break
		}
	}
	s.mu.Lock()
	s.started = append(s.started, c)
	s.mu.Unlock()
	time.Sleep(s.delay)
	err := s.MemorySink.Apply(ctx, c)
	s.mu.Lock()
	s.ended[c.Key]++
	s.mu.Unlock()
	return err
}

// report renders what a report says, change by change.
func reportText(r *dirsync.Report) []string {
	var out []string
	for _, res := range r.Results {
		out = append(out, fmt.Sprintf("%s %s %s %v", res.Status, res.Change.Op, res.Change.Key, res.Err))
	}
	return out
}

// Concurrent apply keeps the plan's meaning: calls overlap up to the
// bound; departments come first, then the creates, then updates and
// unblocks, then blocks and deletes, each kind after the one before has
// ended; the report lists each change once, in plan order, exactly as a
// one-at-a-time apply reports it; the cursor moves; OnApplied and
// Progress are called one at a time (run with -race).
func TestConcurrentApplyKeepsThePlan(t *testing.T) {
	ctx := context.Background()
	build := func(n int) (*fake.Directory, *slowSink, *dirsync.Syncer, *[]dirsync.Result) {
		dir := fake.New(fake.Company(60, 7)...)
		sink := newSlowSink(2*time.Millisecond, n)
		var applied []dirsync.Result
		sy := newSyncer(t, dir, sink, &dirsync.Options{
			OnApplied: func(_ context.Context, r dirsync.Result) { applied = append(applied, r) },
			Progress:  func(dirsync.Progress) {}})
		return dir, sink, sy, &applied
	}
	var reports [2][]string
	for k, n := range []int{1, 8} {
		dir, sink, sy, applied := build(n)
		p, r := syncOnce(t, sy)
		require.NotZero(t, p.Count(diff.OpCreate))
		reports[k] = append(reports[k], reportText(r)...)
		assert.Len(t, *applied, r.Count(dirsync.StatusApplied))
		// Then a second run with updates, blocks and deletes of every kind.
		for i, e := range fake.Company(60, 7) {
			if e.Kind != "user" {
				continue
			}
			switch i % 7 {
			case 0:
				require.NoError(t, dir.Set(e.ID, "title", "Moved"))
			case 1:
				require.NoError(t, dir.Disable(e.ID))
			}
		}
		sink.mu.Lock()
		sink.started = nil
		sink.mu.Unlock()
		p, r = syncOnce(t, sy)
		reports[k] = append(reports[k], reportText(r)...)
		if n > 1 {
			assert.Greater(t, sink.most.Load(), int32(1), "calls overlapped")
			assert.LessOrEqual(t, sink.most.Load(), int32(n), "within the bound")
		}
		// Kinds in order: no update started before every create ended, no
		// block before every update.
		rank := map[diff.Op]int{diff.OpCreateDepartment: 0, diff.OpCreate: 1, diff.OpUpdate: 2, diff.OpUnblock: 2, diff.OpBlock: 3, diff.OpDelete: 3}
		for i := 1; i < len(sink.started); i++ {
			assert.LessOrEqual(t, rank[sink.started[i-1].Op], rank[sink.started[i].Op], "change %d started out of order", i)
		}
		next, err := sy.Plan(ctx)
		require.NoError(t, err)
		assert.True(t, next.Empty(), "the cursor moved and nothing is left:\n%s", next)
		assert.Equal(t, p.Incremental, true)
	}
	assert.Equal(t, reports[0], reports[1], "the same report, in plan order, at any concurrency")
}

// Cancelling a concurrent apply starts no new call, waits for those in
// flight, and marks the rest not attempted; the cursor stays.
func TestConcurrentApplyStopsOnCancel(t *testing.T) {
	dir := fake.New(users(200)...)
	sink := newSlowSink(5*time.Millisecond, 8)
	sy := newSyncer(t, dir, sink, nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	sink.Fail = func(diff.Change) error {
		if calls.Add(1) == 40 {
			cancel()
		}
		return nil
	}
	r, err := sy.Apply(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, sink.inFlight.Load(), "no call left in flight")
	applied, notAttempted := r.Count(dirsync.StatusApplied), r.Count(dirsync.StatusNotAttempted)
	assert.Equal(t, 200, applied+notAttempted+r.Count(dirsync.StatusFailed))
	assert.LessOrEqual(t, int(calls.Load()), 40+8, "no new call after the cancel but those in flight")
	assert.Greater(t, notAttempted, 100)
	next, err := sy.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, notAttempted+r.Count(dirsync.StatusFailed), next.Count(diff.OpCreate), "the rest is planned again")
	assert.False(t, next.Incremental)
}

// The limits, the approval and exceptions at apply time hold with
// concurrent apply as without.
func TestConcurrentApplyKeepsTheLimits(t *testing.T) {
	sink := dirsynctest.NewMemorySink()
	sink.Concurrency = 16
	sy, p := over30(t, sink)
	v, err := p.Search("user00")
	require.NoError(t, err)
	_, err = sy.Apply(context.Background(), v)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	assert.Equal(t, 0, blocked(sink))
	p.Approve()
	r, err := sy.Apply(context.Background(), p)
	require.NoError(t, err)
	assert.Equal(t, 30, r.Count(dirsync.StatusApplied))
	assert.Equal(t, 30, blocked(sink))
}

// racySink is a sink that declares itself safe for concurrent calls and
// is not: it loses creates that overlap.
type racySink struct {
	mu       sync.Mutex
	accounts []diff.Account
}

func (s *racySink) ApplyConcurrency() int { return 8 }

func (s *racySink) Accounts(context.Context) iter.Seq2[diff.Account, error] {
	s.mu.Lock()
	list := slices.Clone(s.accounts)
	s.mu.Unlock()
	return func(yield func(diff.Account, error) bool) {
		for _, a := range list {
			if !yield(a, nil) {
				return
			}
		}
	}
}

func (s *racySink) Apply(_ context.Context, c diff.Change) error {
	s.mu.Lock()
	snapshot := slices.Clone(s.accounts)
	s.mu.Unlock()
	time.Sleep(time.Millisecond) // read, think, write back: the lost update
	switch c.Op {
	case diff.OpCreate:
		a := c.After.Clone()
		a.ID = fmt.Sprintf("r%d", len(snapshot))
		snapshot = append(snapshot, a)
	default:
		for i := range snapshot {
			if snapshot[i].ExternalID == c.Before.ExternalID && snapshot[i].Source == c.Before.Source {
				for _, f := range c.Fields {
					snapshot[i].CopyField(f.Name, c.After)
				}
			}
		}
	}
	s.mu.Lock()
	s.accounts = snapshot
	s.mu.Unlock()
	return nil
}

// The sink suite catches a sink that declares concurrency it does not
// have.
func TestSinkSuiteCatchesAnUnsafeConcurrentSink(t *testing.T) {
	err := dirsynctest.TestSink(context.Background(), func(context.Context) (dirsync.Sink, error) {
		return &racySink{}, nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "concurrent apply")
}
