package dirsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync/store"
)

// acquire takes the integration's lock for a path that applies: the
// Syncer's own mutex, so that runs and applies of this Syncer take turns,
// and, when the Store can lock across processes (store.Locker), the
// integration's lock there, so that no other replica applies meanwhile.
// The returned context is cancelled when that lock is lost: no further
// change is started (a sink call in flight completes), the rest are not
// attempted, and the cursor and the run record are not written; the
// removals that did apply are still noted in the removal budget. release gives both back.
func (s *Syncer) acquire(ctx context.Context) (context.Context, func(), error) {
	s.runMu.Lock()
	l, ok := s.store.(store.Locker)
	if !ok {
		return ctx, s.runMu.Unlock, nil
	}
	lock, err := l.Lock(ctx, "integration/"+s.source)
	if err != nil {
		s.runMu.Unlock()
		return ctx, func() {}, fmt.Errorf("dirsync: take the integration's lock (nothing applied): %w", err)
	}
	held, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lock.Lost():
			s.log.ErrorContext(ctx, "integration lock lost; stopping", "err", lock.Err())
			cancel(lock.Err())
		case <-held.Done():
		}
	}()
	return held, func() {
		cancel(nil)
		if err := lock.Unlock(context.WithoutCancel(ctx)); err != nil {
			s.log.WarnContext(ctx, "release the integration lock", "err", err)
		}
		s.runMu.Unlock()
	}, nil
}

// LocksAcrossProcesses reports whether the Syncer's Store can lock across
// processes (store.Locker). Then every path of the Syncer that applies
// takes the integration's lock there, and never overlaps one of another
// Syncer of the integration on the same store, in any process. A host
// that runs an integration on several replicas (package riversync)
// checks it.
func (s *Syncer) LocksAcrossProcesses() bool {
	_, ok := s.store.(store.Locker)
	return ok
}

// stillHeld reports an error when ctx was cancelled because the
// integration's lock was lost: what remains of a run (its cursor, its
// record) is then not written.
func stillHeld(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, store.ErrLockLost) {
		return fmt.Errorf("dirsync: %w (the run stopped; another replica may run now)", cause)
	}
	return nil
}
