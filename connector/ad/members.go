package ad

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

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

// memberIndex resolves the memberships of a full read while its entries
// stream: MemberOf and Members name entries by ID, and memberOf and
// member name them by DN, so some entries must be known before others.
//
// A narrow search of the groups alone (objectGUID and objectClass, with the
// read's filter: the groups a full read returns) comes first and indexes
// them by DN; a user is then resolved, and yielded, as soon as it arrives:
// its MemberOf is its memberOf resolved against that index. A group's
// Members can name entries read after it, so the groups are held until
// the end of the read, with the DN of every entry read (a 128-bit hash of
// the normalized DN, and the ID: about 100 bytes an entry); their Members
// and MemberOf are then resolved against the whole read, as they were when
// the connector held every entry. On a directory that does not change
// during the read the result is the same; a group that appears (created,
// renamed, moved in) between the narrow search and the read is missing
// from the MemberOf of the users yielded before the end, and the cursor
// remembers it with no members, so that the next incremental read, which
// reports that group as changed, re-reads its members.
type memberIndex struct {
	seeds  [2]maphash.Seed
	groups map[dnKey]string // the narrow search: normalized DN → group ID
	all    map[dnKey]string // every entry read: normalized DN → ID
	held   []connector.Entry
}

// dnKey is a 128-bit hash of a normalized DN: two entries of one read
// collide with a probability of about n²/2¹²⁹.
type dnKey [2]uint64

func newMemberIndex() *memberIndex {
	return &memberIndex{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		groups: map[dnKey]string{}, all: map[dnKey]string{}}
}

// key returns the key of dn, or false for a DN that does not parse (such a
// DN is never matched, as before).
func (x *memberIndex) key(dn string) (dnKey, bool) {
	n, err := ldaputil.NormalizeDN(dn)
	if err != nil {
		return dnKey{}, false
	}
	return dnKey{maphash.String(x.seeds[0], n), maphash.String(x.seeds[1], n)}, true
}

// resolve returns the IDs that dns name in index, sorted, without
// duplicates; nil for none.
func (x *memberIndex) resolve(dns []string, index map[dnKey]string) []string {
	var out []string
	for _, dn := range dns {
		if k, ok := x.key(dn); ok {
			if id, ok := index[k]; ok {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// groupIndex runs the narrow search of the groups.
func (s *session) groupIndex(ctx context.Context) (*memberIndex, error) {
	const op = "search groups for memberships"
	x := newMemberIndex()
	err := s.search(ctx, op, s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, s.c.filter("(objectClass=group)"),
		[]string{"objectGUID", "objectClass"}, nil, func(le *ldap.Entry) error {
			if !slices.ContainsFunc(le.GetAttributeValues("objectClass"), func(oc string) bool { return strings.EqualFold(oc, "group") }) {
				return nil
			}
			id, err := ldaputil.GUIDFromBytes(le.GetRawAttributeValue("objectGUID"))
			if err != nil {
				return fmt.Errorf("ad: entry %q: objectGUID: %w", le.DN, err)
			}
			if k, ok := x.key(le.DN); ok {
				x.groups[k] = id
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// add notes e as read. A user gets its MemberOf and add reports true: it
// can be yielded. A group is kept for finish, and add reports false.
func (x *memberIndex) add(e *connector.Entry) bool {
	if k, ok := x.key(e.DN); ok {
		x.all[k] = e.ID
	}
	if e.Kind == connector.KindGroup {
		x.held = append(x.held, *e)
		return false
	}
	e.MemberOf = x.resolve(e.Attrs.Values("memberOf"), x.groups)
	return true
}

// finish resolves the held groups, and returns them in the order they
// were read with the memberships a cursor remembers.
func (x *memberIndex) finish() ([]connector.Entry, memberships) {
	read := make(map[dnKey]string, len(x.held))
	for _, g := range x.held {
		if k, ok := x.key(g.DN); ok {
			read[k] = g.ID
		}
	}
	mem := make(memberships, len(x.held))
	for i := range x.held {
		g := &x.held[i]
		g.MemberOf = x.resolve(g.Attrs.Values("memberOf"), read)
		g.Members = x.resolve(g.Attrs.Values("member"), x.all)
		if k, ok := x.key(g.DN); ok && x.groups[k] == g.ID {
			mem[g.ID] = slices.Clone(g.Members)
		} else {
			// Not in the narrow search: the users yielded before lack
			// it in MemberOf. Remembered without members, its members
			// are re-read by the next incremental read.
			mem[g.ID] = nil
		}
	}
	groups := x.held
	x.held, x.all, x.groups = nil, nil, nil
	return groups, mem
}
