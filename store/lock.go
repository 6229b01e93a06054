package store

import (
	"context"
	"errors"
)

// Locker is an optional Store capability: a lock per name that holds
// across every process sharing the store. A Syncer takes its
// integration's lock through it on every path that applies (a run, Apply,
// ApplyShown, ApprovePending), so that several replicas never run one
// integration at once.
//
// Lock blocks until the lock is held or ctx is done. The Lock it returns
// watches itself: when the lock is lost (the connection that held it
// died, a database restarted or failed over), Lost is closed within a
// bounded time, and the holder stops before anything it does could
// overlap with the next holder. A driver makes that so: a new holder does
// not get the lock before a holder that lost it must have noticed (a lease
// with a grace period longer than the time to notice).
type Locker interface {
	Lock(ctx context.Context, name string) (Lock, error)
}

// Lock is a held lock.
type Lock interface {
	// Lost is closed when the lock is lost; Err then says why (wrapping
	// ErrLockLost). It is not closed by Unlock.
	Lost() <-chan struct{}
	// Err returns nil while the lock is held, and why it was lost after.
	Err() error
	// Unlock releases the lock. Unlocking a lost lock is not an error.
	Unlock(ctx context.Context) error
}

// ErrLockLost reports a lock lost while it was held.
var ErrLockLost = errors.New("store: lock lost")
