package mapping

import (
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
	attrs []string         // lower case
	ids   map[string]int32 // ID → the first user with it, else the first entry
	dns   map[string]int32 // DN as spelled → the first by rank
	id    []string         // by ordinal
	dn    []string         // by ordinal, "" for entries outside the DN index
	class []uint8          // by ordinal: classUser, classGroup, classOther
	vals  []string         // ordinal*len(attrs) + attribute index

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
// case (a Deferred mapper's ReferencedAttributes).
func NewTargets(attrs []string) *Targets {
	low := make([]string, len(attrs))
	for i, a := range attrs {
		low[i] = strings.ToLower(a)
	}
	return &Targets{attrs: low, ids: map[string]int32{}, dns: map[string]int32{}, dupUser: -1, dupOther: -1}
}

// Len reports the number of entries added (deleted ones excluded).
func (t *Targets) Len() int { return len(t.id) }

// Add indexes an entry. Deleted entries are ignored.
func (t *Targets) Add(e *connector.Entry) {
	if e.Deleted {
		return
	}
	o := int32(len(t.id))
	class := uint8(classOther)
	switch e.Kind {
	case connector.KindUser, "":
		class = classUser
	case connector.KindGroup:
		class = classGroup
	}
	t.id = append(t.id, e.ID)
	t.class = append(t.class, class)
	for _, a := range t.attrs {
		v := ""
		if vs := e.Attrs.Values(a); len(vs) > 0 {
			v = vs[0]
		}
		t.vals = append(t.vals, v)
	}
	t.noteID(o, class)
	dn := ""
	if class != classOther {
		dn = e.DN
	}
	t.dn = append(t.dn, dn)
	if dn != "" {
		if have, ok := t.dns[dn]; !ok || t.before(o, have) {
			t.dns[dn] = o
		}
	}
}

// noteID indexes the ID of entry o and notes duplicates in NewSnapshot's
// order: users first, then the other entries.
func (t *Targets) noteID(o int32, class uint8) {
	have, ok := t.ids[t.id[o]]
	switch {
	case !ok:
		t.ids[t.id[o]] = o
	case class == classUser && t.class[have] == classUser:
		if t.dupUser < 0 {
			t.dupUser = o
		}
	case class == classUser:
		// An earlier entry of another kind has the ID of this user: that
		// one is the duplicate, since users come first.
		t.dupOther = minDup(t.dupOther, have)
		t.ids[t.id[o]] = o
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
	if t.class[a] != t.class[b] {
		return t.class[a] < t.class[b]
	}
	return t.id[a] < t.id[b]
}

// Err returns a *connector.DuplicateIDError when two entries share an ID,
// the one NewSnapshot would report for the same entries.
func (t *Targets) Err() error {
	switch {
	case t.dupUser >= 0:
		return &connector.DuplicateIDError{ID: t.id[t.dupUser]}
	case t.dupOther >= 0:
		return &connector.DuplicateIDError{ID: t.id[t.dupOther]}
	}
	return nil
}

// find resolves a reference as resolve does against a Snapshot.
func (t *Targets) find(ref string) (int32, bool) {
	if o, ok := t.ids[ref]; ok {
		return o, true
	}
	if r := strings.TrimSpace(ref); r != ref {
		if o, ok := t.ids[r]; ok {
			return o, true
		}
	}
	if o, ok := t.dns[ref]; ok {
		return o, true
	}
	t.normOnce.Do(func() {
		t.norm = map[string]int32{}
		for o, dn := range t.dn {
			if dn == "" {
				continue
			}
			k := normDN(dn)
			if have, ok := t.norm[k]; !ok || t.before(int32(o), have) {
				t.norm[k] = int32(o)
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
			return t.vals[int(o)*len(t.attrs)+i]
		}
	}
	return ""
}

// TargetResolver is an optional capability of a Deferred mapper: it
// resolves what MapEntry left pending against a Targets index instead of a
// Snapshot. It cannot compute roles (they need the groups of a Snapshot):
// a Syncer uses it only when the mapping uses no groups.
type TargetResolver interface {
	Deferred
	// ResolveTargets completes a, mapped by MapEntry, once t holds every
	// entry of the read. It equals Resolve with a Snapshot of the same
	// entries when the mapping has no role links.
	ResolveTargets(a *diff.Account, p *Pending, t *Targets)
}

var _ TargetResolver = (*RuleMapper)(nil)

// ResolveTargets implements TargetResolver.
func (m *RuleMapper) ResolveTargets(a *diff.Account, p *Pending, t *Targets) {
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
