package scim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync/internal/atomicfile"
)

// Record is one resource as the identity provider wrote it, with the
// metadata the service provider keeps. A Record is a value: a store keeps
// its own copy.
type Record struct {
	// ID is the id the service provider assigned (RFC 7643 section 3.1).
	ID string `json:"id"`
	// Type is "User" or "Group".
	Type string `json:"type"`
	// Seq is the store-wide sequence number of the write that produced
	// this version; it orders changes for incremental reads.
	Seq uint64 `json:"seq"`
	// CreatedSeq is the Seq of the write that created the resource: list
	// responses page in this order, the same before and after a restart.
	CreatedSeq uint64 `json:"createdSeq,omitempty"`
	// Created and Modified are meta.created and meta.lastModified.
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	// Deleted marks a tombstone: the provider deleted the resource.
	Deleted bool `json:"deleted,omitempty"`
	// Attrs is the resource's attributes as a JSON object, without id and
	// meta, in the schema's spelling; the enterprise extension under its
	// URN. A tombstone holds only the externalId the resource had, if any.
	Attrs json.RawMessage `json:"attrs,omitempty"`
}

// State is everything a Store holds for one integration.
type State struct {
	// Records holds the latest version of every resource, tombstones
	// included, in any order.
	Records []Record
	// TokenHash is the SHA-256 hash of the current bearer token, or nil
	// before the first RotateToken.
	TokenHash []byte
}

// Store keeps what the identity provider wrote for one integration. The
// Server loads it once (Load) and writes through it: a write is answered
// only after Put returned, so what the provider was told is durable.
//
// A host may keep the records in its own database by implementing Store;
// the Server serialises its calls (one Put or SetTokenHash at a time), so
// an implementation needs no locking of its own beyond what its backend
// needs. One Server per integration and process: two processes writing
// one integration's store would each miss the other's writes.
type Store interface {
	// Load returns the stored state; an empty store returns an empty
	// State.
	Load(ctx context.Context) (*State, error)
	// Put durably stores r, replacing any record with the same ID.
	Put(ctx context.Context, r Record) error
	// SetTokenHash durably replaces the token hash.
	SetTokenHash(ctx context.Context, hash []byte) error
}

// MemoryStore is a Store in memory, for tests and examples. The zero value
// is not usable; call NewMemoryStore.
type MemoryStore struct {
	mu    sync.Mutex
	recs  map[string]Record
	token []byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{recs: map[string]Record{}} }

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &State{TokenHash: slices.Clone(s.token)}
	for _, id := range sortedKeys(s.recs) {
		st.Records = append(st.Records, cloneRecord(s.recs[id]))
	}
	return st, nil
}

// Put implements Store.
func (s *MemoryStore) Put(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[r.ID] = cloneRecord(r)
	return nil
}

// SetTokenHash implements Store.
func (s *MemoryStore) SetTokenHash(ctx context.Context, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = slices.Clone(hash)
	return nil
}

func cloneRecord(r Record) Record {
	r.Attrs = slices.Clone(r.Attrs)
	return r
}

// FileStore is the persistent embedded Store: one file per integration,
// an append-only journal of JSON lines, each write appended and synced to
// disk before Put returns. Open rewrites the journal as one line per
// resource (a new file renamed over the old one, so a crash leaves either
// whole) when it has grown to more than twice that. A last line cut short
// by a crash was never acknowledged to the provider and is dropped; any
// other unreadable line is ErrCorruptStore. Two processes must not share
// a file.
type FileStore struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// journalLine is one line of a FileStore.
type journalLine struct {
	Record   *Record `json:"record,omitempty"`
	TokenSet bool    `json:"tokenSet,omitempty"`
	Token    []byte  `json:"token,omitempty"`
}

// OpenFileStore opens or creates the store at path. Close it when done.
func OpenFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path}
	st, lines, err := s.read()
	if err != nil {
		return nil, err
	}
	if lines > 2*(len(st.Records)+1)+64 {
		if err := s.compact(st); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("scim: open store: %w", err)
	}
	s.f = f
	return s, nil
}

// read replays the journal.
func (s *FileStore) read() (*State, int, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("scim: read store: %w", err)
	}
	recs := map[string]Record{}
	st := &State{}
	lines := 0
	for len(b) > 0 {
		line, rest, complete := bytes.Cut(b, []byte{'\n'})
		b = rest
		if !complete {
			break // cut short by a crash before the write was acknowledged
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		lines++
		var jl journalLine
		if err := json.Unmarshal(line, &jl); err != nil {
			return nil, 0, fmt.Errorf("%w: %s: line %d: %v", ErrCorruptStore, s.path, lines, err)
		}
		switch {
		case jl.Record != nil:
			if jl.Record.ID == "" || typeNamed(jl.Record.Type) == nil {
				return nil, 0, fmt.Errorf("%w: %s: line %d: a record without id or type", ErrCorruptStore, s.path, lines)
			}
			recs[jl.Record.ID] = *jl.Record
		case jl.TokenSet:
			st.TokenHash = jl.Token
		}
	}
	for _, id := range sortedKeys(recs) {
		st.Records = append(st.Records, recs[id])
	}
	return st, lines, nil
}

// compact rewrites the journal as one line per record.
func (s *FileStore) compact(st *State) error {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	if st.TokenHash != nil {
		if err := enc.Encode(journalLine{TokenSet: true, Token: st.TokenHash}); err != nil {
			return err
		}
	}
	for i := range st.Records {
		if err := enc.Encode(journalLine{Record: &st.Records[i]}); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("scim: compact store: %w", err)
	}
	return nil
}

// Load implements Store.
func (s *FileStore) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _, err := s.read()
	return st, err
}

func (s *FileStore) append(ctx context.Context, jl journalLine) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(jl)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("scim: store is closed")
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("scim: write store: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("scim: write store: %w", err)
	}
	return nil
}

// Put implements Store.
func (s *FileStore) Put(ctx context.Context, r Record) error {
	return s.append(ctx, journalLine{Record: &r})
}

// SetTokenHash implements Store.
func (s *FileStore) SetTokenHash(ctx context.Context, hash []byte) error {
	return s.append(ctx, journalLine{TokenSet: true, Token: hash})
}

// Close closes the file.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Remove closes the store and deletes its file: what a host does when an
// integration is removed (after Syncer.PlanRemoval was applied).
func (s *FileStore) Remove() error {
	if err := s.Close(); err != nil {
		return err
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("scim: remove store: %w", err)
	}
	atomicfile.SyncDir(filepath.Dir(s.path))
	return nil
}

var (
	_ Store = (*MemoryStore)(nil)
	_ Store = (*FileStore)(nil)
)
