package ad

import (
	"os"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupChangesIncremental changes group memberships on the DC and
// checks that the next incremental read reports each change: the group
// complete with its current Members (a deleted group as a tombstone), and
// every user whose membership changed (added, removed, or reached through
// a nested group) complete with its current MemberOf. It runs on the
// DirSync path (bound as the administrator) and on the uSNChanged
// fallback (bound as an ordinary user, whom the DC refuses DirSync).
func TestGroupChangesIncremental(t *testing.T) {
	f := needDC(t)
	conn, err := f.admin()
	require.NoError(t, err)
	defer conn.Close()
	readers := "OU=dirsync-readers-" + f.tag + "," + f.env.base
	require.NoError(t, addOU(conn, readers))
	f.extra = append(f.extra, readers)
	password := "Reader-" + f.tag + "-Pw2!"
	require.NoError(t, f.addUser(conn, user{key: "greader", cn: "Group reader", sam: "greader" + f.tag, ou: readers}))
	mod := ldap.NewModifyRequest(f.dn["greader"], nil)
	mod.Replace("unicodePwd", []string{utf16LE(`"` + password + `"`)})
	require.NoError(t, conn.Modify(mod))

	for _, path := range []string{"DirSync", "uSNChanged"} {
		t.Run(path, func(t *testing.T) {
			ctx := testCtx(t)
			p := path[:3] + f.tag
			base := "OU=dirsync-groups-" + p + "," + f.env.base
			require.NoError(t, addOU(conn, base))
			f.extra = append(f.extra, base)
			for _, u := range []string{"m1", "m2", "m3", "m4", "bystander"} {
				require.NoError(t, f.addUser(conn, user{key: u + p, cn: u, sam: u + p, given: u, sn: "Member", ou: base}))
			}
			dn := func(k string) string { return f.dn[k+p] }
			role, nested := "CN=Role admins,"+base, "CN=Nested,"+base
			require.NoError(t, addGroup(conn, role, "role"+p, []string{dn("m1"), dn("m2")}))
			require.NoError(t, addGroup(conn, nested, "nested"+p, []string{dn("m4")}))
			require.NoError(t, addGroup(conn, "CN=Other,"+base, "other"+p, []string{dn("bystander")}))

			cfg := f.config(base)
			if path == "uSNChanged" {
				cfg.BindDN, cfg.Password = "greader"+f.tag+"@EXAMPLE.TEST", password
			}
			c, err := Open(t.Context(), cfg)
			require.NoError(t, err)
			ids := map[string]string{} // sAMAccountName → ID
			cur, err := c.ReadChanges(ctx, nil, func(e connector.Entry) error {
				ids[e.Attr("sAMAccountName")] = e.ID
				return nil
			})
			require.NoError(t, err)
			dc, err := decodeCursor(cur)
			require.NoError(t, err)
			if path == "uSNChanged" && len(dc.Cookie) > 0 {
				if os.Getenv("CI") == "true" {
					t.Fatal("the DC lets an ordinary user use DirSync, so the uSNChanged path is not tested")
				}
				t.Skip("the DC lets an ordinary user use DirSync")
			}
			if path == "DirSync" {
				require.NotEmpty(t, dc.Cookie, "the administrator should get DirSync")
			}
			id := func(k string) string {
				v, ok := ids[k+p]
				require.True(t, ok, "%s not read", k)
				return v
			}

			// step applies change and reads the changes since the last
			// step, by ID (an entry yielded twice must agree).
			step := func(name string, change func() error) map[string]connector.Entry {
				t.Helper()
				require.NoError(t, change(), name)
				got := map[string]connector.Entry{}
				next, err := c.ReadChanges(ctx, cur, func(e connector.Entry) error {
					got[e.ID] = e
					return nil
				})
				require.NoError(t, err, name)
				cur = next
				return got
			}
			completeUser := func(got map[string]connector.Entry, k string, inGroups ...string) {
				t.Helper()
				e, ok := got[id(k)]
				if !assert.True(t, ok, "%s was not re-yielded", k) {
					return
				}
				assert.False(t, e.Deleted, k)
				assert.Equal(t, connector.KindUser, e.Kind, k)
				assert.Equal(t, k+p, e.Attr("sAMAccountName"), "%s is not complete", k)
				assert.Equal(t, "Member", e.Attr("sn"), "%s is not complete", k)
				var want []string
				for _, g := range inGroups {
					want = append(want, id(g))
				}
				assert.ElementsMatch(t, want, e.MemberOf, "%s MemberOf", k)
			}
			group := func(got map[string]connector.Entry, k string, members ...string) {
				t.Helper()
				e, ok := got[id(k)]
				if !assert.True(t, ok, "group %s not yielded", k) {
					return
				}
				assert.False(t, e.Deleted, k)
				assert.Equal(t, connector.KindGroup, e.Kind, k)
				assert.Equal(t, k+p, e.Attr("sAMAccountName"), "group %s is not complete", k)
				var want []string
				for _, m := range members {
					want = append(want, id(m))
				}
				assert.ElementsMatch(t, want, e.Members, "%s Members", k)
			}
			untouched := func(got map[string]connector.Entry, keys ...string) {
				t.Helper()
				for _, k := range keys {
					assert.NotContains(t, got, id(k), "%s did not change but was yielded", k)
				}
			}
			memberChange := func(add bool, groupDN string, members ...string) func() error {
				return func() error {
					req := ldap.NewModifyRequest(groupDN, nil)
					if add {
						req.Add("member", members)
					} else {
						req.Delete("member", members)
					}
					return conn.Modify(req)
				}
			}

			got := step("remove m1", memberChange(false, role, dn("m1")))
			group(got, "role", "m2")
			completeUser(got, "m1")
			untouched(got, "m3", "m4", "bystander", "other")

			got = step("add m3", memberChange(true, role, dn("m3")))
			group(got, "role", "m2", "m3")
			completeUser(got, "m3", "role")
			untouched(got, "m1", "m4", "bystander", "other")

			got = step("add a nested group", memberChange(true, role, nested))
			group(got, "role", "m2", "m3", "nested")
			group(got, "nested", "m4")
			completeUser(got, "m4", "nested") // role reaches m4 through Nested
			untouched(got, "m1", "bystander", "other")

			got = step("no change", func() error { return nil })
			assert.Empty(t, got, "nothing changed")

			got = step("delete the group", func() error { return conn.Del(ldap.NewDelRequest(role, nil)) })
			if e, ok := got[id("role")]; assert.True(t, ok, "no tombstone for the deleted group") {
				assert.True(t, e.Deleted)
				assert.Equal(t, connector.KindGroup, e.Kind)
			}
			completeUser(got, "m2")
			completeUser(got, "m3")
			group(got, "nested", "m4")
			completeUser(got, "m4", "nested")
			untouched(got, "m1", "bystander", "other")
		})
	}
}
