package fake

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
)

func person(id, sam string, path ...string) connector.Entry {
	return connector.Entry{
		ID: id, Kind: connector.KindUser, Path: path,
		DN:    "CN=" + sam + ",OU=" + path[len(path)-1] + ",DC=example,DC=test",
		Attrs: connector.Attrs{"samaccountname": {sam}, "useraccountcontrol": {"512"}},
	}
}

func team(id, name string, members ...string) connector.Entry {
	return connector.Entry{ID: id, Kind: connector.KindGroup, DN: "CN=" + name + ",OU=Groups,DC=example,DC=test",
		Path: []string{"Groups"}, Attrs: connector.Attrs{"cn": {name}}, Members: members}
}

func readAll(t *testing.T, d *Directory) []connector.Entry {
	t.Helper()
	es, err := connector.ReadAll(t.Context(), d)
	require.NoError(t, err)
	return es
}

func ids(es []connector.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestConformance(t *testing.T) {
	entries := Company(500, 3)
	d := New(entries...)
	require.NoError(t, connectortest.Test(t.Context(), d, entries[0].ID, entries[499].ID))
	require.NoError(t, connectortest.Test(t.Context(), New()))

	// After scripted changes the directory still conforms.
	require.NoError(t, d.Delete(entries[1].ID))
	require.NoError(t, d.Move(entries[2].ID, "Europe", "Marketing Users"))
	d.Shuffle(9)
	require.NoError(t, connectortest.Test(t.Context(), d, entries[0].ID))
}

func TestReadOrderAndCopies(t *testing.T) {
	d := New(person("1", "a", "Users"), person("2", "b", "Users"), person("3", "c", "Users"))
	first := readAll(t, d)
	assert.Equal(t, []string{"1", "2", "3"}, ids(first))

	first[0].Attrs.Set("samAccountName", "mallory")
	first[0].Path[0] = "Elsewhere"
	again := readAll(t, d)
	assert.Equal(t, "a", again[0].Attr("sAMAccountName"), "readers get copies")
	assert.Equal(t, []string{"Users"}, again[0].Path)

	got, ok := d.Get("2")
	require.True(t, ok)
	got.Attrs.Set("samaccountname", "x")
	got2, _ := d.Get("2")
	assert.Equal(t, "b", got2.Attr("samaccountname"))
	_, ok = d.Get("nope")
	assert.False(t, ok)
	assert.Equal(t, 3, d.Len())
}

func TestNewLaterEntryReplaces(t *testing.T) {
	d := New(person("1", "a", "Users"), person("1", "b", "Users"))
	es := readAll(t, d)
	require.Len(t, es, 1)
	assert.Equal(t, "b", es[0].Attr("samaccountname"))
	assert.Panics(t, func() { New(connector.Entry{Kind: connector.KindUser}) })
	assert.Panics(t, func() { New(connector.Entry{ID: "x", Deleted: true}) })
}

func TestShuffle(t *testing.T) {
	entries := Company(100, 1)
	plain := ids(readAll(t, New(entries...)))
	d := New(entries...)
	d.Shuffle(5)
	a, b := ids(readAll(t, d)), ids(readAll(t, d))
	assert.Equal(t, a, b, "the same seed gives the same order")
	assert.NotEqual(t, plain, a)
	assert.ElementsMatch(t, plain, a)
	d.Shuffle(6)
	assert.NotEqual(t, a, ids(readAll(t, d)))
}

func TestMutations(t *testing.T) {
	d := New(
		person("1", "alice", "Europe", "Sales department users"),
		person("2", "bob", "IT Users"),
		team("g", "Sales"),
	)
	alice, _ := d.Get("1")
	alice.Attrs.Set("manager", "CN=bob,OU=IT Users,DC=example,DC=test")
	require.NoError(t, d.Add(alice))

	require.NoError(t, d.Set("1", "sn", "Renamed"))
	require.NoError(t, d.Set("1", "givenName", "Alice", "Ally"))
	got, _ := d.Get("1")
	assert.Equal(t, "Renamed", got.Attr("sn"))
	assert.Equal(t, []string{"Alice", "Ally"}, got.Attrs.Values("givenname"))
	require.NoError(t, d.Set("1", "SN"))
	got, _ = d.Get("1")
	assert.Empty(t, got.Attrs.Values("sn"), "Set without values removes the attribute")

	require.NoError(t, d.Disable("2"))
	bob, _ := d.Get("2")
	assert.True(t, bob.Disabled)
	assert.Equal(t, "514", bob.Attr("userAccountControl"))
	require.NoError(t, d.Enable("2"))
	bob, _ = d.Get("2")
	assert.False(t, bob.Disabled)
	assert.Equal(t, "512", bob.Attr("userAccountControl"))

	require.NoError(t, d.Move("2", "North America", "R&D, Lab"))
	bob, _ = d.Get("2")
	assert.Equal(t, []string{"North America", "R&D, Lab"}, bob.Path)
	assert.Equal(t, `CN=bob,OU=R&D\, Lab,OU=North America,DC=example,DC=test`, bob.DN)
	alice, _ = d.Get("1")
	assert.Equal(t, bob.DN, alice.Attr("manager"), "references to a moved entry follow it")

	require.NoError(t, d.AddMember("g", "1"))
	require.NoError(t, d.AddMember("g", "1"))
	g, _ := d.Get("g")
	alice, _ = d.Get("1")
	assert.Equal(t, []string{"1"}, g.Members)
	assert.Equal(t, []string{"g"}, alice.MemberOf)
	require.NoError(t, d.RemoveMember("g", "1"))
	g, _ = d.Get("g")
	alice, _ = d.Get("1")
	assert.Empty(t, g.Members)
	assert.Empty(t, alice.MemberOf)

	require.NoError(t, d.AddMember("g", "2"))
	require.NoError(t, d.Delete("2"))
	g, _ = d.Get("g")
	assert.Empty(t, g.Members, "a deleted entry leaves its groups")
	assert.Equal(t, []string{"1", "g"}, ids(readAll(t, d)))
	assert.Equal(t, 2, d.Len())

	for _, err := range []error{
		d.Set("2", "sn", "x"), d.Disable("2"), d.Enable("nope"), d.Delete("2"), d.Move("nope"),
		d.AddMember("g", "2"), d.AddMember("nope", "1"), d.RemoveMember("g", "nope"),
	} {
		assert.ErrorIs(t, err, ErrNotFound)
	}
	assert.ErrorContains(t, d.AddMember("1", "g"), "not a group")
	assert.Error(t, d.Add(connector.Entry{}))

	// Re-adding a deleted ID brings it back.
	require.NoError(t, d.Add(person("2", "bob", "IT Users")))
	assert.Equal(t, []string{"1", "2", "g"}, ids(readAll(t, d)))
}

func TestAddCopies(t *testing.T) {
	d := New()
	e := person("1", "a", "Users")
	require.NoError(t, d.Add(e))
	e.Attrs.Set("samaccountname", "changed")
	got, _ := d.Get("1")
	assert.Equal(t, "a", got.Attr("samaccountname"))
}

func TestDeleteGroupLeavesMembers(t *testing.T) {
	u := person("1", "a", "Users")
	u.MemberOf = []string{"g"}
	d := New(u, team("g", "Sales", "1"))
	require.NoError(t, d.Delete("g"))
	got, _ := d.Get("1")
	assert.Empty(t, got.MemberOf)
	require.NoError(t, connectortest.Test(t.Context(), d))
}

func TestIncremental(t *testing.T) {
	d := New(person("1", "a", "Users"), person("2", "b", "Users"), person("3", "c", "Users"), team("g", "Sales"))
	var full []string
	cur, err := d.ReadChanges(t.Context(), nil, func(e connector.Entry) error {
		full = append(full, e.ID)
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, cur)
	assert.Equal(t, []string{"1", "2", "3", "g"}, full)

	changes := func(c connector.Cursor) ([]connector.Entry, connector.Cursor) {
		t.Helper()
		var got []connector.Entry
		next, err := d.ReadChanges(t.Context(), c, func(e connector.Entry) error {
			got = append(got, e)
			return nil
		})
		require.NoError(t, err)
		return got, next
	}
	got, same := changes(cur)
	assert.Empty(t, got)
	assert.Equal(t, cur, same)

	require.NoError(t, d.Set("1", "sn", "New"))
	require.NoError(t, d.Delete("2"))
	require.NoError(t, d.Add(person("4", "d", "Users")))
	require.NoError(t, d.AddMember("g", "3"))
	got, next := changes(cur)
	require.Len(t, got, 5)
	assert.Equal(t, []string{"1", "2", "3", "g", "4"}, ids(got), "changes come in read order")
	assert.Equal(t, "New", got[0].Attr("sn"), "changed entries are complete")
	assert.Equal(t, "a", got[0].Attr("samaccountname"))
	assert.True(t, got[1].Deleted)
	assert.Equal(t, connector.KindUser, got[1].Kind)
	assert.False(t, got[0].Deleted || got[2].Deleted || got[3].Deleted || got[4].Deleted)

	got, _ = changes(next)
	assert.Empty(t, got)
	require.NoError(t, d.Disable("4"))
	got, next = changes(next)
	require.Len(t, got, 1)
	assert.True(t, got[0].Disabled)

	// An old cursor still works until cursors expire.
	got, _ = changes(cur)
	assert.Len(t, got, 5)
	d.ExpireCursors()
	for _, c := range []connector.Cursor{cur, next, connector.Cursor("garbage"), connector.Cursor("fake/v1/0/999")} {
		_, err := d.ReadChanges(t.Context(), c, func(connector.Entry) error { return nil })
		assert.ErrorIs(t, err, connector.ErrCursorExpired, "%s", c)
	}
	// A full read gives a fresh cursor that works.
	fresh, err := d.ReadChanges(t.Context(), nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)
	got, _ = changes(fresh)
	assert.Empty(t, got)

	stop := errors.New("stop")
	calls := 0
	_, err = d.ReadChanges(t.Context(), nil, func(connector.Entry) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

func TestFailAfter(t *testing.T) {
	d := New(Company(20, 1)...)
	boom := errors.New("connection reset by peer")
	d.FailAfter(5, boom)
	n := 0
	var last error
	for _, err := range d.Read(t.Context()) {
		if err != nil {
			last = err
			continue
		}
		n++
	}
	assert.Equal(t, 5, n)
	assert.Equal(t, boom, last)
	_, err := connector.ReadAll(t.Context(), d)
	assert.ErrorIs(t, err, boom)

	calls := 0
	_, err = d.ReadChanges(t.Context(), nil, func(connector.Entry) error { calls++; return nil })
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 5, calls)

	d.FailAfter(1000, boom)
	n = 0
	for _, err := range d.Read(t.Context()) {
		if err == nil {
			n++
		}
	}
	assert.Equal(t, d.Len(), n, "with fewer entries than n, the read fails after all of them")
	_, err = connector.ReadAll(t.Context(), d)
	assert.ErrorIs(t, err, boom)

	d.FailAfter(0, nil)
	_, err = connector.ReadAll(t.Context(), d)
	assert.NoError(t, err)
}

func TestDelayHonoursContext(t *testing.T) {
	d := New(Company(10, 1)...)
	d.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := connector.ReadAll(ctx, d)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	d.SetDelay(time.Millisecond)
	es, err := connector.ReadAll(t.Context(), d)
	require.NoError(t, err)
	assert.Len(t, es, d.Len())
}

func TestCancelledRead(t *testing.T) {
	d := New(Company(10, 1)...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var last error
	for _, err := range d.Read(ctx) {
		if err != nil {
			last = err
			continue
		}
		n++
		if n == 3 {
			cancel()
		}
	}
	assert.Equal(t, 3, n)
	assert.ErrorIs(t, last, context.Canceled)
}

func TestCheck(t *testing.T) {
	d := New()
	assert.NoError(t, d.Check(t.Context()))
	denied := errors.New("insufficient access rights")
	d.FailCheck(denied)
	assert.ErrorIs(t, d.Check(t.Context()), denied)
	d.FailCheck(nil)
	assert.NoError(t, d.Check(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, d.Check(ctx), context.Canceled)
}

func TestSearchGroups(t *testing.T) {
	d := New(Company(30, 1)...)
	got, err := d.SearchGroups(t.Context(), "sales", 0)
	require.NoError(t, err)
	var names []string
	for _, g := range got {
		names = append(names, g.Attr("cn"))
		assert.Equal(t, connector.KindGroup, g.Kind)
	}
	assert.Equal(t, []string{"Sales APAC", "Sales Europe"}, names)

	got, err = d.SearchGroups(t.Context(), "", 3)
	require.NoError(t, err)
	assert.Len(t, got, 3)
	assert.Equal(t, "All Staff", got[0].Attr("cn"))

	got, err = d.SearchGroups(t.Context(), "zzz", 3)
	require.NoError(t, err)
	assert.Empty(t, got)

	all, _ := d.SearchGroups(t.Context(), "", 0)
	assert.Len(t, all, len(companyGroups))
	all[0].Attrs.Set("cn", "changed")
	again, _ := d.SearchGroups(t.Context(), "", 1)
	assert.Equal(t, "All Staff", again[0].Attr("cn"), "results are copies")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = d.SearchGroups(ctx, "", 1)
	assert.ErrorIs(t, err, context.Canceled)
}

// A Directory matches substrings, or as SetGroupMatch says, and declares
// what it does.
func TestSearchGroupsMatch(t *testing.T) {
	d := New(Company(30, 1)...)
	names := func(q string) []string {
		t.Helper()
		got, err := d.SearchGroups(t.Context(), q, 0)
		require.NoError(t, err)
		out := []string{}
		for _, g := range got {
			out = append(out, g.Attr("cn"))
		}
		return out
	}
	assert.Equal(t, connector.MatchSubstring, connector.GroupSearchMatchOf(d))
	assert.Equal(t, []string{"IT Admins"}, names("adm"))
	assert.Equal(t, []string{"Sales APAC", "Sales Europe"}, names("ALES"))
	assert.Equal(t, []string{"Former Employees", "Platform Engineering"}, names("orm"))
	assert.Equal(t, []string{"Support North America"}, names("RTH AM"))
	for _, q := range []string{"*", "(", `\`, "\x00", ".*"} {
		assert.Empty(t, names(q), "query %q is text, not a pattern", q)
	}

	d.SetGroupMatch(connector.MatchPrefix)
	assert.Equal(t, connector.MatchPrefix, connector.GroupSearchMatchOf(d))
	assert.Empty(t, names("adm"))
	assert.Equal(t, []string{"IT", "IT Admins"}, names("it"))

	d.SetGroupMatch(connector.MatchWordPrefix)
	assert.Equal(t, []string{"IT Admins"}, names("adm"))
	assert.Equal(t, []string{"Platform Engineering"}, names("eng plat"))
	require.NoError(t, connectortest.Test(t.Context(), d))
}

// Reads, mutations and incremental reads at the same time (run with -race).
func TestConcurrentUse(t *testing.T) {
	entries := Company(200, 1)
	d := New(entries...)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id := entries[(w*50+i)%200].ID
				switch i % 4 {
				case 0:
					_ = d.Set(id, "title", "Changed")
				case 1:
					_ = d.Disable(id)
				case 2:
					_ = d.Enable(id)
				case 3:
					_ = d.Move(id, "Moved")
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				es, err := connector.ReadAll(context.Background(), d)
				if assert.NoError(t, err) {
					assert.Len(t, es, len(entries))
				}
				_, err = d.ReadChanges(context.Background(), nil, func(e connector.Entry) error {
					e.Attrs.Set("title", "reader's own copy")
					return nil
				})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	for _, e := range readAll(t, d) {
		assert.NotEqual(t, "reader's own copy", e.Attr("title"))
	}
	assert.True(t, slices.ContainsFunc(readAll(t, d), func(e connector.Entry) bool { return e.Attr("title") == "Changed" }))
}

func TestDeepCopy(t *testing.T) {
	for _, e := range append(Company(30, 2), connector.Entry{ID: "bare"}, connector.Entry{ID: "empty", Path: []string{}, Attrs: connector.Attrs{"x": {}}}) {
		c := deepCopy(&e)
		require.Equal(t, e.Clone(), c)
		want := deepCopy(&e)
		_ = append(c.Path, "p")
		_ = append(c.MemberOf, "m")
		_ = append(c.Members, "m")
		for _, v := range c.Attrs {
			_ = append(v, "v")
		}
		require.Equal(t, want, c, "appending to one slice of a copy leaves the others alone")
	}
}
