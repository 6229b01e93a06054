package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync/internal/atomicfile"
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
// its Store has it. Without it the Syncer serialises its own updates (and
// those of every Syncer in the process sharing the Store), which is enough
// for one process but not for several sharing one store.
type Updater interface {
	Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error
}

// ErrNotFound reports a key that a Store does not hold.
var ErrNotFound = errors.New("dirsync: not found")

// ErrCorruptStore reports a store file that cannot be read back. The file is
// left as it is: a corrupt store is never reset silently, because that would
// forget exceptions and cursors.
var ErrCorruptStore = errors.New("dirsync: store is corrupt")

// MemoryStore is a Store in memory, for tests and one-shot runs.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string][]byte{}} }

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return slices.Clone(v), nil
}

// Put implements Store.
func (s *MemoryStore) Put(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = slices.Clone(value)
	return nil
}

// Update implements Updater.
func (s *MemoryStore) Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, found := s.m[key]
	v, err := f(slices.Clone(old), found)
	if err != nil {
		return err
	}
	s.m[key] = slices.Clone(v)
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// FileStore is a Store in one JSON file, written atomically: every Put
// writes a temporary file in the same directory, syncs it to disk and
// renames it over the old one, so a crash leaves either the old or the new
// file, never half of one. It is safe for concurrent use within one
// process; two processes must not share a file.
type FileStore struct {
	path string
	mu   sync.Mutex
}

type fileStoreData struct {
	Version int                        `json:"version"`
	Entries map[string]json.RawMessage `json:"entries"`
}

const fileStoreVersion = 1

// OpenFileStore opens or creates the store file at path. A file that exists
// but cannot be parsed is an error wrapping ErrCorruptStore.
func OpenFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileStore) load() (*fileStoreData, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return &fileStoreData{Version: fileStoreVersion, Entries: map[string]json.RawMessage{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dirsync: read store: %w", err)
	}
	var d fileStoreData
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s: %v (the file was left untouched; restore it from a backup or remove it to start over)", ErrCorruptStore, s.path, err)
	}
	if d.Version != fileStoreVersion {
		return nil, fmt.Errorf("%w: %s: unsupported version %d", ErrCorruptStore, s.path, d.Version)
	}
	if d.Entries == nil {
		d.Entries = map[string]json.RawMessage{}
	}
	return &d, nil
}

func (s *FileStore) save(d *fileStoreData) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("dirsync: write store: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load()
	if err != nil {
		return nil, err
	}
	v, ok := d.Entries[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	var raw []byte
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s: key %q: %v", ErrCorruptStore, s.path, key, err)
	}
	return raw, nil
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, key string, value []byte) error {
	return s.update(func(d *fileStoreData) error {
		b, err := json.Marshal(value)
		if err != nil {
			return err
		}
		d.Entries[key] = b
		return nil
	})
}

// Update implements Updater. Within one process it is atomic; two
// processes must not share a FileStore's file.
func (s *FileStore) Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error {
	return s.update(func(d *fileStoreData) error {
		var old []byte
		v, found := d.Entries[key]
		if found {
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("%w: %s: key %q: %v", ErrCorruptStore, s.path, key, err)
			}
		}
		nv, err := f(old, found)
		if err != nil {
			return err
		}
		b, err := json.Marshal(nv)
		if err != nil {
			return err
		}
		d.Entries[key] = b
		return nil
	})
}

// Delete implements Store.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	return s.update(func(d *fileStoreData) error {
		delete(d.Entries, key)
		return nil
	})
}

func (s *FileStore) update(f func(*fileStoreData) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load()
	if err != nil {
		return err
	}
	if err := f(d); err != nil {
		return err
	}
	return s.save(d)
}

var (
	_ Updater = (*MemoryStore)(nil)
	_ Updater = (*FileStore)(nil)
)

// keyLocks serialises read-modify-write cycles on a Store without Update,
// per store and key, across every Syncer in the process.
var keyLocks sync.Map // storeKey -> *sync.Mutex

type storeKey struct {
	store Store
	key   string
}

// updateJSON atomically reads the JSON value at key into a fresh *T (left
// zero when the key is missing), lets f change it, and writes it back. An
// error from f writes nothing.
func updateJSON[T any](ctx context.Context, st Store, key string, f func(*T) error) error {
	apply := func(old []byte, found bool) ([]byte, error) {
		v := new(T)
		if found {
			if err := json.Unmarshal(old, v); err != nil {
				return nil, fmt.Errorf("%w: key %q: %v", ErrCorruptStore, key, err)
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
	sk := storeKey{st, key}
	if !reflect.TypeOf(st).Comparable() {
		sk.store = nil // a store value that cannot be a map key: lock by key alone
	}
	mu := new(sync.Mutex)
	if m, loaded := keyLocks.LoadOrStore(sk, mu); loaded {
		mu = m.(*sync.Mutex)
	}
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
