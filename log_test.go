package dirsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// testConcurrency is the ApplyConcurrency newSyncer gives.
func testConcurrency() int {
	n, _ := strconv.Atoi(os.Getenv("DIRSYNC_TEST_APPLY_CONCURRENCY"))
	return n
}

// want is what the log must say of one change: the entry as the oracle
// builds it from the Report, and the account's emails before and after.
type want struct {
	entry  dirsync.LogEntry
	emails []string
}

// wantFromReport is the oracle: every result of the report but those not
// attempted, in plan order, numbered from 0.
func wantFromReport(run string, r *dirsync.Report) []want {
	var out []want
	for _, res := range r.Results {
		if res.Status == dirsync.StatusNotAttempted {
			continue
		}
		c := res.Change
		e := dirsync.LogEntry{Run: run, Seq: len(out), Key: c.Key, Name: c.Label(), Op: c.Op, Status: res.Status,
			Reasons: c.Reasons, Fields: c.Fields}
		var emails []string
		for _, a := range []*diff.Account{c.Before, c.After} {
			if a != nil && a.Email != "" {
				emails = append(emails, diff.NormalizeEmail(a.Email))
			}
		}
		if a := c.Account(); a != nil {
			e.ExternalID, e.Email = a.ExternalID, a.Email
		}
		if res.Status == dirsync.StatusSkipped {
			why := res.Reason
			e.Skip = &why
		}
		if res.Err != nil {
			e.Error = res.Err.Error()
		}
		out = append(out, want{entry: e, emails: emails})
	}
	return out
}

// readAll pages through the query with the limit, checking each page.
func readAll(t require.TestingT, sy *dirsync.Syncer, q dirsync.LogQuery, limit int) []dirsync.LogEntry {
	q.Limit = limit
	var all []dirsync.LogEntry
	for range 100_000 {
		page, err := sy.Log(context.Background(), q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Entries), limit)
		all = append(all, page.Entries...)
		if page.Next == "" {
			return all
		}
		require.Len(t, page.Entries, limit, "a page before the last is full")
		q.After = page.Next
	}
	require.FailNow(t, "paging does not end")
	return nil
}

// comparable strips what the oracle cannot know (the time).
func comparable(es []dirsync.LogEntry) []dirsync.LogEntry {
	out := make([]dirsync.LogEntry, len(es))
	for i, e := range es {
		e.Time = time.Time{}
		if len(e.Fields) == 0 {
			e.Fields = nil
		}
		if len(e.Reasons) == 0 {
			e.Reasons = nil
		}
		out[i] = e
	}
	return out
}

func entries(ws []want, keep func(want) bool) []dirsync.LogEntry {
	out := []dirsync.LogEntry{}
	for _, w := range ws {
		if keep == nil || keep(w) {
			out = append(out, w.entry)
		}
	}
	return out
}

// logScenario runs a few syncs over st with creates, updates, email
// changes, blocks, sink failures and exceptions added between plan and
// apply, then checks every query through Syncer.Log against the reports,
// paged with random limits. draw picks a number in [lo, hi].
func logScenario(t require.TestingT, st dirsync.Store, draw func(name string, lo, hi int) int) {
	ctx := context.Background()
	defer dirsync.SetLogSegment(draw("segment", 1, 6))()
	n := draw("users", 1, 20)
	dir := fake.New()
	for i := range n {
		require.NoError(t, dir.Add(user(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%02d", i), "Users")))
	}
	sink := dirsynctest.NewMemorySink()
	pol, err := policy.New(policy.Config{Safety: policy.Safety{Disabled: true}})
	require.NoError(t, err)
	sy, err := dirsync.New(dir, sink, &dirsync.Options{Source: "ad", Store: st, Policy: pol, Clock: fixedClock(clock),
		ApplyConcurrency: testConcurrency(), Log: dirsync.LogOptions{MaxEntries: -1}})
	require.NoError(t, err)
	var runs [][]want // oldest first
	for run := range draw("runs", 1, 4) {
		if run > 0 {
			for i := range n {
				id := fmt.Sprintf("u%02d", i)
				switch draw(fmt.Sprintf("r%d-u%d", run, i), 0, 5) {
				case 1:
					require.NoError(t, dir.Disable(id))
				case 2:
					require.NoError(t, dir.Enable(id))
				case 3:
					require.NoError(t, dir.Set(id, "title", fmt.Sprintf("Title %d", run)))
				case 4:
					require.NoError(t, dir.Set(id, "mail", fmt.Sprintf("user%02d.r%d@Example.test", i, run)))
				}
			}
		}
		p, err := sy.Plan(ctx)
		if errors.Is(err, dirsync.ErrSafetyLimit) {
			p.Approve() // every account blocked: fine here
			err = nil
		}
		require.NoError(t, err)
		failing := map[string]bool{}
		for i, c := range p.Changes {
			if !c.Op.Actionable() {
				continue
			}
			switch draw(fmt.Sprintf("r%d-c%d", run, i), 0, 5) {
			case 1:
				failing[c.Key] = true
			case 2:
				if a := c.Account(); a != nil && a.ExternalID != "" {
					require.NoError(t, sy.AddException(ctx, policy.Exception{ID: a.ExternalID}))
				}
			}
		}
		sink.Fail = func(c diff.Change) error {
			if failing[c.Key] {
				return fmt.Errorf("app refused %s", c.Key)
			}
			return nil
		}
		r, _ := sy.Apply(ctx, p)
		require.NotNil(t, r)
		hist, err := sy.History(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, hist[0].ID)
		runs = append(runs, wantFromReport(hist[0].ID, r))
		// The exceptions go again, so the next plan changes them.
		xs, err := sy.Exceptions(ctx)
		require.NoError(t, err)
		for _, x := range xs {
			require.NoError(t, sy.RemoveException(ctx, x))
		}
	}
	var newestFirst []want
	for i := len(runs) - 1; i >= 0; i-- {
		newestFirst = append(newestFirst, runs[i]...)
	}
	limit := draw("limit", 1, 7)
	// By run.
	for _, ws := range runs {
		if len(ws) == 0 {
			continue
		}
		got := readAll(t, sy, dirsync.LogQuery{Run: ws[0].entry.Run}, limit)
		require.Equal(t, entries(ws, nil), comparable(got))
	}
	// Everything, newest run first.
	require.Equal(t, entries(newestFirst, nil), comparable(readAll(t, sy, dirsync.LogQuery{}, limit)))
	// By account: external ID, and email in another case.
	for i := range n {
		id := fmt.Sprintf("u%02d", i)
		got := readAll(t, sy, dirsync.LogQuery{Account: id}, limit)
		require.Equal(t, entries(newestFirst, func(w want) bool { return w.entry.ExternalID == id }), comparable(got), id)
		mail := fmt.Sprintf("USER%02d@example.test", i)
		got = readAll(t, sy, dirsync.LogQuery{Account: mail}, limit)
		require.Equal(t, entries(newestFirst, func(w want) bool {
			for _, m := range w.emails {
				if m == diff.NormalizeEmail(mail) {
					return true
				}
			}
			return false
		}), comparable(got), mail)
	}
	// By status and op, alone and with an account.
	for _, s := range []dirsync.Status{dirsync.StatusApplied, dirsync.StatusFailed, dirsync.StatusSkipped} {
		got := readAll(t, sy, dirsync.LogQuery{Status: s}, limit)
		require.Equal(t, entries(newestFirst, func(w want) bool { return w.entry.Status == s }), comparable(got), s)
	}
	for _, op := range []dirsync.Op{dirsync.OpCreate, dirsync.OpUpdate, dirsync.OpBlock, dirsync.OpUnblock} {
		got := readAll(t, sy, dirsync.LogQuery{Op: op, Account: "u00"}, limit)
		require.Equal(t, entries(newestFirst, func(w want) bool { return w.entry.Op == op && w.entry.ExternalID == "u00" }),
			comparable(got), op)
	}
	// By search within a run, as a console's search box.
	re := regexp.MustCompile(`(?i)USER0[0-4]`)
	for _, ws := range runs {
		if len(ws) == 0 {
			continue
		}
		got := readAll(t, sy, dirsync.LogQuery{Run: ws[0].entry.Run, Search: re}, limit)
		require.Equal(t, entries(ws, func(w want) bool {
			e := w.entry
			return re.MatchString(e.Name) || re.MatchString(e.Email) || re.MatchString(e.ExternalID) || re.MatchString(e.Key)
		}), comparable(got))
	}
	page, err := sy.Log(ctx, dirsync.LogQuery{Run: "no-such-run"})
	require.NoError(t, err)
	assert.Empty(t, page.Entries)
	_, err = sy.Log(ctx, dirsync.LogQuery{After: "garbage"})
	require.ErrorIs(t, err, dirsync.ErrLogCursor)
}

func TestLogQueriesProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		logScenario(rt, store.NewMemory(), func(name string, lo, hi int) int {
			return rapid.IntRange(lo, hi).Draw(rt, name)
		})
	})
}

// seeded runs logScenario on st with numbers from a seeded source.
func seeded(t *testing.T, seed uint64, st dirsync.Store) {
	r := rand.New(rand.NewPCG(seed, seed))
	logScenario(t, st, func(_ string, lo, hi int) int { return lo + r.IntN(hi-lo+1) })
}

func TestLogQueriesFileStore(t *testing.T) {
	for seed := range uint64(6) {
		st, err := filestore.Open(filepath.Join(t.TempDir(), "store.json"))
		require.NoError(t, err)
		seeded(t, seed, st)
	}
}

func TestLogQueriesPostgres(t *testing.T) {
	pool := pgtest.Pool(t, 4)
	for seed := range uint64(6) {
		st, err := pgstore.New(pool, &pgstore.Options{Schema: pgtest.Schema(t, pool)})
		require.NoError(t, err)
		require.NoError(t, st.Migrate(context.Background()))
		seeded(t, seed, st)
	}
}

// logSeqs lists the (run, seq) pairs of a query, all pages.
func logSeqs(t *testing.T, sy *dirsync.Syncer, q dirsync.LogQuery) []string {
	var out []string
	for _, e := range readAll(t, sy, q, 1000) {
		out = append(out, fmt.Sprintf("%s/%d", e.Run, e.Seq))
	}
	return out
}

func runIDs(t *testing.T, sy *dirsync.Syncer) []string {
	hist, err := sy.History(context.Background())
	require.NoError(t, err)
	var ids []string
	for _, r := range hist {
		ids = append(ids, r.ID)
	}
	return ids // newest first
}

func TestLogRetentionByAge(t *testing.T) {
	ctx := context.Background()
	defer dirsync.SetLogSegment(2)()
	now := clock
	st := store.NewMemory()
	dir := fake.New(user("1", "alice", "Users"), user("2", "bob", "Users"), user("3", "carol", "Users"))
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Store: st,
		Clock: clockFunc(func() time.Time { return now }), Log: dirsync.LogOptions{MaxAge: 30 * 24 * time.Hour}})
	syncOnce(t, sy) // three creates, at day 0
	now = now.Add(20 * 24 * time.Hour)
	require.NoError(t, dir.Set("1", "title", "Boss"))
	syncOnce(t, sy) // one update, at day 20
	ids := runIDs(t, sy)
	first, second := ids[1], ids[0]
	assert.Equal(t, []string{second + "/0", first + "/0", first + "/1", first + "/2"}, logSeqs(t, sy, dirsync.LogQuery{}))

	now = now.Add(11 * 24 * time.Hour) // day 31: the first run is past 30 days
	require.NoError(t, dir.Disable("2"))
	syncOnce(t, sy)
	third := runIDs(t, sy)[0]
	assert.Equal(t, []string{third + "/0", second + "/0"}, logSeqs(t, sy, dirsync.LogQuery{}))
	assert.Empty(t, logSeqs(t, sy, dirsync.LogQuery{Run: first}))
	assert.Empty(t, logSeqs(t, sy, dirsync.LogQuery{Account: "alice@example.test", Run: first}))
	// Its keys are gone from the store, not only from the index.
	for _, seg := range []string{"0", "1"} {
		_, err := st.Get(ctx, "integration/ad/log/run/"+first+"/"+seg)
		require.ErrorIs(t, err, store.ErrNotFound, seg)
	}
	// History is not the log's: it keeps every run.
	assert.Len(t, runIDs(t, sy), 3)
}

func TestLogRetentionByCount(t *testing.T) {
	ctx := context.Background()
	defer dirsync.SetLogSegment(4)()
	st := store.NewMemory()
	dir := fake.New()
	for i := range 9 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%d", i), fmt.Sprintf("user%d", i), "Users")))
	}
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Store: st,
		Log: dirsync.LogOptions{MaxEntries: 10}})
	syncOnce(t, sy) // nine creates: segments of 4, 4 and 1
	first := runIDs(t, sy)[0]
	require.Len(t, logSeqs(t, sy, dirsync.LogQuery{}), 9)
	// The account index of a run of several segments finds its entries.
	assert.Equal(t, []string{first + "/7"}, logSeqs(t, sy, dirsync.LogQuery{Account: "user7@EXAMPLE.test"}))
	for i := range 6 {
		require.NoError(t, dir.Set(fmt.Sprintf("%d", i), "title", "New"))
	}
	syncOnce(t, sy) // six updates: 15 entries, two segments of the first run go
	second := runIDs(t, sy)[0]
	want := []string{}
	for i := range 6 {
		want = append(want, fmt.Sprintf("%s/%d", second, i))
	}
	want = append(want, first+"/8")
	assert.Equal(t, want, logSeqs(t, sy, dirsync.LogQuery{}))
	assert.Empty(t, logSeqs(t, sy, dirsync.LogQuery{Account: "user7@example.test", Run: first}))
	assert.Equal(t, []string{first + "/8"}, logSeqs(t, sy, dirsync.LogQuery{Account: "8", Run: first}))
	for _, seg := range []string{"0", "1"} {
		_, err := st.Get(ctx, "integration/ad/log/run/"+first+"/"+seg)
		require.ErrorIs(t, err, store.ErrNotFound, seg)
	}
	// A single run larger than MaxEntries keeps its newest segments.
	for i := range 9 {
		require.NoError(t, dir.Set(fmt.Sprintf("%d", i), "title", "Newer"))
	}
	for i := 9; i < 20; i++ {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%d", i), fmt.Sprintf("user%d", i), "Users")))
	}
	syncOnce(t, sy) // 11 creates and 9 updates: 20 entries in 5 segments
	third := runIDs(t, sy)[0]
	got := logSeqs(t, sy, dirsync.LogQuery{})
	require.Len(t, got, 8)
	assert.Equal(t, third+"/12", got[0])
	assert.Equal(t, third+"/19", got[7])
}

func TestLogConcurrentApplyInPlanOrderOnce(t *testing.T) {
	defer dirsync.SetLogSegment(7)()
	dir := fake.New()
	for i := range 300 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%03d", i), fmt.Sprintf("user%03d", i), "Users")))
	}
	sink := dirsynctest.NewMemorySink()
	sink.Fail = func(c diff.Change) error {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		if strings.HasSuffix(c.Key, "7") {
			return errors.New("no")
		}
		return nil
	}
	sy := newSyncer(t, dir, sink, &dirsync.Options{ApplyConcurrency: 8})
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	r, err := sy.Apply(context.Background(), p)
	require.Error(t, err)
	got := readAll(t, sy, dirsync.LogQuery{}, 1000)
	require.Len(t, got, 300)
	for i, e := range got {
		assert.Equal(t, i, e.Seq)
		assert.Equal(t, r.Results[i].Change.Key, e.Key)
		assert.Equal(t, r.Results[i].Status, e.Status)
	}
}

// stallSink holds its n-th call until released.
type stallSink struct {
	*dirsynctest.MemorySink
	mu      sync.Mutex
	calls   int
	n       int
	reached chan struct{}
	release chan struct{}
}

func (s *stallSink) Apply(ctx context.Context, c diff.Change) error {
	s.mu.Lock()
	s.calls++
	stall := s.calls == s.n
	s.mu.Unlock()
	if stall {
		close(s.reached)
		<-s.release
	}
	return s.MemorySink.Apply(ctx, c)
}

// The log of an apply is written segment by segment while it goes on: a
// crash loses at most the changes after the last whole segment.
func TestLogWrittenPerSegmentDuringApply(t *testing.T) {
	defer dirsync.SetLogSegment(5)()
	st := store.NewMemory()
	dir := fake.New()
	for i := range 20 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%02d", i), fmt.Sprintf("user%02d", i), "Users")))
	}
	sink := &stallSink{MemorySink: dirsynctest.NewMemorySink(), n: 13, reached: make(chan struct{}), release: make(chan struct{})}
	sy := newSyncer(t, dir, sink, &dirsync.Options{Store: st, ApplyConcurrency: 1})
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := sy.Apply(context.Background(), p)
		assert.NoError(t, err)
	}()
	<-sink.reached
	// Another process reading the same store mid-apply sees the first
	// two segments: twelve changes finished, ten of them logged.
	reader := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Store: st})
	mid := readAll(t, reader, dirsync.LogQuery{}, 1000)
	require.Len(t, mid, 10)
	for i, e := range mid {
		assert.Equal(t, i, e.Seq)
	}
	close(sink.release)
	<-done
	assert.Len(t, readAll(t, reader, dirsync.LogQuery{}, 1000), 20)
}

// A sink's error is logged as a Report shows it: control characters
// blanked, so that an error cannot forge lines or colour a terminal.
func TestLogCleansSinkErrors(t *testing.T) {
	dir := fake.New(user("1", "alice", "Users"))
	sink := dirsynctest.NewMemorySink()
	raw := "denied\x1b[2J\r\nAuthorization: Bearer eyJhbGciOi\u2028forged line\x00"
	sink.Fail = func(diff.Change) error { return errors.New(raw) }
	sy := newSyncer(t, dir, sink, nil)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err)
	r, err := sy.Apply(context.Background(), p)
	require.Error(t, err)
	got := readAll(t, sy, dirsync.LogQuery{Status: dirsync.StatusFailed}, 10)
	require.Len(t, got, 1)
	assert.Equal(t, "denied [2J  Authorization: Bearer eyJhbGciOi forged line ", got[0].Error)
	var buf bytes.Buffer
	require.NoError(t, r.WriteText(&buf))
	assert.Contains(t, buf.String(), got[0].Error, "the report shows the same text")
	for _, c := range got[0].Error {
		assert.False(t, c < 0x20 || c == 0x7f || c == '\u2028', "control character %q", c)
	}

	// A huge error is cut.
	sink.Fail = func(diff.Change) error { return errors.New(strings.Repeat("é", 5000)) }
	p, err = sy.Plan(context.Background())
	require.NoError(t, err)
	_, err = sy.Apply(context.Background(), p)
	require.Error(t, err)
	got = readAll(t, sy, dirsync.LogQuery{Run: runIDs(t, sy)[0]}, 10)
	require.Len(t, got, 1)
	assert.LessOrEqual(t, len(got[0].Error), 2000+len("…"))
	assert.True(t, strings.HasSuffix(got[0].Error, "é…"))
}

func TestLogDisabled(t *testing.T) {
	st := store.NewMemory()
	dir := fake.New(user("1", "alice", "Users"))
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Store: st, Log: dirsync.LogOptions{Disabled: true}})
	syncOnce(t, sy)
	assert.Empty(t, readAll(t, sy, dirsync.LogQuery{}, 10))
	_, err := st.Get(context.Background(), "integration/ad/log/runs")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Len(t, runIDs(t, sy), 1, "History still records the run")
}

// A Run's record and the log name the run alike, and a run that applied
// nothing has an ID too.
func TestLogRunIDInRunRecord(t *testing.T) {
	dir := fake.New(user("1", "alice", "Users"))
	sy := newSyncer(t, dir, dirsynctest.NewMemorySink(), nil)
	rec, err := sy.RunOnce(context.Background(), dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.NoError(t, err)
	require.NotEmpty(t, rec.ID)
	got := readAll(t, sy, dirsync.LogQuery{Run: rec.ID}, 10)
	require.Len(t, got, 1)
	assert.Equal(t, "alice@example.test", got[0].Email)
	assert.Equal(t, dirsync.OpCreate, got[0].Op)
	assert.Equal(t, diff.ReasonNew, got[0].Reasons[0].Code)
	assert.Equal(t, clock, got[0].Time)
	again, err := sy.RunOnce(context.Background(), dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeNoChanges, again.Outcome)
	assert.NotEmpty(t, again.ID)
	assert.NotEqual(t, rec.ID, again.ID)
	assert.Equal(t, runIDs(t, sy), []string{again.ID, rec.ID})
}

// A cancelled apply logs the changes it carried out, and not those it
// did not attempt: the next run plans them again, and logs them then.
func TestLogCancelledApply(t *testing.T) {
	defer dirsync.SetLogSegment(2)()
	dir := fake.New()
	for i := range 6 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%d", i), fmt.Sprintf("user%d", i), "Users")))
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := dirsynctest.NewMemorySink()
	calls := 0
	sink.Fail = func(diff.Change) error {
		if calls++; calls == 3 {
			cancel()
		}
		return nil
	}
	sy := newSyncer(t, dir, sink, &dirsync.Options{ApplyConcurrency: 1})
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	r, err := sy.Apply(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, r.Count(dirsync.StatusApplied))
	first := runIDs(t, sy)[0]
	got := readAll(t, sy, dirsync.LogQuery{Run: first}, 10)
	require.Len(t, got, 3)
	for i, e := range got {
		assert.Equal(t, r.Results[i].Change.Key, e.Key)
		assert.Equal(t, dirsync.StatusApplied, e.Status)
	}
	syncOnce(t, sy)
	assert.Len(t, readAll(t, sy, dirsync.LogQuery{Run: runIDs(t, sy)[0]}, 10), p.Actionable()-3, "the rest, applied by the next run")
}

// dyingStore stops writing, as a process that died would, after its
// third segment of the log.
type dyingStore struct {
	*store.Memory
	segments atomic.Int32
}

func (s *dyingStore) dead() bool { return s.segments.Load() >= 3 }

func (s *dyingStore) Put(ctx context.Context, key string, v []byte) error {
	if s.dead() {
		return errors.New("process died")
	}
	if strings.Contains(key, "/log/run/") {
		s.segments.Add(1)
	}
	return s.Memory.Put(ctx, key, v)
}

func (s *dyingStore) Update(ctx context.Context, key string, f func([]byte, bool) ([]byte, error)) error {
	if s.dead() {
		return errors.New("process died")
	}
	return s.Memory.Update(ctx, key, f)
}

func (s *dyingStore) Delete(ctx context.Context, key string) error {
	if s.dead() {
		return errors.New("process died")
	}
	return s.Memory.Delete(ctx, key)
}

// A run whose process died mid-apply keeps the segments it wrote: they
// are found by run and by account, and retention removes them all.
func TestLogRunCutShort(t *testing.T) {
	ctx := context.Background()
	defer dirsync.SetLogSegment(2)()
	mem := store.NewMemory()
	dir := fake.New()
	for i := range 10 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%d", i), fmt.Sprintf("user%d", i), "Users")))
	}
	now := clock
	sink := dirsynctest.NewMemorySink()
	dying := newSyncer(t, dir, sink, &dirsync.Options{Store: &dyingStore{Memory: mem}, ApplyConcurrency: 1})
	p, err := dying.Plan(ctx)
	require.NoError(t, err)
	_, err = dying.Apply(ctx, p)
	require.Error(t, err)

	sy := newSyncer(t, dir, sink, &dirsync.Options{Store: mem, Clock: clockFunc(func() time.Time { return now })})
	got := readAll(t, sy, dirsync.LogQuery{}, 4)
	require.Len(t, got, 6, "three segments of two")
	run := got[0].Run
	for i, e := range got {
		assert.Equal(t, i, e.Seq)
		assert.Equal(t, run, e.Run)
	}
	byEmail := readAll(t, sy, dirsync.LogQuery{Account: got[5].Email}, 4)
	require.Len(t, byEmail, 1)
	assert.Equal(t, 5, byEmail[0].Seq)

	now = now.Add(31 * 24 * time.Hour)
	syncOnce(t, sy)
	for _, e := range readAll(t, sy, dirsync.LogQuery{}, 100) {
		assert.NotEqual(t, run, e.Run)
	}
	for n := range 3 {
		_, err := mem.Get(ctx, fmt.Sprintf("integration/ad/log/run/%s/%d", run, n))
		require.ErrorIs(t, err, store.ErrNotFound, n)
	}
}

// Two replicas (two Syncers on one Store) applying at once, with a
// retention pass after each: the run index is updated read-modify-write,
// so neither run's log is lost to the other's update.
func TestLogTwoReplicasApplyAtOnce(t *testing.T) {
	defer dirsync.SetLogSegment(3)()
	st := store.NewMemory()
	dir := fake.New()
	for i := range 12 {
		require.NoError(t, dir.Add(user(fmt.Sprintf("%02d", i), fmt.Sprintf("user%02d", i), "Users")))
	}
	var plans [2]*dirsync.Plan
	var sys [2]*dirsync.Syncer
	for i := range sys {
		sys[i] = newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Store: st})
		p, err := sys[i].Plan(context.Background())
		require.NoError(t, err)
		plans[i] = p
	}
	var wg sync.WaitGroup
	reports := make([]*dirsync.Report, 2)
	for i := range sys {
		wg.Go(func() {
			r, err := sys[i].Apply(context.Background(), plans[i])
			assert.NoError(t, err)
			reports[i] = r
		})
	}
	wg.Wait()
	ids := runIDs(t, sys[0])
	require.Len(t, ids, 2, "both applies are in History")
	for _, id := range ids {
		got := readAll(t, sys[1], dirsync.LogQuery{Run: id}, 1000)
		assert.Len(t, got, len(reports[0].Results), "run %s's log, read by a replica", id)
	}
	assert.Len(t, readAll(t, sys[0], dirsync.LogQuery{}, 1000), len(reports[0].Results)+len(reports[1].Results), "no run lost from the index")
}
