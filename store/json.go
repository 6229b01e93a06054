package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// GetJSON reads the JSON value at key into v, as json.Unmarshal does. A
// missing key is the Store's error, wrapping ErrNotFound; a value that is
// not JSON for v is an error wrapping ErrCorruptStore that names the key.
func GetJSON(ctx context.Context, st Store, key string, v any) error {
	b, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: key %s: %v", ErrCorruptStore, QuoteKey(key), err)
	}
	return nil
}

// UpdateJSON atomically reads the JSON value at key into a fresh *T (left
// zero when the key is missing), lets f change it, and writes it back. An
// error from f writes nothing and is returned; a stored value that is not
// JSON for T is an error wrapping ErrCorruptStore that names the key, and
// is left as it is.
//
// When st implements Updater, the cycle is one Update, as atomic as the
// driver makes it (across processes for a shared database), and f may be
// called more than once. Otherwise UpdateJSON holds a lock for st and key,
// shared by every caller in the process, around a Get and a Put: no update
// through UpdateJSON is lost within the process, but a writer in another
// process, or a Put that bypasses UpdateJSON, can still interleave.
func UpdateJSON[T any](ctx context.Context, st Store, key string, f func(*T) error) error {
	apply := func(old []byte, found bool) ([]byte, error) {
		v := new(T)
		if found {
			if err := json.Unmarshal(old, v); err != nil {
				return nil, fmt.Errorf("%w: key %s: %v", ErrCorruptStore, QuoteKey(key), err)
			}
		}
		if err := f(v); err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	if u, ok := st.(Updater); ok {
		return u.Update(ctx, key, apply)
	}
	mu := keyLock(st, key)
	mu.Lock()
	defer mu.Unlock()
	old, err := st.Get(ctx, key)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	b, err := apply(old, found)
	if err != nil {
		return err
	}
	return st.Put(ctx, key, b)
}

// keyLocks serialises read-modify-write cycles on a Store without Updater,
// per store and key, across every caller in the process.
var keyLocks sync.Map // lockKey -> *sync.Mutex

type lockKey struct {
	store Store
	key   string
}

func keyLock(st Store, key string) *sync.Mutex {
	k := lockKey{st, key}
	if !reflect.ValueOf(st).Comparable() {
		k.store = nil // a store value that cannot be a map key: lock by key alone
	}
	mu := new(sync.Mutex)
	if m, loaded := keyLocks.LoadOrStore(k, mu); loaded {
		mu = m.(*sync.Mutex)
	}
	return mu
}
