package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// journalIDs returns the record IDs of the journal file at path in file
// order, duplicates included.
func journalIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for line := range bytes.Lines(b) {
		var jl journalLine
		require.NoError(t, json.Unmarshal(line, &jl))
		if jl.Record != nil {
			out = append(out, jl.Record.ID)
		}
	}
	return out
}

// 64 writers × 50 writes at once share syncs, and a reopen finds every
// acknowledged write, in an order consistent with acknowledgment: a
// write acknowledged before another began comes first in the file.
func TestJournalGroupCommitConcurrentWriters(t *testing.T) {
	const writers, each = 64, 50
	ctx := context.Background()
	j, ff, path := openFaulty(t)
	ff.onSync = func(int) error { time.Sleep(200 * time.Microsecond); return nil } // a disk's sync takes time

	var clock atomic.Int64 // orders starts and acknowledgments
	type span struct{ start, ack int64 }
	var (
		mu    sync.Mutex
		spans = map[string]span{}
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for k := range each {
				id := fmt.Sprintf("w%02d-%02d", w, k)
				start := clock.Add(1)
				if err := j.Put(ctx, rec(id, uint64(w*each+k+1))); err != nil {
					t.Error(err)
					return
				}
				ack := clock.Add(1)
				mu.Lock()
				spans[id] = span{start, ack}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, spans, writers*each)
	assert.Less(t, ff.syncs, writers*each/4, "concurrent writes share syncs")
	require.NoError(t, j.Close())

	got := journalIDs(t, path)
	require.Len(t, got, writers*each, "every acknowledged write, once")
	// Going back from the end, minAck is the earliest acknowledgment of a
	// later line: no later line may have been acknowledged before this
	// one began.
	minAck := int64(1 << 62)
	for i := len(got) - 1; i >= 0; i-- {
		s, ok := spans[got[i]]
		require.True(t, ok, "line %d: %s was never acknowledged", i, got[i])
		require.Greater(t, minAck, s.start, "line %d: %s is after a write acknowledged before it began", i, got[i])
		minAck = min(minAck, s.ack)
	}
	assert.Len(t, ids(t, path), writers*each)
}

// A batch whose write or sync fails answers every one of its writers the
// error and is cut off: a reopen finds none of them, and the batches
// before and after it are whole.
func TestJournalGroupCommitFailedBatch(t *testing.T) {
	for name, fault := range map[string]func(ff *faultyFile, n int) error{
		// Runs in Sync number n; the first batch's sync is number 1.
		"sync fails": func(_ *faultyFile, n int) error {
			if n == 2 {
				return syscall.EIO
			}
			return nil
		},
		"write fails half-way": func(ff *faultyFile, n int) error {
			ff.shortWrite = n == 1 // the next write
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			const failing = 8
			ctx := context.Background()
			j, ff, path := openFaulty(t, "a")
			// The first batch ("lead") holds its sync until the next batch
			// has formed behind it; that batch then fails.
			entered, release := make(chan struct{}), make(chan struct{})
			ff.onSync = func(n int) error {
				if n == 1 {
					close(entered)
					<-release
				}
				return fault(ff, n)
			}
			lead := make(chan error)
			go func() { lead <- j.Put(ctx, rec("lead", 2)) }()
			<-entered

			errs := make(chan error, failing)
			for i := range failing {
				go func() { errs <- j.Put(ctx, rec(fmt.Sprintf("failed-%d", i), uint64(3+i))) }()
			}
			queued(t, j, failing)
			close(release)

			require.NoError(t, <-lead)
			for range failing {
				err := <-errs
				require.Error(t, err)
				assert.Contains(t, err.Error(), "write journal")
			}
			assert.Equal(t, 2, ff.writes, "the failing batch was one write")
			ff.shortWrite = false

			require.NoError(t, j.Put(ctx, rec("after", 20)), "the next batch is written after the cut")
			st, err := j.Load(ctx)
			require.NoError(t, err)
			assert.Len(t, st.Records, 3)
			require.NoError(t, j.Close())
			assert.Equal(t, []string{"a", "lead", "after"}, journalIDs(t, path))
		})
	}
}

// queued waits until n writes are queued as the next batch.
func queued(t *testing.T, j *Journal, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.next != nil && bytes.Count(j.next.lines, []byte{'\n'}) == n
	}, 5*time.Second, time.Millisecond, "%d writes queue as one batch", n)
}

// A batch queued behind one whose cut failed is refused, not appended
// after the bytes that could not be removed.
func TestJournalGroupCommitRefusedAfterFailedCut(t *testing.T) {
	ctx := context.Background()
	j, ff, path := openFaulty(t, "a")
	entered, release := make(chan struct{}), make(chan struct{})
	ff.onSync = func(n int) error {
		if n > 1 {
			return nil
		}
		close(entered)
		<-release
		return syscall.EIO // and the cut's truncate fails
	}
	first := make(chan error)
	go func() { first <- j.Put(ctx, rec("failed", 2)) }()
	<-entered
	second := make(chan error)
	go func() { second <- j.Put(ctx, rec("refused", 3)) }()
	queued(t, j, 1)
	ff.failTruncate = true
	close(release)

	require.ErrorIs(t, <-first, syscall.EIO)
	err := <-second
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reopened")
	assert.Equal(t, 1, ff.writes, "nothing written after the failed cut")
	require.NoError(t, j.Close())
	// The failed write reached the file whole and could not be cut off,
	// so a reopen may find it (as the Journal's doc says); never the
	// refused one.
	assert.Equal(t, []string{"a", "failed"}, ids(t, path))
}
