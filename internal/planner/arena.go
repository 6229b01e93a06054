package planner

import (
	"encoding/binary"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/diff"
)

// This file holds the compact form in which a full plan keeps the
// directory's desired accounts and the app's accounts between reading them
// and diffing them. See "Memory" in the package documentation.

// arena stores records as bytes in large shared strings. A record is
// addressed by a ref (chunk index and offset); decoding it yields strings
// that are slices of the chunk, so reading a record allocates nothing but
// its Department, Roles and Extra containers.
type arena struct {
	done []string        // full chunks
	cur  strings.Builder // the chunk being filled
	buf  []byte          // scratch for one record
	// times holds the non-zero BlockedAt of records (rare): a time.Time
	// keeps its location, which bytes would not.
	times map[ref]time.Time
	// reasons interns the reasons of desired records: a scope decision's
	// reason is one of a few.
	reasons   map[diff.Reason]uint64
	reasonsBy []diff.Reason
}

// ref addresses a record in an arena: chunk<<32 | offset.
type ref uint64

const arenaChunk = 256 << 10

// add stores the record in a.buf and returns its ref.
func (a *arena) add() ref {
	rec := a.buf
	if a.cur.Len()+len(rec)+binary.MaxVarintLen64 > a.cur.Cap() {
		if a.cur.Len() > 0 {
			a.done = append(a.done, a.cur.String())
		}
		a.cur = strings.Builder{}
		a.cur.Grow(max(arenaChunk, len(rec)+binary.MaxVarintLen64))
	}
	r := ref(uint64(len(a.done))<<32 | uint64(a.cur.Len()))
	var n [binary.MaxVarintLen64]byte
	a.cur.Write(n[:binary.PutUvarint(n[:], uint64(len(rec)))])
	a.cur.Write(rec)
	return r
}

// get returns the record's bytes as a string.
func (a *arena) get(r ref) string {
	chunk, off := int(r>>32), int(uint32(r))
	var s string
	if chunk < len(a.done) {
		s = a.done[chunk]
	} else {
		s = a.cur.String() // the builder only appends: earlier bytes stay
	}
	s = s[off:]
	n, w := uvarintString(s)
	return s[w : w+int(n)]
}

// releaseBefore drops the chunks before the one holding r: a reader that
// goes through the records in order lets them go as it passes them.
func (a *arena) releaseBefore(r ref) {
	for k := min(int(r>>32), len(a.done)) - 1; k >= 0 && a.done[k] != ""; k-- {
		a.done[k] = ""
	}
}

// reset drops every record.
func (a *arena) reset() { *a = arena{} }

func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	panic("dirsync: corrupt compact record")
}

// The flag bits of a record.
const (
	fBlocked = 1 << iota
	fBlockedBySync
	fManaged
	fBlockedAt
	fDisabled
	fOutOfScope
	fInvalid
	fEntryIsExt // the desired record's EntryID is its ExternalID
)

func (a *arena) putString(s string) {
	a.buf = binary.AppendUvarint(a.buf, uint64(len(s)))
	a.buf = append(a.buf, s...)
}

// putList writes a slice, 0 for nil and n+1 otherwise.
func (a *arena) putList(l []string) {
	if l == nil {
		a.buf = append(a.buf, 0)
		return
	}
	a.buf = binary.AppendUvarint(a.buf, uint64(len(l))+1)
	for _, s := range l {
		a.putString(s)
	}
}

// putAccount writes an account after flags (the account's and extra ones)
// and pos. ExternalID comes first so that keys are cheap to read.
func (a *arena) putAccount(acc *diff.Account, flags byte, pos uint64) {
	if acc.Blocked {
		flags |= fBlocked
	}
	if acc.BlockedBySync {
		flags |= fBlockedBySync
	}
	if acc.Managed {
		flags |= fManaged
	}
	if !acc.BlockedAt.IsZero() {
		flags |= fBlockedAt
	}
	a.putString(acc.ExternalID)
	a.buf = append(a.buf, flags)
	a.buf = binary.AppendUvarint(a.buf, pos)
	for _, s := range []string{acc.ID, acc.Source, acc.Username, acc.Email, acc.GivenName, acc.FamilyName,
		acc.DisplayName, acc.Title, acc.Phone, acc.Manager, acc.BlockReason} {
		a.putString(s)
	}
	a.putList(acc.Department)
	a.putList(acc.Roles)
	if acc.Extra == nil {
		a.buf = append(a.buf, 0)
	} else {
		a.buf = binary.AppendUvarint(a.buf, uint64(len(acc.Extra))+1)
		for _, k := range slices.Sorted(maps.Keys(acc.Extra)) {
			a.putString(k)
			a.putString(acc.Extra[k])
		}
	}
}

// addAccount stores an account with its listing position.
func (a *arena) addAccount(acc *diff.Account, pos int) ref {
	a.buf = a.buf[:0]
	a.putAccount(acc, 0, uint64(pos))
	r := a.add()
	a.keepTime(r, acc.BlockedAt)
	return r
}

// addDesired stores a desired account.
func (a *arena) addDesired(d *diff.Desired) ref { return a.addDesiredTail(d, nil) }

// addDesiredTail stores a desired account followed by tail, which desired
// leaves in the reader.
func (a *arena) addDesiredTail(d *diff.Desired, tail []byte) ref {
	var flags byte
	if d.Disabled {
		flags |= fDisabled
	}
	if d.OutOfScope {
		flags |= fOutOfScope
	}
	if d.Invalid {
		flags |= fInvalid
	}
	if d.EntryID == d.Account.ExternalID {
		flags |= fEntryIsExt
	}
	a.buf = a.buf[:0]
	a.putAccount(&d.Account, flags, 0)
	if flags&fEntryIsExt == 0 {
		a.putString(d.EntryID)
	}
	n, ok := a.reasons[d.Reason]
	if !ok {
		if a.reasons == nil {
			a.reasons = map[diff.Reason]uint64{}
		}
		n = uint64(len(a.reasonsBy))
		a.reasons[d.Reason] = n
		a.reasonsBy = append(a.reasonsBy, d.Reason)
	}
	a.buf = binary.AppendUvarint(a.buf, n)
	a.buf = append(a.buf, tail...)
	r := a.add()
	a.keepTime(r, d.Account.BlockedAt)
	return r
}

func (a *arena) keepTime(r ref, t time.Time) {
	if t.IsZero() {
		return
	}
	if a.times == nil {
		a.times = map[ref]time.Time{}
	}
	a.times[r] = t
}

// reader decodes one record. With clone set, strings are copied out of
// the arena (for values that outlive it, such as a plan's accounts), and
// lists get their own arrays; otherwise strings are slices of the arena
// and lists reuse the reader's scratch arrays, valid until the next read.
type reader struct {
	s     string
	clone bool
	dept  []string
	roles []string
}

func (r *reader) uvarint() uint64 {
	n, w := uvarintString(r.s)
	r.s = r.s[w:]
	return n
}

func (r *reader) str() string {
	n := int(r.uvarint())
	v := r.s[:n]
	r.s = r.s[n:]
	if r.clone {
		return strings.Clone(v)
	}
	return v
}

func (r *reader) list(scratch *[]string) []string {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	if n == 1 {
		return []string{} // empty, not nil: allocates nothing
	}
	var out []string
	if r.clone {
		out = make([]string, 0, n-1)
	} else {
		out = (*scratch)[:0]
	}
	for range n - 1 {
		out = append(out, r.str())
	}
	if !r.clone {
		*scratch = out
	}
	return out
}

// externalID returns the ExternalID of a record without decoding the rest.
func externalID(rec string) string {
	r := reader{s: rec}
	return r.str()
}

// account decodes an account record into acc and returns its flags and
// position.
func (a *arena) account(x ref, rd *reader, acc *diff.Account) (flags byte, pos int) {
	rd.s = a.get(x)
	*acc = diff.Account{}
	acc.ExternalID = rd.str()
	flags = rd.s[0]
	rd.s = rd.s[1:]
	pos = int(rd.uvarint())
	for _, p := range []*string{&acc.ID, &acc.Source, &acc.Username, &acc.Email, &acc.GivenName, &acc.FamilyName,
		&acc.DisplayName, &acc.Title, &acc.Phone, &acc.Manager, &acc.BlockReason} {
		*p = rd.str()
	}
	acc.Department = rd.list(&rd.dept)
	acc.Roles = rd.list(&rd.roles)
	if n := rd.uvarint(); n > 0 {
		acc.Extra = make(map[string]string, n-1)
		for range n - 1 {
			k := rd.str()
			acc.Extra[k] = rd.str()
		}
	}
	acc.Blocked, acc.BlockedBySync, acc.Managed = flags&fBlocked != 0, flags&fBlockedBySync != 0, flags&fManaged != 0
	if flags&fBlockedAt != 0 {
		acc.BlockedAt = a.times[x]
	}
	return flags, pos
}

// desired decodes a desired record into d, leaving its tail in rd.s.
func (a *arena) desired(x ref, rd *reader, d *diff.Desired) {
	flags, _ := a.account(x, rd, &d.Account)
	if flags&fEntryIsExt != 0 {
		d.EntryID = d.Account.ExternalID
	} else {
		d.EntryID = rd.str()
	}
	d.Reason = a.reasonsBy[rd.uvarint()] // strings not in the arena: no clone needed
	d.Disabled, d.OutOfScope, d.Invalid = flags&fDisabled != 0, flags&fOutOfScope != 0, flags&fInvalid != 0
}

// desiredSet holds a read's desired accounts compactly, in read order,
// with an index by join key and the hashes of their emails.
type desiredSet struct {
	ar    arena
	refs  []ref
	byKey []int32  // positions in refs, sorted by external ID, then position
	mails []uint64 // hashes of the normalised emails, sorted
	seed  maphash.Seed
}

func (ds *desiredSet) add(d *diff.Desired) { ds.refs = append(ds.refs, ds.ar.addDesired(d)) }

func (ds *desiredSet) len() int { return len(ds.refs) }

// index builds byKey and mails once every desired account is in.
func (ds *desiredSet) index() {
	ds.byKey = make([]int32, len(ds.refs))
	keys := make([]string, len(ds.refs)) // slices of the arena
	ds.mails = make([]uint64, 0, len(ds.refs))
	ds.seed = maphash.MakeSeed()
	var rd reader
	var d diff.Desired
	for i, x := range ds.refs {
		ds.byKey[i] = int32(i)
		keys[i] = externalID(ds.ar.get(x))
		ds.ar.desired(x, &rd, &d)
		if e := diff.NormalizeEmail(d.Account.Email); e != "" {
			ds.mails = append(ds.mails, maphash.String(ds.seed, e))
		}
	}
	slices.SortFunc(ds.byKey, func(a, b int32) int {
		if c := strings.Compare(keys[a], keys[b]); c != 0 {
			return c
		}
		return int(a - b)
	})
	slices.Sort(ds.mails)
}

// find returns the range of byKey holding the external ID.
func (ds *desiredSet) find(id string) (lo, hi int) {
	key := func(i int) string { return externalID(ds.ar.get(ds.refs[ds.byKey[i]])) }
	lo, _ = slices.BinarySearchFunc(ds.byKey, id, func(p int32, id string) int {
		return strings.Compare(externalID(ds.ar.get(ds.refs[p])), id)
	})
	hi = lo
	for hi < len(ds.byKey) && key(hi) == id {
		hi++
	}
	return lo, hi
}

// wanted returns how many desired accounts have the normalised email's
// hash (an upper bound of how many have the email).
func (ds *desiredSet) wanted(email string) int {
	if email == "" {
		return 0
	}
	h := maphash.String(ds.seed, email)
	lo, _ := slices.BinarySearch(ds.mails, h)
	hi := lo
	for hi < len(ds.mails) && ds.mails[hi] == h {
		hi++
	}
	return hi - lo
}
