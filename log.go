package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/diff"
)

// LogOptions configure the provisioning log (Options.Log): one entry per
// change each apply carried out, failed or skipped, kept in the Store and
// read with Syncer.Log. The zero value keeps the log with the default
// retention.
type LogOptions struct {
	// Disabled writes no log. What an earlier run logged stays readable
	// until it is removed by hand.
	Disabled bool
	// MaxAge drops the entries of runs that started longer ago. Default
	// 30 days; negative: no age limit.
	MaxAge time.Duration
	// MaxEntries bounds how many entries the log keeps, over every run of
	// the integration: past it, the oldest are dropped, a segment of
	// consecutive entries at a time (so a little fewer may be kept).
	// Default 100,000; negative: no limit.
	MaxEntries int
}

// The defaults of LogOptions.
const (
	DefaultLogMaxAge     = 30 * 24 * time.Hour
	DefaultLogMaxEntries = 100_000
)

// LogEntry is one change of a run as the provisioning log records it: who,
// what, why, and what became of it.
type LogEntry struct {
	// Run is the ID of the run (RunRecord.ID) that applied the change.
	Run string `json:"run,omitempty"`
	// Seq is the entry's position in its run's log, from 0, in plan order.
	Seq int `json:"seq"`
	// Time is when the change's outcome was known.
	Time time.Time `json:"time"`
	// Key is the change's key (Change.Key).
	Key string `json:"key"`
	// ExternalID, Email and Name identify the account (the account as
	// changed, or as it was for a delete); Name is Change.Label, the
	// department's path for a department.
	ExternalID string `json:"externalId,omitempty"`
	Email      string `json:"email,omitempty"`
	Name       string `json:"name,omitempty"`
	Op         Op     `json:"op"`
	// Reasons say why the change was planned: each a code for programs
	// and a sentence for the admin.
	Reasons []Reason `json:"reasons,omitempty"`
	// Fields are the changed fields, old → new: on a create, every value
	// sent.
	Fields []FieldChange `json:"fields,omitempty"`
	// Status is StatusApplied, StatusFailed or StatusSkipped; changes that
	// were not attempted are not logged (the next run plans them again).
	Status Status `json:"status"`
	// Skip says why a skipped change was not carried out.
	Skip *Reason `json:"skip,omitempty"`
	// Error is the sink's error for a failed change, as a Report shows it:
	// control characters blanked, and cut to 2,000 bytes.
	Error string `json:"error,omitempty"`
}

// LogQuery selects entries of the provisioning log. Zero fields select
// everything.
type LogQuery struct {
	// Run selects one run's entries, by RunRecord.ID.
	Run string
	// Account selects one account's entries: by external ID, or by email
	// (compared after diff.NormalizeEmail, old and new emails alike).
	Account string
	// Op selects one operation (OpCreate, OpBlock, …).
	Op Op
	// Status selects one outcome (StatusApplied, StatusFailed,
	// StatusSkipped).
	Status Status
	// Search, if set, selects the entries whose name, email, external ID
	// or key it matches, as a console's search box does within a run.
	Search *regexp.Regexp
	// After is the Next of the page before; empty for the first page.
	After string
	// Limit is the most entries a page holds. Default 100, at most 1,000.
	Limit int
}

// LogPage is one page of the provisioning log.
type LogPage struct {
	Entries []LogEntry
	// Next is the LogQuery.After of the next page, empty after the last.
	Next string
}

// ErrLogCursor reports a LogQuery.After that no LogPage.Next gave.
var ErrLogCursor = errors.New("dirsync: Log: bad cursor")

const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
	maxLogError     = 2000
)

// logSegment is how many entries one store key of a run's log holds.
var logSegment = 500

// logBucketSegments is how many segments' worth of entries one bucket of
// a run's account index covers.
const logBucketSegments = 4

// How the log is stored, under "integration/<source>/log/":
//
//   - "runs": the index, a small JSON list of logRun, oldest run first;
//   - "run/<id>/<n>": the n-th segment of a run's entries, logSegment
//     entries in plan order (the last one may be shorter);
//   - "run/<id>/idx/<b>": for a run of more than one segment, bucket b of
//     its account index, mapping "x:<external ID>" and "e:<normalized
//     email>" to the entries' Seq, one bucket per four segments; an
//     account's bucket is the FNV-1a hash of its key modulo the run's
//     bucket count.
//
// History never reads any of these, so a large run's log costs its
// queries, not every History call.

// logRun is a run in the log's index.
type logRun struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	// Entries counts the entries written; Segments the segments. Until
	// the run is closed they count its first segment only, and more may
	// follow.
	Entries  int `json:"entries"`
	Segments int `json:"segments"`
	// First is the first segment still kept (retention drops from the
	// front).
	First int `json:"first,omitempty"`
	// Buckets is the size of the account index; 0 while the run is being
	// written or when it has one segment: its segments are scanned.
	Buckets int `json:"buckets,omitempty"`
	// Closed is set when the run's apply ended and its log was complete.
	Closed bool `json:"closed,omitempty"`
}

func (r *logRun) kept() int { return max(0, r.Entries-r.First*logSegment) }

// newRunID names a run: its start time, sortable, and a random suffix.
func newRunID(started time.Time) string {
	return started.UTC().Format("20060102T150405.000000Z") + "-" + strconv.FormatUint(rand.Uint64()&0xffffffff|1<<32, 16)[1:]
}

func (s *Syncer) logKey(parts ...string) string { return s.key("log/" + strings.Join(parts, "/")) }

// logWriter writes one run's log while Apply goes on: the entries in plan
// order, a segment at a time as soon as every change of it has its
// outcome. Its methods are safe for concurrent use; a nil *logWriter logs
// nothing.
type logWriter struct {
	s   *Syncer
	run logRun

	mu      sync.Mutex  // the fields below
	done    []bool      // done[i]: change i has its outcome
	times   []time.Time // when it had it
	mark    int         // changes [0, mark) are done and taken into pending
	seq     int         // the Seq of the next entry
	pending []LogEntry  // the entries after the last segment written
	flushMu sync.Mutex  // segments go to the store one at a time, in order
	index   map[string][]int
	err     error
}

// newLogWriter returns the writer of a run of n changes, or nil when the
// log is off.
func (s *Syncer) newLogWriter(id string, started time.Time, n int) *logWriter {
	if s.logOpts.Disabled || n == 0 {
		return nil
	}
	return &logWriter{s: s, run: logRun{ID: id, Started: started}, done: make([]bool, n),
		times: make([]time.Time, n), index: map[string][]int{}}
}

// finished notes that results[i] (in plan order) has its outcome, and
// writes each segment the changes finished so far complete. The caller
// set results[i]; results[j] for another j is read only once finished(j)
// was called.
func (w *logWriter) finished(ctx context.Context, results []Result, i int) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.done[i], w.times[i] = true, w.s.now()
	for w.mark < len(w.done) && w.done[w.mark] {
		if r := &results[w.mark]; r.Status != StatusNotAttempted {
			w.pending = append(w.pending, w.entry(r, w.times[w.mark]))
		}
		w.mark++
	}
	if len(w.pending) < logSegment {
		w.mu.Unlock()
		return
	}
	full := len(w.pending) / logSegment * logSegment
	segs := w.pending[:full:full]
	w.pending = slices.Clone(w.pending[full:])
	w.flushMu.Lock() // before unlocking mu: segments are written in order
	w.mu.Unlock()
	defer w.flushMu.Unlock()
	for len(segs) > 0 {
		w.write(ctx, segs[:logSegment], false)
		segs = segs[logSegment:]
	}
}

// entry makes the log entry of a result, numbering it.
func (w *logWriter) entry(r *Result, at time.Time) LogEntry {
	c := &r.Change
	e := LogEntry{Seq: w.seq, Time: at, Key: c.Key, Name: c.Label(), Op: c.Op,
		Reasons: c.Reasons, Fields: c.Fields, Status: r.Status}
	if a := c.Account(); a != nil {
		e.ExternalID, e.Email = a.ExternalID, a.Email
	}
	if r.Status == StatusSkipped {
		why := r.Reason
		e.Skip = &why
	}
	if r.Err != nil {
		e.Error = cleanLogError(r.Err.Error())
	}
	w.seq++
	for _, k := range logKeys(&e) {
		w.index[k] = append(w.index[k], e.Seq)
	}
	return e
}

// cleanLogError is an error as a Report shows it, cut to maxLogError bytes.
func cleanLogError(s string) string {
	s = clean(s)
	if len(s) > maxLogError {
		cut := maxLogError
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// logKeys are the keys an entry is found by in the account index.
func logKeys(e *LogEntry) []string {
	var keys []string
	if e.ExternalID != "" {
		keys = append(keys, "x:"+e.ExternalID)
	}
	if m := diff.NormalizeEmail(e.Email); m != "" {
		keys = append(keys, "e:"+m)
	}
	for _, f := range e.Fields {
		if f.Name == diff.FieldEmail {
			if m := diff.NormalizeEmail(f.Old); m != "" && !slices.Contains(keys, "e:"+m) {
				keys = append(keys, "e:"+m)
			}
		}
	}
	return keys
}

// write stores a segment and notes it in the index; with close, it also
// writes the account index and marks the run closed. Called under flushMu.
func (w *logWriter) write(ctx context.Context, seg []LogEntry, close bool) {
	ctx = context.WithoutCancel(ctx)
	if w.err != nil {
		return
	}
	if len(seg) > 0 {
		if err := putJSON(ctx, w.s.store, w.s.logKey("run", w.run.ID, strconv.Itoa(w.run.Segments)), seg); err != nil {
			w.err = err
			return
		}
		w.run.Segments++
		w.run.Entries += len(seg)
	}
	if close && w.run.Segments > 1 {
		w.run.Buckets = (w.run.Segments + logBucketSegments - 1) / logBucketSegments
		buckets := make([]map[string][]int, w.run.Buckets)
		for k, seqs := range w.index {
			b := logBucket(k, w.run.Buckets)
			if buckets[b] == nil {
				buckets[b] = map[string][]int{}
			}
			buckets[b][k] = seqs
		}
		for b, m := range buckets {
			if m == nil {
				continue
			}
			if err := putJSON(ctx, w.s.store, w.s.logKey("run", w.run.ID, "idx", strconv.Itoa(b)), m); err != nil {
				w.err = err
				return
			}
		}
	}
	w.run.Closed = close
	if !close && w.run.Segments != 1 || w.run.Entries == 0 {
		// The index names a run from its first segment on, and has its
		// size once it is closed: readers look for the segments of a run
		// not closed beyond those the index counts. A run that logged
		// nothing (every change not attempted) is not listed.
		return
	}
	run := w.run
	w.err = updateJSON(ctx, w.s.store, w.s.logKey("runs"), func(runs *[]logRun) error {
		for i := range *runs {
			if (*runs)[i].ID == run.ID {
				first := (*runs)[i].First // retention may have dropped some already
				(*runs)[i] = run
				(*runs)[i].First = first
				return nil
			}
		}
		*runs = append(*runs, run)
		return nil
	})
}

// close writes what is left of the run's log and its account index, then
// drops what the retention no longer keeps (pruneLog). It returns the
// first error of the run's log writes.
//
// On a nil writer (the log is off, or nothing was applied) it only drops
// what the retention no longer keeps, so a quiet integration's log ages
// too.
func (w *logWriter) close(ctx context.Context, s *Syncer) error {
	if w == nil {
		s.pruneLog(ctx)
		return nil
	}
	w.mu.Lock()
	seg := w.pending
	w.pending = nil
	w.flushMu.Lock()
	w.mu.Unlock()
	defer w.flushMu.Unlock()
	for len(seg) > logSegment {
		w.write(ctx, seg[:logSegment], false)
		seg = seg[logSegment:]
	}
	w.write(ctx, seg, true)
	if w.err != nil {
		return w.err
	}
	s.pruneLog(ctx)
	return nil
}

// putJSON stores v as JSON at key.
func putJSON(ctx context.Context, st Store, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.Put(ctx, key, b)
}

func logBucket(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// pruneLog drops the runs older than MaxAge and the oldest segments past
// MaxEntries, from the index first and then from the store. The log is an
// audit aid: a failure is logged, and fails no run.
func (s *Syncer) pruneLog(ctx context.Context) {
	if err := s.dropExpired(context.WithoutCancel(ctx)); err != nil {
		s.log.WarnContext(ctx, "provisioning log: retention", "err", err)
	}
}

// dropExpired is pruneLog's work.
func (s *Syncer) dropExpired(ctx context.Context) error {
	maxAge, maxEntries := s.logOpts.MaxAge, s.logOpts.MaxEntries
	if _, err := s.store.Get(ctx, s.logKey("runs")); errors.Is(err, ErrNotFound) {
		return nil // no log: nothing to drop, and nothing to write
	}
	var drop []string
	var unclosed []logRun // dropped runs whose later segments the index does not count
	err := updateJSON(ctx, s.store, s.logKey("runs"), func(runs *[]logRun) error {
		drop, unclosed = drop[:0], unclosed[:0]
		dropRun := func(r *logRun, upTo int) {
			if upTo >= r.Segments && !r.Closed {
				unclosed = append(unclosed, *r)
			}
			for n := r.First; n < upTo; n++ {
				drop = append(drop, s.logKey("run", r.ID, strconv.Itoa(n)))
			}
			if upTo >= r.Segments {
				for b := range r.Buckets {
					drop = append(drop, s.logKey("run", r.ID, "idx", strconv.Itoa(b)))
				}
			}
			r.First = upTo
		}
		kept := (*runs)[:0]
		cutoff := s.now().Add(-maxAge)
		total := 0
		for i := range *runs {
			r := (*runs)[i]
			if maxAge > 0 && r.Started.Before(cutoff) {
				dropRun(&r, r.Segments)
				continue
			}
			kept = append(kept, r)
			total += r.kept()
		}
		for maxEntries >= 0 && total > maxEntries && len(kept) > 0 {
			r := &kept[0]
			total -= r.kept()
			dropRun(r, r.First+1)
			if r.First >= r.Segments {
				kept = kept[1:]
				continue
			}
			total += r.kept()
		}
		*runs = kept
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range drop {
		if err := s.store.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range unclosed {
		for n := r.Segments; ; n++ {
			k := s.logKey("run", r.ID, strconv.Itoa(n))
			if _, err := s.store.Get(ctx, k); err != nil {
				if !errors.Is(err, ErrNotFound) {
					errs = append(errs, err)
				}
				break
			}
			if err := s.store.Delete(ctx, k); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Log returns a page of the provisioning log: the entries the query
// selects, the newest run first and each run's entries in plan order (the
// order Seq counts). Pass the page's Next as the next query's After, with
// the query otherwise unchanged, for the page after; the order is stable
// while runs are added, and entries that retention drops meanwhile are
// not returned.
//
// A query by Account reads, per run, one bucket of the run's account index
// and the segments holding that account's entries; a query by Run reads
// only that run's segments; any other reads segments from the newest run
// on until its page is full, so a rare Status or Search over a long log
// reads much of it. History never reads the log.
func (s *Syncer) Log(ctx context.Context, q LogQuery) (LogPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLogLimit
	}
	limit = min(limit, maxLogLimit)
	var after struct {
		run string
		seq int
	}
	if q.After != "" {
		id, seq, ok := strings.Cut(q.After, "~")
		n, err := strconv.Atoi(seq)
		if !ok || err != nil || id == "" || n < 0 {
			return LogPage{}, fmt.Errorf("%w %q", ErrLogCursor, q.After)
		}
		after.run, after.seq = id, n
	}
	var runs []logRun
	if err := s.getJSON(ctx, s.logKey("runs"), &runs); err != nil && !errors.Is(err, ErrNotFound) {
		return LogPage{}, err
	}
	slices.Reverse(runs)
	start := 0
	if after.run != "" {
		i := slices.IndexFunc(runs, func(r logRun) bool { return r.ID == after.run })
		if i < 0 {
			return LogPage{}, nil // dropped by retention since, with every older run
		}
		start = i
	}
	var page LogPage
	for i := start; i < len(runs) && len(page.Entries) <= limit; i++ {
		r := &runs[i]
		if q.Run != "" && r.ID != q.Run {
			continue
		}
		from := 0
		if after.run == r.ID {
			from = after.seq + 1
		}
		err := s.scanRun(ctx, r, &q, from, func(e LogEntry) bool {
			page.Entries = append(page.Entries, e)
			return len(page.Entries) <= limit
		})
		if err != nil {
			return LogPage{}, err
		}
	}
	if len(page.Entries) > limit {
		page.Entries = page.Entries[:limit]
		last := page.Entries[limit-1]
		page.Next = last.Run + "~" + strconv.Itoa(last.Seq)
	}
	return page, nil
}

// scanRun calls yield with the entries of r from Seq from on that q
// selects, in order, until yield returns false.
func (s *Syncer) scanRun(ctx context.Context, r *logRun, q *LogQuery, from int, yield func(LogEntry) bool) error {
	from = max(from, r.First*logSegment)
	segs := make([]int, 0, r.Segments)
	for n := from / logSegment; n < r.Segments; n++ {
		segs = append(segs, n)
	}
	var want map[int]bool // the Seqs the account index gives, if it is used
	if q.Account != "" && r.Buckets > 0 {
		want = map[int]bool{}
		segs = segs[:0]
		for _, k := range accountKeys(q.Account) {
			var idx map[string][]int
			err := s.getJSON(ctx, s.logKey("run", r.ID, "idx", strconv.Itoa(logBucket(k, r.Buckets))), &idx)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			for _, seq := range idx[k] {
				if seq >= from {
					want[seq] = true
					segs = append(segs, seq/logSegment)
				}
			}
		}
		slices.Sort(segs)
		segs = slices.Compact(segs)
	}
	// scan yields the selected entries of segment n; found is false when
	// the segment is not in the store.
	scan := func(n int) (found, more bool, err error) {
		var entries []LogEntry
		if err := s.getJSON(ctx, s.logKey("run", r.ID, strconv.Itoa(n)), &entries); err != nil {
			if errors.Is(err, ErrNotFound) {
				return false, true, nil
			}
			return false, false, err
		}
		for _, e := range entries {
			if e.Seq < from || want != nil && !want[e.Seq] || !q.selects(&e) {
				continue
			}
			e.Run = r.ID
			if !yield(e) {
				return true, false, nil
			}
		}
		return true, true, nil
	}
	for _, n := range segs {
		// A segment not found was dropped by retention meanwhile.
		if _, more, err := scan(n); err != nil || !more {
			return err
		}
	}
	if r.Closed || want != nil {
		return nil
	}
	// A run still being written, or whose process died while writing it:
	// its segments after those the index counts.
	for n := max(r.Segments, from/logSegment); ; n++ {
		found, more, err := scan(n)
		if err != nil || !found || !more {
			return err
		}
	}
}

// accountKeys are the index keys an account query looks up.
func accountKeys(account string) []string {
	keys := []string{"x:" + account}
	if m := diff.NormalizeEmail(account); m != "" {
		keys = append(keys, "e:"+m)
	}
	return keys
}

// selects reports whether q selects e (its Run aside).
func (q *LogQuery) selects(e *LogEntry) bool {
	if q.Op != 0 && e.Op != q.Op || q.Status != "" && e.Status != q.Status {
		return false
	}
	if q.Search != nil && !q.Search.MatchString(e.Name) && !q.Search.MatchString(e.Email) &&
		!q.Search.MatchString(e.ExternalID) && !q.Search.MatchString(e.Key) {
		return false
	}
	if q.Account == "" {
		return true
	}
	keys := logKeys(e)
	for _, k := range accountKeys(q.Account) {
		if slices.Contains(keys, k) {
			return true
		}
	}
	return false
}
