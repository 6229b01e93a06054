package main

// appstore.go is the console's stand-in for "your app's user table", the
// part a host application writes itself: accounts and the org chart's
// departments in one bbolt file, implementing dirsync.Sink and the optional
// dirsync.DepartmentLister as sink.go documents them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
)

var (
	_ dirsync.Sink             = (*appStore)(nil)
	_ dirsync.DepartmentLister = (*appStore)(nil)
)

var (
	bucketAccounts    = []byte("accounts")    // app ID → JSON diff.Account
	bucketDepartments = []byte("departments") // path joined by deptSep → empty
	bucketMeta        = []byte("meta")
	keySeeded         = []byte("seeded")
)

const deptSep = "\x1f"

// errNoAccount reports a change to an account the app does not hold.
var errNoAccount = errors.New("appstore: no such account")

// appStore is the app's user store. Each Apply is one bbolt transaction.
type appStore struct{ db *bolt.DB }

// openAppStore opens or creates the store file at path. A file another
// process holds open is an error after two seconds.
func openAppStore(path string) (*appStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("appstore: open %s: %w (is another console running on the same data directory?)", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAccounts, bucketDepartments, bucketMeta} {
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
	return &appStore{db: db}, nil
}

// Close closes the file.
func (s *appStore) Close() error { return s.db.Close() }

// all returns every account, ordered by app ID.
func (s *appStore) all(ctx context.Context) ([]diff.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []diff.Account
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(_, v []byte) error {
			var a diff.Account
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("appstore: read accounts: %w", err)
	}
	return out, nil
}

// Accounts implements dirsync.Sink. It reads in one transaction first, so
// a caller may Apply while it ranges.
func (s *appStore) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		all, err := s.all(ctx)
		if err != nil {
			yield(diff.Account{}, err)
			return
		}
		for _, a := range all {
			if !yield(a, nil) {
				return
			}
		}
	}
}

// Departments implements dirsync.DepartmentLister.
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

// Apply implements dirsync.Sink: one change, in one transaction,
// idempotent. A create whose (Source, ExternalID) exists already updates
// that account instead (an interrupted run repeats its creates).
func (s *appStore) Apply(ctx context.Context, c diff.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		switch c.Op {
		case diff.OpCreateDepartment:
			return tx.Bucket(bucketDepartments).Put([]byte(strings.Join(c.Department, deptSep)), nil)
		case diff.OpCreate:
			if c.After == nil {
				return errors.New("create without an account")
			}
			id, ok, err := findKey(tx, c.After.Source, c.After.ExternalID)
			if err != nil {
				return err
			}
			if ok {
				return update(tx, id, c)
			}
			n, err := tx.Bucket(bucketMeta).NextSequence()
			if err != nil {
				return err
			}
			a := c.After.Clone()
			a.ID = fmt.Sprintf("%06d", n)
			return put(tx, &a)
		case diff.OpUpdate, diff.OpBlock, diff.OpUnblock:
			id, err := target(tx, c)
			if err != nil {
				return err
			}
			return update(tx, id, c)
		case diff.OpDelete:
			id, err := target(tx, c)
			if errors.Is(err, errNoAccount) {
				return nil // already gone
			}
			if err != nil {
				return err
			}
			return tx.Bucket(bucketAccounts).Delete([]byte(id))
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

// target finds the account a change names: by app ID, else by join key.
func target(tx *bolt.Tx, c diff.Change) (string, error) {
	if c.Before != nil && c.Before.ID != "" && tx.Bucket(bucketAccounts).Get([]byte(c.Before.ID)) != nil {
		return c.Before.ID, nil
	}
	for _, a := range []*diff.Account{c.Before, c.After} {
		if a == nil || a.ExternalID == "" {
			continue
		}
		if id, ok, err := findKey(tx, a.Source, a.ExternalID); err != nil || ok {
			return id, err
		}
	}
	return "", errNoAccount
}

func findKey(tx *bolt.Tx, source, externalID string) (id string, ok bool, err error) {
	if externalID == "" {
		return "", false, nil
	}
	err = tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
		var a diff.Account
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if !ok && a.Managed && a.Source == source && a.ExternalID == externalID {
			id, ok = string(k), true
		}
		return nil
	})
	return id, ok, err
}

// update sets exactly the fields the change lists.
func update(tx *bolt.Tx, id string, c diff.Change) error {
	v := tx.Bucket(bucketAccounts).Get([]byte(id))
	if v == nil {
		return errNoAccount
	}
	var a diff.Account
	if err := json.Unmarshal(v, &a); err != nil {
		return err
	}
	if c.After == nil {
		return errors.New("change without the account after it")
	}
	for _, f := range c.Fields {
		a.CopyField(f.Name, c.After)
	}
	// Adoption and creates-turned-updates make the account managed.
	for _, name := range []string{diff.FieldSource, diff.FieldExternalID, diff.FieldManaged} {
		a.CopyField(name, c.After)
	}
	return put(tx, &a)
}

func put(tx *bolt.Tx, a *diff.Account) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketAccounts).Put([]byte(a.ID), b)
}

// seed gives a brand-new store the accounts an app has before its first
// directory sync, people who signed up by themselves (the quickstart's
// three): Olivia Bennett (in the directory: adopted by email), Priya Raman
// (an external consultant, not in the directory: left alone) and Ethan
// Walker (disabled in the directory: adopted and blocked).
func (s *appStore) seed(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySeeded) != nil {
			return nil
		}
		for _, a := range []diff.Account{
			{Username: "olivia", Email: "Olivia.Bennett@example.test", GivenName: "Olivia", FamilyName: "Bennett", DisplayName: "Olivia (CEO)", Title: "Founder"},
			{Username: "priya.raman", Email: "priya@raman-advisory.test", GivenName: "Priya", FamilyName: "Raman", DisplayName: "Priya Raman", Title: "External consultant"},
			{Username: "ethan", Email: "ethan.walker@example.test", GivenName: "Ethan", FamilyName: "Walker", DisplayName: "Ethan Walker", Title: "Account Executive"},
		} {
			n, err := meta.NextSequence()
			if err != nil {
				return err
			}
			a.ID = fmt.Sprintf("%06d", n)
			if err := put(tx, &a); err != nil {
				return err
			}
		}
		return meta.Put(keySeeded, []byte("1"))
	})
}
