// Package appstore is the examples' stand-in for "your app's user table":
// the part a host application of dirsync writes itself. The quickstart and
// the admin console both keep their app's accounts in it; a host that
// copies it replaces bbolt with its own database and keeps the shape.
//
// A Store keeps accounts, their sign-in sessions and the org chart's
// departments in one bbolt file. It implements dirsync.Sink and the
// optional dirsync.DepartmentLister and dirsync.AccountLookup, and passes
// dirsynctest.TestSink.
//
// # What a real app store does
//
// The sink contract (dirsync.Sink) asks little, but a store that keeps it
// under load does the following, and so does this one:
//
//   - One transaction per change: a change is applied completely or not at
//     all, and a failed change leaves no half-updated account behind.
//     Where the store is safe for concurrent calls (Options.Concurrency,
//     dirsync.ConcurrentSink), changes applied at once share a commit
//     (bbolt's Batch) and a failing one is retried alone, so a first
//     import of 100,000 people pays a few thousand fsyncs, not 100,000.
//   - A unique index on the join key (source, external ID), which is also
//     how a change finds its account when it does not carry the app ID.
//     It makes a create idempotent: a create whose join key exists
//     updates that account instead, because a run interrupted after a
//     change applied but before its cursor was saved repeats it.
//   - An index on the email in the form diff.NormalizeEmail gives, so that
//     an incremental run (dirsync.AccountLookup) finds the account it may
//     adopt without listing every account.
//   - The app's own ID for each account, never reused.
//   - A block ends the account's sessions on every device: blocking a
//     person who stays signed in blocks nothing.
//   - Updates set exactly the fields the change lists and leave the rest,
//     which an admin or the person may have edited in the app.
//
// With these indexes, a create, update, block or delete costs O(log n) in
// the number of accounts; only Accounts, which a full run calls once, reads
// them all.
//
// # File layout
//
// Buckets of the bbolt file:
//
//	accounts     app ID → JSON diff.Account (the bucket's sequence numbers the IDs)
//	keys         source NUL externalID → app ID (the join key index)
//	emails       normalised email NUL app ID → empty (the email index)
//	sessions     app ID "/" session ID → JSON Session
//	departments  department path joined by US (0x1f) → empty
//	meta         "seeded", "sessionsEnded" (a counter), "format"
//
// Files written by earlier builds of the examples (the quickstart's had
// no email index, the console's no index at all and its ID sequence in
// meta) open as they are: Open rebuilds the indexes once, from the
// accounts, and records the format. Do not point an older build at an
// upgraded file: the quickstart's would not keep the email index, the
// console's would reuse app IDs.
package appstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
)

var (
	_ dirsync.Sink             = (*Store)(nil)
	_ dirsync.DepartmentLister = (*Store)(nil)
	_ dirsync.AccountLookup    = (*Store)(nil)
	_ dirsync.ConcurrentSink   = (*Store)(nil)
)

// ErrNotFound reports an update, block or unblock of an account the app
// does not hold.
var ErrNotFound = errors.New("appstore: account not found")

// Buckets of the store file; see the package doc.
var (
	bucketAccounts    = []byte("accounts")
	bucketKeys        = []byte("keys")
	bucketEmails      = []byte("emails")
	bucketSessions    = []byte("sessions")
	bucketDepartments = []byte("departments")
	bucketMeta        = []byte("meta")
)

// Keys of the meta bucket.
var (
	metaSeeded        = []byte("seeded")
	metaSessionsEnded = []byte("sessionsEnded")
	metaFormat        = []byte("format")
)

// format is the file layout this package writes. Files without it (format
// 1) get their indexes rebuilt when opened.
const format = 2

const deptSep = "\x1f"

// Options configure a Store. The zero value is valid.
type Options struct {
	// IDPrefix starts every app ID: "u-" gives u-000001, u-000002, ….
	IDPrefix string
	// Sessions is how many sessions a new account starts with, as if the
	// invited person signed in on that many devices; 0 for none. Blocks
	// and deletes end them.
	Sessions int
	// LockTimeout bounds the wait for the file lock another process
	// holds; 0 means two seconds.
	LockTimeout time.Duration
	// Now is the clock of session start times; nil means time.Now in UTC.
	Now func() time.Time
	// Concurrency, above 1, declares the store safe for that many Apply
	// calls at once (dirsync.ConcurrentSink), and concurrent calls then
	// share commits: bbolt's Batch gathers up to Concurrency changes into
	// one transaction and one fsync. Each change still applies completely
	// or not at all: a change that fails is taken out of its batch, the
	// others are committed without it, and it is retried alone. 0 or 1
	// commits each change alone, one call at a time.
	Concurrency int
}

// Store is the app's user store, persisted in a bbolt file. It is safe for
// concurrent use; each Apply is one bbolt transaction.
type Store struct {
	db          *bolt.DB
	now         func() time.Time
	prefix      string
	sessions    int
	concurrency int
}

// Session is a signed-in device, as the app's session table holds it.
type Session struct {
	ID      string    `json:"id"`
	Device  string    `json:"device"`
	Started time.Time `json:"started"`
}

// Stats summarizes what the store holds.
type Stats struct {
	Accounts    int // all accounts
	Managed     int // accounts directory sync manages
	Blocked     int // blocked accounts, by sync or by an admin
	Sessions    int // active sessions
	Departments int
	// SessionsEnded counts the sessions blocks and deletes have ended
	// since the store was created.
	SessionsEnded uint64
}

// Open opens the store file at path, creating it if needed, and upgrades a
// file an earlier build wrote (see the package doc). A nil o means the
// zero Options.
func Open(path string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	if o.Sessions < 0 {
		return nil, fmt.Errorf("appstore: Sessions is %d, want 0 or more", o.Sessions)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cmp.Or(o.LockTimeout, 2*time.Second)})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("appstore: %s is locked by another process (another copy of this program on the same data directory?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("appstore: %w", err)
	}
	if err := db.Update(prepare); err != nil {
		db.Close()
		return nil, fmt.Errorf("appstore: open %s: %w", path, err)
	}
	if o.Concurrency < 0 {
		db.Close()
		return nil, fmt.Errorf("appstore: Concurrency is %d, want 0 or more", o.Concurrency)
	}
	s := &Store{db: db, now: o.Now, prefix: o.IDPrefix, sessions: o.Sessions, concurrency: max(o.Concurrency, 1)}
	if s.concurrency > 1 {
		// A batch commits when every caller has joined it, or after a
		// short wait for stragglers.
		db.MaxBatchSize = s.concurrency
		db.MaxBatchDelay = 2 * time.Millisecond
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	return s, nil
}

// prepare creates the buckets of a new file and brings an older file to
// the current format.
func prepare(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketAccounts, bucketKeys, bucketEmails, bucketSessions, bucketDepartments, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	t := storeTx{tx: tx}
	switch v := t.counter(metaFormat); {
	case v == format:
		return nil
	case v > format:
		return fmt.Errorf("the file has format %d, newer than this program's %d", v, format)
	}
	if err := t.reindex(); err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(metaFormat, binary.BigEndian.AppendUint64(nil, format))
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Accounts implements dirsync.Sink: every account, managed or not, ordered
// by app ID. It reads them all in one transaction first, so a caller may
// Apply changes while it ranges.
func (s *Store) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		all, err := s.All(ctx)
		if err != nil {
			yield(diff.Account{}, err)
			return
		}
		for _, a := range all {
			if err := ctx.Err(); err != nil {
				yield(diff.Account{}, err)
				return
			}
			if !yield(a, nil) {
				return
			}
		}
	}
}

// All returns every account, ordered by app ID.
func (s *Store) All(ctx context.Context) ([]diff.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var all []diff.Account
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			a, err := decode(k, v)
			if err != nil {
				return err
			}
			all = append(all, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("appstore: read accounts: %w", err)
	}
	return all, nil
}

// Departments implements dirsync.DepartmentLister: the department paths,
// parents before children.
func (s *Store) Departments(ctx context.Context) ([][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out [][]string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDepartments).ForEach(func(k, _ []byte) error {
			out = append(out, strings.Split(string(k), deptSep))
			return nil
		})
	})
	return out, err
}

// LookupAccounts implements dirsync.AccountLookup: the accounts under
// source with one of the external IDs, and every account whose email is
// one of emails as diff.NormalizeEmail compares them, ordered by app ID.
// Each is found through an index.
func (s *Store) LookupAccounts(ctx context.Context, source string, externalIDs, emails []string) ([]diff.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []diff.Account
	err := s.db.View(func(tx *bolt.Tx) error {
		t := storeTx{tx: tx}
		var ids []string
		for _, x := range externalIDs {
			if id, ok := t.idByKey(source, x); ok {
				ids = append(ids, id)
			}
		}
		for _, e := range emails {
			ids = append(ids, t.idsByEmail(e)...)
		}
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			a, ok, err := t.get(id)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("appstore: look up accounts: %w", err)
	}
	return out, nil
}

// Apply implements dirsync.Sink: it carries out one change in one
// transaction. The choices this store makes within the contract:
//
//   - A create whose (Source, ExternalID) exists already updates that
//     account to c.After instead (an interrupted run repeats its creates).
//     The account keeps its ID, its sessions and its blocked state: a
//     block set meanwhile is not lifted by a repeated create.
//   - A create starts Options.Sessions sessions; a block ends every
//     session of the account, and so does a delete.
//   - Two accounts never share a join key: a change that would give an
//     account another's key fails and changes nothing.
//   - A create-department whose parent is missing fails: the plan orders
//     parents first, so this is a bug worth seeing.
func (s *Store) Apply(ctx context.Context, c diff.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	update := s.db.Update
	if s.concurrency > 1 {
		// fn may run more than once (see Options.Concurrency): it reads
		// everything it needs from the transaction it is given.
		update = s.db.Batch
	}
	err := update(func(tx *bolt.Tx) error {
		return storeTx{tx: tx, now: s.now(), prefix: s.prefix}.apply(c, s.sessions)
	})
	if err != nil {
		return fmt.Errorf("appstore: %s %s: %w", c.Op, c.Key, err)
	}
	return nil
}

// Import applies changes in transactions of up to 1,000, one writer: the
// store's bulk insert, for seeding an app from an export. Unlike Apply it
// stops at the first failing change; the transactions before it are
// committed, the failing one's changes are not.
func (s *Store) Import(ctx context.Context, changes []diff.Change) error {
	for lo := 0; lo < len(changes); lo += 1000 {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			t := storeTx{tx: tx, now: s.now(), prefix: s.prefix}
			for _, c := range changes[lo:min(lo+1000, len(changes))] {
				if err := t.apply(c, s.sessions); err != nil {
					return fmt.Errorf("appstore: %s %s: %w", c.Op, c.Key, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ApplyConcurrency implements dirsync.ConcurrentSink: Options.Concurrency,
// at least 1.
func (s *Store) ApplyConcurrency() int { return s.concurrency }

// Page returns up to limit accounts from the offset-th on, ordered by app
// ID, and how many accounts the store holds: a page of a users list that
// decodes only the accounts it shows.
func (s *Store) Page(ctx context.Context, offset, limit int) ([]diff.Account, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var out []diff.Account
	total := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAccounts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if total >= offset && len(out) < limit {
				a, err := decode(k, v)
				if err != nil {
					return err
				}
				out = append(out, a)
			}
			total++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("appstore: read accounts: %w", err)
	}
	return out, total, nil
}

// Version changes whenever a change to the store commits (it is bbolt's
// last transaction ID): a host caches what it derived from the accounts,
// such as a plan, and reuses it while Version stays the same.
func (s *Store) Version() (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v = uint64(tx.ID())
		return nil
	})
	return v, err
}

// view runs f in a read transaction, after checking ctx.
func (s *Store) view(ctx context.Context, f func(storeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return f(storeTx{tx: tx}) })
}

// Get returns the account with the app ID.
func (s *Store) Get(ctx context.Context, id string) (a diff.Account, ok bool, err error) {
	err = s.view(ctx, func(t storeTx) error {
		a, ok, err = t.get(id)
		return err
	})
	return a, ok, err
}

// Lookup returns the account with the join key (source, externalID).
func (s *Store) Lookup(ctx context.Context, source, externalID string) (a diff.Account, ok bool, err error) {
	err = s.view(ctx, func(t storeTx) error {
		id, found := t.idByKey(source, externalID)
		if !found {
			return nil
		}
		a, ok, err = t.get(id)
		return err
	})
	return a, ok, err
}

// Sessions returns the active sessions of the account with the app ID,
// oldest first.
func (s *Store) Sessions(ctx context.Context, id string) ([]Session, error) {
	var out []Session
	err := s.view(ctx, func(t storeTx) error {
		prefix := []byte(id + "/")
		c := t.tx.Bucket(bucketSessions).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var ses Session
			if err := json.Unmarshal(v, &ses); err != nil {
				return fmt.Errorf("session %s: %w", k, err)
			}
			out = append(out, ses)
		}
		return nil
	})
	return out, err
}

// Stats counts what the store holds.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.view(ctx, func(t storeTx) error {
		err := t.tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			a, err := decode(k, v)
			if err != nil {
				return err
			}
			st.Accounts++
			if a.Managed {
				st.Managed++
			}
			if a.Blocked {
				st.Blocked++
			}
			return nil
		})
		if err != nil {
			return err
		}
		st.Sessions = t.tx.Bucket(bucketSessions).Stats().KeyN
		st.Departments = t.tx.Bucket(bucketDepartments).Stats().KeyN
		st.SessionsEnded = t.counter(metaSessionsEnded)
		return nil
	})
	return st, err
}

// AdminBlock blocks an account the way an admin does in the app's own
// console: not by sync, so sync never lifts it (policy.app-block-kept). It
// ends the account's sessions.
func (s *Store) AdminBlock(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		t := storeTx{tx: tx, now: s.now()}
		a, ok, err := t.get(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("appstore: block %s: %w", id, ErrNotFound)
		}
		old := a.Clone()
		a.Blocked, a.BlockedBySync, a.BlockedAt, a.BlockReason = true, false, time.Time{}, ""
		if err := t.put(&a, &old); err != nil {
			return err
		}
		_, err = t.endSessions(id)
		return err
	})
}

// Seed gives a brand-new store the accounts an app has before its first
// directory sync: people who signed up by themselves (SampleSignups, in
// the examples). Each gets an app ID and Options.Sessions sessions. It does
// nothing, and reports false, on a store that holds accounts or was seeded
// before, even if those accounts are gone since.
func (s *Store) Seed(ctx context.Context, accounts []diff.Account) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	seeded := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := storeTx{tx: tx, now: s.now(), prefix: s.prefix}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaSeeded) != nil {
			return nil
		}
		if k, _ := tx.Bucket(bucketAccounts).Cursor().First(); k != nil {
			return nil
		}
		for _, a := range accounts {
			a := a.Clone()
			id, err := t.nextID()
			if err != nil {
				return err
			}
			a.ID = id
			if err := t.put(&a, nil); err != nil {
				return err
			}
			if err := t.startSessions(id, s.sessions); err != nil {
				return err
			}
		}
		seeded = true
		return meta.Put(metaSeeded, []byte("1"))
	})
	if err != nil {
		return false, fmt.Errorf("appstore: seed: %w", err)
	}
	return seeded, nil
}

// SampleSignups returns the three accounts the examples' app holds before
// its first sync, people who signed up by themselves:
//
//   - Olivia Bennett, the CEO, signed up with her work address (in another
//     case). The sample directory has her: the first sync adopts this
//     account (adopted.by-email) instead of inviting a duplicate.
//   - Priya Raman, an external consultant, is not in the directory: the
//     account stays unmanaged and sync leaves it alone.
//   - Ethan Walker signed up while he worked in sales; his directory
//     account is disabled now. Sync invites nobody for the disabled entry
//     and leaves his app account alone.
//
// The sample directory (company.ldif, written by internal/sampledata)
// agrees; the quickstart's tests check it.
func SampleSignups() []diff.Account {
	return []diff.Account{
		{Username: "olivia", Email: "Olivia.Bennett@example.test", GivenName: "Olivia", FamilyName: "Bennett",
			DisplayName: "Olivia (CEO)", Title: "Founder"},
		{Username: "priya.raman", Email: "priya@raman-advisory.test", GivenName: "Priya", FamilyName: "Raman",
			DisplayName: "Priya Raman", Title: "External consultant"},
		{Username: "ethan", Email: "ethan.walker@example.test", GivenName: "Ethan", FamilyName: "Walker",
			DisplayName: "Ethan Walker", Title: "Account Executive"},
	}
}

func decode(id, v []byte) (diff.Account, error) {
	var a diff.Account
	if err := json.Unmarshal(v, &a); err != nil {
		return diff.Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}
