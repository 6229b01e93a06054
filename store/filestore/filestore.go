// Package filestore is a store.Store in one JSON file, for a host that runs
// as one process: a command-line tool, a desktop app, a single server.
//
// Every write replaces the whole file atomically: the new contents go to a
// temporary file in the same directory, which is synced to disk and
// renamed over the old one, so a crash leaves either the old file or the
// new one, never half of one. Each call reads the file afresh, so what a
// Store holds is always what is on disk.
//
// A value larger than 32 KiB (a segment of the provisioning log, say) is
// kept in a file of its own, in the directory "<path>.d" beside the store
// file, named by the SHA-256 of its contents, and the store file refers to
// it: so the store file, which every call reads, stays small however much
// large values hold. A side file is written and synced before the store
// file that names it, and removed after the store file that no longer
// does; Open removes the side files that no store file names (left by a
// crash between the two writes). A side file whose contents do not match
// its name is an error wrapping store.ErrCorruptStore.
//
// The file is meant to be read back by this package only, but it is plain
// JSON: {"version": 1, "entries": {"<key>": "<value, base64>", …}}, and
// version 2 when it refers to side files, with "files": {"<key>":
// "<SHA-256, hex>", …} (a version 1 reader cannot open it). A file
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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	// Files maps the keys whose values are in side files to the files'
	// names (version 2).
	Files map[string]string `json:"files,omitempty"`
}

const (
	fileVersion  = 1
	filesVersion = 2 // with side files
	// sideMin is the size from which a value goes to a side file.
	sideMin = 32 << 10
)

// Open opens or creates the store file at path; a missing file is created
// by the first write. A file that exists but cannot be parsed is an error
// wrapping store.ErrCorruptStore.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	d, err := s.load()
	if err != nil {
		return nil, err
	}
	s.removeUnnamed(d)
	return s, nil
}

// sideDir is the directory of the side files.
func (s *Store) sideDir() string { return s.path + ".d" }

// removeUnnamed removes the side files d does not name.
func (s *Store) removeUnnamed(d *fileData) {
	names, err := os.ReadDir(s.sideDir())
	if err != nil {
		return
	}
	named := map[string]bool{}
	for _, n := range d.Files {
		named[n] = true
	}
	for _, e := range names {
		if !named[e.Name()] {
			_ = os.Remove(filepath.Join(s.sideDir(), e.Name()))
		}
	}
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
	if d.Version != fileVersion && d.Version != filesVersion || d.Version == fileVersion && d.Files != nil {
		return nil, fmt.Errorf("%w: %s: unsupported version %d", store.ErrCorruptStore, s.path, d.Version)
	}
	if d.Entries == nil {
		d.Entries = map[string]json.RawMessage{}
	}
	return &d, nil
}

func (s *Store) save(d *fileData) error {
	d.Version = fileVersion
	if len(d.Files) > 0 {
		d.Version = filesVersion
	}
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
	v, found, err := s.value(d, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, store.QuoteKey(key))
	}
	return v, nil
}

// value reads key's value, from the store file or its side file.
func (s *Store) value(d *fileData, key string) ([]byte, bool, error) {
	if name, ok := d.Files[key]; ok {
		b, err := os.ReadFile(filepath.Join(s.sideDir(), name))
		if err == nil {
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != name {
				err = errors.New("contents do not match the file's name")
			}
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: key %s: side file %s: %v", store.ErrCorruptStore, s.path,
				store.QuoteKey(key), name, err)
		}
		return b, true, nil
	}
	v, ok := d.Entries[key]
	if !ok {
		return nil, false, nil
	}
	var raw []byte
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, false, fmt.Errorf("%w: %s: key %s: %v", store.ErrCorruptStore, s.path, store.QuoteKey(key), err)
	}
	return raw, true, nil
}

// set stores value at key in d: in d itself, or, when it is large, in a
// side file written now.
func (s *Store) set(d *fileData, key string, value []byte) error {
	delete(d.Files, key)
	delete(d.Entries, key)
	if len(value) < sideMin {
		b, err := json.Marshal(value)
		if err != nil {
			return err
		}
		d.Entries[key] = b
		return nil
	}
	sum := sha256.Sum256(value)
	name := hex.EncodeToString(sum[:])
	path := filepath.Join(s.sideDir(), name)
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, value) {
		if err := os.MkdirAll(s.sideDir(), 0o700); err != nil {
			return fmt.Errorf("dirsync: write store: %w", err)
		}
		if err := atomicfile.WriteFile(path, value, 0o600); err != nil {
			return fmt.Errorf("dirsync: write store: %w", err)
		}
	}
	if d.Files == nil {
		d.Files = map[string]string{}
	}
	d.Files[key] = name
	return nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	return s.update(func(d *fileData) error { return s.set(d, key, value) })
}

// Update implements store.Updater. Within one process it is atomic; two
// processes must not share a Store's file.
func (s *Store) Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error {
	return s.update(func(d *fileData) error {
		old, found, err := s.value(d, key)
		if err != nil {
			return err
		}
		nv, err := f(old, found)
		if err != nil {
			return err
		}
		return s.set(d, key, nv)
	})
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.update(func(d *fileData) error {
		delete(d.Entries, key)
		delete(d.Files, key)
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
	named := func() map[string]bool {
		m := map[string]bool{}
		for _, n := range d.Files {
			m[n] = true
		}
		return m
	}
	before := named()
	if err := f(d); err != nil {
		return err
	}
	if err := s.save(d); err != nil {
		return err
	}
	after := named()
	for n := range before {
		if !after[n] {
			_ = os.Remove(filepath.Join(s.sideDir(), n)) // Open removes it if this fails
		}
	}
	return nil
}
