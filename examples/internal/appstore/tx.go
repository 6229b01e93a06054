package appstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dirsync-go/dirsync/diff"
)

// storeTx holds the operations on one bbolt transaction. Every write of an
// account goes through put, which keeps the indexes in step.
type storeTx struct {
	tx     *bolt.Tx
	now    time.Time
	prefix string // of new app IDs
}

// joinKey is the key of the join key index.
func joinKey(source, externalID string) []byte {
	return []byte(source + "\x00" + externalID)
}

// emailKey is the key of the email index: the normalised email, NUL, the
// app ID. Several accounts may share an email, so the ID is part of the
// key, and all of an email's accounts sit side by side.
func emailKey(email, id string) []byte {
	return []byte(diff.NormalizeEmail(email) + "\x00" + id)
}

func (t storeTx) get(id string) (diff.Account, bool, error) {
	v := t.tx.Bucket(bucketAccounts).Get([]byte(id))
	if v == nil {
		return diff.Account{}, false, nil
	}
	a, err := decode([]byte(id), v)
	return a, err == nil, err
}

// idByKey returns the app ID of the account with the join key.
func (t storeTx) idByKey(source, externalID string) (string, bool) {
	if externalID == "" {
		return "", false
	}
	v := t.tx.Bucket(bucketKeys).Get(joinKey(source, externalID))
	return string(v), v != nil
}

// idsByEmail returns the app IDs of the accounts whose email is email as
// diff.NormalizeEmail compares them, in order.
func (t storeTx) idsByEmail(email string) []string {
	n := diff.NormalizeEmail(email)
	if n == "" {
		return nil
	}
	prefix := []byte(n + "\x00")
	var ids []string
	c := t.tx.Bucket(bucketEmails).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		// An ID holds no NUL, so a rest that does belongs to a longer
		// email that starts with this one and a NUL.
		if id := k[len(prefix):]; bytes.IndexByte(id, 0) < 0 {
			ids = append(ids, string(id))
		}
	}
	return ids
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

// put stores a and keeps the indexes in step; old is the account as
// stored before, nil for a new one.
func (t storeTx) put(a, old *diff.Account) error {
	if a.ID == "" {
		return errors.New("account without ID")
	}
	accounts := t.tx.Bucket(bucketAccounts)
	if old == nil && accounts.Get([]byte(a.ID)) != nil {
		// The app's primary key.
		return fmt.Errorf("app ID %s is taken", a.ID)
	}
	if id, ok := t.idByKey(a.Source, a.ExternalID); ok && id != a.ID {
		// The app's unique constraint on the join key.
		return fmt.Errorf("%s/%s belongs to account %s already", a.Source, a.ExternalID, id)
	}
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := accounts.Put([]byte(a.ID), v); err != nil {
		return err
	}
	if old != nil {
		if err := t.unindex(old); err != nil {
			return err
		}
	}
	return t.index(a)
}

// index adds a to the join key and email indexes.
func (t storeTx) index(a *diff.Account) error {
	if a.ExternalID != "" {
		if err := t.tx.Bucket(bucketKeys).Put(joinKey(a.Source, a.ExternalID), []byte(a.ID)); err != nil {
			return err
		}
	}
	if diff.NormalizeEmail(a.Email) != "" {
		return t.tx.Bucket(bucketEmails).Put(emailKey(a.Email, a.ID), nil)
	}
	return nil
}

// unindex removes a from the indexes.
func (t storeTx) unindex(a *diff.Account) error {
	if id, ok := t.idByKey(a.Source, a.ExternalID); ok && id == a.ID {
		if err := t.tx.Bucket(bucketKeys).Delete(joinKey(a.Source, a.ExternalID)); err != nil {
			return err
		}
	}
	if diff.NormalizeEmail(a.Email) != "" {
		return t.tx.Bucket(bucketEmails).Delete(emailKey(a.Email, a.ID))
	}
	return nil
}

// reindex rebuilds the indexes from the accounts, and carries the ID
// sequence over from meta, where the console's first store kept it.
func (t storeTx) reindex() error {
	for _, name := range [][]byte{bucketKeys, bucketEmails} {
		if err := t.tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := t.tx.CreateBucket(name); err != nil {
			return err
		}
	}
	accounts := t.tx.Bucket(bucketAccounts)
	err := accounts.ForEach(func(k, v []byte) error {
		a, err := decode(k, v)
		if err != nil {
			return err
		}
		if a.ID != string(k) {
			return fmt.Errorf("account %s holds the ID %q", k, a.ID)
		}
		if id, ok := t.idByKey(a.Source, a.ExternalID); ok {
			return fmt.Errorf("accounts %s and %s share the join key %s/%s", id, a.ID, a.Source, a.ExternalID)
		}
		return t.index(&a)
	})
	if err != nil {
		return fmt.Errorf("rebuild the indexes: %w", err)
	}
	if seq := t.tx.Bucket(bucketMeta).Sequence(); seq > accounts.Sequence() {
		return accounts.SetSequence(seq)
	}
	return nil
}

func (t storeTx) nextID() (string, error) {
	n, err := t.tx.Bucket(bucketAccounts).NextSequence()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%06d", t.prefix, n), nil
}

func (t storeTx) create(c diff.Change, sessions int) error {
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
			a.Blocked, a.BlockedBySync, a.BlockedAt, a.BlockReason = cur.Blocked, cur.BlockedBySync, cur.BlockedAt, cur.BlockReason
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
	return t.startSessions(id, sessions)
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
		return ErrNotFound
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
	if err := t.unindex(&a); err != nil {
		return err
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
		ses := Session{
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

// apply carries out one change in t.
func (t storeTx) apply(c diff.Change, sessions int) error {
	switch c.Op {
	case diff.OpCreateDepartment:
		return t.createDepartment(c.Department)
	case diff.OpCreate:
		return t.create(c, sessions)
	case diff.OpUpdate, diff.OpUnblock, diff.OpBlock:
		return t.update(c)
	case diff.OpDelete:
		return t.delete(c)
	case diff.OpSkip:
		return nil
	}
	return fmt.Errorf("unknown op %v", c.Op)
}
