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
	"sync"

	"github.com/dirsync-go/dirsync/internal/atomicfile"
)

// Journal is the persistent embedded Resources: one file per integration,
// an append-only journal of JSON lines, each write appended and synced to
// disk before Put returns. Open rewrites the journal as one line per
// resource (a new file renamed over the old one, so a crash leaves either
// whole) when it has grown to more than twice that. A last line cut short
// by a crash was never acknowledged to the provider and is dropped; any
// other unreadable line is ErrCorruptResources. Two processes must not share
// a file.
type Journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// journalLine is one line of a Journal.
type journalLine struct {
	Record   *Record `json:"record,omitempty"`
	TokenSet bool    `json:"tokenSet,omitempty"`
	Token    []byte  `json:"token,omitempty"`
}

// OpenJournal opens or creates the journal at path. Close it when done.
func OpenJournal(path string) (*Journal, error) {
	s := &Journal{path: path}
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
		return nil, fmt.Errorf("scim: open journal: %w", err)
	}
	s.f = f
	return s, nil
}

// read replays the journal.
func (s *Journal) read() (*State, int, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("scim: read journal: %w", err)
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
			return nil, 0, fmt.Errorf("%w: %s: line %d: %v", ErrCorruptResources, s.path, lines, err)
		}
		switch {
		case jl.Record != nil:
			if jl.Record.ID == "" || typeNamed(jl.Record.Type) == nil {
				return nil, 0, fmt.Errorf("%w: %s: line %d: a record without id or type", ErrCorruptResources, s.path, lines)
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
func (s *Journal) compact(st *State) error {
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
		return fmt.Errorf("scim: compact journal: %w", err)
	}
	return nil
}

// Load implements Resources.
func (s *Journal) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _, err := s.read()
	return st, err
}

func (s *Journal) append(ctx context.Context, jl journalLine) error {
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
		return errors.New("scim: journal is closed")
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("scim: write journal: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("scim: write journal: %w", err)
	}
	return nil
}

// Put implements Resources.
func (s *Journal) Put(ctx context.Context, r Record) error {
	return s.append(ctx, journalLine{Record: &r})
}

// SetTokenHash implements Resources.
func (s *Journal) SetTokenHash(ctx context.Context, hash []byte) error {
	return s.append(ctx, journalLine{TokenSet: true, Token: hash})
}

// Close closes the file.
func (s *Journal) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Remove closes the journal and deletes its file: what a host does when an
// integration is removed (after Syncer.PlanRemoval was applied).
func (s *Journal) Remove() error {
	if err := s.Close(); err != nil {
		return err
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("scim: remove journal: %w", err)
	}
	atomicfile.SyncDir(filepath.Dir(s.path))
	return nil
}
