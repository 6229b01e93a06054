package ad

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// convert converts one entry with a converter of its own.
func convert(le *ldap.Entry, now time.Time) (connector.Entry, error) {
	return newConverter().convert(le, now)
}

// heldMembers is how the connector resolved memberships when it held every
// entry of a full read before yielding the first: the oracle of the
// streaming read. MemberOf and Members name the entries of the read by
// ID; DNs outside the read are dropped, and MemberOf names groups only.
func heldMembers(entries []connector.Entry) {
	byDN := make(map[string]int, len(entries))
	for i := range entries {
		if k, err := ldaputil.NormalizeDN(entries[i].DN); err == nil {
			byDN[k] = i
		}
	}
	ids := func(dns []string, kind connector.Kind) []string {
		var out []string
		for _, dn := range dns {
			k, err := ldaputil.NormalizeDN(dn)
			if err != nil {
				continue
			}
			if i, ok := byDN[k]; ok && (kind == "" || entries[i].Kind == kind) {
				out = append(out, entries[i].ID)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for i := range entries {
		e := &entries[i]
		e.MemberOf = ids(e.Attrs.Values("memberOf"), connector.KindGroup)
		if e.Kind == connector.KindGroup {
			e.Members = ids(e.Attrs.Values("member"), "")
		}
	}
}

// heldConvert is how the connector converted an entry before the
// converter: the oracle of TestConverterEqualsHeldConvert.
func heldConvert(le *ldap.Entry, now time.Time) (connector.Entry, error) {
	raw := le.GetRawAttributeValue("objectGUID")
	id, err := ldaputil.GUIDFromBytes(raw)
	if err != nil {
		return connector.Entry{}, fmt.Errorf("ad: entry %q: objectGUID: %w", le.DN, err)
	}
	e := connector.Entry{ID: id, Kind: connector.KindUser, DN: le.DN, Attrs: connector.Attrs{}}
	for _, oc := range le.GetAttributeValues("objectClass") {
		if strings.EqualFold(oc, "group") {
			e.Kind = connector.KindGroup
		}
	}
	if e.Path, err = ldaputil.OUPath(le.DN); err != nil {
		return connector.Entry{}, fmt.Errorf("ad: entry %q: %w", le.DN, err)
	}
	for _, a := range le.Attributes {
		name := a.Name
		if strings.EqualFold(name, "objectGUID") || len(a.Values) == 0 {
			continue
		}
		e.Attrs.Set(name, slices.Clone(a.Values)...)
	}
	e.Attrs.Set("objectGUID", id)
	if e.Kind == connector.KindUser {
		if v := le.GetAttributeValue("userAccountControl"); v != "" {
			uac, err := ldaputil.ParseUserAccountControl(v)
			if err != nil {
				return connector.Entry{}, fmt.Errorf("ad: entry %q: %w", le.DN, err)
			}
			e.Disabled = uac.Disabled()
		}
		if expired(le.GetAttributeValue("accountExpires"), now) {
			e.Disabled = true
			e.Attrs.Set("accountexpired", "true")
		}
		if lockedOut(le.GetAttributeValue("msDS-User-Account-Control-Computed"), le.GetAttributeValue("lockoutTime")) {
			e.Attrs.Set("lockedout", "true")
		}
	}
	return e, nil
}

// The converter, which parses each parent DN once and reads the
// attributes in one pass, converts every entry as the connector did
// before, one entry at a time: DNs with escapes, multi-valued RDNs, OU
// leaves, quoted values and several spellings of one attribute.
func TestConverterEqualsHeldConvert(t *testing.T) {
	dns := []string{
		"CN=Alice,OU=Sales department users,OU=Europe,DC=fake,DC=test",
		"CN=Bob,OU=Sales department users,OU=Europe,DC=fake,DC=test",
		"cn=carol , ou=Sales department users,OU=Europe,DC=fake,DC=test",
		`CN=Smith\, John,OU=Sales department users,OU=Europe,DC=fake,DC=test`,
		`CN=Smith\2C Jane,OU=Sales department users,OU=Europe,DC=fake,DC=test`,
		`CN=Back\\slash,OU=IT,DC=fake,DC=test`,
		"CN=Иван Петров,OU=Sales department users,OU=Europe,DC=fake,DC=test",
		"CN=Multi+OU=Hidden,OU=IT,DC=fake,DC=test",
		"OU=Leaf,OU=IT,DC=fake,DC=test",
		"ou=leaf2,OU=IT,DC=fake,DC=test",
		" OU = Spaced ,OU=IT,DC=fake,DC=test",
		`CN="Quoted, Name",OU=IT,DC=fake,DC=test`,
		"CN=Semi;OU=IT,DC=fake,DC=test",
		"CN=Plain,CN=Users,DC=fake,DC=test",
		"CN=Root",
		"CN=Dave,OU=Europe+L=Paris,DC=fake,DC=test",
		"CN=Bad,OU=,DC=fake,DC=test",
		"CN=Broken\\",
		"not a DN",
	}
	guid := make([]byte, 16)
	guid[0] = 0xd5
	now := time.Now()
	conv := newConverter()
	for round := range 2 { // the second round reads the converter's cache
		for i, dn := range dns {
			attrs := []*ldap.EntryAttribute{
				{Name: "objectGUID", Values: []string{string(guid)}, ByteValues: [][]byte{guid}},
				{Name: "objectClass", Values: []string{"top", "person", "user"}},
				{Name: "sAMAccountName", Values: []string{fmt.Sprint("u", i)}},
				{Name: "MAIL", Values: []string{"upper@fake.test"}},
				{Name: "mail", Values: []string{"lower@fake.test"}},
				{Name: "description", Values: nil},
				{Name: "userAccountControl", Values: []string{[]string{"512", "514", "66048"}[i%3]}},
				{Name: "accountExpires", Values: []string{[]string{"0", "1", "9223372036854775807"}[i%3]}},
				{Name: "lockoutTime", Values: []string{[]string{"0", "133000000000000000"}[i%2]}},
			}
			if i%4 == 0 {
				attrs = append(attrs, &ldap.EntryAttribute{Name: "msDS-User-Account-Control-Computed", Values: []string{"16"}})
			}
			if i%5 == 0 {
				attrs[1] = &ldap.EntryAttribute{Name: "objectClass", Values: []string{"top", "Group"}}
			}
			clone := func() *ldap.Entry {
				out := &ldap.Entry{DN: dn}
				for _, a := range attrs {
					out.Attributes = append(out.Attributes, &ldap.EntryAttribute{Name: a.Name,
						Values: slices.Clone(a.Values), ByteValues: slices.Clone(a.ByteValues)})
				}
				return out
			}
			want, wantErr := heldConvert(clone(), now)
			got, gotErr := conv.convert(clone(), now)
			if wantErr != nil {
				assert.EqualError(t, gotErr, wantErr.Error(), "round %d, %q", round, dn)
				continue
			}
			require.NoError(t, gotErr, "round %d, %q", round, dn)
			assert.Equal(t, want, got, "round %d, %q", round, dn)
		}
	}
	// Each entry owns its path.
	a, err := conv.convert(&ldap.Entry{DN: dns[0], Attributes: []*ldap.EntryAttribute{{Name: "objectGUID", ByteValues: [][]byte{guid}, Values: []string{string(guid)}}}}, now)
	require.NoError(t, err)
	a.Path[0] = "changed"
	b, err := conv.convert(&ldap.Entry{DN: dns[1], Attributes: []*ldap.EntryAttribute{{Name: "objectGUID", ByteValues: [][]byte{guid}, Values: []string{string(guid)}}}}, now)
	require.NoError(t, err)
	assert.Equal(t, []string{"Europe", "Sales department users"}, b.Path)
}

// membersDC is a directory for the membership tests, read with base
// OU=In,DC=fake,DC=test and pages of 100: 250 users; Staff (users 0 to
// 199, Team, and user 210, whose memberOf does not name it back), Team
// (users 5 and 6, and a user outside the base; itself in Staff), Empty,
// and Outside, a group outside the base with user 1. Groups come first,
// in the middle and last in the DC's order, so some are read before
// their members and some after. Memberships name DNs in other spellings
// and DNs that do not exist.
func membersDC(t *testing.T) (*countingDC, Config) {
	d := &countingDC{t: t, base: "DC=fake,DC=test", dirSync: map[string]bool{}}
	const in = "OU=In,DC=fake,DC=test"
	staff := "CN=Staff,OU=Groups," + in
	team := "CN=Team,OU=Groups," + in
	outside := "CN=Outside,OU=Elsewhere,DC=fake,DC=test"
	outUser := "CN=Out,OU=Elsewhere,DC=fake,DC=test"
	user := func(i int) string { return fmt.Sprintf("CN=User %03d,OU=Staff,%s", i, in) }
	d.add(team, map[string][]string{"objectClass": {"top", "group"}, "cn": {"Team"},
		"member": {user(5), strings.ToLower(user(6)), outUser}, "memberOf": {staff}})
	var staffMembers []string
	for i := range 250 {
		memberOf := []string{}
		if i < 200 {
			memberOf = append(memberOf, staff)
			staffMembers = append(staffMembers, user(i))
		}
		if i == 5 || i == 6 {
			memberOf = append(memberOf, "cn=team, ou=groups,ou=in,dc=fake,dc=test")
		}
		if i == 1 {
			memberOf = append(memberOf, outside, "CN=Gone,OU=Groups,"+in)
		}
		if i == 120 {
			d.add(staff, map[string][]string{"objectClass": {"top", "group"}, "cn": {"Staff"},
				"member": append(staffMembers, team, user(210), user(230), "CN=Gone user,"+in)})
		}
		d.add(user(i), map[string][]string{"objectClass": {"top", "person", "user"},
			"mail": {fmt.Sprintf("u%03d@fake.test", i)}, "userAccountControl": {"512"}, "memberOf": memberOf})
	}
	// Staff was added before users 120 to 199 existed: complete it.
	for _, o := range d.objs {
		if o.dn == staff {
			o.attrs["member"] = append(staffMembers[:0:0], staffMembers...)
			o.attrs["member"] = append(o.attrs["member"], team, user(210), "CN=Gone user,"+in)
		}
	}
	d.add(outside, map[string][]string{"objectClass": {"top", "group"}, "cn": {"Outside"}, "member": {user(1)}})
	d.add(outUser, map[string][]string{"objectClass": {"top", "person", "user"}, "memberOf": {team}})
	d.add("CN=Empty,OU=Groups,"+in, map[string][]string{"objectClass": {"top", "group"}, "cn": {"Empty"}})
	cfg := d.config(d.start())
	cfg.BaseDN = in
	return d, cfg
}

// heldRead reads as the connector did when it held the whole directory:
// every entry, then the memberships resolved across them.
func heldRead(t *testing.T, c *Connector) []connector.Entry {
	t.Helper()
	s, err := c.dial(t.Context())
	require.NoError(t, err)
	defer s.close()
	entries, err := s.searchEntries(t.Context(), "held read", c.filter(baseFilter))
	require.NoError(t, err)
	if c.tracksMembers() {
		heldMembers(entries)
	}
	return entries
}

func byID(entries []connector.Entry) []connector.Entry {
	out := slices.Clone(entries)
	slices.SortFunc(out, func(a, b connector.Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// The streamed read resolves memberships exactly as the read that held
// every entry: nested groups, groups read before and after their members,
// groups and members outside the base dropped, DNs in other spellings
// matched, member and memberOf each taken from its own side. Users keep
// the DC's order and come first; the groups follow in the DC's order.
// Through Read, ReadChanges and a projection naming memberOf, whose
// cursor remembers what the held read's groups' Members were.
func TestStreamedMembershipsEqualHeld(t *testing.T) {
	_, cfg := membersDC(t)
	c, err := Open(t.Context(), cfg)
	require.NoError(t, err)
	for _, conn := range []*Connector{c, c.Project([]string{"mail", "memberOf"}).(*Connector)} {
		want := heldRead(t, conn)
		got, err := connector.ReadAll(t.Context(), conn)
		require.NoError(t, err)
		assert.Equal(t, byID(want), byID(got))

		var order []string
		for _, kind := range []connector.Kind{connector.KindUser, connector.KindGroup} {
			for _, e := range want {
				if e.Kind == kind {
					order = append(order, e.ID)
				}
			}
		}
		gotOrder := make([]string, len(got))
		for i, e := range got {
			gotOrder[i] = e.ID
		}
		assert.Equal(t, order, gotOrder, "users in the DC's order, then groups")

		var streamed []connector.Entry
		cur, err := conn.ReadChanges(t.Context(), nil, func(e connector.Entry) error {
			streamed = append(streamed, e)
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, byID(want), byID(streamed))
		dec, err := decodeCursor(cur)
		require.NoError(t, err)
		mem, err := dec.members()
		require.NoError(t, err)
		wantMem := membershipsOf(want)
		for g, m := range wantMem { // the cursor's encoding does not tell nil from empty
			if len(m) == 0 {
				wantMem[g] = []string{}
			}
		}
		assert.Equal(t, wantMem, mem)
	}
	// Spot checks, so that the oracle itself is what it should be.
	all, err := connector.ReadAll(t.Context(), c)
	require.NoError(t, err)
	snap, err := connector.NewSnapshot(all)
	require.NoError(t, err)
	id := func(dn string) string {
		for _, e := range all {
			if e.DN == dn {
				return e.ID
			}
		}
		t.Fatalf("%s not read", dn)
		return ""
	}
	const in = "OU=In,DC=fake,DC=test"
	staff, team := id("CN=Staff,OU=Groups,"+in), id("CN=Team,OU=Groups,"+in)
	u := func(i int) *connector.Entry {
		e, _ := snap.Get(id(fmt.Sprintf("CN=User %03d,OU=Staff,%s", i, in)))
		return e
	}
	assert.Equal(t, slices.Sorted(slices.Values([]string{staff, team})), u(5).MemberOf)
	assert.Equal(t, []string{staff}, u(1).MemberOf, "Outside (outside the base) and a gone group dropped")
	assert.Nil(t, u(230).MemberOf)
	g, _ := snap.Get(staff)
	assert.Len(t, g.Members, 202, "200 users, Team, and user 210 from member alone")
	tm, _ := snap.Get(team)
	assert.Equal(t, []string{staff}, tm.MemberOf)
	assert.Len(t, tm.Members, 2, "the member outside the base dropped")
}

// Entries reach the consumer while the DC is still serving pages, with
// and without memberships.
func TestReadStreams(t *testing.T) {
	for _, members := range []bool{false, true} {
		dc := newCountingDC(t, 1050) // 11 pages of 100
		c, err := Open(t.Context(), dc.config(dc.start()))
		require.NoError(t, err)
		var conn connector.Connector = c
		if !members {
			conn = c.Project([]string{"mail"})
		}
		var mu sync.Mutex
		served := 0
		dc.onPage = func(int) { mu.Lock(); served++; mu.Unlock() }
		atFirst, n := -1, 0
		for _, err := range conn.Read(t.Context()) {
			require.NoError(t, err)
			if n == 0 {
				mu.Lock()
				atFirst = served
				mu.Unlock()
			}
			n++
		}
		assert.Equal(t, 1051, n)
		assert.LessOrEqual(t, atFirst, 2, "memberships %v: pages served when the first entry was yielded", members)
		got, _ := dc.snapshot()
		assert.Equal(t, 11, got.Paged)
		if members {
			assert.Equal(t, 1, got.GroupIndex, "one page: the narrow search of the one group")
		} else {
			assert.Zero(t, got.GroupIndex, "no group search without memberships")
		}
	}
}

// A group that appears between the narrow search of the groups and the
// read is missing from the MemberOf of the users yielded before the end;
// the cursor remembers it without members, so the next incremental read,
// which reports the new group, re-reads its members with it.
func TestGroupCreatedDuringReadHealsNextRead(t *testing.T) {
	dc := newCountingDC(t, 450)
	c, err := Open(t.Context(), dc.config(dc.start()))
	require.NoError(t, err)
	const newDN = "CN=New,OU=Groups,DC=fake,DC=test"
	var members []string
	dc.onPage = func(p int) {
		if p != 0 {
			return
		}
		dc.mu.Lock()
		defer dc.mu.Unlock()
		for _, o := range dc.objs[200:300] {
			members = append(members, o.dn)
			// memberOf is a back link: not a change of the user.
			o.attrs["memberOf"] = append(slices.Clone(o.attrs["memberOf"]), newDN)
		}
		dc.add(newDN, map[string][]string{"objectClass": {"top", "group"}, "cn": {"New"}, "member": members})
	}
	latest := map[string]connector.Entry{}
	cur, err := c.ReadChanges(t.Context(), nil, func(e connector.Entry) error { latest[e.ID] = e; return nil })
	require.NoError(t, err)
	dc.onPage = nil
	var newID string
	for _, e := range latest {
		if e.DN == newDN {
			newID = e.ID
		}
	}
	require.NotEmpty(t, newID, "the new group was read")
	assert.Len(t, latest[newID].Members, 100)
	missing := func() int {
		n := 0
		for _, e := range latest {
			if slices.Contains(members, e.DN) && !slices.Contains(e.MemberOf, newID) {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 100, missing(), "yielded before the group was known")
	_, err = c.ReadChanges(t.Context(), cur, func(e connector.Entry) error { latest[e.ID] = e; return nil })
	require.NoError(t, err)
	assert.Zero(t, missing(), "the next incremental read re-reads the new group's members")
}

// membershipsOf collects the groups' members from a complete read: the memberships a
// full read's cursor remembered when the connector held every entry.
func membershipsOf(entries []connector.Entry) memberships {
	m := memberships{}
	for _, e := range entries {
		if e.Kind == connector.KindGroup && !e.Deleted {
			m[e.ID] = slices.Compact(slices.Sorted(slices.Values(e.Members)))
		}
	}
	return m
}
