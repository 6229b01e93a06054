package ad

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On Samba, the streamed read's memberships are the held read's (see
// heldMembers), in a directory of their own:
//
//	OU=dirsync-members-<tag>
//	  OU=In (the base): m1 … m5; a computer; Team (m1, m2, the computer),
//	    All (Team, m3, outsider), Prim (m5, and m4, whose primary group
//	    it is: AD lists a primary group in neither member nor memberOf)
//	  OU=Out: outsider; OutGroup (m1), outside the base
//
// Nested groups, groups read before and after their members, members and
// groups outside the base, a computer (not read) and a primary group.
func TestStreamedMembershipsOnSamba(t *testing.T) {
	f := needDC(t)
	ctx := testCtx(t)
	conn, err := f.admin()
	require.NoError(t, err)
	defer conn.Close()
	root := "OU=dirsync-members-" + randomTag() + "," + f.env.base
	in, out := "OU=In,"+root, "OU=Out,"+root
	for _, ou := range []string{root, in, out} {
		require.NoError(t, addOU(conn, ou))
	}
	f.extra = append(f.extra, root)
	tag := randomTag()
	dn := map[string]string{}
	for _, u := range []struct{ key, ou string }{{"m1", in}, {"m2", in}, {"m3", in}, {"m4", in}, {"m5", in}, {"outsider", out}} {
		require.NoError(t, f.addUser(conn, user{cn: u.key, sam: u.key + tag, given: u.key, sn: "Member", ou: u.ou}))
		dn[u.key] = "CN=" + u.key + "," + u.ou
	}
	dn["pc"] = "CN=pc" + tag + "," + in
	pc := ldap.NewAddRequest(dn["pc"], nil)
	pc.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user", "computer"})
	pc.Attribute("sAMAccountName", []string{"pc" + tag + "$"})
	pc.Attribute("userAccountControl", []string{"4096"})
	require.NoError(t, conn.Add(pc))
	for _, g := range []struct {
		key, ou string
		members []string
	}{
		{"Team", in, []string{dn["m1"], dn["m2"], dn["pc"]}},
		{"All", in, []string{"CN=Team," + in, dn["m3"], dn["outsider"]}},
		{"Prim", in, []string{dn["m4"], dn["m5"]}},
		{"OutGroup", out, []string{dn["m1"]}},
	} {
		dn[g.key] = "CN=" + g.key + "," + g.ou
		require.NoError(t, addGroup(conn, dn[g.key], g.key+tag, g.members))
	}
	// Prim becomes m4's primary group.
	res, err := conn.Search(ldap.NewSearchRequest(dn["Prim"], ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"objectSid"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	sid := res.Entries[0].GetRawAttributeValue("objectSid")
	require.GreaterOrEqual(t, len(sid), 4)
	rid := binary.LittleEndian.Uint32(sid[len(sid)-4:])
	mod := ldap.NewModifyRequest(dn["m4"], nil)
	mod.Replace("primaryGroupID", []string{strconv.FormatUint(uint64(rid), 10)})
	require.NoError(t, conn.Modify(mod))

	c := f.open(t, in)
	for _, rd := range []*Connector{c, c.Project([]string{"mail", "memberOf"}).(*Connector)} {
		want := heldRead(t, rd)
		got, err := connector.ReadAll(ctx, rd)
		require.NoError(t, err)
		assert.Equal(t, byID(want), byID(got))
		var streamed []connector.Entry
		cur, err := rd.ReadChanges(ctx, nil, func(e connector.Entry) error { streamed = append(streamed, e); return nil })
		require.NoError(t, err)
		assert.Equal(t, byID(want), byID(streamed))
		dec, err := decodeCursor(cur)
		require.NoError(t, err)
		mem, err := dec.members()
		require.NoError(t, err)
		wantMem := membershipsOf(want)
		for g, m := range wantMem {
			if len(m) == 0 {
				wantMem[g] = []string{}
			}
		}
		assert.Equal(t, wantMem, mem)
	}

	// What the oracle says, spelled out.
	all, err := connector.ReadAll(ctx, c)
	require.NoError(t, err)
	snap, err := connector.NewSnapshot(all)
	require.NoError(t, err)
	get := func(key string) *connector.Entry {
		e, ok := snap.ByDN(dn[key])
		require.True(t, ok, "%s not read", key)
		return e
	}
	ids := func(keys ...string) []string {
		var out []string
		for _, k := range keys {
			out = append(out, get(k).ID)
		}
		slices.Sort(out)
		return out
	}
	_, pcRead := snap.ByDN(dn["pc"])
	assert.False(t, pcRead, "a computer is not read")
	assert.Equal(t, 8, snap.Len(), "m1 … m5, Team, All, Prim")
	assert.Equal(t, ids("Team"), get("m1").MemberOf, "OutGroup is outside the base")
	assert.Equal(t, ids("m1", "m2"), get("Team").Members, "the computer is not read")
	assert.Equal(t, ids("Team", "m3"), get("All").Members, "outsider is outside the base")
	assert.Equal(t, ids("All"), get("Team").MemberOf)
	assert.Equal(t, ids("m5"), get("Prim").Members, "m4's primary group lists it in neither member nor memberOf")
	assert.Empty(t, get("m4").MemberOf, fmt.Sprintf("m4: %v", get("m4").MemberOf))
	assert.Equal(t, ids("All", "Team"), slices.Sorted(slices.Values(snap.GroupIDs(get("m2").ID))), "nesting, resolved by the snapshot")
}
