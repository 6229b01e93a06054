// Package filestore is a store.Store in one JSON file, for a host that runs
// as one process: a command-line tool, a desktop app, a single server.
//
// Every write replaces the whole file atomically: the new contents go to a
// temporary file in the same directory, which is synced to disk and
// renamed over the old one, so a crash leaves either the old file or the
// new one, never half of one. Each call reads the file afresh, so what a
// Store holds is always what is on disk.
//
// The file is meant to be read back by this package only, but it is plain
// JSON: {"version": 1, "entries": {"<key>": "<value, base64>", …}}. A file
// that cannot be read back (not JSON, an unknown field, another version, a
// value that is not base64) is an error wrapping store.ErrCorruptStore
// that names the file, and the file is left untouched: restore it from a
// backup or remove it to start over.
//
// A Store is safe for concurrent use within one process, and implements
// store.Updater within it. Two processes must not share one file: use
// store/pgstore for replicas.
package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync/internal/atomicfile"
	"github.com/dirsync-go/dirsync/store"
)

// Store is a store.Store in one JSON file, written atomically. It is safe
// for concurrent use within one process; two processes must not share a
// file.
type Store struct {
	path string
	mu   sync.Mutex
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Updater = (*Store)(nil)
)

type fileData struct {
	Version int                        `json:"version"`
	Entries map[string]json.RawMessage `json:"entries"`
}

const fileVersion = 1

// Open opens or creates the store file at path; a missing file is created
// by the first write. A file that exists but cannot be parsed is an error
// wrapping store.ErrCorruptStore.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load() (*fileData, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return &fileData{Version: fileVersion, Entries: map[string]json.RawMessage{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dirsync: read store: %w", err)
	}
	var d fileData
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s: %v (the file was left untouched; restore it from a backup or remove it to start over)", store.ErrCorruptStore, s.path, err)
	}
	if d.Version != fileVersion {
		return nil, fmt.Errorf("%w: %s: unsupported version %d", store.ErrCorruptStore, s.path, d.Version)
	}
	if d.Entries == nil {
		d.Entries = map[string]json.RawMessage{}
	}
	return &d, nil
}

func (s *Store) save(d *fileData) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("dirsync: write store: %w", err)
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load()
	if err != nil {
		return nil, err
	}
	v, ok := d.Entries[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, store.QuoteKey(key))
	}
	var raw []byte
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s: key %s: %v", store.ErrCorruptStore, s.path, store.QuoteKey(key), err)
	}
	return raw, nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	return s.update(func(d *fileData) error {
		b, err := json.Marshal(value)
		if err != nil {
			return err
		}
		d.Entries[key] = b
		return nil
	})
}

// Update implements store.Updater. Within one process it is atomic; two
// processes must not share a Store's file.
func (s *Store) Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error {
	return s.update(func(d *fileData) error {
		var old []byte
		v, found := d.Entries[key]
		if found {
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("%w: %s: key %s: %v", store.ErrCorruptStore, s.path, store.QuoteKey(key), err)
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

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.update(func(d *fileData) error {
		delete(d.Entries, key)
		return nil
	})
}

func (s *Store) update(f func(*fileData) error) error {
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
