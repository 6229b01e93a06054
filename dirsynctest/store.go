package dirsynctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/policy"
)

// NewStoreFunc returns a new, empty store for one check of TestStore. Stores
// it returns may share storage only if each starts empty.
type NewStoreFunc func(ctx context.Context) (dirsync.Store, error)

// TestStore checks that stores made by newStore follow the dirsync.Store
// contract: values read back byte for byte (empty, binary, large) under any
// key a Syncer uses, a missing key is ErrNotFound, Delete of a missing key
// succeeds, the caller's slices are not retained, concurrent writers lose
// nothing (through Updater.Update when the store has it, and through the
// Syncer's own read-modify-write cycles either way), and a value that is
// not what a Syncer wrote reads back as an error wrapping
// dirsync.ErrCorruptStore and is left as it was. It returns one error
// joining every finding, or nil. Like testing/fstest.TestFS it needs no
// *testing.T, so a host can run it against its own store anywhere.
func TestStore(ctx context.Context, newStore NewStoreFunc) error {
	checks := []struct {
		name string
		f    func(context.Context, dirsync.Store) error
	}{
		{"round trip", checkStoreRoundTrip},
		{"missing key", checkStoreMissing},
		{"copies", checkStoreCopies},
		{"large values", checkStoreLarge},
		{"concurrent writers", checkStoreConcurrentPuts},
		{"concurrent updates (if implemented)", checkStoreUpdates},
		{"concurrent syncers", checkStoreSyncers},
		{"corrupt value", checkStoreCorrupt},
	}
	var errs []error
	for _, c := range checks {
		st, err := newStore(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: new store: %w", c.name, err))
			continue
		}
		if err := c.f(ctx, st); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// storeKeys are keys shaped like those a Syncer writes, and hostile ones.
var storeKeys = []string{
	"integration/corp-ad/cursor",
	"integration/corp-ad/exceptions",
	"integration/corp-ad/history",
	"integration/corp-ad/pending",
	"integration/x.y_z-1/fingerprint",
	"a",
	"with space and 'quote' and \"double\"",
	"ключ/ü/日本",
	"percent%_underscore\\backslash",
	strings.Repeat("k", 900),
}

func expectValue(ctx context.Context, st dirsync.Store, key string, want []byte) error {
	got, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("Get(%.40q): %w", key, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("Get(%.40q) = %d bytes %.40q, want %d bytes %.40q", key, len(got), got, len(want), want)
	}
	return nil
}

func checkStoreRoundTrip(ctx context.Context, st dirsync.Store) error {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := [][]byte{[]byte(`{"x":1}`), {}, all, []byte("\x00"), []byte("not json \xff\xfe"), []byte(`"ünïcödé"`),
		[]byte("null"), bytes.Repeat([]byte{0}, 1000)}
	want := map[string][]byte{}
	for i, k := range storeKeys {
		v := values[i%len(values)]
		if err := st.Put(ctx, k, v); err != nil {
			return fmt.Errorf("Put(%.40q): %w", k, err)
		}
		want[k] = v
	}
	for _, k := range storeKeys {
		if err := expectValue(ctx, st, k, want[k]); err != nil {
			return err
		}
	}
	// Overwrite with a shorter and a longer value.
	for _, v := range [][]byte{[]byte("long value, longer than before"), []byte("s")} {
		if err := st.Put(ctx, storeKeys[0], v); err != nil {
			return fmt.Errorf("overwrite: %w", err)
		}
		if err := expectValue(ctx, st, storeKeys[0], v); err != nil {
			return fmt.Errorf("after overwrite: %w", err)
		}
	}
	// Deleting one key leaves the others.
	if err := st.Delete(ctx, storeKeys[1]); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, err := st.Get(ctx, storeKeys[1]); !errors.Is(err, dirsync.ErrNotFound) {
		return fmt.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	for _, k := range storeKeys[2:] {
		if err := expectValue(ctx, st, k, want[k]); err != nil {
			return fmt.Errorf("after deleting another key: %w", err)
		}
	}
	// A nil value is stored as empty, not as missing.
	if err := st.Put(ctx, "nil", nil); err != nil {
		return fmt.Errorf("Put(nil): %w", err)
	}
	if got, err := st.Get(ctx, "nil"); err != nil || len(got) != 0 {
		return fmt.Errorf("Get after Put(nil) = %q, %v; want empty, nil", got, err)
	}
	return nil
}

func checkStoreMissing(ctx context.Context, st dirsync.Store) error {
	for _, k := range []string{"missing", "integration/none/cursor", ""} {
		if v, err := st.Get(ctx, k); !errors.Is(err, dirsync.ErrNotFound) {
			return fmt.Errorf("Get(%q) of a missing key = %q, %v; want ErrNotFound", k, v, err)
		}
		if err := st.Delete(ctx, k); err != nil {
			return fmt.Errorf("Delete(%q) of a missing key: %w", k, err)
		}
	}
	// A prefix of a stored key is not that key.
	if err := st.Put(ctx, "integration/a/history", []byte("h")); err != nil {
		return err
	}
	for _, k := range []string{"integration/a", "integration/a/histor", "integration/a/history/", "INTEGRATION/A/HISTORY"} {
		if v, err := st.Get(ctx, k); !errors.Is(err, dirsync.ErrNotFound) {
			return fmt.Errorf("Get(%q) next to a stored key = %q, %v; want ErrNotFound", k, v, err)
		}
	}
	if u, ok := st.(dirsync.Updater); ok {
		err := u.Update(ctx, "fresh", func(old []byte, found bool) ([]byte, error) {
			if found || old != nil {
				return nil, fmt.Errorf("update of a missing key: f got %q, found=%v", old, found)
			}
			return []byte("made"), nil
		})
		if err != nil {
			return err
		}
		if err := expectValue(ctx, st, "fresh", []byte("made")); err != nil {
			return fmt.Errorf("after Update of a missing key: %w", err)
		}
	}
	return nil
}

func checkStoreCopies(ctx context.Context, st dirsync.Store) error {
	v := []byte("original")
	if err := st.Put(ctx, "k", v); err != nil {
		return err
	}
	copy(v, "CHANGED!")
	if err := expectValue(ctx, st, "k", []byte("original")); err != nil {
		return fmt.Errorf("the store kept the caller's slice: %w", err)
	}
	got, err := st.Get(ctx, "k")
	if err != nil {
		return err
	}
	copy(got, "CHANGED!")
	if err := expectValue(ctx, st, "k", []byte("original")); err != nil {
		return fmt.Errorf("Get returned the store's own slice: %w", err)
	}
	return nil
}

func checkStoreLarge(ctx context.Context, st dirsync.Store) error {
	r := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	if err := st.Put(ctx, "big", big); err != nil {
		return fmt.Errorf("put of %d bytes: %w", len(big), err)
	}
	if err := expectValue(ctx, st, "big", big); err != nil {
		return err
	}
	// A large JSON value, as a long history is.
	var b strings.Builder
	b.WriteByte('[')
	for i := range 20000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"started":"2026-01-02T03:04:05Z","outcome":"applied","applied":%d}`, i)
	}
	b.WriteByte(']')
	if err := st.Put(ctx, "integration/big/history", []byte(b.String())); err != nil {
		return err
	}
	return expectValue(ctx, st, "integration/big/history", []byte(b.String()))
}

const (
	storeWriters = 8
	storeRounds  = 16
)

func checkStoreConcurrentPuts(ctx context.Context, st dirsync.Store) error {
	var wg sync.WaitGroup
	errs := make([]error, storeWriters)
	for w := range storeWriters {
		wg.Go(func() {
			for i := range storeRounds {
				k := fmt.Sprintf("w%d/k%d", w, i)
				if err := st.Put(ctx, k, []byte(k)); err != nil {
					errs[w] = err
					return
				}
				// Everyone also overwrites one shared key.
				if err := st.Put(ctx, "shared", []byte(k)); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for w := range storeWriters {
		for i := range storeRounds {
			k := fmt.Sprintf("w%d/k%d", w, i)
			if err := expectValue(ctx, st, k, []byte(k)); err != nil {
				return fmt.Errorf("a concurrent Put was lost: %w", err)
			}
		}
	}
	got, err := st.Get(ctx, "shared")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(got), "w") || !strings.HasSuffix(string(got), fmt.Sprintf("/k%d", storeRounds-1)) {
		return fmt.Errorf("shared key after concurrent Puts = %q, want some writer's last value", got)
	}
	return nil
}

// checkStoreUpdates has many goroutines increment one counter through
// Update: the final count is every increment, none lost, and an f that
// fails stores nothing.
func checkStoreUpdates(ctx context.Context, st dirsync.Store) error {
	u, ok := st.(dirsync.Updater)
	if !ok {
		return nil
	}
	inc := func(old []byte, found bool) ([]byte, error) {
		n := 0
		if found {
			var err error
			if n, err = strconv.Atoi(string(old)); err != nil {
				return nil, fmt.Errorf("counter holds %q", old)
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}
	var wg sync.WaitGroup
	errs := make([]error, storeWriters)
	for w := range storeWriters {
		wg.Go(func() {
			for range storeRounds {
				if err := u.Update(ctx, "counter", inc); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := expectValue(ctx, st, "counter", []byte(strconv.Itoa(storeWriters*storeRounds))); err != nil {
		return fmt.Errorf("concurrent Updates lost increments: %w", err)
	}
	boom := errors.New("boom")
	err := u.Update(ctx, "counter", func([]byte, bool) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		return fmt.Errorf("update with a failing f = %v, want its error", err)
	}
	if err := expectValue(ctx, st, "counter", []byte(strconv.Itoa(storeWriters*storeRounds))); err != nil {
		return fmt.Errorf("a failed Update changed the value: %w", err)
	}
	err = u.Update(ctx, "never", func([]byte, bool) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		return fmt.Errorf("update with a failing f = %v, want its error", err)
	}
	if _, err := st.Get(ctx, "never"); !errors.Is(err, dirsync.ErrNotFound) {
		return fmt.Errorf("a failed Update of a missing key created it: %v", err)
	}
	return nil
}

// checkStoreSyncers has several Syncers of one integration, sharing the
// store, add exceptions at once, as replicas of an app do: none is lost.
func checkStoreSyncers(ctx context.Context, st dirsync.Store) error {
	var wg sync.WaitGroup
	errs := make([]error, storeWriters)
	for w := range storeWriters {
		sy, err := dirsync.New(fake.New(), NewMemorySink(), &dirsync.Options{Source: "storetest", Store: st})
		if err != nil {
			return err
		}
		wg.Go(func() {
			for i := range storeRounds {
				x := policy.Exception{ID: fmt.Sprintf("w%d-%d", w, i), Note: "added concurrently"}
				if err := sy.AddException(ctx, x); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	sy, err := dirsync.New(fake.New(), NewMemorySink(), &dirsync.Options{Source: "storetest", Store: st})
	if err != nil {
		return err
	}
	list, err := sy.Exceptions(ctx)
	if err != nil {
		return err
	}
	if len(list) != storeWriters*storeRounds {
		return fmt.Errorf("%d Syncers adding %d exceptions each: %d stored, want %d (updates were lost)",
			storeWriters, storeRounds, len(list), storeWriters*storeRounds)
	}
	return nil
}

// checkStoreCorrupt writes values a Syncer cannot have written under its
// keys: reading them is an error wrapping ErrCorruptStore that names the
// key, and the value is left as it was (never reset, which would forget
// exceptions or history).
func checkStoreCorrupt(ctx context.Context, st dirsync.Store) error {
	sy, err := dirsync.New(fake.New(), NewMemorySink(), &dirsync.Options{Source: "corrupt", Store: st})
	if err != nil {
		return err
	}
	bad := []byte(`{"truncated`)
	for _, c := range []struct {
		key string
		op  func() error
	}{
		{"integration/corrupt/exceptions", func() error { _, err := sy.Exceptions(ctx); return err }},
		{"integration/corrupt/exceptions", func() error { return sy.AddException(ctx, policy.Exception{ID: "x"}) }},
		{"integration/corrupt/history", func() error { _, err := sy.History(ctx); return err }},
	} {
		if err := st.Put(ctx, c.key, bad); err != nil {
			return err
		}
		err := c.op()
		if !errors.Is(err, dirsync.ErrCorruptStore) {
			return fmt.Errorf("reading a corrupt %s: %v, want ErrCorruptStore", c.key, err)
		}
		if !strings.Contains(err.Error(), c.key) {
			return fmt.Errorf("the error for a corrupt value does not name its key %q: %v", c.key, err)
		}
		if err := expectValue(ctx, st, c.key, bad); err != nil {
			return fmt.Errorf("a corrupt value was overwritten: %w", err)
		}
	}
	return nil
}
