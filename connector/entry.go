package connector

import (
	"slices"
	"strings"
)

// Entry is one object as the directory reports it.
type Entry struct {
	// ID is the immutable identifier: the AD objectGUID in canonical
	// string form, the Entra object id, the Google user id. Never an
	// email or a DN: people are renamed and moved.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// DN is the distinguished name where the source has one.
	DN string `json:"dn,omitempty"`
	// Path is the org-unit path from the root, outermost first, e.g.
	// ["Europe", "Sales department users"]. It holds organizational units
	// only: an AD container such as CN=Users is not an OU and is left out,
	// so scope rules over OUs never match it by accident.
	Path []string `json:"path,omitempty"`
	// Attrs holds the raw attributes. Names are case-insensitive.
	Attrs Attrs `json:"attrs,omitempty"`
	// Disabled is set for accounts that cannot sign in at the source (AD
	// ACCOUNTDISABLE, Entra accountEnabled=false, Google suspended or
	// archived).
	Disabled bool `json:"disabled,omitempty"`
	// Deleted marks a tombstone from an incremental read.
	Deleted bool `json:"deleted,omitempty"`
	// MemberOf lists the IDs of the groups the entry is a direct member of
	// (or transitive member, where the source resolves nesting).
	MemberOf []string `json:"memberOf,omitempty"`
	// Members lists the IDs of a group's members (users or groups).
	Members []string `json:"members,omitempty"`
}

// Attr returns the first value of the named attribute, or "".
func (e *Entry) Attr(name string) string { return e.Attrs.Get(name) }

// Clone returns a deep copy of e.
func (e Entry) Clone() Entry {
	c := e
	c.Path = slices.Clone(e.Path)
	c.MemberOf = slices.Clone(e.MemberOf)
	c.Members = slices.Clone(e.Members)
	c.Attrs = e.Attrs.Clone()
	return c
}

// Attrs is a multi-valued attribute map with case-insensitive names: keys
// are stored in lower case. Set lowercases the name; Get and Values lowercase
// the name they look up. A connector that builds the map literally must use
// lower-case keys (NewSnapshot lowercases any it finds).
type Attrs map[string][]string

// Get returns the first value of the attribute, or "".
func (a Attrs) Get(name string) string {
	if v := a.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values of the attribute.
func (a Attrs) Values(name string) []string {
	if a == nil {
		return nil
	}
	if v, ok := a[name]; ok {
		return v
	}
	if hasUpper(name) {
		return a[strings.ToLower(name)]
	}
	return nil
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

// normalize lowercases keys stored in another case, merging values.
func (a Attrs) normalize() {
	var odd []string
	for k := range a {
		if hasUpper(k) && strings.ToLower(k) != k {
			odd = append(odd, k)
		}
	}
	slices.Sort(odd) // merge in a stable order
	for _, k := range odd {
		lower := strings.ToLower(k)
		a[lower] = append(a[lower], a[k]...)
		delete(a, k)
	}
}

// Set replaces the values of the attribute.
func (a Attrs) Set(name string, values ...string) {
	lower := strings.ToLower(name)
	for k := range a {
		if k != lower && strings.EqualFold(k, name) {
			delete(a, k)
		}
	}
	a[lower] = values
}

// Clone returns a deep copy. All values share one new backing array, each
// slice capped so that appending to one never writes into another.
func (a Attrs) Clone() Attrs {
	if a == nil {
		return nil
	}
	n := 0
	for _, v := range a {
		n += len(v)
	}
	slab := make([]string, 0, n)
	c := make(Attrs, len(a))
	for k, v := range a {
		if v == nil {
			c[k] = nil
			continue
		}
		start := len(slab)
		slab = append(slab, v...)
		c[k] = slab[start:len(slab):len(slab)]
	}
	return c
}
