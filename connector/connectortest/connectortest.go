package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/connector"
)

// maxReports caps the findings of one kind (dangling references, missing
// IDs, …) so that a broken million-entry directory gives a readable error.
const maxReports = 10

// cancelGrace is how long a read may run on after its context is
// cancelled before Test reports it as hanging and moves on.
var cancelGrace = 10 * time.Second

// Test checks that c behaves as the connector.Connector contract and its
// optional capabilities say, and that the IDs in expectedIDs are among the
// entries it yields. It returns nil, or one error joining (errors.Join)
// every finding, each a sentence naming the entry or the step at fault.
// A finding about a duplicate ID wraps connector.ErrDuplicateID.
//
// Test reads the directory several times, so the directory should not
// change while it runs. It needs no *testing.T: a host can call it from a
// test or from a health check. The checks:
//
//   - A full read succeeds. Entry IDs are non-empty and unique; Kind is
//     user, group or orgunit; no entry is Deleted; Path has no empty
//     element; only groups have Members; every ID in MemberOf names a
//     yielded group and every ID in Members a yielded entry (dangling
//     references are listed). The expected IDs are present.
//   - Entries are copies: modifying a yielded entry does not change what
//     the next read yields.
//   - A second full read yields the same set of IDs (IDs are stable).
//   - Breaking out of a read after the first entry is safe (the connector
//     does not call yield again) and a full read afterwards still works.
//   - A read with an already-cancelled ctx, and a read whose ctx is
//     cancelled after its first entry, end with an error that satisfies
//     errors.Is(err, context.Canceled). A connector that returns nothing
//     and no error is at fault, unless the directory is empty (or, for the
//     second check, holds a single entry). A read must also end within
//     ten seconds of the cancellation (one that does not is reported and
//     left running). After an error, nothing more is yielded.
//   - If c implements connector.Incremental: ReadChanges(nil) yields the
//     same IDs as Read, none Deleted, and returns a non-empty cursor;
//     ReadChanges with that cursor, right away, does not yield every entry
//     again; an error returned by yield is returned by ReadChanges (which
//     stops calling yield); a cancelled ctx fails the read.
//   - If c implements connector.Checker, Check succeeds.
//   - If c implements connector.GroupSearcher, SearchGroups(ctx, "", 5)
//     succeeds and returns at most five entries, each a group the full
//     read yielded.
//   - If it also implements connector.GroupSearchMatcher, a query cut
//     from the longest group name the way only the declared kind of match
//     finds it (three letters from inside its longest word for
//     MatchSubstring, the start of its last word for MatchWordPrefix, its
//     first three letters for MatchPrefix) finds that group, and every
//     group found has a name (displayName, name, cn or sAMAccountName)
//     that the declared GroupMatch's Matches accepts. A directory whose
//     search index lags its reads (Graph's eventual consistency) can
//     fail this check for a group created moments ago.
func Test(ctx context.Context, c connector.Connector, expectedIDs ...string) error {
	if c == nil {
		return errors.New("connectortest: nil connector")
	}
	t := &tester{ctx: ctx, c: c}
	t.run(expectedIDs)
	return errors.Join(t.findings...)
}

type tester struct {
	ctx      context.Context
	c        connector.Connector
	findings []error
}

func (t *tester) errorf(format string, args ...any) {
	t.findings = append(t.findings, fmt.Errorf(format, args...))
}

// report adds one finding per item, at most maxReports, then a count of
// the rest.
func (t *tester) report(items []string, format string) {
	for i, it := range items {
		if i == maxReports {
			t.errorf("… and %d more like that", len(items)-maxReports)
			return
		}
		t.errorf(format, it)
	}
}

func (t *tester) run(expectedIDs []string) {
	first, err := t.readAll(t.ctx)
	if err != nil {
		t.errorf("full read failed: %w", err)
		return
	}
	ids := t.checkEntries("full read", first)
	t.checkReferences(first, ids)

	var missing []string
	for _, id := range expectedIDs {
		if _, ok := ids[id]; !ok {
			missing = append(missing, id)
		}
	}
	t.report(missing, "expected ID %q was not yielded by the full read")
	// The longest group name, taken before checkCopies modifies first[0].
	target, name := longestGroupName(first)

	t.checkCopies(first)
	t.checkSecondRead("second full read", ids)
	t.checkBreak(ids)
	t.checkCancelled(len(first))
	t.checkCancelMidRead(len(first))

	if inc, ok := t.c.(connector.Incremental); ok {
		t.checkIncremental(inc, ids)
	}
	if ch, ok := t.c.(connector.Checker); ok {
		if err := ch.Check(t.ctx); err != nil {
			t.errorf("Check failed on a connector that reads: %w", err)
		}
	}
	if gs, ok := t.c.(connector.GroupSearcher); ok {
		t.checkSearchGroups(gs, first)
		if m, ok := gs.(connector.GroupSearchMatcher); ok {
			t.checkSearchMatch(gs, m.GroupSearchMatch(), target, name)
		}
	}
}

// readResult is what one drained read produced.
type readResult struct {
	entries    []connector.Entry
	err        error
	afterError int // values yielded after the first error
	panicked   any
}

// drain consumes a read in the calling goroutine. hook, if set, runs after
// each entry and may stop the loop by returning false.
func (t *tester) drain(ctx context.Context, hook func(n int) bool) (r readResult) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
		}
	}()
	for e, err := range t.c.Read(ctx) {
		if r.err != nil {
			r.afterError++
			continue
		}
		if err != nil {
			r.err = err
			continue
		}
		r.entries = append(r.entries, e)
		if hook != nil && !hook(len(r.entries)) {
			break
		}
	}
	return r
}

// readAll is a full read. A value yielded after an error is a finding.
func (t *tester) readAll(ctx context.Context) ([]connector.Entry, error) {
	r := t.drain(ctx, nil)
	if r.panicked != nil {
		return nil, fmt.Errorf("read panicked: %v", r.panicked)
	}
	if r.afterError > 0 {
		t.errorf("read yielded %d more values after the error %q; the sequence must end at an error", r.afterError, r.err)
	}
	return r.entries, r.err
}

// checkEntries checks each entry on its own and returns the set of IDs
// (with the kind of each).
func (t *tester) checkEntries(what string, entries []connector.Entry) map[string]connector.Kind {
	ids := make(map[string]connector.Kind, len(entries))
	var empty int
	var dups, kinds, deleted, paths, members []string
	for i := range entries {
		e := &entries[i]
		if e.ID == "" {
			empty++
		} else if _, dup := ids[e.ID]; dup {
			dups = append(dups, e.ID)
		} else {
			ids[e.ID] = e.Kind
		}
		switch e.Kind {
		case connector.KindUser, connector.KindGroup, connector.KindOrgUnit:
		default:
			kinds = append(kinds, fmt.Sprintf("%s has Kind %q", label(e), e.Kind))
		}
		if e.Deleted {
			deleted = append(deleted, label(e))
		}
		if slices.Contains(e.Path, "") {
			paths = append(paths, label(e))
		}
		if len(e.Members) > 0 && e.Kind != connector.KindGroup {
			members = append(members, fmt.Sprintf("%s %s", e.Kind, label(e)))
		}
	}
	if empty > 0 {
		t.errorf("%s: %d entries have an empty ID", what, empty)
	}
	for i, id := range dups {
		if i == maxReports {
			t.errorf("… and %d more duplicate IDs", len(dups)-maxReports)
			break
		}
		t.findings = append(t.findings, fmt.Errorf("%s: %w", what, &connector.DuplicateIDError{ID: id}))
	}
	t.report(kinds, what+": entry %s; want user, group or orgunit")
	t.report(deleted, what+": entry %s is marked Deleted; a full read yields only live entries")
	t.report(paths, what+": entry %s has an empty element in Path")
	t.report(members, what+": %s has Members; only groups do")
	return ids
}

// checkReferences reports MemberOf and Members IDs that name no yielded
// entry (or, for MemberOf, no group).
func (t *tester) checkReferences(entries []connector.Entry, ids map[string]connector.Kind) {
	var dangling []string
	for i := range entries {
		e := &entries[i]
		for _, g := range e.MemberOf {
			kind, ok := ids[g]
			switch {
			case !ok:
				dangling = append(dangling, fmt.Sprintf("%s lists %q in MemberOf, which the read did not yield", label(e), g))
			case kind != connector.KindGroup:
				dangling = append(dangling, fmt.Sprintf("%s lists %q in MemberOf, which is a %s, not a group", label(e), g, kind))
			}
		}
		for _, m := range e.Members {
			if _, ok := ids[m]; !ok {
				dangling = append(dangling, fmt.Sprintf("group %s lists %q in Members, which the read did not yield", label(e), m))
			}
		}
	}
	t.report(dangling, "dangling reference: entry %s")
}

// checkCopies modifies the first entry of a read and checks that the next
// read does not see the change.
func (t *tester) checkCopies(first []connector.Entry) {
	if len(first) == 0 {
		return
	}
	const probe = "connectortest-probe"
	e := &first[0]
	id := e.ID
	if e.Attrs == nil {
		e.Attrs = connector.Attrs{}
	}
	for _, vs := range e.Attrs {
		if len(vs) > 0 {
			vs[0] = probe
		}
	}
	e.Attrs.Set(probe, probe)
	if len(e.Path) > 0 {
		e.Path[0] = probe
	}
	if len(e.MemberOf) > 0 {
		e.MemberOf[0] = probe
	}
	if len(e.Members) > 0 {
		e.Members[0] = probe
	}
	again, err := t.readAll(t.ctx)
	if err != nil {
		t.errorf("read after modifying a yielded entry failed: %w", err)
		return
	}
	for i := range again {
		a := &again[i]
		if a.ID != id {
			continue
		}
		shared := a.Attrs.Get(probe) != "" || slices.Contains(a.Path, probe) ||
			slices.Contains(a.MemberOf, probe) || slices.Contains(a.Members, probe)
		for _, vs := range a.Attrs {
			shared = shared || slices.Contains(vs, probe)
		}
		if shared {
			t.errorf("entry %q: changing a yielded entry changed what the next read yields; yield copies", id)
		}
		return
	}
}

// checkSecondRead reads again and compares the set of IDs with want.
func (t *tester) checkSecondRead(what string, want map[string]connector.Kind) {
	entries, err := t.readAll(t.ctx)
	if err != nil {
		t.errorf("%s failed: %w", what, err)
		return
	}
	got := make(map[string]bool, len(entries))
	for _, e := range entries {
		got[e.ID] = true
	}
	t.compareIDs(what, want, got)
}

// compareIDs reports IDs in only one of the two sets.
func (t *tester) compareIDs(what string, want map[string]connector.Kind, got map[string]bool) {
	var missing, extra []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	t.report(missing, what+": ID %q of the first read is missing; IDs must be stable")
	t.report(extra, what+": ID %q was not in the first read; IDs must be stable")
}

// checkBreak stops a read after its first entry, then reads in full.
func (t *tester) checkBreak(want map[string]connector.Kind) {
	if len(want) == 0 {
		return
	}
	r := t.drain(t.ctx, func(int) bool { return false })
	if r.panicked != nil {
		t.errorf("breaking out of a read after the first entry panicked (yield called after it returned false?): %v", r.panicked)
	}
	if r.err != nil {
		t.errorf("read stopped after one entry yielded an error: %v", r.err)
	}
	t.checkSecondRead("full read after a read stopped early", want)
}

// drainWithin runs drain in a goroutine and gives up cancelGrace after
// cancelled is closed (or at once if it is already closed and the read
// hangs). A read that never returns leaks its goroutine: that is the
// finding.
func (t *tester) drainWithin(ctx context.Context, cancelled <-chan struct{}, hook func(int) bool) (readResult, bool) {
	done := make(chan readResult, 1)
	go func() { done <- t.drain(ctx, hook) }()
	select {
	case r := <-done:
		return r, true
	case <-cancelled:
	}
	timer := time.NewTimer(cancelGrace)
	defer timer.Stop()
	select {
	case r := <-done:
		return r, true
	case <-timer.C:
		return readResult{}, false
	}
}

// checkCancelled reads with a context cancelled before the read starts.
func (t *tester) checkCancelled(size int) {
	ctx, cancel := context.WithCancel(t.ctx)
	cancel()
	r, ok := t.drainWithin(ctx, ctx.Done(), nil)
	if !ok {
		t.errorf("read with a cancelled context still running %v later; honour ctx", cancelGrace)
		return
	}
	t.judgeCancelled("read with an already-cancelled context", r, size > 0)
}

// checkCancelMidRead cancels the context after the first entry.
func (t *tester) checkCancelMidRead(size int) {
	if size == 0 {
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	r, ok := t.drainWithin(ctx, ctx.Done(), func(n int) bool {
		if n == 1 {
			cancel()
		}
		return true
	})
	if !ok {
		t.errorf("read cancelled after its first entry still running %v later; honour ctx", cancelGrace)
		return
	}
	t.judgeCancelled("read cancelled after its first entry", r, size > 1)
}

func (t *tester) judgeCancelled(what string, r readResult, mustFail bool) {
	switch {
	case r.panicked != nil:
		t.errorf("%s panicked: %v", what, r.panicked)
	case r.afterError > 0:
		t.errorf("%s yielded %d more values after the error %q", what, r.afterError, r.err)
	case r.err == nil && mustFail:
		t.errorf("%s ended without an error after %d entries; a cancelled read must yield an error wrapping ctx.Err()", what, len(r.entries))
	case r.err != nil && !errors.Is(r.err, context.Canceled):
		t.errorf("%s failed with %q, which does not wrap context.Canceled", what, r.err)
	}
}

// checkIncremental checks the connector.Incremental contract.
func (t *tester) checkIncremental(inc connector.Incremental, want map[string]connector.Kind) {
	got := map[string]bool{}
	var deleted []string
	cursor, err := inc.ReadChanges(t.ctx, nil, func(e connector.Entry) error {
		if got[e.ID] {
			t.findings = append(t.findings, fmt.Errorf("ReadChanges(nil): %w", &connector.DuplicateIDError{ID: e.ID}))
		}
		got[e.ID] = true
		if e.Deleted {
			deleted = append(deleted, e.ID)
		}
		return nil
	})
	if err != nil {
		t.errorf("ReadChanges(nil) failed: %w", err)
		return
	}
	t.compareIDs("ReadChanges(nil) compared with Read", want, got)
	t.report(deleted, "ReadChanges(nil) yielded %q as Deleted; a full read yields only live entries")
	if len(cursor) == 0 {
		t.errorf("ReadChanges(nil) returned an empty cursor")
	} else {
		n := 0
		_, err := inc.ReadChanges(t.ctx, cursor, func(e connector.Entry) error {
			if !e.Deleted {
				n++
			}
			return nil
		})
		switch {
		case err != nil:
			t.errorf("ReadChanges with the cursor just returned failed: %w", err)
		case n > 1 && n >= len(want):
			t.errorf("ReadChanges with the cursor just returned yielded all %d entries again; yield only what changed", n)
		}
	}

	if len(want) == 0 {
		return
	}
	stop := errors.New("connectortest: stop")
	calls := 0
	_, err = inc.ReadChanges(t.ctx, nil, func(connector.Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.errorf("ReadChanges returned %v when yield returned an error; want that error", err)
	}
	if calls > 1 {
		t.errorf("ReadChanges called yield %d times after yield returned an error", calls-1)
	}

	ctx, cancel := context.WithCancel(t.ctx)
	cancel()
	_, err = inc.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.errorf("ReadChanges(nil) with a cancelled context returned %v; want an error wrapping context.Canceled", err)
	}
}

// checkSearchGroups checks that a search returns groups of the full read.
func (t *tester) checkSearchGroups(gs connector.GroupSearcher, first []connector.Entry) {
	const limit = 5
	groups, err := gs.SearchGroups(t.ctx, "", limit)
	if err != nil {
		t.errorf("SearchGroups(%q, %d) failed: %w", "", limit, err)
		return
	}
	if len(groups) > limit {
		t.errorf("SearchGroups with limit %d returned %d groups", limit, len(groups))
	}
	kinds := make(map[string]connector.Kind, len(first))
	nGroups := 0
	for _, e := range first {
		kinds[e.ID] = e.Kind
		if e.Kind == connector.KindGroup {
			nGroups++
		}
	}
	if nGroups > 0 && len(groups) == 0 {
		t.errorf("SearchGroups(%q, %d) found nothing; the empty prefix matches every group, and the read yielded %d", "", limit, nGroups)
	}
	for _, g := range groups {
		if kind, ok := kinds[g.ID]; !ok || kind != connector.KindGroup || g.Kind != connector.KindGroup {
			t.errorf("SearchGroups returned %s (Kind %q), which is not a group of the full read", label(&g), g.Kind)
		}
	}
}

// groupNameAttrs are the attributes that hold a group's names, as
// connector.GroupSearcher says.
var groupNameAttrs = []string{"displayName", "name", "cn", "sAMAccountName"}

// checkSearchMatch checks a searcher that declares how it matches. It cuts
// a query from the longest group name of the full read, the way only that
// kind of search finds it (three letters from inside a word for
// substring, the start of the name's last word for word prefix, the start
// of the name for prefix); the search must find that group, and every
// group it returns must match the query as declared.
func (t *tester) checkSearchMatch(gs connector.GroupSearcher, m connector.GroupMatch, target *connector.Entry, name string) {
	switch m {
	case connector.MatchPrefix, connector.MatchWordPrefix, connector.MatchSubstring:
	default:
		t.errorf("GroupSearchMatch returned %v, which is none of MatchPrefix, MatchWordPrefix and MatchSubstring", m)
		return
	}
	q := probeQuery(m, name)
	if q == "" {
		return // no group has a name to cut a query from
	}
	found, err := gs.SearchGroups(t.ctx, q, 0)
	if err != nil {
		t.errorf("SearchGroups(%q, 0) failed: %w", q, err)
		return
	}
	if !slices.ContainsFunc(found, func(g connector.Entry) bool { return g.ID == target.ID }) {
		t.errorf("SearchGroups(%q, 0) did not find %s, named %q, though the searcher declares %s matching", q, label(target), name, m)
	}
	var wrong []string
	for _, g := range found {
		if !matchesGroup(m, &g, q) {
			wrong = append(wrong, fmt.Sprintf("%s named %q", label(&g), groupName(&g)))
		}
	}
	t.report(wrong, "SearchGroups("+strconv.Quote(q)+", 0) returned %s, whose names do not match the query by "+m.String())
}

// longestGroupName returns (a copy of) the group with the longest name,
// the lowest ID among equals, and that name; nil and "" if no group has a
// name.
func longestGroupName(entries []connector.Entry) (*connector.Entry, string) {
	var target *connector.Entry
	var name string
	for i := range entries {
		e := &entries[i]
		if e.Kind != connector.KindGroup {
			continue
		}
		n := groupName(e)
		if l, best := utf8.RuneCountInString(n), utf8.RuneCountInString(name); l > best || l == best && l > 0 && e.ID < target.ID {
			target, name = e, n
		}
	}
	if target == nil {
		return nil, ""
	}
	c := target.Clone()
	return &c, name
}

// groupName is a group's first name, or "".
func groupName(e *connector.Entry) string {
	for _, a := range groupNameAttrs {
		if v := e.Attr(a); v != "" {
			return v
		}
	}
	return ""
}

// matchesGroup reports whether one of e's names matches query m's way.
func matchesGroup(m connector.GroupMatch, e *connector.Entry, query string) bool {
	for _, a := range groupNameAttrs {
		for _, v := range e.Attrs.Values(a) {
			if m.Matches(v, query) {
				return true
			}
		}
	}
	return false
}

// probeQuery cuts from name a query only an m search finds, or returns ""
// when name is too short for one.
func probeQuery(m connector.GroupMatch, name string) string {
	first3 := func(s string) string {
		r := []rune(s)
		return string(r[:min(3, len(r))])
	}
	words := strings.Fields(name)
	if len(words) == 0 {
		return ""
	}
	switch m {
	case connector.MatchSubstring:
		longest := slices.MaxFunc(words, func(a, b string) int {
			return utf8.RuneCountInString(a) - utf8.RuneCountInString(b)
		})
		if r := []rune(longest); len(r) >= 3 {
			return first3(string(r[1:]))
		}
		return ""
	case connector.MatchWordPrefix:
		return first3(words[len(words)-1])
	default:
		return first3(name)
	}
}

// label names an entry in a finding: its quoted ID, with the DN when it
// has one.
func label(e *connector.Entry) string {
	if e.DN == "" {
		return strconv.Quote(e.ID)
	}
	return strconv.Quote(e.ID) + " (" + e.DN + ")"
}
