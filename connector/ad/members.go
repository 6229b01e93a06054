package ad

import (
	"context"
	"fmt"
	"slices"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
)

// memberships is what the connector remembers between incremental reads:
// for each group in its view, the IDs of its members (users and groups),
// sorted. A member change shows on the group (its uSNChanged, a DirSync
// entry) but not on the member, whose memberOf is a back link: comparing
// a changed group's new Members with the remembered ones is how the
// removed members are found, on either change-tracking path, and the
// remembered members of a deleted group are the ones it leaves.
type memberships map[string][]string

// membershipsOf collects the groups' members from a complete read.
func membershipsOf(entries []connector.Entry) memberships {
	m := memberships{}
	for _, e := range entries {
		if e.Kind == connector.KindGroup && !e.Deleted {
			m[e.ID] = slices.Compact(slices.Sorted(slices.Values(e.Members)))
		}
	}
	return m
}

// pack encodes the memberships for the cursor: per group, the members'
// objectGUIDs, 16 bytes each (JSON writes them in base64, about 22 bytes
// per membership).
func (m memberships) pack() (map[string][]byte, error) {
	out := make(map[string][]byte, len(m))
	for g, members := range m {
		b := make([]byte, 0, 16*len(members))
		for _, id := range members {
			raw, err := ldaputil.GUIDToBytes(id)
			if err != nil {
				return nil, fmt.Errorf("ad: cursor: member %q of group %s: %w", id, g, err)
			}
			b = append(b, raw...)
		}
		out[g] = b
	}
	return out, nil
}

// unpackMemberships decodes pack's output.
func unpackMemberships(p map[string][]byte) (memberships, error) {
	m := make(memberships, len(p))
	for g, b := range p {
		if len(b)%16 != 0 {
			return nil, fmt.Errorf("group %s: %d bytes of member GUIDs", g, len(b))
		}
		ids := make([]string, 0, len(b)/16)
		for raw := range slices.Chunk(b, 16) {
			id, err := ldaputil.GUIDFromBytes(raw)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		m[g] = ids
	}
	return m, nil
}

// closure returns ids and everything reachable from them through the
// members of groups in any of graphs: the users a nested group brings
// along.
func closure(ids []string, graphs ...memberships) []string {
	seen := map[string]bool{}
	queue := slices.Clone(ids)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		for _, g := range graphs {
			queue = append(queue, g[id]...)
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// symmetricDiff returns the IDs in exactly one of the sorted lists a, b.
func symmetricDiff(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return out
}

// withAffectedMembers completes an incremental read: for every group among
// entries (changed, or Deleted) it compares the group's Members with the
// remembered ones, updates mem, and appends the members whose membership
// changed, added or removed, re-read complete with their current MemberOf.
// A member that is itself a group brings its own members along,
// transitively, since their effective groups changed too; that group is
// yielded as well. Entries already in the read are not read twice.
func (s *session) withAffectedMembers(ctx context.Context, mem memberships, entries []connector.Entry) ([]connector.Entry, error) {
	before := make(memberships, len(mem))
	for g, m := range mem {
		before[g] = m
	}
	var changed []string
	for _, e := range entries {
		if e.Kind != connector.KindGroup {
			continue
		}
		var now []string
		if !e.Deleted {
			now = slices.Compact(slices.Sorted(slices.Values(e.Members)))
			mem[e.ID] = now
		} else {
			delete(mem, e.ID)
		}
		changed = append(changed, symmetricDiff(before[e.ID], now)...)
	}
	if len(changed) == 0 {
		return entries, nil
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.ID] = true
	}
	var reread []change
	for _, id := range closure(changed, before, mem) {
		if have[id] {
			continue
		}
		raw, err := ldaputil.GUIDToBytes(id)
		if err != nil {
			return nil, s.wrap(ctx, "re-read members", fmt.Errorf("member %q: %w", id, err))
		}
		reread = append(reread, change{id: id, guid: raw})
	}
	affected, err := s.reRead(ctx, reread)
	if err != nil {
		return nil, err
	}
	// A group re-read here did not change itself, but its complete
	// Members are as current as a changed group's.
	for _, e := range affected {
		if e.Kind == connector.KindGroup {
			mem[e.ID] = slices.Compact(slices.Sorted(slices.Values(e.Members)))
		}
	}
	return append(entries, affected...), nil
}

// goneGroups returns a Deleted entry for every remembered group that no
// longer exists in the connector's view (deleted, moved out of BaseDN, or
// no longer matching Filter). The uSNChanged fallback needs it: without
// DirSync a deletion leaves no trace to search for, but the groups are few
// and their IDs cheap to list.
func (s *session) goneGroups(ctx context.Context, mem memberships) ([]connector.Entry, error) {
	if len(mem) == 0 {
		return nil, nil
	}
	present := map[string]bool{}
	err := s.search(ctx, "list groups", s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, s.c.filter("(objectClass=group)"),
		[]string{"objectGUID"}, nil, func(le *ldap.Entry) error {
			id, err := ldaputil.GUIDFromBytes(le.GetRawAttributeValue("objectGUID"))
			if err != nil {
				return s.wrap(ctx, "list groups", fmt.Errorf("entry %q: objectGUID: %w", le.DN, err))
			}
			present[id] = true
			return nil
		})
	if err != nil {
		return nil, err
	}
	var gone []connector.Entry
	for _, g := range slices.Sorted(func(yield func(string) bool) {
		for g := range mem {
			if !yield(g) {
				return
			}
		}
	}) {
		if !present[g] {
			gone = append(gone, connector.Entry{ID: g, Kind: connector.KindGroup, Deleted: true})
		}
	}
	return gone, nil
}
