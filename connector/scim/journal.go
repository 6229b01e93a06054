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
	"strconv"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync/internal/atomicfile"
)

// Journal is the persistent embedded Resources: one file per integration,
// an append-only journal of JSON lines, each write appended and synced to
// disk before Put returns. Two processes must not share a file.
//
// Concurrent writes share their sync (group commit): the writes that
// arrive while one batch is written and synced queue as the next batch,
// in the order they arrived, and one write and one sync make the whole
// batch durable; each is answered only then. A write that finds no batch
// being written is written and synced at once.
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
// answered as an error and cut off at once, back to the size before it:
// every write of the failed batch is answered the error and cut off
// together, and the next batch is written after the cut. If even the cut
// fails, the Journal refuses every further write until it is reopened,
// rather than append after bytes it could not remove (a failed write
// that had reached the disk whole may then be found again on reopen; the
// provider, answered 500, sends it again anyway). Any other unreadable
// line is ErrCorruptResources.
type Journal struct {
	path string
	mu   sync.Mutex
	// idle is signalled (on mu) when a batch is done: its writers return,
	// and one writer of the next batch, if any, writes it.
	idle sync.Cond
	// flushing is set while one writer writes and syncs a batch outside
	// mu; only that writer touches f and size then.
	flushing bool
	// next is the batch that writes join: written once no batch is
	// flushing. Nil when no write waits.
	next *batch
	f    journalFile // nil once closed
	// size is the length of the file's whole lines: where the next batch
	// starts, and where a failed one is cut back to.
	size int64
	// broken is why writes are refused: a failed write that could not be
	// cut off.
	broken error
}

// batch is the lines of the writes that share one write and one sync.
type batch struct {
	lines []byte
	done  bool  // written and synced, or failed; guarded by Journal.mu
	err   error // the answer to every write of the batch
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
	j.idle.L = &j.mu
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
	for j.flushing { // read whole batches only
		j.idle.Wait()
	}
	b, err := os.ReadFile(j.path)
	if err != nil {
		return nil, fmt.Errorf("scim: read journal: %w", err)
	}
	st, _, _, err := parseJournal(j.path, b)
	return st, err
}

// append queues one line in the next batch and returns once that batch
// is durable, or failed and cut back off. The first writer of a batch
// that finds no other batch flushing writes and syncs it, outside mu;
// the writes that arrive meanwhile form the next batch. ctx is checked
// before the line is queued: a queued line is written with its batch.
func (j *Journal) append(ctx context.Context, jl journalLine) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(jl)
	if err != nil {
		return err
	}
	return j.appendLines(append(b, '\n'))
}

// appendLines queues whole lines in the next batch and returns once that
// batch is durable, or failed and cut back off: the lines are written,
// synced and cut off together.
func (j *Journal) appendLines(b []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writable(); err != nil {
		return err
	}
	if j.next == nil {
		j.next = &batch{}
	}
	bt := j.next
	bt.lines = append(bt.lines, b...)
	for j.flushing && !bt.done {
		j.idle.Wait()
	}
	if bt.done {
		return bt.err
	}
	// Nothing is flushing and the batch is not done: this writer writes
	// it, and the writes that arrive meanwhile form the next one.
	j.next = nil
	if bt.err = j.writable(); bt.err == nil {
		j.flushing = true
		j.mu.Unlock()
		var broken error
		bt.err, broken = j.flush(bt.lines)
		j.mu.Lock()
		j.flushing = false
		if broken != nil {
			j.broken = broken
		}
	}
	bt.done = true
	j.idle.Broadcast()
	return bt.err
}

// writable reports why writes are refused, if they are. The caller holds
// mu.
func (j *Journal) writable() error {
	switch {
	case j.f == nil:
		return errors.New("scim: journal is closed")
	case j.broken != nil:
		return fmt.Errorf("scim: journal %s refuses writes until it is reopened: a failed write could not be cut off: %w", j.path, j.broken)
	}
	return nil
}

// flush writes a batch's lines and syncs them; on failure it cuts the
// file back to its size before the batch, and returns why that failed
// too as broken. Only the flushing writer calls it, without mu (so writes
// can queue meanwhile); it alone touches f and size until it returns.
func (j *Journal) flush(lines []byte) (err, broken error) {
	n, err := j.f.Write(lines)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// Cut off what this batch left (part of a line, or whole lines
		// that may not be on disk), so that nothing is appended after it.
		if cerr := j.cut(); cerr != nil {
			return fmt.Errorf("scim: write journal: %w (cutting it off failed too: %v; writes are refused until the journal is reopened)", err, cerr), cerr
		}
		return fmt.Errorf("scim: write journal: %w", err), nil
	}
	j.size += int64(n)
	return nil, nil
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

// PutBatch implements BatchPutter: the records' lines join one batch of
// the group commit, so they are synced together, or, when the write or
// the sync fails, cut off together.
func (j *Journal) PutBatch(ctx context.Context, recs []Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var b []byte
	for i := range recs {
		var err error
		if b, err = appendRecordLine(b, &recs[i]); err != nil {
			return err
		}
	}
	if len(b) == 0 {
		return nil
	}
	return j.appendLines(b)
}

// appendRecordLine appends r's journal line, newline included: the line
// json.Marshal(journalLine{Record: r}) gives (the attributes as they
// are, when they are valid JSON on one line), written without reflection:
// a batch is encoded by the one writer that stores it, while the others
// wait. Values it cannot write plainly go through json.Marshal.
func appendRecordLine(b []byte, r *Record) ([]byte, error) {
	// A newline can only be whitespace between tokens (JSON strings
	// escape it), and would split the line.
	attrsPlain := len(r.Attrs) == 0 || (bytes.IndexByte(r.Attrs, '\n') < 0 && json.Valid(r.Attrs))
	if !plainJSONString(r.ID) || !plainJSONString(r.Type) || !attrsPlain ||
		r.Created.Year() < 0 || r.Created.Year() > 9999 || r.Modified.Year() < 0 || r.Modified.Year() > 9999 {
		line, err := json.Marshal(journalLine{Record: r})
		if err != nil {
			return b, err
		}
		return append(append(b, line...), '\n'), nil
	}
	b = append(b, `{"record":{"id":"`...)
	b = append(b, r.ID...)
	b = append(b, `","type":"`...)
	b = append(b, r.Type...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	if r.CreatedSeq != 0 {
		b = append(b, `,"createdSeq":`...)
		b = strconv.AppendUint(b, r.CreatedSeq, 10)
	}
	b = append(b, `,"created":"`...)
	b = r.Created.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","modified":"`...)
	b = r.Modified.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if len(r.Attrs) > 0 {
		b = append(b, `,"attrs":`...)
		b = append(b, r.Attrs...)
	}
	return append(b, "}}\n"...), nil
}

// plainJSONString reports whether s is written in JSON as it is, between
// quotes (encoding/json escapes <, > and & too).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// SetTokenHash implements Resources.
func (j *Journal) SetTokenHash(ctx context.Context, hash []byte) error {
	return j.append(ctx, journalLine{TokenSet: true, Token: hash})
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.flushing { // the batch being written is answered first
		j.idle.Wait()
	}
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
