package mapping

import (
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// Large reads
//
// The methods below let dirsync's planner map a large directory without
// holding it: each entry is mapped as the connector yields it (MapEntry),
// and what needs other entries (lookups, roles from groups) is finished
// once the read is indexed (Resolve, or ResolveTargets against a compact
// Targets index), or, on an incremental read, as far as the changed
// entries allow (ResolvePartial). Map(e, dir) equals MapEntry(e) followed
// by Resolve with dir. Hosts do not need them: Map and Describe are the
// mapper's API.

// Unresolved is what MapEntry leaves for Resolve: the rules it could not finish
// alone, in spec order, with the values they need.
//
// A large read holds one Unresolved per user until the read ends, so it is
// kept small: one allocation for up to two rules (a lookup and its
// fallback, as in ADSpec's manager), and lookups with the same from
// attributes share their references.
type Unresolved struct {
	rules  []pendingRule
	roles  bool
	inline [2]pendingRule
}

type pendingRule struct {
	rule *rule
	// vals are, for a lookup rule, its raw references, one per from
	// attribute in order; for a department rule waiting behind an earlier
	// lookup for the same target, its path; for any other rule waiting
	// so, its finished value alone.
	vals []string
}

func (p *Unresolved) add(pr pendingRule) {
	if p.rules == nil {
		p.rules = p.inline[:0]
	}
	p.rules = append(p.rules, pr)
}

// MapEntry maps what e's own attributes decide. It returns what is left
// to do once the directory is indexed (lookups into other entries, roles
// from groups), or nil when nothing is.
func (m *RuleMapper) MapEntry(e *connector.Entry) (diff.Account, *Unresolved, error) {
	if e == nil {
		return diff.Account{}, nil, ErrNilEntry
	}
	var a diff.Account
	if !m.extID {
		a.ExternalID = e.ID
	}
	p := new(Unresolved)
	var waiting []string  // targets behind a pending lookup
	var last *pendingRule // the last lookup
	for _, r := range m.rules {
		if isSet(&a, r.target) {
			continue
		}
		switch {
		case r.lookup != "":
			var refs []string
			if last != nil && slices.Equal(last.rule.from, r.from) {
				refs = last.vals // the same references: read-only, shared
			} else {
				refs = make([]string, len(r.from))
				for i, name := range r.from {
					refs[i] = e.Attr(name)
				}
			}
			p.add(pendingRule{rule: r, vals: refs})
			last = &p.rules[len(p.rules)-1]
			waiting = append(waiting, r.target)
		case r.target == diff.FieldDepartment:
			path := r.path(e, nil, nil)
			if slices.Contains(waiting, r.target) {
				p.add(pendingRule{rule: r, vals: path})
			} else if len(path) > 0 {
				a.Department = path
			}
		default:
			v := r.apply(r.source(e, nil, nil))
			if slices.Contains(waiting, r.target) {
				p.add(pendingRule{rule: r, vals: []string{v}})
			} else if v != "" {
				setField(&a, r.target, v)
			}
		}
	}
	p.roles = len(m.roles) > 0
	if len(p.rules) == 0 && !p.roles {
		return a, nil, nil
	}
	return a, p, nil
}

// Resolve completes a, mapped by MapEntry, once dir holds the whole
// read. e may be a slim copy of the entry (ID, DN, path, memberships and
// the attributes ReferencedAttributes names).
func (m *RuleMapper) Resolve(a *diff.Account, p *Unresolved, e *connector.Entry, dir *connector.Snapshot) {
	m.resolve(a, p, e, dir, false)
}

// ResolvePartial is Resolve for an incremental read, whose dir holds
// only the changed entries: it also returns the target fields it could
// not know (a lookup whose reference is not in dir; roles, since the
// groups are not all there). The caller keeps the app's current values
// for those.
func (m *RuleMapper) ResolvePartial(a *diff.Account, p *Unresolved, e *connector.Entry, dir *connector.Snapshot) []string {
	return m.resolve(a, p, e, dir, true)
}

func (m *RuleMapper) resolve(a *diff.Account, p *Unresolved, e *connector.Entry, dir *connector.Snapshot, partial bool) (unknown []string) {
	if p == nil || e == nil {
		return nil
	}
	var idx *dnIndex
	if dir != nil && len(p.rules) > 0 {
		idx = m.dnIndex(dir)
	}
	unknown = m.resolveWith(a, p, func(ref, attr string) (string, bool) {
		t := resolve(ref, dir, idx)
		if t == nil {
			return "", false
		}
		return t.Attr(attr), true
	}, partial)
	if p.roles && dir != nil {
		a.Roles = m.rolesOf(e, dir)
	}
	if p.roles && partial {
		unknown = append(unknown, diff.FieldRoles)
	}
	return unknown
}

// resolveWith completes the pending rules of a; find returns attribute
// attr of the entry a reference names, and whether that entry is known.
func (m *RuleMapper) resolveWith(a *diff.Account, p *Unresolved, find func(ref, attr string) (string, bool), partial bool) (unknown []string) {
	for _, pr := range p.rules {
		r := pr.rule
		if isSet(a, r.target) {
			continue
		}
		switch {
		case r.lookup != "":
			v := ""
			for _, ref := range pr.vals {
				if strings.TrimSpace(ref) == "" {
					continue
				}
				t, found := find(ref, r.lookup)
				if !found && partial && !slices.Contains(unknown, r.target) {
					unknown = append(unknown, r.target)
				}
				if found {
					v = strings.TrimSpace(t)
				}
				if v != "" {
					break
				}
			}
			if r.target == diff.FieldDepartment {
				if path := r.pathOf(v, nil); len(path) > 0 {
					a.Department = path
				}
			} else if v = r.apply(v); v != "" {
				setField(a, r.target, v)
			}
		case r.target == diff.FieldDepartment:
			if len(pr.vals) > 0 {
				a.Department = pr.vals
			}
		case len(pr.vals) > 0 && pr.vals[0] != "":
			setField(a, r.target, pr.vals[0])
		}
	}
	return unknown
}

// ReferencedAttributes lists, lower case and sorted, the attributes rules
// read from entries other than the one mapped: lookup targets.
func (m *RuleMapper) ReferencedAttributes() []string {
	var out []string
	for _, r := range m.rules {
		if r.lookup != "" {
			out = append(out, r.lookup)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Attributes lists, lower case and sorted, the attributes the mapper
// reads from any entry (Description.Attributes): the attributes of from, the
// placeholders of templates, lookup targets, and, with role links, the
// group name attributes they compare (cn, name, displayName,
// sAMAccountName, mail, email).
func (m *RuleMapper) Attributes() []string {
	var out []string
	for _, r := range m.rules {
		out = append(out, r.from...)
		if r.lookup != "" {
			out = append(out, r.lookup)
		}
		if r.tmpl != nil {
			for _, p := range r.tmpl.parts {
				if p.attr != "" {
					out = append(out, strings.ToLower(p.attr))
				}
			}
		}
	}
	if len(m.roles) > 0 {
		for _, a := range groupNameAttrs {
			out = append(out, strings.ToLower(a))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
