package dirsync

import (
	"context"

	"github.com/dirsync-go/dirsync/store"
)

// Store keeps what a Syncer must remember between runs: each integration's
// cursor, its persisted exceptions and its run history. It is store.Store;
// store.NewMemory, store/filestore and store/pgstore provide one, and
// store/storetest checks a host's own.
type Store = store.Store

// Updater is store.Updater, an optional Store capability: an atomic
// read-modify-write of one key. A Syncer updates exceptions, history and
// the cursor through it when its Store has it; without it, the Syncer
// serialises its own updates (and those of every Syncer in the process
// sharing the Store), which is enough for one process but not for several
// sharing one store.
type Updater = store.Updater

// ErrNotFound reports a key that a Store does not hold. It is
// store.ErrNotFound.
var ErrNotFound = store.ErrNotFound

// ErrCorruptStore reports a store, or a value in it, that cannot be read
// back; it is left as it is. It is store.ErrCorruptStore.
var ErrCorruptStore = store.ErrCorruptStore

// updateJSON atomically reads the JSON value at key into a fresh *T (left
// zero when the key is missing), lets f change it, and writes it back. An
// error from f writes nothing. See store.UpdateJSON.
func updateJSON[T any](ctx context.Context, st Store, key string, f func(*T) error) error {
	return store.UpdateJSON(ctx, st, key, f)
}

// newMemoryStore is the Store of a Syncer made without one.
func newMemoryStore() Store { return store.NewMemory() }
