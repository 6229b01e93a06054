// Package store defines where a dirsync Syncer keeps what it must remember
// between runs, and the contract a storage driver implements.
//
// A Store holds, per integration, a handful of keys such as
// "integration/corp-ad/cursor", "…/exceptions", "…/history",
// "…/fingerprint" and "…/pending": the incremental-read cursor, the
// exceptions an admin added, the run history, and the plan waiting for
// approval. Forgetting them is not harmless: a lost cursor means a full
// read, lost exceptions mean accounts an admin protected get touched again.
// Values are opaque bytes to the Store; the Syncer writes JSON.
//
// # The contract
//
// Store has three methods, and every driver must:
//
//   - give back from Get exactly the bytes of the last Put of that key
//     (empty, binary or several MiB alike; a Put of nil reads back empty,
//     not missing), and never a prefix or a case-folded variant of
//     another key;
//   - report a missing key with an error wrapping ErrNotFound, and treat
//     a Delete of a missing key as success;
//   - keep no reference to the slice passed to Put, nor hand out its own
//     in Get;
//   - be safe for concurrent use;
//   - name a key in an error with QuoteKey, so that a huge key does not
//     make a huge error. A driver may refuse a key too long for it.
//
// A value the Syncer cannot have written (GetJSON and UpdateJSON check)
// is an error wrapping ErrCorruptStore that names the key, and is left as
// it is: a corrupt store is never reset silently.
//
// # Optional capabilities
//
// As with database/sql/driver, everything beyond the three methods is an
// optional interface that callers discover by type assertion and fall
// back from, so adding a capability never breaks an existing driver:
//
//   - Updater: an atomic read-modify-write of one key. UpdateJSON uses it
//     when the Store has it; without it, UpdateJSON serialises the cycles
//     on a Store value and key itself, which is enough within one process
//     but not for several processes sharing one store.
//   - Locker: a named lock that holds across every process sharing the
//     store, and tells its holder when it is lost. A Syncer takes its
//     integration's lock through it on every path that applies, so that
//     replicas never apply one integration at once.
//
// # Drivers
//
// Memory, in this package, keeps everything in memory, for tests,
// examples and one-shot runs. Drivers in their own packages import this
// one and nothing of the engine, so a program pays only for the driver it
// uses: store/filestore keeps one JSON file for one process, and
// store/pgstore keeps a PostgreSQL schema that any number of processes
// share. A host's own driver (on its database, say) implements Store, and
// Updater if its database can, and checks itself with the conformance
// suite in store/storetest.
package store

import (
	"context"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Store keeps what a Syncer must remember between runs: each integration's
// cursor, its persisted exceptions and its run history. Keys are plain
// strings; values are opaque bytes. Get reports a missing key with
// ErrNotFound.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// Updater is an optional Store capability: an atomic read-modify-write of
// one key. Update calls f with the key's value (found is false when the key
// is missing) and stores what f returns, with no other write to the key in
// between, even from another process where the store is shared; an error
// from f stores nothing and is returned. f may be called more than once
// (an optimistic store retries it after a conflict), so it must not have
// side effects.
//
// A Syncer updates exceptions, history and the cursor through Update when
// its Store has it (see UpdateJSON). Without it the Syncer serialises its
// own updates (and those of every Syncer in the process sharing the
// Store), which is enough for one process but not for several sharing one
// store.
type Updater interface {
	Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error
}

// ErrNotFound reports a key that a Store does not hold.
var ErrNotFound = errors.New("dirsync: not found")

// ErrCorruptStore reports a store, or a value in it, that cannot be read
// back. The store is left as it is: a corrupt store is never reset
// silently, because that would forget exceptions and cursors.
var ErrCorruptStore = errors.New("dirsync: store is corrupt")

// maxQuotedKey is how many bytes of a key QuoteKey repeats.
const maxQuotedKey = 64

// QuoteKey returns key quoted as Go quotes a string, for an error message
// or a log line. A key longer than 64 bytes is cut to its first 64 bytes
// (at a character boundary) and followed by its length, as in
// "integration/aaaa"…(1048576 bytes), so an error about a huge key stays
// small.
func QuoteKey(key string) string {
	if len(key) <= maxQuotedKey {
		return strconv.Quote(key)
	}
	cut := maxQuotedKey // not inside a character; invalid UTF-8 anywhere
	for i := cut; i > cut-utf8.UTFMax; i-- {
		if utf8.RuneStart(key[i]) {
			cut = i
			break
		}
	}
	return strconv.Quote(key[:cut]) + "…(" + strconv.Itoa(len(key)) + " bytes)"
}
