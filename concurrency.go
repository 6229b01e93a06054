package dirsync

import (
	"context"
	"sync"

	"github.com/dirsync-go/dirsync/diff"
)

// ConcurrentSink is an optional Sink capability: a sink that is safe for
// concurrent calls of Apply declares how many it takes at once.
// dirsynctest.TestSink checks such a sink under concurrent calls (run it
// with -race). Options.ApplyConcurrency, when set, takes precedence.
type ConcurrentSink interface {
	ApplyConcurrency() int
}

// concurrency is the bound on sink calls in flight for this Syncer.
func (s *Syncer) concurrency() int {
	n := s.applyConcurrency
	if n == 0 {
		if cs, ok := s.sink.(ConcurrentSink); ok {
			n = cs.ApplyConcurrency()
		}
	}
	return max(n, 1)
}

// applyAll carries out the changes and returns their results in the same
// order. With a concurrency of 1 it goes through them one by one. Above
// that, it keeps the plan's meaning while calls overlap:
//
//   - the changes go in segments of one kind, in plan order, and a segment
//     starts only when the one before has ended: departments, then
//     creates (a manager's create before the updates that point at it),
//     then updates and unblocks, then blocks and deletes, so a failure
//     mid-way never leaves people blocked whose replacements were not
//     created;
//   - departments go one at a time (a parent before its children);
//   - within a segment the changes of one account (one Key) go in plan
//     order, one at a time, and different accounts overlap, at most the
//     bound at once;
//   - once ctx is done no new call starts, the calls in flight finish,
//     and the rest are not attempted;
//   - OnApplied and Progress are called one at a time.
//
// lw, if not nil, logs each change as its outcome is known.
func (s *Syncer) applyAll(ctx context.Context, changes []diff.Change, except func(*diff.Account) (diff.Reason, bool), lw *logWriter) []Result {
	results := make([]Result, len(changes))
	total := len(changes)
	done := 0
	var doneMu sync.Mutex
	progress := func() {
		doneMu.Lock()
		done++
		d := done
		doneMu.Unlock()
		s.hookMu.Lock()
		s.report(Progress{Phase: PhaseApply, Done: d, Total: total})
		s.hookMu.Unlock()
	}
	n := s.concurrency()
	for lo := 0; lo < len(changes); {
		hi := lo + 1
		for hi < len(changes) && segment(changes[hi].Op) == segment(changes[lo].Op) {
			hi++
		}
		if n == 1 || changes[lo].Op == diff.OpCreateDepartment {
			for i := lo; i < hi; i++ {
				results[i] = s.applyCounted(ctx, changes[i], except, progress)
				lw.finished(ctx, results, i)
			}
		} else {
			s.applySegment(ctx, changes, results, lo, hi, n, except, progress, lw)
		}
		lo = hi
	}
	return results
}

// applyCounted applies one change and reports progress for a change that
// was attempted.
func (s *Syncer) applyCounted(ctx context.Context, c diff.Change, except func(*diff.Account) (diff.Reason, bool), progress func()) Result {
	res := s.applyChange(ctx, c, except)
	if res.Status != StatusNotAttempted && res.Status != StatusSkipped {
		progress()
	}
	return res
}

// segment names the kinds of change that may overlap: creates; updates
// and unblocks; blocks and deletes; each department alone.
func segment(op diff.Op) int {
	switch op {
	case diff.OpCreate:
		return 1
	case diff.OpUpdate, diff.OpUnblock:
		return 2
	case diff.OpBlock, diff.OpDelete:
		return 3
	}
	return 0
}

// applySegment applies changes[lo:hi] with at most n calls in flight, the
// changes of one account in order.
func (s *Syncer) applySegment(ctx context.Context, changes []diff.Change, results []Result, lo, hi, n int,
	except func(*diff.Account) (diff.Reason, bool), progress func(), lw *logWriter) {
	var keys []string
	byKey := map[string][]int{}
	for i := lo; i < hi; i++ {
		k := changes[i].Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	work := make(chan []int)
	var wg sync.WaitGroup
	for range min(n, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for group := range work {
				for _, i := range group {
					results[i] = s.applyCounted(ctx, changes[i], except, progress)
					lw.finished(ctx, results, i)
				}
			}
		}()
	}
	for _, k := range keys {
		work <- byKey[k]
	}
	close(work)
	wg.Wait()
}
