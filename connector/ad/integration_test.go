package ad

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/go-ldap/ldap/v3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (f *fixture) open(t *testing.T, base string) *Connector {
	t.Helper()
	c, err := Open(t.Context(), f.config(base))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readSnapshot reads the fixture OU into a snapshot.
func (f *fixture) readSnapshot(t *testing.T) *connector.Snapshot {
	t.Helper()
	entries, err := connector.ReadAll(testCtx(t), f.open(t, f.base))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func (f *fixture) byKey(t *testing.T, snap *connector.Snapshot, key string) *connector.Entry {
	t.Helper()
	e, ok := snap.ByDN(f.dn[key])
	if !ok {
		t.Fatalf("%s (%s) not read", key, f.dn[key])
	}
	return e
}

func TestReadUsersAndGroups(t *testing.T) {
	f := needDC(t)
	snap := f.readSnapshot(t)
	if got, want := len(snap.Users()), 8+bulkUsers; got != want {
		t.Errorf("read %d users, want %d", got, want)
	}
	if got := len(snap.Groups()); got != 3 {
		t.Errorf("read %d groups, want 3", got)
	}
	alice := f.byKey(t, snap, "alice")
	if alice.Disabled || alice.Kind != connector.KindUser {
		t.Errorf("alice: %+v", alice)
	}
	if got, want := alice.Path, []string{"dirsync-test-" + f.tag, "Sales department users"}; !slices.Equal(got, want) {
		t.Errorf("alice path %q, want %q", got, want)
	}
	for attr, want := range map[string]string{"sAMAccountName": "alice" + f.tag, "givenName": "Alice", "sn": "Smith",
		"title": "Sales lead", "department": "Sales", "mail": "alice" + f.tag + "@example.test", "objectGUID": alice.ID} {
		if got := alice.Attr(attr); got != want {
			t.Errorf("alice %s = %q, want %q", attr, got, want)
		}
	}
	if len(alice.ID) != 36 || strings.ToLower(alice.ID) != alice.ID {
		t.Errorf("alice ID %q is not a canonical GUID", alice.ID)
	}
	for key, disabled := range map[string]bool{"bob": true, "dave": true, "expired": true, "carol": false, "eve": false, "john": false, "ivan": false} {
		if e := f.byKey(t, snap, key); e.Disabled != disabled {
			t.Errorf("%s Disabled = %t, want %t", key, e.Disabled, disabled)
		}
	}
	if got := f.byKey(t, snap, "expired").Attr("accountexpired"); got != "true" {
		t.Errorf("expired user: accountexpired = %q", got)
	}
	john := f.byKey(t, snap, "john")
	if john.Attr("cn") != "Smith, John" {
		t.Errorf("escaped comma CN read as %q (DN %q)", john.Attr("cn"), john.DN)
	}
	ivan := f.byKey(t, snap, "ivan")
	if ivan.Attr("givenName") != "Иван" || ivan.Attr("name") != "Иван Петров" {
		t.Errorf("Cyrillic names read as %q / %q", ivan.Attr("givenName"), ivan.Attr("name"))
	}
	staff := f.byKey(t, snap, "staff")
	if staff.Kind != connector.KindGroup || len(staff.Members) != 2 {
		t.Errorf("Staff: kind %s, members %v", staff.Kind, staff.Members)
	}
	if !slices.Contains(alice.MemberOf, staff.ID) {
		t.Errorf("alice MemberOf %v lacks Staff %s", alice.MemberOf, staff.ID)
	}
}

func TestOUPresetSelectsUserOUs(t *testing.T) {
	f := needDC(t)
	snap := f.readSnapshot(t)
	p, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, e := range snap.Users() {
		if p.Decide(e, snap).In {
			in = append(in, e.Attr("sAMAccountName"))
		}
	}
	slices.Sort(in)
	var want []string
	for _, k := range []string{"alice", "bob", "carol", "dave", "ivan", "john", "old"} {
		want = append(want, k+f.tag)
	}
	if !slices.Equal(in, want) {
		t.Errorf("in scope: %v\nwant %v", in, want)
	}
}

func TestLargeGroupComplete(t *testing.T) {
	f := needDC(t)
	snap := f.readSnapshot(t)
	big := f.byKey(t, snap, "big")
	if len(big.Members) != bulkUsers {
		t.Errorf("Big has %d member IDs, want %d", len(big.Members), bulkUsers)
	}

	ctx := testCtx(t)
	c := f.open(t, f.base)
	s, err := c.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	// Explicit ranges of 500: four requests, the last one ending in "*".
	vals, err := s.rangedValues(ctx, f.dn["big"], "member", 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != bulkUsers || len(slices.Compact(slices.Sorted(slices.Values(vals)))) != bulkUsers {
		t.Errorf("explicit ranges gave %d values, want %d distinct", len(vals), bulkUsers)
	}
	// The Windows shape: the search returned only member;range=0-1499.
	le := &ldap.Entry{DN: f.dn["big"], Attributes: []*ldap.EntryAttribute{
		{Name: "member;range=0-1499", Values: slices.Clone(vals[:1500])},
	}}
	if err := s.completeRanges(ctx, le); err != nil {
		t.Fatal(err)
	}
	got := le.GetAttributeValues("member")
	if len(got) != bulkUsers || len(slices.Compact(slices.Sorted(slices.Values(got)))) != bulkUsers {
		t.Errorf("completed member has %d values, want %d distinct", len(got), bulkUsers)
	}
}

func TestNestedGroups(t *testing.T) {
	f := needDC(t)
	snap := f.readSnapshot(t)
	carol := f.byKey(t, snap, "carol")
	staff, it := f.byKey(t, snap, "staff"), f.byKey(t, snap, "itteam")
	groups := snap.GroupIDs(carol.ID)
	if !slices.Contains(groups, staff.ID) || !slices.Contains(groups, it.ID) {
		t.Errorf("carol's groups %v, want IT Team %s and (nested) Staff %s", groups, it.ID, staff.ID)
	}
	if !slices.Contains(staff.Members, it.ID) {
		t.Errorf("Staff members %v lack IT Team", staff.Members)
	}

	// The DC's own transitive view (the in-chain matching rule) agrees
	// with the snapshot's, for every named user.
	ctx := testCtx(t)
	c := f.open(t, f.base)
	s, err := c.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, key := range []string{"alice", "bob", "carol", "dave", "eve"} {
		e := f.byKey(t, snap, key)
		var dc []string
		err := s.search(ctx, "in-chain", f.base, ldap.ScopeWholeSubtree,
			"(&(objectClass=group)(member:1.2.840.113556.1.4.1941:="+ldap.EscapeFilter(e.DN)+"))",
			[]string{"objectGUID"}, nil, func(le *ldap.Entry) error {
				e, err := convert(le, time.Now())
				dc = append(dc, e.ID)
				return err
			})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(dc)
		mine := slices.Sorted(slices.Values(snap.GroupIDs(e.ID)))
		if !slices.Equal(dc, mine) {
			t.Errorf("%s: snapshot groups %v, DC in-chain groups %v", key, mine, dc)
		}
	}
}

func TestPlanThroughCore(t *testing.T) {
	f := needDC(t)
	ctx := testCtx(t)
	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(f.open(t, f.base), sink, &dirsync.Options{Source: "ad"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := sy.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := plan.Count(diff.OpCreate); n < 8+bulkUsers-3 {
		t.Errorf("first plan creates %d accounts (%s)", n, plan.Summary())
	}
	rep, err := sy.Apply(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Count(dirsync.StatusFailed); n > 0 {
		t.Errorf("%d changes failed", n)
	}
	alice := f.byKey(t, f.readSnapshot(t), "alice")
	acc, ok := sink.Get("ad", alice.ID)
	if !ok {
		t.Fatal("alice not created")
	}
	if acc.Email != "alice"+f.tag+"@example.test" || acc.Manager != "carol"+f.tag+"@example.test" ||
		acc.Username != "alice"+f.tag || acc.Title != "Sales lead" || acc.Blocked {
		t.Errorf("alice's account: %+v", acc)
	}
	again, err := sy.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Empty() {
		t.Errorf("second plan is not empty: %s\n%s", again.Summary(), firstLines(again.String(), 20))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func TestConformance(t *testing.T) {
	f := needDC(t)
	snap := f.readSnapshot(t)
	ids := []string{f.byKey(t, snap, "alice").ID, f.byKey(t, snap, "big").ID, f.byKey(t, snap, "ivan").ID}
	if err := connectortest.Test(testCtx(t), f.open(t, f.base), ids...); err != nil {
		t.Error(err)
	}
}

func TestPlaintextRefused(t *testing.T) {
	f := needDC(t)
	cfg := f.config(f.base)
	cfg.URLs = []string{"ldap://127.0.0.1:389"}
	_, err := Open(t.Context(), cfg)
	if !errors.Is(err, ErrPlaintext) {
		t.Fatalf("plain ldap:// without StartTLS: %v, want ErrPlaintext", err)
	}
	// StartTLS on 389 works against the DC.
	cfg.StartTLS = true
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(testCtx(t)); err != nil {
		t.Errorf("StartTLS: %v", err)
	}
}

func TestBindWithDN(t *testing.T) {
	f := needDC(t)
	cfg := f.config(f.base)
	cfg.BindDN = "CN=Administrator,CN=Users," + f.env.base
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(testCtx(t)); err != nil {
		t.Errorf("bind with a DN: %v", err)
	}
}

func TestFailOver(t *testing.T) {
	f := needDC(t)
	cfg := f.config(f.base)
	cfg.URLs = []string{"ldaps://127.0.0.1:1", f.env.url}
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(testCtx(t)); err != nil {
		t.Errorf("fail-over to the second DC: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	f := needDC(t)
	cfg := f.config(f.base)
	cfg.Password = "wrong-" + f.tag
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = connector.ReadAll(testCtx(t), c)
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("read with a wrong password: %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), f.env.url) {
		t.Errorf("error does not name the DC: %v", err)
	}
	if err := c.Check(testCtx(t)); !errors.Is(err, connector.ErrAuth) {
		t.Errorf("Check with a wrong password: %v", err)
	}
}

func TestWrongBaseDN(t *testing.T) {
	f := needDC(t)
	c := f.open(t, "OU=does-not-exist-"+f.tag+","+f.env.base)
	err := c.Check(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Check with a missing base DN: %v", err)
	}
	if _, err := connector.ReadAll(testCtx(t), c); err == nil {
		t.Error("read under a missing base DN succeeded")
	}
}

// TestDirSync changes a separate OU step by step and checks that each
// incremental read returns exactly the changed entries, complete.
func TestDirSync(t *testing.T) {
	f := needDC(t)
	ctx := testCtx(t)
	conn, err := f.admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	base := "OU=dirsync-churn-" + f.tag + "," + f.env.base
	a, b := "OU=A users,"+base, "OU=B users,"+base
	for _, ou := range []string{base, a, b} {
		if err := addOU(conn, ou); err != nil {
			t.Fatal(err)
		}
	}
	f.extra = append(f.extra, base)
	for _, u := range []string{"mod", "ren", "mov", "dis", "del"} {
		if err := f.addUser(conn, user{key: "churn-" + u, cn: "Churn " + u, sam: u + f.tag, given: u, sn: "Churn", ou: a}); err != nil {
			t.Fatal(err)
		}
	}
	outside := "OU=dirsync-outside-" + f.tag + "," + f.env.base
	if err := addOU(conn, outside); err != nil {
		t.Fatal(err)
	}
	f.extra = append(f.extra, outside)
	if err := f.addUser(conn, user{key: "outsider", cn: "Outsider", sam: "outsider" + f.tag, ou: outside}); err != nil {
		t.Fatal(err)
	}
	group := "CN=Churn group," + a
	if err := addGroup(conn, group, "churngroup"+f.tag, []string{f.dn["churn-mod"]}); err != nil {
		t.Fatal(err)
	}
	c := f.open(t, base)
	initial := map[string]connector.Entry{}
	cur, err := c.ReadChanges(ctx, nil, func(e connector.Entry) error {
		initial[e.Attr("sAMAccountName")] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(initial) != 6 {
		t.Fatalf("initial read: %d entries, want 6", len(initial))
	}
	id := func(u string) string { return initial[u+f.tag].ID }

	step := func(name string, want int, change func() error, check func(connector.Entry) error) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []connector.Entry
		next, err := c.ReadChanges(ctx, cur, func(e connector.Entry) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: ReadChanges: %v", name, err)
		}
		cur = next
		if len(got) != want {
			var dns []string
			for _, e := range got {
				dns = append(dns, e.DN)
			}
			t.Fatalf("%s: %d entries %q, want %d", name, len(got), dns, want)
		}
		for _, e := range got {
			if err := check(e); err != nil {
				t.Errorf("%s: %v (entry %+v)", name, err, e)
			}
		}
	}
	complete := func(e connector.Entry, u string) error {
		if e.Deleted || e.Attr("sAMAccountName") != u+f.tag || e.Attr("sn") != "Churn" || e.Attr("objectGUID") != e.ID {
			return fmt.Errorf("entry is not complete: sAMAccountName %q sn %q", e.Attr("sAMAccountName"), e.Attr("sn"))
		}
		if u != "new" && e.ID != id(u) {
			return fmt.Errorf("ID %s, want %s", e.ID, id(u))
		}
		return nil
	}
	none := func() error { return nil }
	modify := func(dn string, attr string, vals ...string) func() error {
		return func() error {
			req := ldap.NewModifyRequest(dn, nil)
			req.Replace(attr, vals)
			return conn.Modify(req)
		}
	}

	step("no change", 0, none, nil)
	step("add", 1, func() error {
		return f.addUser(conn, user{cn: "Churn new", sam: "new" + f.tag, given: "new", sn: "Churn", ou: a})
	}, func(e connector.Entry) error {
		if _, old := initial[e.Attr("sAMAccountName")]; old {
			return errors.New("not the new user")
		}
		return complete(e, "new")
	})
	step("modify", 1, modify(f.dn["churn-mod"], "title", "Changed title"), func(e connector.Entry) error {
		if e.Attr("title") != "Changed title" {
			return fmt.Errorf("title %q", e.Attr("title"))
		}
		return complete(e, "mod")
	})
	step("rename", 1, func() error {
		return conn.ModifyDN(ldap.NewModifyDNRequest(f.dn["churn-ren"], "CN=Churn renamed", true, ""))
	}, func(e connector.Entry) error {
		if !strings.HasPrefix(e.DN, "CN=Churn renamed,") {
			return fmt.Errorf("DN %q", e.DN)
		}
		return complete(e, "ren")
	})
	step("move", 1, func() error {
		return conn.ModifyDN(ldap.NewModifyDNRequest(f.dn["churn-mov"], "CN=Churn mov", true, b))
	}, func(e connector.Entry) error {
		if len(e.Path) == 0 || e.Path[len(e.Path)-1] != "B users" {
			return fmt.Errorf("path %q", e.Path)
		}
		return complete(e, "mov")
	})
	step("disable", 1, modify(f.dn["churn-dis"], "userAccountControl", "546"), func(e connector.Entry) error {
		if !e.Disabled {
			return errors.New("not disabled")
		}
		return complete(e, "dis")
	})
	step("delete", 1, func() error {
		return conn.Del(ldap.NewDelRequest(f.dn["churn-del"], nil))
	}, func(e connector.Entry) error {
		if !e.Deleted || e.ID != id("del") || e.Kind != connector.KindUser {
			return fmt.Errorf("want a user tombstone with ID %s", id("del"))
		}
		return nil
	})
	// A membership change yields the group and the member whose
	// membership changed (see TestGroupChangesIncremental).
	var newID string
	groupID := initial["churngroup"+f.tag].ID
	step("add member", 2, func() error {
		req := ldap.NewModifyRequest(group, nil)
		req.Add("member", []string{"CN=Churn new," + a})
		return conn.Modify(req)
	}, func(e connector.Entry) error {
		if e.Kind == connector.KindUser {
			if !slices.Contains(e.MemberOf, groupID) {
				return fmt.Errorf("added member's MemberOf %v lacks the group", e.MemberOf)
			}
			newID = e.ID
			return complete(e, "new")
		}
		if e.ID != groupID || len(e.Members) != 2 || !slices.Contains(e.Members, id("mod")) {
			return fmt.Errorf("want the group with two members, got members %v", e.Members)
		}
		return nil
	})
	if newID == "" {
		t.Fatal("new member not yielded")
	}
	step("delete group", 3, func() error {
		return conn.Del(ldap.NewDelRequest(group, nil))
	}, func(e connector.Entry) error {
		if e.Kind == connector.KindUser {
			if e.Deleted || len(e.MemberOf) != 0 || (e.ID != newID && e.ID != id("mod")) {
				return fmt.Errorf("want a former member without groups, got %s MemberOf %v", e.ID, e.MemberOf)
			}
			return nil
		}
		if !e.Deleted || e.ID != groupID || e.Kind != connector.KindGroup {
			return errors.New("want a group tombstone")
		}
		return nil
	})
	step("delete outside the base DN", 0, func() error {
		return conn.Del(ldap.NewDelRequest(f.dn["outsider"], nil))
	}, nil)
	step("no change again", 0, none, nil)

	// With a filter, an object changed so that it no longer matches is
	// yielded as Deleted: it left the connector's view.
	cfg := f.config(base)
	cfg.Filter = "(!(title=Excluded))"
	filtered, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fcur, err := filtered.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := modify(f.dn["churn-mod"], "title", "Excluded")(); err != nil {
		t.Fatal(err)
	}
	var got []connector.Entry
	if _, err := filtered.ReadChanges(ctx, fcur, func(e connector.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Deleted || got[0].ID != id("mod") || got[0].Kind != connector.KindUser {
		t.Errorf("user leaving the filter: %+v, want one Deleted user %s", got, id("mod"))
	}
}

func TestSearchGroups(t *testing.T) {
	f := needDC(t)
	c := f.open(t, f.base)
	groups, err := c.SearchGroups(testCtx(t), "it t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Attr("cn") != "IT Team" || len(groups[0].Members) != 2 {
		t.Fatalf("search \"it t\": %+v", groups)
	}
	all, err := c.SearchGroups(testCtx(t), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Attr("cn") != "Big" || all[1].Attr("cn") != "IT Team" {
		t.Errorf("first two groups: %d, want Big and IT Team", len(all))
	}
}

// TestUSNFallback binds as an ordinary user, whom the DC refuses DirSync,
// and checks that incremental reads fall back to uSNChanged.
func TestUSNFallback(t *testing.T) {
	f := needDC(t)
	ctx := testCtx(t)
	conn, err := f.admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	base := "OU=dirsync-usn-" + f.tag + "," + f.env.base
	if err := addOU(conn, base); err != nil {
		t.Fatal(err)
	}
	f.extra = append(f.extra, base)
	password := "Reader-" + f.tag + "-Pw1!"
	if err := f.addUser(conn, user{key: "reader", cn: "Reader", sam: "reader" + f.tag, given: "Read", sn: "Churn", ou: base}); err != nil {
		t.Fatal(err)
	}
	mod := ldap.NewModifyRequest(f.dn["reader"], nil)
	mod.Replace("unicodePwd", []string{utf16LE(`"` + password + `"`)})
	if err := conn.Modify(mod); err != nil {
		t.Fatalf("set password: %v", err)
	}
	cfg := f.config(base)
	cfg.BindDN, cfg.Password = "reader"+f.tag+"@EXAMPLE.TEST", password
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	dc, err := decodeCursor(cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Cookie) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the DC lets an ordinary user use DirSync, so the uSNChanged fallback is not tested")
		}
		t.Skip("the DC lets an ordinary user use DirSync; the fallback is not reached")
	}
	if n != 1 || dc.USN == 0 {
		t.Fatalf("full read: %d entries, cursor %+v", n, dc)
	}
	if err := f.addUser(conn, user{cn: "Later", sam: "later" + f.tag, given: "Later", sn: "Churn", ou: base}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := c.ReadChanges(ctx, cur, func(e connector.Entry) error {
		got = append(got, e.Attr("sAMAccountName"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "later"+f.tag {
		t.Errorf("changes by uSNChanged: %q, want the new user only", got)
	}
}

func utf16LE(s string) string {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

// TestStuckDCFailOverToSamba puts a DC that accepts and never answers
// before the real one, over LDAPS and over StartTLS: Read, Check and
// ReadChanges finish on the real DC within a few Timeouts.
func TestStuckDCFailOverToSamba(t *testing.T) {
	f := needDC(t)
	// The first DirSync sweeps the whole domain in one request, which a
	// busy Samba holding several fixtures answers in tens of seconds; the
	// ReadChanges here continues from a cursor, a small request.
	const timeout = 10 * time.Second
	for _, tc := range []struct{ name, mode, stuck, good string }{
		{"LDAPS", "silent", "ldaps", f.env.url},
		{"StartTLS", "starttls-only", "ldap", "ldap://127.0.0.1:389"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stuck, accepted := stuckDC(t, tc.mode)
			cfg := f.config(f.base)
			cfg.URLs = []string{tc.good}
			cfg.StartTLS = tc.stuck == "ldap"
			first, err := Open(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			since, err := first.ReadChanges(testCtx(t), nil, func(connector.Entry) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			cfg.URLs = []string{tc.stuck + "://" + stuck, tc.good}
			cfg.Timeout = timeout
			c, err := Open(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			calls := map[string]func() error{
				"Read": func() error {
					entries, err := connector.ReadAll(context.Background(), c)
					if err == nil && len(entries) < bulkUsers {
						err = fmt.Errorf("read %d entries", len(entries))
					}
					return err
				},
				"Check": func() error { return c.Check(context.Background()) },
				"ReadChanges": func() error {
					cur, err := c.ReadChanges(context.Background(), since, func(connector.Entry) error { return nil })
					if err == nil {
						var dc cursor
						if dc, err = decodeCursor(cur); err == nil && dc.DC != tc.good {
							err = fmt.Errorf("cursor from %s, want %s", dc.DC, tc.good)
						}
					}
					return err
				},
			}
			for name, call := range calls {
				took, err := within(t, time.Minute, call)
				if err != nil {
					t.Errorf("%s with a stuck first DC: %v", name, err)
				}
				// The stuck DC may add about one Timeout to the read.
				if took > 5*timeout {
					t.Errorf("%s took %v with Timeout %v", name, took, timeout)
				}
				t.Logf("%s: %v", name, took.Round(time.Millisecond))
			}
			if accepted() < len(calls) {
				t.Errorf("the stuck DC was dialled %d times, want %d", accepted(), len(calls))
			}
		})
	}
}

// Against the real DC, a full read with the unpaged attempt yields what
// the paged read yields, entry for entry: when the DC answers it in full,
// and when the connector's own limit cuts it (Samba ignores the size
// limit of an administrator's search, so only the connector can).
func TestUnpagedReadOnSamba(t *testing.T) {
	f := needDC(t)
	read := func(limit int) []connector.Entry {
		cfg := f.config(f.base)
		cfg.UnpagedLimit = limit
		c, err := Open(t.Context(), cfg)
		require.NoError(t, err)
		entries, err := connector.ReadAll(testCtx(t), c)
		require.NoError(t, err)
		slices.SortFunc(entries, func(a, b connector.Entry) int { return strings.Compare(a.ID, b.ID) })
		return entries
	}
	paged := read(0)
	require.NotEmpty(t, paged)
	assert.Equal(t, paged, read(100000), "answered in full")
	assert.Equal(t, paged, read(len(paged)/2), "cut by the connector's limit, then paged")
}
