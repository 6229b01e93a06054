package main

// appstore.go is the quickstart's stand-in for "your app's user table": the
// part a host application writes itself. It keeps accounts, their sign-in
// sessions and the org chart's departments in one bbolt file, so that the
// quickstart remembers between runs what it has already synced, and it
// implements dirsync.Sink (and the optional DepartmentLister) exactly as
// sink.go documents. A real host does the same against its own database.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
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
	_ dirsync.Sink             = (*appStore)(nil)
	_ dirsync.DepartmentLister = (*appStore)(nil)
)

// errAccountNotFound reports an update, block or unblock of an account the
// app does not hold.
var errAccountNotFound = errors.New("appstore: account not found")

// Buckets of the store file.
var (
	// app ID → JSON diff.Account
	bucketAccounts = []byte("accounts")
	// source \x00 externalID → app ID: the join key index
	bucketKeys = []byte("keys")
	// app ID "/" session ID → JSON session
	bucketSessions = []byte("sessions")
	// department path joined by \x1f → empty; parents sort before children
	bucketDepartments = []byte("departments")
	// counters and flags
	bucketMeta = []byte("meta")
)

var (
	metaSeeded        = []byte("seeded")
	metaSessionsEnded = []byte("sessionsEnded")
)

const deptSep = "\x1f"

// openTimeout bounds the wait for the file lock another process holds.
var openTimeout = 2 * time.Second

// appStore is the app's user store, persisted in a bbolt file. Each Apply
// is one bbolt transaction: a change is applied completely or not at all.
type appStore struct {
	db  *bolt.DB
	now func() time.Time
}

// session is a signed-in device, as the app's session table would hold
// it. Blocking an account ends them all.
type session struct {
	ID      string    `json:"id"`
	Device  string    `json:"device"`
	Started time.Time `json:"started"`
}

// appStats summarizes the store for the quickstart's output.
type appStats struct {
	Accounts    int // all accounts
	Managed     int // accounts directory sync manages
	Blocked     int // blocked accounts, by sync or by an admin
	Sessions    int // active sessions
	Departments int
	// SessionsEnded counts the sessions blocks and deletes have ended
	// since the store was created.
	SessionsEnded uint64
}

// openAppStore opens the store file at path, creating it if needed.
func openAppStore(path string) (*appStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("appstore: %s is locked; is another quickstart running?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("appstore: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAccounts, bucketKeys, bucketSessions, bucketDepartments, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("appstore: %w", err)
	}
	return &appStore{db: db, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Close closes the file.
func (s *appStore) Close() error { return s.db.Close() }

// Accounts yields every account, managed or not, ordered by app ID. It
// reads them all in one transaction first, so a caller may Apply changes
// while it ranges.
func (s *appStore) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(diff.Account{}, err)
			return
		}
		var all []diff.Account
		err := s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAccounts).ForEach(func(_, v []byte) error {
				var a diff.Account
				if err := json.Unmarshal(v, &a); err != nil {
					return err
				}
				all = append(all, a)
				return nil
			})
		})
		if err != nil {
			yield(diff.Account{}, fmt.Errorf("appstore: read accounts: %w", err))
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

// Departments lists the department paths, parents before children.
func (s *appStore) Departments(ctx context.Context) ([][]string, error) {
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

// Apply carries out one change in one transaction. See dirsync.Sink for
// the contract; the choices this store makes within it:
//
//   - A create whose (Source, ExternalID) exists already updates that
//     account instead (an interrupted run repeats its creates). The
//     account keeps its ID, its sessions and its blocked state.
//   - A create starts two sessions, as if the invited person signed in on
//     two devices; a block ends every session of the account.
//   - A create-department whose parent is missing fails: the plan orders
//     parents first, so this is a bug worth seeing.
func (s *appStore) Apply(ctx context.Context, c diff.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := storeTx{tx: tx, now: s.now()}
		switch c.Op {
		case diff.OpCreateDepartment:
			return t.createDepartment(c.Department)
		case diff.OpCreate:
			return t.create(c)
		case diff.OpUpdate, diff.OpUnblock, diff.OpBlock:
			return t.update(c)
		case diff.OpDelete:
			return t.delete(c)
		case diff.OpSkip:
			return nil
		}
		return fmt.Errorf("unknown op %v", c.Op)
	})
	if err != nil {
		return fmt.Errorf("appstore: %s %s: %w", c.Op, c.Key, err)
	}
	return nil
}

// get returns the account with the app ID.
func (s *appStore) get(ctx context.Context, id string) (diff.Account, bool, error) {
	if err := ctx.Err(); err != nil {
		return diff.Account{}, false, err
	}
	var (
		a  diff.Account
		ok bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		a, ok, err = storeTx{tx: tx}.get(id)
		return err
	})
	return a, ok, err
}

// lookup returns the account with the join key.
func (s *appStore) lookup(ctx context.Context, source, externalID string) (diff.Account, bool, error) {
	if err := ctx.Err(); err != nil {
		return diff.Account{}, false, err
	}
	var (
		a  diff.Account
		ok bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		t := storeTx{tx: tx}
		id, found := t.idByKey(source, externalID)
		if !found {
			return nil
		}
		var err error
		a, ok, err = t.get(id)
		return err
	})
	return a, ok, err
}

// sessions returns the active sessions of an account, oldest first.
func (s *appStore) sessions(ctx context.Context, id string) ([]session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []session
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := []byte(id + "/")
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var ses session
			if err := json.Unmarshal(v, &ses); err != nil {
				return err
			}
			out = append(out, ses)
		}
		return nil
	})
	return out, err
}

// stats counts what the store holds.
func (s *appStore) stats(ctx context.Context) (appStats, error) {
	if err := ctx.Err(); err != nil {
		return appStats{}, err
	}
	var st appStats
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketAccounts).ForEach(func(_, v []byte) error {
			var a diff.Account
			if err := json.Unmarshal(v, &a); err != nil {
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
		st.Sessions = tx.Bucket(bucketSessions).Stats().KeyN
		st.Departments = tx.Bucket(bucketDepartments).Stats().KeyN
		st.SessionsEnded = storeTx{tx: tx}.counter(metaSessionsEnded)
		return nil
	})
	return st, err
}

// adminBlock blocks an account the way an admin does in the app's own
// console: not by sync, so sync never lifts it (policy.app-block-kept).
func (s *appStore) adminBlock(ctx context.Context, id string) error {
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
			return fmt.Errorf("appstore: block %s: %w", id, errAccountNotFound)
		}
		old := a.Clone()
		a.Blocked, a.BlockedBySync, a.BlockedAt = true, false, time.Time{}
		if err := t.put(&a, &old); err != nil {
			return err
		}
		_, err = t.endSessions(id)
		return err
	})
}

// seedUnmanaged gives a brand-new store the accounts an app has before its
// first directory sync: people who signed up by themselves. It does
// nothing, and reports false, on a store that holds accounts or was seeded
// before.
//
//   - Olivia Bennett, the CEO, signed up with her work address (in another
//     case). The directory has her: the first sync adopts this account
//     (adopted.by-email) instead of inviting a duplicate.
//   - Priya Raman, an external consultant, is not in the directory: the
//     account stays unmanaged and sync leaves it alone.
//   - Ethan Walker signed up while he worked in sales; his directory
//     account is disabled now. Sync adopts the account, blocks it and ends
//     his sessions.
func seedUnmanaged(ctx context.Context, s *appStore) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	seeded := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := storeTx{tx: tx, now: s.now()}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaSeeded) != nil {
			return nil
		}
		if k, _ := tx.Bucket(bucketAccounts).Cursor().First(); k != nil {
			return nil
		}
		for _, a := range seedAccounts {
			a := a.Clone()
			id, err := t.nextID()
			if err != nil {
				return err
			}
			a.ID = id
			if err := t.put(&a, nil); err != nil {
				return err
			}
			if err := t.startSessions(id, 2); err != nil {
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

// seedAccounts are the unmanaged accounts seedUnmanaged creates. The
// sample directory (company.ldif) has Olivia Bennett (enabled) and Ethan
// Walker (disabled) with these addresses and no Priya Raman; a test checks
// it.
var seedAccounts = []diff.Account{
	{Username: "olivia", Email: "Olivia.Bennett@example.test", GivenName: "Olivia", FamilyName: "Bennett",
		DisplayName: "Olivia (CEO)", Title: "Founder"},
	{Username: "priya.raman", Email: "priya@raman-advisory.test", GivenName: "Priya", FamilyName: "Raman",
		DisplayName: "Priya Raman", Title: "External consultant"},
	{Username: "ethan", Email: "ethan.walker@example.test", GivenName: "Ethan", FamilyName: "Walker",
		DisplayName: "Ethan Walker", Title: "Account Executive"},
}

// storeTx holds the operations on one bbolt transaction.
type storeTx struct {
	tx  *bolt.Tx
	now time.Time
}

func joinKey(source, externalID string) []byte {
	return []byte(source + "\x00" + externalID)
}

func (t storeTx) get(id string) (diff.Account, bool, error) {
	v := t.tx.Bucket(bucketAccounts).Get([]byte(id))
	if v == nil {
		return diff.Account{}, false, nil
	}
	var a diff.Account
	if err := json.Unmarshal(v, &a); err != nil {
		return diff.Account{}, false, fmt.Errorf("account %s: %w", id, err)
	}
	return a, true, nil
}

func (t storeTx) idByKey(source, externalID string) (string, bool) {
	if externalID == "" {
		return "", false
	}
	v := t.tx.Bucket(bucketKeys).Get(joinKey(source, externalID))
	return string(v), v != nil
}

// find locates the account a change is about: by the app ID of Before,
// else by the join key of Before, else by that of After.
func (t storeTx) find(c *diff.Change) (diff.Account, bool, error) {
	if c.Before != nil && c.Before.ID != "" {
		a, ok, err := t.get(c.Before.ID)
		if err != nil || ok {
			return a, ok, err
		}
	}
	for _, ref := range []*diff.Account{c.Before, c.After} {
		if ref == nil {
			continue
		}
		if id, ok := t.idByKey(ref.Source, ref.ExternalID); ok {
			return t.get(id)
		}
	}
	return diff.Account{}, false, nil
}

// put stores a and keeps the join key index in step; old is the account
// as stored before, nil for a new one.
func (t storeTx) put(a, old *diff.Account) error {
	if a.ID == "" {
		return errors.New("account without ID")
	}
	if id, ok := t.idByKey(a.Source, a.ExternalID); ok && id != a.ID {
		// The app's unique constraint on the join key.
		return fmt.Errorf("%s/%s belongs to account %s already", a.Source, a.ExternalID, id)
	}
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := t.tx.Bucket(bucketAccounts).Put([]byte(a.ID), v); err != nil {
		return err
	}
	keys := t.tx.Bucket(bucketKeys)
	if old != nil && old.ExternalID != "" && (old.Source != a.Source || old.ExternalID != a.ExternalID) {
		if err := keys.Delete(joinKey(old.Source, old.ExternalID)); err != nil {
			return err
		}
	}
	if a.ExternalID != "" {
		return keys.Put(joinKey(a.Source, a.ExternalID), []byte(a.ID))
	}
	return nil
}

func (t storeTx) nextID() (string, error) {
	n, err := t.tx.Bucket(bucketAccounts).NextSequence()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("u-%06d", n), nil
}

func (t storeTx) create(c diff.Change) error {
	if c.After == nil {
		return errors.New("create without an account")
	}
	a := c.After.Clone()
	if id, ok := t.idByKey(a.Source, a.ExternalID); ok {
		// The same person again: update in place.
		cur, found, err := t.get(id)
		if err != nil {
			return err
		}
		if found {
			a.ID = cur.ID
			a.Blocked, a.BlockedBySync, a.BlockedAt = cur.Blocked, cur.BlockedBySync, cur.BlockedAt
			return t.put(&a, &cur)
		}
	}
	id, err := t.nextID()
	if err != nil {
		return err
	}
	a.ID = id
	if err := t.put(&a, nil); err != nil {
		return err
	}
	return t.startSessions(id, 2)
}

func (t storeTx) update(c diff.Change) error {
	if c.After == nil {
		return errors.New("change without the account's new state")
	}
	a, ok, err := t.find(&c)
	if err != nil {
		return err
	}
	if !ok {
		return errAccountNotFound
	}
	old := a.Clone()
	for _, f := range c.Fields {
		a.CopyField(f.Name, c.After)
	}
	if err := t.put(&a, &old); err != nil {
		return err
	}
	if c.Op == diff.OpBlock || a.Blocked && !old.Blocked {
		_, err = t.endSessions(a.ID)
	}
	return err
}

func (t storeTx) delete(c diff.Change) error {
	a, ok, err := t.find(&c)
	if err != nil || !ok {
		return err // already gone: not an error
	}
	if err := t.tx.Bucket(bucketAccounts).Delete([]byte(a.ID)); err != nil {
		return err
	}
	if a.ExternalID != "" {
		if err := t.tx.Bucket(bucketKeys).Delete(joinKey(a.Source, a.ExternalID)); err != nil {
			return err
		}
	}
	_, err = t.endSessions(a.ID)
	return err
}

func (t storeTx) createDepartment(path []string) error {
	if len(path) == 0 || slices.Contains(path, "") {
		return fmt.Errorf("invalid department path %q", path)
	}
	for _, p := range path {
		if strings.Contains(p, deptSep) {
			return fmt.Errorf("invalid department name %q", p)
		}
	}
	b := t.tx.Bucket(bucketDepartments)
	if len(path) > 1 && b.Get([]byte(strings.Join(path[:len(path)-1], deptSep))) == nil {
		return fmt.Errorf("parent department %q does not exist", strings.Join(path[:len(path)-1], diff.DepartmentSeparator))
	}
	return b.Put([]byte(strings.Join(path, deptSep)), []byte{})
}

var devices = []string{
	"Chrome on Windows", "Safari on macOS", "iPhone app", "Android app",
	"Firefox on Linux", "Edge on Windows", "iPad app",
}

// startSessions signs the account in on n devices.
func (t storeTx) startSessions(id string, n int) error {
	b := t.tx.Bucket(bucketSessions)
	h := fnv.New32a()
	h.Write([]byte(id))
	first := int(h.Sum32() % uint32(len(devices)))
	for i := range n {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		ses := session{
			ID:      fmt.Sprintf("s-%06d", seq),
			Device:  devices[(first+i)%len(devices)],
			Started: t.now,
		}
		v, err := json.Marshal(ses)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(id+"/"+ses.ID), v); err != nil {
			return err
		}
	}
	return nil
}

// endSessions signs the account out everywhere and counts the sessions
// ended.
func (t storeTx) endSessions(id string) (int, error) {
	b := t.tx.Bucket(bucketSessions)
	prefix := []byte(id + "/")
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	return len(keys), t.addCounter(metaSessionsEnded, uint64(len(keys)))
}

func (t storeTx) counter(name []byte) uint64 {
	v := t.tx.Bucket(bucketMeta).Get(name)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (t storeTx) addCounter(name []byte, n uint64) error {
	return t.tx.Bucket(bucketMeta).Put(name, binary.BigEndian.AppendUint64(nil, t.counter(name)+n))
}
