package connector

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// Snapshot is an indexed, complete read of a directory: entries by ID and
// the transitive group membership of every entry. Scope rules and mappers
// consult it; it is built once per read and not modified afterwards. It
// caches membership lookups and is not safe for concurrent use.
type Snapshot struct {
	byID   map[string]*Entry
	users  []*Entry
	groups []*Entry
	// byDN maps a normalised DN to its entry.
	byDN map[string]*Entry
	// memberOf maps a member ID to the groups listing it in Members.
	memberOf map[string][]string
	// closure caches transitive group IDs per entry ID.
	closure map[string][]string

	memoMu sync.Mutex
	memo   map[any]any
}

// Memo returns the value the snapshot keeps under key, building it with
// build on first use. A mapper or a policy keeps its own indexes of a
// snapshot here, so that they live exactly as long as the snapshot: an
// index cached anywhere else would keep a finished read's entries alive
// until the next read. Use an unexported key type, as with context
// values. Memo is safe for concurrent use.
func (s *Snapshot) Memo(key any, build func() any) any {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	if v, ok := s.memo[key]; ok {
		return v
	}
	if s.memo == nil {
		s.memo = map[any]any{}
	}
	v := build()
	s.memo[key] = v
	return v
}

// NewSnapshot indexes entries. It fails with a *DuplicateIDError if two
// entries share an ID, and ignores entries with Deleted set. It lowercases
// attribute names that a connector stored in another case.
func NewSnapshot(entries []Entry) (*Snapshot, error) {
	s := &Snapshot{byID: make(map[string]*Entry, len(entries)), closure: map[string][]string{}}
	for i := range entries {
		e := &entries[i]
		if e.Deleted {
			continue
		}
		if _, dup := s.byID[e.ID]; dup {
			return nil, &DuplicateIDError{ID: e.ID}
		}
		e.Attrs.normalize()
		s.byID[e.ID] = e
		switch e.Kind {
		case KindGroup:
			s.groups = append(s.groups, e)
		case KindUser, "":
			s.users = append(s.users, e)
		}
	}
	byID := func(a, b *Entry) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(s.users, byID)
	slices.SortFunc(s.groups, byID)
	return s, nil
}

// Len reports the number of entries.
func (s *Snapshot) Len() int { return len(s.byID) }

// Get returns the entry with the ID.
func (s *Snapshot) Get(id string) (*Entry, bool) {
	e, ok := s.byID[id]
	return e, ok
}

// ByDN returns the entry with the distinguished name, compared after
// NormalizeDN.
func (s *Snapshot) ByDN(dn string) (*Entry, bool) {
	if s.byDN == nil {
		s.byDN = make(map[string]*Entry, len(s.byID))
		for _, list := range [][]*Entry{s.users, s.groups} {
			for _, e := range list {
				if e.DN != "" {
					s.byDN[NormalizeDN(e.DN)] = e
				}
			}
		}
	}
	e, ok := s.byDN[NormalizeDN(dn)]
	return e, ok
}

// NormalizeDN returns a comparison key for a DN: lower case, with the
// spaces around the separators between RDNs and around '=' removed. It does
// not decode escapes, so two spellings of one escaped value may differ; the
// DNs a directory returns for one object are spelled alike.
func NormalizeDN(dn string) string {
	var b strings.Builder
	b.Grow(len(dn))
	escaped, pendingSpace := false, false
	var last rune
	for _, r := range strings.ToLower(strings.TrimSpace(dn)) {
		separator := false
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == ' ':
			pendingSpace = true
			continue
		case r == ',' || r == '=' || r == '+':
			// Spaces around a separator are not part of the name.
			separator, pendingSpace = true, false
		}
		if pendingSpace && last != ',' && last != '=' && last != '+' {
			b.WriteByte(' ')
		}
		pendingSpace = false
		b.WriteRune(r)
		if separator {
			last = r
		} else {
			last = 0
		}
	}
	return b.String()
}

// Users returns the user entries sorted by ID.
func (s *Snapshot) Users() []*Entry { return s.users }

// Groups returns the group entries sorted by ID.
func (s *Snapshot) Groups() []*Entry { return s.groups }

// parents returns the direct parent group IDs of id, from both directions
// a source may report membership in: the member's MemberOf and the group's
// Members.
func (s *Snapshot) parents(id string) []string {
	var out []string
	if e, ok := s.byID[id]; ok {
		out = append(out, e.MemberOf...)
	}
	return out
}

// GroupIDs returns the IDs of every group the entry belongs to, directly or
// through nested groups, sorted. Cycles are safe.
func (s *Snapshot) GroupIDs(id string) []string {
	if ids, ok := s.closure[id]; ok {
		return ids
	}
	seen := map[string]bool{}
	queue := append([]string(nil), s.directParents(id)...)
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if seen[g] || g == id {
			continue
		}
		seen[g] = true
		queue = append(queue, s.directParents(g)...)
	}
	ids := make([]string, 0, len(seen))
	for g := range seen {
		ids = append(ids, g)
	}
	slices.Sort(ids)
	s.closure[id] = ids
	return ids
}

func (s *Snapshot) buildReverse() {
	if s.memberOf != nil {
		return
	}
	s.memberOf = map[string][]string{}
	for _, g := range s.groups {
		for _, m := range g.Members {
			s.memberOf[m] = append(s.memberOf[m], g.ID)
		}
	}
}

func (s *Snapshot) directParents(id string) []string {
	s.buildReverse()
	p := s.parents(id)
	return append(p, s.memberOf[id]...)
}

// GroupsOf returns the group entries the entry belongs to transitively,
// sorted by ID. Group IDs not present in the snapshot are left out.
func (s *Snapshot) GroupsOf(id string) []*Entry {
	var out []*Entry
	for _, g := range s.GroupIDs(id) {
		if e, ok := s.byID[g]; ok {
			out = append(out, e)
		}
	}
	return out
}
