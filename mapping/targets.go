package mapping

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// Targets is a compact index of the entries of one read that lookup rules
// may point to: for each entry its ID, its DN and the first value of each
// attribute a lookup reads (ReferencedAttributes), and nothing else: no
// entry, no attribute map. A Syncer planning a large directory adds every
// entry as it is read and resolves with ResolveTargets instead of keeping
// slim copies of the entries in a connector.Snapshot, which costs several
// hundred bytes an entry more.
//
// A reference resolves against Targets exactly as against a Snapshot of the
// same entries: by ID, then by the ID without surrounding spaces, then by
// the DN as spelled, then by the DN compared in normalised form (users
// before groups, each by ID, when several share a DN; entries of other
// kinds are found by ID only). Entries marked Deleted are left out, as
// NewSnapshot leaves them out.
//
// Add also checks what NewSnapshot checks: Err reports the first entry
// whose ID another entry already has, as NewSnapshot would, with user
// entries first and then the others, each in the order they were added.
// Targets is not safe for concurrent use.
type Targets struct {
	attrs []string // lower case
	ids   keyIndex // ID → the first user with it, else the first entry
	dns   keyIndex // DN as spelled → the first by rank
	// By ordinal, in chunks (no slice growing by copies): the ID, the DN
	// ("" for entries outside the DN index), the class, and the values
	// (ordinal*len(attrs) + attribute index). Strings live in bytes, and
	// the maps' keys are slices of it: an entry's own strings are not
	// kept.
	bytes byteStore
	id    column[bref]
	dn    column[bref]   // the DN up to its first comma
	dnUp  column[uint32] // 0 for no DN, else 1 + the index in ups of the rest
	class column[uint8]
	vals  column[bref]
	// ups interns what follows the first comma of DNs: the parent's DN,
	// which many entries share ("OU=Sales,DC=example,DC=test").
	ups   []string
	upIdx map[string]uint32

	norm     map[string]int32
	normOnce sync.Once

	dupUser, dupOther int32 // the first duplicate of each class, or -1
}

const (
	classUser = iota
	classGroup
	classOther
)

// NewTargets returns an empty index keeping the given attributes, lower
// case (a RuleMapper's ReferencedAttributes).
func NewTargets(attrs []string) *Targets {
	low := make([]string, len(attrs))
	for i, a := range attrs {
		low[i] = strings.ToLower(a)
	}
	t := &Targets{attrs: low, dupUser: -1, dupOther: -1}
	seed := maphash.MakeSeed()
	hash := func(s string) uint64 { return maphash.String(seed, s) }
	t.ids = keyIndex{hash: hash, hashed: map[uint64]int32{}, eq: func(o int32, k string) bool { return t.idOf(o) == k }}
	t.dns = keyIndex{hash: hash, hashed: map[uint64]int32{}, eq: t.dnIs}
	t.upIdx = map[string]uint32{}
	return t
}

// Len reports the number of entries added (deleted ones excluded).
func (t *Targets) Len() int { return t.id.n }

// ID returns the ID of the entry added as number i (from 0, deleted
// entries not counted), so that a caller need not keep it.
func (t *Targets) ID(i int) string { return t.bytes.get(t.id.at(int32(i))) }

func (t *Targets) idOf(o int32) string { return t.bytes.get(t.id.at(o)) }

// dnOf returns the DN of entry o, allocating it when it has a parent.
func (t *Targets) dnOf(o int32) string {
	up := t.dnUp.at(o)
	if up == 0 {
		return ""
	}
	if rest := t.ups[up-1]; rest != "" {
		return t.bytes.get(t.dn.at(o)) + rest
	}
	return t.bytes.get(t.dn.at(o))
}

// dnIs reports whether entry o has the DN k, allocating nothing.
func (t *Targets) dnIs(o int32, k string) bool {
	up := t.dnUp.at(o)
	if up == 0 {
		return false
	}
	first, rest := t.bytes.get(t.dn.at(o)), t.ups[up-1]
	return len(k) == len(first)+len(rest) && k[:len(first)] == first && k[len(first):] == rest
}

// up interns the part of a DN after its first comma.
func (t *Targets) up(rest string) uint32 {
	if i, ok := t.upIdx[rest]; ok {
		return i + 1
	}
	rest = strings.Clone(rest)
	i := uint32(len(t.ups))
	t.ups = append(t.ups, rest)
	t.upIdx[rest] = i
	return i + 1
}

// Add indexes an entry. Deleted entries are ignored.
func (t *Targets) Add(e *connector.Entry) {
	if e.Deleted {
		return
	}
	o := int32(t.id.n)
	class := uint8(classOther)
	switch e.Kind {
	case connector.KindUser, "":
		class = classUser
	case connector.KindGroup:
		class = classGroup
	}
	t.id.add(t.bytes.add(e.ID))
	t.class.add(class)
	for _, a := range t.attrs {
		v := ""
		if vs := e.Attrs.Values(a); len(vs) > 0 {
			v = vs[0]
		}
		t.vals.add(t.bytes.add(v))
	}
	t.noteID(o, class)
	if class == classOther || e.DN == "" {
		t.dn.add(0)
		t.dnUp.add(0)
		return
	}
	have, ok := t.dns.get(e.DN)
	if ok { // the same DN: keep it once
		t.dn.add(t.dn.at(have))
		t.dnUp.add(t.dnUp.at(have))
	} else {
		first, rest := e.DN, ""
		if i := strings.IndexByte(e.DN, ','); i >= 0 {
			first, rest = e.DN[:i], e.DN[i:]
		}
		t.dn.add(t.bytes.add(first))
		t.dnUp.add(t.up(rest))
	}
	if !ok || t.before(o, have) {
		t.dns.set(e.DN, o)
	}
}

// noteID indexes the ID of entry o and notes duplicates in NewSnapshot's
// order: users first, then the other entries.
func (t *Targets) noteID(o int32, class uint8) {
	id := t.idOf(o)
	have, ok := t.ids.get(id)
	switch {
	case !ok:
		t.ids.set(id, o)
	case class == classUser && t.class.at(have) == classUser:
		if t.dupUser < 0 {
			t.dupUser = o
		}
	case class == classUser:
		// An earlier entry of another kind has the ID of this user: that
		// one is the duplicate, since users come first.
		t.dupOther = minDup(t.dupOther, have)
		t.ids.set(id, o)
	default:
		t.dupOther = minDup(t.dupOther, o)
	}
}

func minDup(a, b int32) int32 {
	if a < 0 || b < a {
		return b
	}
	return a
}

// before reports whether entry a ranks before entry b in the DN index:
// users before groups, then by ID.
func (t *Targets) before(a, b int32) bool {
	if ca, cb := t.class.at(a), t.class.at(b); ca != cb {
		return ca < cb
	}
	return t.idOf(a) < t.idOf(b)
}

// Err returns a *connector.DuplicateIDError when two entries share an ID,
// the one NewSnapshot would report for the same entries.
func (t *Targets) Err() error {
	switch {
	case t.dupUser >= 0:
		return &connector.DuplicateIDError{ID: strings.Clone(t.idOf(t.dupUser))}
	case t.dupOther >= 0:
		return &connector.DuplicateIDError{ID: strings.Clone(t.idOf(t.dupOther))}
	}
	return nil
}

// find resolves a reference as resolve does against a Snapshot.
func (t *Targets) find(ref string) (int32, bool) {
	if o, ok := t.ids.get(ref); ok {
		return o, true
	}
	if r := strings.TrimSpace(ref); r != ref {
		if o, ok := t.ids.get(r); ok {
			return o, true
		}
	}
	if o, ok := t.dns.get(ref); ok {
		return o, true
	}
	t.normOnce.Do(func() {
		t.norm = map[string]int32{}
		for o := range int32(t.dn.n) {
			dn := t.dnOf(o)
			if t.dnUp.at(o) == 0 {
				continue
			}
			k := normDN(dn)
			if have, ok := t.norm[k]; !ok || t.before(o, have) {
				t.norm[k] = o
			}
		}
	})
	o, ok := t.norm[normDN(ref)]
	return o, ok
}

// attr returns the first value of attribute name of entry o.
func (t *Targets) attr(o int32, name string) string {
	name = strings.ToLower(name)
	for i, a := range t.attrs {
		if a == name {
			return t.bytes.get(t.vals.at(o*int32(len(t.attrs)) + int32(i)))
		}
	}
	return ""
}

// ResolveTargets completes a, mapped by MapEntry, once t holds every
// entry of the read. It equals Resolve with a Snapshot of the same
// entries when the mapping has no role links (roles need the groups of a
// Snapshot).
func (m *RuleMapper) ResolveTargets(a *diff.Account, p *Unresolved, t *Targets) {
	if p == nil || t == nil {
		return
	}
	m.resolveWith(a, p, func(ref, attr string) (string, bool) {
		o, ok := t.find(ref)
		if !ok {
			return "", false
		}
		return t.attr(o, attr), true
	}, false)
}

// The tags of a value in a compact Unresolved.
const (
	pendLiteral = iota // the string follows
	pendDN             // the DN of the entry whose number follows
	pendID             // the ID of the entry whose number follows
)

// AppendUnresolved appends to b a compact form of p (nil included), which
// ReadUnresolved of the same mapper and t reads back. A reference that is, as
// spelled, the ID or the DN of an entry already in t is written as that
// entry's number: a large read then keeps neither a Unresolved per user nor a
// copy of each reference (an AD manager is another entry's DN, shared by
// all the people that manager has).
func (m *RuleMapper) AppendUnresolved(b []byte, p *Unresolved, t *Targets) []byte {
	if p == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p.rules))+1)
	if p.roles {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, pr := range p.rules {
		b = binary.AppendUvarint(b, uint64(slices.Index(m.rules, pr.rule)))
		b = binary.AppendUvarint(b, uint64(len(pr.vals)))
		for _, v := range pr.vals {
			o, isDN := t.dns.get(v)
			if !isDN && pr.rule.lookup != "" {
				if id, ok := t.ids.get(v); ok {
					b = append(b, pendID)
					b = binary.AppendUvarint(b, uint64(id))
					continue
				}
			}
			if isDN && pr.rule.lookup != "" {
				b = append(b, pendDN)
				b = binary.AppendUvarint(b, uint64(o))
				continue
			}
			b = append(b, pendLiteral)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// ReadUnresolved reads what AppendUnresolved wrote at the start of s, and returns
// it with the rest of s. Its strings may be slices of s.
func (m *RuleMapper) ReadUnresolved(s string, t *Targets) (*Unresolved, string) {
	n, s := readUvarint(s)
	if n == 0 {
		return nil, s
	}
	p := &Unresolved{roles: s[0] == 1}
	s = s[1:]
	for range n - 1 {
		var ri, nv uint64
		ri, s = readUvarint(s)
		nv, s = readUvarint(s)
		var vals []string
		if nv > 0 {
			vals = make([]string, nv)
		}
		for i := range vals {
			tag := s[0]
			var x uint64
			x, s = readUvarint(s[1:])
			switch tag {
			case pendDN:
				vals[i] = t.dnOf(int32(x))
			case pendID:
				vals[i] = t.idOf(int32(x))
			default:
				vals[i], s = s[:x], s[x:]
			}
		}
		p.add(pendingRule{rule: m.rules[ri], vals: vals})
	}
	return p, s
}

func readUvarint(s string) (uint64, string) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, s[i+1:]
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	panic("mapping: corrupt compact Unresolved")
}

// column is a growing list kept in fixed chunks: appending never copies.
type column[T any] struct {
	chunks [][]T
	n      int
}

const columnShift = 12

func (c *column[T]) add(v T) {
	if c.n&(1<<columnShift-1) == 0 {
		c.chunks = append(c.chunks, make([]T, 0, 1<<columnShift))
	}
	k := len(c.chunks) - 1
	c.chunks[k] = append(c.chunks[k], v)
	c.n++
}

func (c *column[T]) at(i int32) T { return c.chunks[i>>columnShift][i&(1<<columnShift-1)] }

// byteStore keeps strings' bytes in large shared chunks; a bref names one
// (chunk+1)<<32 | offset, the length as a uvarint before the bytes; 0 is
// the empty string. get returns a slice of the chunk, allocating nothing.
type byteStore struct {
	done []string
	cur  strings.Builder
}

type bref uint64

const byteChunk = 256 << 10

func (b *byteStore) add(s string) bref {
	if s == "" {
		return 0
	}
	if b.cur.Len()+len(s)+binary.MaxVarintLen64 > b.cur.Cap() {
		if b.cur.Len() > 0 {
			b.done = append(b.done, b.cur.String())
		}
		b.cur = strings.Builder{}
		b.cur.Grow(max(byteChunk, len(s)+binary.MaxVarintLen64))
	}
	r := bref(uint64(len(b.done)+1)<<32 | uint64(b.cur.Len()))
	var n [binary.MaxVarintLen64]byte
	b.cur.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	b.cur.WriteString(s)
	return r
}

func (b *byteStore) get(r bref) string {
	if r == 0 {
		return ""
	}
	chunk, off := int(r>>32)-1, int(uint32(r))
	var s string
	if chunk < len(b.done) {
		s = b.done[chunk]
	} else {
		s = b.cur.String()
	}
	n, rest := readUvarint(s[off:])
	return rest[:n]
}

// keyIndex maps strings to entry numbers by a 64-bit hash of the string,
// with the entry's own copy of the string to confirm a hit (eq): half the
// size of a map keyed by the strings. A string whose hash another string took
// first goes into exact (with 64-bit hashes, practically never), so the
// index is exact.
type keyIndex struct {
	hash   func(string) uint64
	hashed map[uint64]int32
	exact  map[string]int32
	eq     func(o int32, k string) bool // whether entry o stands for k
}

func (x *keyIndex) get(k string) (int32, bool) {
	o, ok := x.hashed[x.hash(k)]
	if !ok {
		return 0, false
	}
	if x.eq(o, k) {
		return o, true
	}
	o, ok = x.exact[k]
	return o, ok
}

// set maps k to o, which must stand for k.
func (x *keyIndex) set(k string, o int32) {
	h := x.hash(k)
	if have, ok := x.hashed[h]; !ok || x.eq(have, k) {
		x.hashed[h] = o
		return
	}
	if x.exact == nil {
		x.exact = map[string]int32{}
	}
	x.exact[strings.Clone(k)] = o
}
