// Package storetest checks that a store.Store follows the contract the
// dirsync engine relies on, as testing/fstest checks an fs.FS: one
// function, Test, runs every check and returns one error joining what it
// found. It needs no *testing.T, so a host can run it against its own
// store in its tests or at startup.
//
//	func TestMyStore(t *testing.T) {
//		err := storetest.Test(context.Background(), func(ctx context.Context) (store.Store, error) {
//			return mystore.Open(ctx, freshDatabase(t))
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync/store"
)

// Test checks that stores made by newStore follow the store.Store
// contract: values read back byte for byte (empty, binary, large) under
// any key a Syncer uses, a missing key is store.ErrNotFound, Delete of a
// missing key succeeds, the caller's slices are not retained, concurrent
// writers lose nothing (through store.Updater when the store has it, and
// through the read-modify-write cycles of store.UpdateJSON, which a Syncer
// uses, either way), a value that is not what a Syncer wrote reads back as
// an error wrapping store.ErrCorruptStore and is left as it was, and an
// error about a huge key does not repeat it.
//
// newStore is called once per check and must return an empty store each
// time; stores it returns may share storage only if each starts empty.
// Test returns one error joining every finding, each prefixed with the
// name of its check, or nil.
func Test(ctx context.Context, newStore func(ctx context.Context) (store.Store, error)) error {
	checks := []struct {
		name string
		f    func(context.Context, store.Store) error
	}{
		{"round trip", checkRoundTrip},
		{"missing key", checkMissing},
		{"copies", checkCopies},
		{"large values", checkLarge},
		{"many keys of many sizes", checkManyKeys},
		{"long keys", checkLongKeys},
		{"concurrent writers", checkConcurrentPuts},
		{"concurrent updates (if implemented)", checkUpdates},
		{"concurrent UpdateJSON", checkUpdateJSON},
		{"corrupt value", checkCorrupt},
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

// keys are keys shaped like those a Syncer writes, and hostile ones.
var keys = []string{
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

func expectValue(ctx context.Context, st store.Store, key string, want []byte) error {
	got, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("Get(%.40q): %w", key, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("Get(%.40q) = %d bytes %.40q, want %d bytes %.40q", key, len(got), got, len(want), want)
	}
	return nil
}

func checkRoundTrip(ctx context.Context, st store.Store) error {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := [][]byte{[]byte(`{"x":1}`), {}, all, []byte("\x00"), []byte("not json \xff\xfe"), []byte(`"ünïcödé"`),
		[]byte("null"), bytes.Repeat([]byte{0}, 1000)}
	want := map[string][]byte{}
	for i, k := range keys {
		v := values[i%len(values)]
		if err := st.Put(ctx, k, v); err != nil {
			return fmt.Errorf("Put(%.40q): %w", k, err)
		}
		want[k] = v
	}
	for _, k := range keys {
		if err := expectValue(ctx, st, k, want[k]); err != nil {
			return err
		}
	}
	// Overwrite with a shorter and a longer value.
	for _, v := range [][]byte{[]byte("long value, longer than before"), []byte("s")} {
		if err := st.Put(ctx, keys[0], v); err != nil {
			return fmt.Errorf("overwrite: %w", err)
		}
		if err := expectValue(ctx, st, keys[0], v); err != nil {
			return fmt.Errorf("after overwrite: %w", err)
		}
	}
	// Deleting one key leaves the others.
	if err := st.Delete(ctx, keys[1]); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, err := st.Get(ctx, keys[1]); !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("after Delete, Get = %v; want ErrNotFound", err)
	}
	for _, k := range keys[2:] {
		if err := expectValue(ctx, st, k, want[k]); err != nil {
			return fmt.Errorf("after deleting another key: %w", err)
		}
	}
	// A nil value is stored as empty, not as missing.
	if err := st.Put(ctx, "nil", nil); err != nil {
		return fmt.Errorf("Put(nil): %w", err)
	}
	if got, err := st.Get(ctx, "nil"); err != nil || len(got) != 0 {
		return fmt.Errorf("after Put(nil), Get = %q, %v; want empty, nil", got, err)
	}
	return nil
}

func checkMissing(ctx context.Context, st store.Store) error {
	for _, k := range []string{"missing", "integration/none/cursor", ""} {
		if v, err := st.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
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
		if v, err := st.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("Get(%q) next to a stored key = %q, %v; want ErrNotFound", k, v, err)
		}
	}
	if u, ok := st.(store.Updater); ok {
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

func checkCopies(ctx context.Context, st store.Store) error {
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
		return fmt.Errorf("the slice Get returned is the store's own: %w", err)
	}
	return nil
}

func checkLarge(ctx context.Context, st store.Store) error {
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

// checkManyKeys writes keys as the provisioning log does (a segment per
// key, from a few bytes to a few hundred KiB, equal values under several
// keys), rewrites some larger or smaller, deletes some, and reads every
// key back.
func checkManyKeys(ctx context.Context, st store.Store) error {
	r := rand.New(rand.NewPCG(3, 4))
	value := func(i int) []byte {
		n := []int{0, 10, 1000, 40 << 10, 300 << 10}[i%5]
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		return b
	}
	want := map[string][]byte{}
	for i := range 60 {
		k := "integration/corp-ad/log/run/20260102T030405.000000Z-0a1b2c3d/" + strconv.Itoa(i)
		want[k] = value(i)
		if i%7 == 0 && i > 0 { // the same value as the key before
			want[k] = want["integration/corp-ad/log/run/20260102T030405.000000Z-0a1b2c3d/"+strconv.Itoa(i-1)]
		}
		if err := st.Put(ctx, k, want[k]); err != nil {
			return fmt.Errorf("Put(%q): %w", k, err)
		}
	}
	i := 0
	for k := range want {
		switch i % 4 {
		case 0:
			if err := st.Delete(ctx, k); err != nil {
				return fmt.Errorf("Delete(%q): %w", k, err)
			}
			delete(want, k)
		case 1:
			want[k] = value(i + 1)
			if err := st.Put(ctx, k, want[k]); err != nil {
				return fmt.Errorf("Put(%q): %w", k, err)
			}
		case 2:
			v := value(i + 2)
			err := store.UpdateJSON(ctx, st, k+"/json", func(s *[]byte) error { *s = v; return nil })
			if err != nil {
				return fmt.Errorf("UpdateJSON(%q): %w", k+"/json", err)
			}
			var got []byte
			if err := store.GetJSON(ctx, st, k+"/json", &got); err != nil || !bytes.Equal(got, v) {
				return fmt.Errorf("GetJSON(%q) after UpdateJSON: %d bytes, %v; want %d bytes", k+"/json", len(got), err, len(v))
			}
		}
		i++
	}
	for k, v := range want {
		if err := expectValue(ctx, st, k, v); err != nil {
			return err
		}
	}
	for i := range 60 {
		k := "integration/corp-ad/log/run/20260102T030405.000000Z-0a1b2c3d/" + strconv.Itoa(i)
		if _, ok := want[k]; ok {
			continue
		}
		if _, err := st.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("Get(%q) after Delete: %v, want ErrNotFound", k, err)
		}
	}
	return nil
}

const (
	writers = 8
	rounds  = 16
)

func checkConcurrentPuts(ctx context.Context, st store.Store) error {
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
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
	for w := range writers {
		for i := range rounds {
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
	if !strings.HasPrefix(string(got), "w") || !strings.HasSuffix(string(got), fmt.Sprintf("/k%d", rounds-1)) {
		return fmt.Errorf("shared key after concurrent Puts = %q, want some writer's last value", got)
	}
	return nil
}

// checkUpdates has many goroutines increment one counter through
// Update: the final count is every increment, none lost, and an f that
// fails stores nothing.
func checkUpdates(ctx context.Context, st store.Store) error {
	u, ok := st.(store.Updater)
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
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for range rounds {
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
	if err := expectValue(ctx, st, "counter", []byte(strconv.Itoa(writers*rounds))); err != nil {
		return fmt.Errorf("concurrent Updates lost increments: %w", err)
	}
	boom := errors.New("boom")
	err := u.Update(ctx, "counter", func([]byte, bool) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		return fmt.Errorf("update with a failing f = %v, want its error", err)
	}
	if err := expectValue(ctx, st, "counter", []byte(strconv.Itoa(writers*rounds))); err != nil {
		return fmt.Errorf("a failed Update changed the value: %w", err)
	}
	err = u.Update(ctx, "never", func([]byte, bool) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		return fmt.Errorf("update with a failing f = %v, want its error", err)
	}
	if _, err := st.Get(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("a failed Update of a missing key created it: %v", err)
	}
	return nil
}

// item is one entry of the list checkUpdateJSON grows, shaped like a
// persisted exception.
type item struct {
	ID   string `json:"id"`
	Note string `json:"note,omitempty"`
}

// checkUpdateJSON has many goroutines append to one JSON list through
// store.UpdateJSON, as several Syncers of one integration sharing the
// store add exceptions at once: none is lost.
func checkUpdateJSON(ctx context.Context, st store.Store) error {
	const key = "integration/storetest/exceptions"
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				x := item{ID: fmt.Sprintf("w%d-%d", w, i), Note: "added concurrently"}
				err := store.UpdateJSON(ctx, st, key, func(list *[]item) error {
					*list = append(*list, x)
					return nil
				})
				if err != nil {
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
	var list []item
	if err := store.GetJSON(ctx, st, key, &list); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, x := range list {
		seen[x.ID] = true
	}
	if len(list) != writers*rounds || len(seen) != writers*rounds {
		return fmt.Errorf("%d writers appending %d items each through UpdateJSON: %d stored (%d distinct), want %d (updates were lost)",
			writers, rounds, len(list), len(seen), writers*rounds)
	}
	return nil
}

// checkCorrupt writes values a Syncer cannot have written under its keys:
// reading them through store.GetJSON or store.UpdateJSON, as a Syncer
// does, is an error wrapping ErrCorruptStore that names the key, and the
// value is left as it was (never reset, which would forget exceptions or
// history).
func checkCorrupt(ctx context.Context, st store.Store) error {
	bad := []byte(`{"truncated`)
	for _, c := range []struct {
		key string
		op  func(key string) error
	}{
		{"integration/corrupt/exceptions", func(key string) error {
			var list []item
			return store.GetJSON(ctx, st, key, &list)
		}},
		{"integration/corrupt/exceptions", func(key string) error {
			return store.UpdateJSON(ctx, st, key, func(list *[]item) error {
				*list = append(*list, item{ID: "x"})
				return nil
			})
		}},
		{"integration/corrupt/history", func(key string) error {
			return store.UpdateJSON(ctx, st, key, func(runs *[]map[string]any) error { return nil })
		}},
	} {
		if err := st.Put(ctx, c.key, bad); err != nil {
			return err
		}
		err := c.op(c.key)
		if !errors.Is(err, store.ErrCorruptStore) {
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

// maxKeyError bounds the length of an error about a huge key: it may name
// the key, but not repeat all of it.
const maxKeyError = 4 << 10

// checkLongKeys uses a 1 MiB key: a store may refuse a key that long, but
// then says so in a short error, and a missing one is ErrNotFound in a
// short error too. A key it accepts reads back.
func checkLongKeys(ctx context.Context, st store.Store) error {
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	for b.Len() < 1<<20 {
		fmt.Fprintf(&b, "%016x", r.Uint64()) // incompressible, as a database might compress
	}
	key := "integration/" + b.String()
	short := func(op string, err error) error {
		if n := len(err.Error()); n > maxKeyError {
			return fmt.Errorf("a %d-byte key: the error of %s is %d bytes long (%.80s…), want at most %d: quote keys with store.QuoteKey",
				len(key), op, n, err.Error(), maxKeyError)
		}
		return nil
	}
	_, err := st.Get(ctx, key)
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("a missing %d-byte key: Get = %.200v, want ErrNotFound", len(key), err)
	}
	if err := short("Get", err); err != nil {
		return err
	}
	if err := st.Put(ctx, key, []byte("v")); err != nil {
		return short("Put", err) // refused: fine, if briefly
	}
	if err := expectValue(ctx, st, key, []byte("v")); err != nil {
		return fmt.Errorf("a %d-byte key: %w", len(key), err)
	}
	if u, ok := st.(store.Updater); ok {
		boom := errors.New("boom")
		err := u.Update(ctx, key, func([]byte, bool) ([]byte, error) { return nil, boom })
		if !errors.Is(err, boom) {
			return fmt.Errorf("a %d-byte key: Update with a failing f = %.200v, want its error", len(key), err)
		}
	}
	if err := st.Delete(ctx, key); err != nil {
		return short("Delete", err)
	}
	if _, err := st.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("a %d-byte key after Delete: Get = %.200v, want ErrNotFound", len(key), err)
	}
	return nil
}
