package scim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/dirsync-go/dirsync/internal/atomicfile"
)

// Journal is the persistent embedded Resources: one file per integration,
// an append-only journal of JSON lines, each write appended and synced to
// disk before Put returns. Two processes must not share a file.
//
// OpenJournal rewrites the journal as one line per resource (a new file
// renamed over the old one, so a crash leaves either whole) when it has
// grown to more than twice that.
//
// A write that does not complete never damages the records before it nor
// the writes after it. A last line cut short (by a crash during the
// write, which was never acknowledged to the provider) is cut off the
// file when it is opened, so the next write starts on a line of its own.
// A write that fails (a full disk, an I/O error, a failed sync) is
// answered as an error and cut off at once, back to the size before it;
// if even that fails, the Journal refuses every further write until it
// is reopened, rather than append after bytes it could not remove (a
// failed write that had reached the disk whole may then be found again on
// reopen; the provider, answered 500, sends it again anyway). Any other
// unreadable line is ErrCorruptResources.
type Journal struct {
	path string
	mu   sync.Mutex
	f    journalFile // nil once closed
	// size is the length of the file's whole lines: where the next write
	// starts, and where a failed one is cut back to.
	size int64
	// broken is why writes are refused: a failed write that could not be
	// cut off.
	broken error
}

// journalFile is what a Journal needs of its *os.File, so that a test can
// make a write, a sync or a truncation fail.
type journalFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// journalLine is one line of a Journal.
type journalLine struct {
	Record   *Record `json:"record,omitempty"`
	TokenSet bool    `json:"tokenSet,omitempty"`
	Token    []byte  `json:"token,omitempty"`
}

// OpenJournal opens or creates the journal at path, cutting off a torn
// last line. Close it when done.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("scim: open journal: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("scim: read journal: %w", err)
	}
	st, lines, whole, err := parseJournal(path, b)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	j := &Journal{path: path, size: int64(whole)}
	switch {
	case lines > 2*(len(st.Records)+1)+64:
		_ = f.Close()
		n, err := compact(path, st)
		if err != nil {
			return nil, err
		}
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return nil, fmt.Errorf("scim: open journal: %w", err)
		}
		j.size = n
	case whole < len(b):
		// A torn last line: cut it off, or the next write would be
		// appended to it and the journal would not open again.
		if err := f.Truncate(j.size); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("scim: cut the torn last line of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("scim: cut the torn last line of %s: %w", path, err)
		}
	}
	// The file may be new: make its name durable before the first write
	// is acknowledged.
	atomicfile.SyncDir(filepath.Dir(path))
	j.f = f
	return j, nil
}

// parseJournal replays a journal. whole is the length of its whole lines:
// a last line without its newline was cut short by a crash and is not
// part of the state.
func parseJournal(path string, b []byte) (st *State, lines, whole int, err error) {
	recs := map[string]Record{}
	st = &State{}
	rest := b
	for len(rest) > 0 {
		line, after, complete := bytes.Cut(rest, []byte{'\n'})
		if !complete {
			break // cut short by a crash before the write was acknowledged
		}
		rest = after
		whole = len(b) - len(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		lines++
		var jl journalLine
		if err := json.Unmarshal(line, &jl); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: %s: line %d: %v", ErrCorruptResources, path, lines, err)
		}
		switch {
		case jl.Record != nil:
			if jl.Record.ID == "" || typeNamed(jl.Record.Type) == nil {
				return nil, 0, 0, fmt.Errorf("%w: %s: line %d: a record without id or type", ErrCorruptResources, path, lines)
			}
			recs[jl.Record.ID] = *jl.Record
		case jl.TokenSet:
			st.TokenHash = jl.Token
		}
	}
	for _, id := range sortedKeys(recs) {
		st.Records = append(st.Records, recs[id])
	}
	return st, lines, whole, nil
}

// compact rewrites the journal at path as one line per record and
// returns its new size.
func compact(path string, st *State) (int64, error) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	if st.TokenHash != nil {
		if err := enc.Encode(journalLine{TokenSet: true, Token: st.TokenHash}); err != nil {
			return 0, err
		}
	}
	for i := range st.Records {
		if err := enc.Encode(journalLine{Record: &st.Records[i]}); err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return 0, fmt.Errorf("scim: compact journal: %w", err)
	}
	return int64(buf.Len()), nil
}

// Load implements Resources.
func (j *Journal) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := os.ReadFile(j.path)
	if err != nil {
		return nil, fmt.Errorf("scim: read journal: %w", err)
	}
	st, _, _, err := parseJournal(j.path, b)
	return st, err
}

// append writes one line and syncs it; on failure it cuts the file back
// to its size before the write.
func (j *Journal) append(ctx context.Context, jl journalLine) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(jl)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.f == nil:
		return errors.New("scim: journal is closed")
	case j.broken != nil:
		return fmt.Errorf("scim: journal %s refuses writes until it is reopened: a failed write could not be cut off: %w", j.path, j.broken)
	}
	n, err := j.f.Write(b)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// Cut off what this write left (part of a line, or a whole line
		// that may not be on disk), so that nothing is appended after it.
		if cerr := j.cut(); cerr != nil {
			j.broken = cerr
			return fmt.Errorf("scim: write journal: %w (cutting it off failed too: %v; writes are refused until the journal is reopened)", err, cerr)
		}
		return fmt.Errorf("scim: write journal: %w", err)
	}
	j.size += int64(n)
	return nil
}

// cut truncates the file to its whole lines and syncs the truncation.
func (j *Journal) cut() error {
	if err := j.f.Truncate(j.size); err != nil {
		return err
	}
	return j.f.Sync()
}

// Put implements Resources.
func (j *Journal) Put(ctx context.Context, r Record) error {
	return j.append(ctx, journalLine{Record: &r})
}

// SetTokenHash implements Resources.
func (j *Journal) SetTokenHash(ctx context.Context, hash []byte) error {
	return j.append(ctx, journalLine{TokenSet: true, Token: hash})
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Remove closes the journal and deletes its file: what a host does when
// an integration is removed (after Syncer.PlanRemoval was applied).
func (j *Journal) Remove() error {
	if err := j.Close(); err != nil {
		return err
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("scim: remove journal: %w", err)
	}
	atomicfile.SyncDir(filepath.Dir(j.path))
	return nil
}
