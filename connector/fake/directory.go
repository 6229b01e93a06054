package fake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync/connector"
)

// ErrNotFound reports a mutation of an ID the directory does not hold (or
// holds only as a deleted tombstone).
var ErrNotFound = errors.New("fake: no such entry")

// Directory is an in-memory directory. The zero value is not usable; call
// New. All methods are safe for concurrent use, and a read in progress
// sees the directory as it was when the read started.
type Directory struct {
	mu    sync.Mutex
	seq   uint64 // change sequence number, bumped by every mutation
	epoch uint64 // bumped by ExpireCursors; cursors of older epochs fail
	recs  []record
	index map[string]int // ID → position in recs

	shuffle   bool
	seed      int64
	failAfter int
	failErr   error
	delay     time.Duration
	checkErr  error
	match     connector.GroupMatch
}

// record is one entry and the sequence number of its last change. The
// entry is never modified once stored: a mutation stores a modified copy,
// so a read can hold on to a snapshot of recs without locking.
type record struct {
	e   *connector.Entry
	seq uint64
}

// Compile-time checks of the capabilities Directory offers.
var (
	_ connector.Connector     = (*Directory)(nil)
	_ connector.Incremental   = (*Directory)(nil)
	_ connector.Checker       = (*Directory)(nil)
	_ connector.GroupSearcher = (*Directory)(nil)

	_ connector.GroupSearchMatcher = (*Directory)(nil)
)

// New returns a directory holding entries, read back in the order given.
// A later entry with the ID of an earlier one replaces it.
//
// New takes ownership of the entries, as bytes.NewBuffer does of its
// slice: the directory never modifies them (mutations store copies), and
// the caller must not modify them, or the maps and slices they hold,
// afterwards. Sharing one set of entries between several directories is
// fine. This lets a test serve a million-entry Company without copying it;
// pass e.Clone() to keep changing an entry of your own.
//
// New panics if an entry has an empty ID or is marked Deleted: that is a
// mistake in the test, not a condition to handle.
func New(entries ...connector.Entry) *Directory {
	d := &Directory{index: make(map[string]int, len(entries)), recs: make([]record, 0, len(entries)),
		match: connector.MatchSubstring}
	for i := range entries {
		if err := checkNew(&entries[i]); err != nil {
			panic(err)
		}
		d.put(&entries[i])
	}
	return d
}

func checkNew(e *connector.Entry) error {
	if e.ID == "" {
		return errors.New("fake: entry with an empty ID")
	}
	if e.Deleted {
		return fmt.Errorf("fake: entry %q is marked Deleted; use Delete to remove an entry", e.ID)
	}
	return nil
}

// put stores e at the current sequence number, replacing an entry (or
// tombstone) with the same ID. The caller holds mu or owns d.
func (d *Directory) put(e *connector.Entry) {
	r := record{e: e, seq: d.seq}
	if i, ok := d.index[e.ID]; ok {
		d.recs[i] = r
		return
	}
	d.index[e.ID] = len(d.recs)
	d.recs = append(d.recs, r)
}

// Add adds entries, or replaces live or deleted entries with the same IDs,
// as one change. It stores copies: the caller keeps its entries.
func (d *Directory) Add(entries ...connector.Entry) error {
	for i := range entries {
		if err := checkNew(&entries[i]); err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	for _, e := range entries {
		c := deepCopy(&e)
		d.put(&c)
	}
	return nil
}

// Get returns a copy of the live entry with the ID.
func (d *Directory) Get(id string) (connector.Entry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.live(id)
	if !ok {
		return connector.Entry{}, false
	}
	return deepCopy(d.recs[i].e), true
}

// Len reports the number of live entries.
func (d *Directory) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.recs {
		if !r.e.Deleted {
			n++
		}
	}
	return n
}

// live returns the position of the live entry with the ID. The caller
// holds mu.
func (d *Directory) live(id string) (int, bool) {
	i, ok := d.index[id]
	if !ok || d.recs[i].e.Deleted {
		return 0, false
	}
	return i, true
}

// modify replaces the entry at position i with a modified copy, at the
// current sequence number. The caller holds mu and has bumped d.seq.
func (d *Directory) modify(i int, f func(e *connector.Entry)) {
	c := deepCopy(d.recs[i].e)
	if c.Attrs == nil {
		c.Attrs = connector.Attrs{}
	}
	f(&c)
	d.recs[i] = record{e: &c, seq: d.seq}
}

// update applies f to the live entry with the ID as one change.
func (d *Directory) update(id string, f func(e *connector.Entry)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.live(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	d.seq++
	d.modify(i, f)
	return nil
}

// Set replaces the values of an attribute (a rename, a new title, a new
// manager); with no values it removes the attribute. Attribute names are
// case-insensitive.
func (d *Directory) Set(id, attr string, values ...string) error {
	return d.update(id, func(e *connector.Entry) {
		if len(values) == 0 {
			for k := range e.Attrs {
				if strings.EqualFold(k, attr) {
					delete(e.Attrs, k)
				}
			}
			return
		}
		e.Attrs.Set(attr, slices.Clone(values)...)
	})
}

// Move moves an entry to the org-unit path (outermost first). If the entry
// has a DN, its OU components are rewritten to match, keeping the RDN and
// the DC components, and every manager attribute that named the old DN is
// updated (each such entry changes too), as AD does for linked attributes.
func (d *Directory) Move(id string, path ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.live(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	d.seq++
	oldDN := d.recs[i].e.DN
	newDN := moveDN(oldDN, path)
	d.modify(i, func(e *connector.Entry) {
		e.Path = slices.Clone(path)
		e.DN = newDN
	})
	if oldDN == "" || strings.EqualFold(oldDN, newDN) {
		return nil
	}
	for j, r := range d.recs {
		if r.e.Deleted {
			continue
		}
		if m := r.e.Attrs.Values("manager"); len(m) == 1 && strings.EqualFold(m[0], oldDN) {
			d.modify(j, func(e *connector.Entry) { e.Attrs.Set("manager", newDN) })
		}
	}
	return nil
}

// moveDN rewrites the OU components of dn for path.
func moveDN(dn string, path []string) string {
	if dn == "" {
		return ""
	}
	parts := splitDN(dn)
	var dcs []string
	for _, p := range parts[1:] {
		if len(p) > 3 && strings.EqualFold(p[:3], "dc=") {
			dcs = append(dcs, p)
		}
	}
	out := []string{parts[0]}
	for _, ou := range slices.Backward(path) {
		out = append(out, "OU="+escapeRDN(ou))
	}
	return strings.Join(append(out, dcs...), ",")
}

// splitDN splits a DN at its unescaped commas.
func splitDN(dn string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			parts = append(parts, dn[start:i])
			start = i + 1
		}
	}
	return append(parts, dn[start:])
}

// Disable marks an account disabled at the source (and sets ACCOUNTDISABLE
// in its userAccountControl, if it has one).
func (d *Directory) Disable(id string) error { return d.setDisabled(id, true) }

// Enable re-enables an account (and clears ACCOUNTDISABLE in its
// userAccountControl, if it has one).
func (d *Directory) Enable(id string) error { return d.setDisabled(id, false) }

func (d *Directory) setDisabled(id string, disabled bool) error {
	return d.update(id, func(e *connector.Entry) {
		e.Disabled = disabled
		if v := e.Attrs.Get("userAccountControl"); v != "" {
			if uac, err := strconv.ParseInt(v, 10, 64); err == nil {
				if disabled {
					uac |= 0x2
				} else {
					uac &^= 0x2
				}
				e.Attrs.Set("userAccountControl", strconv.FormatInt(uac, 10))
			}
		}
	})
}

// Delete deletes an entry, leaving a tombstone that incremental reads
// report with Deleted set. As in AD, the entry also leaves every group it
// was in, and a deleted group leaves its members' MemberOf; each entry so
// touched changes too.
func (d *Directory) Delete(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.live(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	d.seq++
	old := d.recs[i].e
	d.recs[i] = record{e: &connector.Entry{ID: old.ID, Kind: old.Kind, DN: old.DN, Deleted: true}, seq: d.seq}
	for j, r := range d.recs {
		if r.e.Deleted || (!slices.Contains(r.e.Members, id) && !slices.Contains(r.e.MemberOf, id)) {
			continue
		}
		d.modify(j, func(e *connector.Entry) {
			e.Members = slices.DeleteFunc(e.Members, func(m string) bool { return m == id })
			e.MemberOf = slices.DeleteFunc(e.MemberOf, func(m string) bool { return m == id })
		})
	}
	return nil
}

// AddMember makes memberID a direct member of the group: the group's
// Members and the member's MemberOf both list the other. Adding an
// existing membership changes nothing.
func (d *Directory) AddMember(groupID, memberID string) error {
	return d.membership(groupID, memberID, true)
}

// RemoveMember ends a direct membership, on both sides.
func (d *Directory) RemoveMember(groupID, memberID string) error {
	return d.membership(groupID, memberID, false)
}

func (d *Directory) membership(groupID, memberID string, add bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	gi, ok := d.live(groupID)
	if !ok {
		return fmt.Errorf("%w: group %q", ErrNotFound, groupID)
	}
	if k := d.recs[gi].e.Kind; k != connector.KindGroup {
		return fmt.Errorf("fake: %q is a %s, not a group", groupID, k)
	}
	mi, ok := d.live(memberID)
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, memberID)
	}
	g, m := d.recs[gi].e, d.recs[mi].e
	if add == slices.Contains(g.Members, memberID) && add == slices.Contains(m.MemberOf, groupID) {
		return nil
	}
	d.seq++
	edit := func(list []string, id string) []string {
		list = slices.DeleteFunc(list, func(x string) bool { return x == id })
		if add {
			list = append(list, id)
		}
		return list
	}
	d.modify(gi, func(e *connector.Entry) { e.Members = edit(e.Members, memberID) })
	d.modify(mi, func(e *connector.Entry) { e.MemberOf = edit(e.MemberOf, groupID) })
	return nil
}

// Shuffle makes every later read yield entries in a pseudo-random order
// determined by seed (the same order on each read of an unchanged
// directory), so that a test can check that nothing downstream depends on
// the order a directory returns.
func (d *Directory) Shuffle(seed int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shuffle, d.seed = true, seed
}

// FailAfter makes every later Read and ReadChanges fail with err after n
// entries (or after all entries, if there are fewer than n). A nil err
// turns the failure off. The error is returned as given, so errors.Is
// finds it.
func (d *Directory) FailAfter(n int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failAfter, d.failErr = max(n, 0), err
}

// SetDelay makes reads wait d before each entry, as a slow directory
// would. The wait ends early, with an error, when the read's ctx is done.
// Zero turns the delay off.
func (d *Directory) SetDelay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
}

// FailCheck makes Check return err. A nil err makes it succeed again.
func (d *Directory) FailCheck(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checkErr = err
}

// ExpireCursors makes every cursor issued so far fail with an error
// wrapping connector.ErrCursorExpired, as when a DirSync cookie or a delta
// link ages out. Cursors issued afterwards work.
func (d *Directory) ExpireCursors() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.epoch++
}

// readPlan is what one read works from: a snapshot taken under the lock.
type readPlan struct {
	recs      []record
	seq       uint64
	epoch     uint64
	failAfter int
	failErr   error
	delay     time.Duration
}

// snapshot returns the records to read, in read order: every record for a
// full read (since == nil), else those changed after *since, tombstones
// included. For an incremental read it first checks that the cursor's
// epoch is current.
func (d *Directory) snapshot(since *uint64, epoch uint64) (readPlan, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if since != nil && (epoch != d.epoch || *since > d.seq) {
		return readPlan{}, fmt.Errorf("fake: cursor at change %d of epoch %d: %w", *since, epoch, connector.ErrCursorExpired)
	}
	p := readPlan{seq: d.seq, epoch: d.epoch, failAfter: d.failAfter, failErr: d.failErr, delay: d.delay}
	if since == nil {
		p.recs = slices.Clone(d.recs)
	} else {
		for _, r := range d.recs {
			if r.seq > *since {
				p.recs = append(p.recs, r)
			}
		}
	}
	if d.shuffle {
		rng := rand.New(rand.NewPCG(uint64(d.seed), 0x73687566))
		rng.Shuffle(len(p.recs), func(i, j int) { p.recs[i], p.recs[j] = p.recs[j], p.recs[i] })
	}
	return p, nil
}

// run passes copies of the planned entries to yield, skipping tombstones
// unless tombstones is set. It returns the injected failure, a
// cancellation, or nil; it stops quietly when yield returns false.
func (p *readPlan) run(ctx context.Context, tombstones bool, yield func(connector.Entry) bool) error {
	n := 0
	for _, r := range p.recs {
		if r.e.Deleted && !tombstones {
			continue
		}
		if err := p.before(ctx, n); err != nil {
			return err
		}
		if !yield(deepCopy(r.e)) {
			return nil
		}
		n++
	}
	if p.failErr != nil {
		return p.failErr
	}
	return nil
}

// before runs ahead of the n-th entry: it checks for cancellation, the
// injected failure and waits out the delay.
func (p *readPlan) before(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: read interrupted after %d entries: %w", n, err)
	}
	if p.failErr != nil && n >= p.failAfter {
		return p.failErr
	}
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("fake: read interrupted after %d entries: %w", n, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Read yields a copy of every live entry: in the order added, or shuffled
// after Shuffle. It honours FailAfter, SetDelay and ctx.
func (d *Directory) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		p, _ := d.snapshot(nil, 0)
		if err := p.run(ctx, false, func(e connector.Entry) bool { return yield(e, nil) }); err != nil {
			yield(connector.Entry{}, err)
		}
	}
}

// ReadChanges implements connector.Incremental. A nil or empty cursor asks
// for every live entry; a cursor from an earlier call yields the entries
// added or changed since, complete, and those deleted since as tombstones
// (ID, Kind, DN and Deleted). Changes come in the order the entries were
// added, or shuffled after Shuffle. The cursor records the change sequence number; a cursor the
// directory did not issue, or issued before ExpireCursors, fails with an
// error wrapping connector.ErrCursorExpired.
func (d *Directory) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	var p readPlan
	var err error
	full := len(since) == 0
	if full {
		p, err = d.snapshot(nil, 0)
	} else {
		var epoch, seq uint64
		if epoch, seq, err = parseCursor(since); err == nil {
			p, err = d.snapshot(&seq, epoch)
		}
	}
	if err != nil {
		return nil, err
	}
	var yieldErr error
	err = p.run(ctx, !full, func(e connector.Entry) bool {
		yieldErr = yield(e)
		return yieldErr == nil
	})
	if yieldErr != nil {
		return nil, yieldErr
	}
	if err != nil {
		return nil, err
	}
	return formatCursor(p.epoch, p.seq), nil
}

const cursorPrefix = "fake/v1/"

func formatCursor(epoch, seq uint64) connector.Cursor {
	return connector.Cursor(cursorPrefix + strconv.FormatUint(epoch, 10) + "/" + strconv.FormatUint(seq, 10))
}

func parseCursor(c connector.Cursor) (epoch, seq uint64, err error) {
	rest, ok := strings.CutPrefix(string(c), cursorPrefix)
	e, s, ok2 := strings.Cut(rest, "/")
	if ok && ok2 {
		epoch, err1 := strconv.ParseUint(e, 10, 64)
		seq, err2 := strconv.ParseUint(s, 10, 64)
		if err1 == nil && err2 == nil {
			return epoch, seq, nil
		}
	}
	return 0, 0, fmt.Errorf("fake: cursor %q was not issued by a fake directory: %w", c, connector.ErrCursorExpired)
}

// Check implements connector.Checker: it returns the error set by
// FailCheck, or ctx's error.
func (d *Directory) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: check: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checkErr
}

// SetGroupMatch makes SearchGroups match as m, and GroupSearchMatch say
// so, to stand in for a directory that searches by prefix only (Google)
// or by word prefix (Microsoft Graph). A new Directory matches substrings.
func (d *Directory) SetGroupMatch(m connector.GroupMatch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.match = m
}

// GroupSearchMatch implements connector.GroupSearchMatcher: substring,
// unless SetGroupMatch said otherwise.
func (d *Directory) GroupSearchMatch() connector.GroupMatch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.match
}

// SearchGroups implements connector.GroupSearcher: it returns copies of the
// live groups one of whose names (cn, displayName, name, sAMAccountName)
// contains query, ignoring case (or matches it as SetGroupMatch set),
// sorted by name (cn, else displayName, else name) then ID. A limit of
// zero or less means no limit.
func (d *Directory) SearchGroups(ctx context.Context, query string, limit int) ([]connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: search groups: %w", err)
	}
	p, _ := d.snapshot(nil, 0)
	m := d.GroupSearchMatch()
	type hit struct {
		name string
		e    *connector.Entry
	}
	var hits []hit
	for _, r := range p.recs {
		if r.e.Deleted || r.e.Kind != connector.KindGroup {
			continue
		}
		if slices.ContainsFunc(groupNameAttrs, func(a string) bool {
			return slices.ContainsFunc(r.e.Attrs.Values(a), func(v string) bool { return m.Matches(v, query) })
		}) {
			hits = append(hits, hit{groupName(r.e), r.e})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.name), strings.ToLower(b.name)), cmp.Compare(a.e.ID, b.e.ID))
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]connector.Entry, len(hits))
	for i, h := range hits {
		out[i] = deepCopy(h.e)
	}
	return out, nil
}

// groupNameAttrs hold a group's names, as connector.GroupSearcher says.
var groupNameAttrs = []string{"cn", "displayName", "name", "sAMAccountName"}

func groupName(e *connector.Entry) string {
	for _, a := range []string{"cn", "displayName", "name"} {
		if v := e.Attr(a); v != "" {
			return v
		}
	}
	return e.ID
}

// deepCopy is Entry.Clone with fewer allocations: every string slice of
// the copy (attribute values, Path, MemberOf, Members) shares one backing
// array, each capped so that appending to one cannot overwrite another.
// Reads of a million entries spend most of their time here.
func deepCopy(e *connector.Entry) connector.Entry {
	c := *e
	n := len(e.Path) + len(e.MemberOf) + len(e.Members)
	for _, v := range e.Attrs {
		n += len(v)
	}
	slab := make([]string, 0, n)
	take := func(src []string) []string {
		if src == nil {
			return nil
		}
		start := len(slab)
		slab = append(slab, src...)
		return slab[start:len(slab):len(slab)]
	}
	c.Path = take(e.Path)
	c.MemberOf = take(e.MemberOf)
	c.Members = take(e.Members)
	if e.Attrs != nil {
		c.Attrs = make(connector.Attrs, len(e.Attrs))
		for k, v := range e.Attrs {
			c.Attrs[k] = take(v)
		}
	}
	return c
}
