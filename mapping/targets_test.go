package mapping_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// genTargetEntries draws a small read whose IDs, DNs and references collide
// on purpose: IDs shared between entries (and spelled with spaces), one DN
// in several spellings and on several entries of several kinds, deleted
// entries, references that name an ID, a DN or nothing.
func genTargetEntries(t *rapid.T) []connector.Entry {
	ids := []string{"u1", "u2", "u3", "g1", " u1", "x"}
	dns := []string{"", "CN=Ann,OU=Sales,DC=x", "cn=ann , ou=sales,dc=x", "CN=Bob,OU=Sales,DC=x", "CN=Ann\\,Jr,OU=Sales,DC=x"}
	refs := append(append([]string{"", "  ", "nobody", "CN=BOB, OU=Sales,DC=x"}, ids...), dns...)
	kinds := []connector.Kind{connector.KindUser, "", connector.KindGroup, "ou"}
	var out []connector.Entry
	for i := range rapid.IntRange(0, 10).Draw(t, "entries") {
		id := fmt.Sprintf("u%d", i)
		if rapid.IntRange(0, 9).Draw(t, "sharedID") == 0 {
			id = rapid.SampledFrom(ids).Draw(t, "id")
		}
		e := connector.Entry{
			ID:      id,
			Kind:    rapid.SampledFrom(kinds).Draw(t, "kind"),
			DN:      rapid.SampledFrom(dns).Draw(t, "dn"),
			Deleted: rapid.IntRange(0, 6).Draw(t, "deleted") == 0,
			Attrs:   connector.Attrs{"samaccountname": {fmt.Sprintf("user%d", i)}},
		}
		if rapid.IntRange(0, 3).Draw(t, "hasMail") > 0 {
			e.Attrs["mail"] = []string{fmt.Sprintf(" Mail%d@X.test", i), "second@x.test"}
		}
		if rapid.Bool().Draw(t, "hasUPN") {
			e.Attrs["userprincipalname"] = []string{fmt.Sprintf("upn%d@x.test", i)}
		}
		if rapid.IntRange(0, 3).Draw(t, "hasManager") > 0 {
			e.Attrs["manager"] = []string{rapid.SampledFrom(refs).Draw(t, "manager")}
		}
		out = append(out, e)
	}
	return out
}

// Resolving against Targets gives every account exactly what resolving
// against a Snapshot of the same read gives, and Targets reports the
// duplicate ID NewSnapshot reports (given the users first, as a Syncer
// gives them).
func TestTargetsResolveAsSnapshot(t *testing.T) {
	specs := map[string]mapping.Spec{
		"ad": mapping.ADSpec(),
		// A lookup for the department, behind which a path rule waits,
		// and a lookup with a value rule waiting behind it.
		"waiting": mapping.NewBuilder().
			From(diff.FieldUsername, "sAMAccountName").
			From(diff.FieldDepartment, "manager").Lookup("mail").
			Path(diff.FieldDepartment).
			From(diff.FieldTitle, "manager").Lookup("userPrincipalName").
			Const(diff.FieldTitle, "Staff").
			Spec(),
	}
	resolved := 0
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.SampledFrom([]string{"ad", "waiting"}).Draw(t, "spec")
		m, err := mapping.New(specs[name])
		if err != nil {
			t.Fatal(err)
		}
		entries := genTargetEntries(t)
		targets := mapping.NewTargets(m.ReferencedAttributes())
		// As a Syncer reads: each user's Unresolved is kept compactly as soon
		// as the user is read, against the entries read so far.
		kept := map[string]string{}
		for i := range entries {
			e := &entries[i]
			targets.Add(e)
			if (e.Kind == connector.KindUser || e.Kind == "") && !e.Deleted {
				_, p, _ := m.MapEntry(e)
				kept[e.ID] = string(m.AppendUnresolved(nil, p, targets))
			}
		}
		snap, snapErr := connector.NewSnapshot(usersFirst(entries))
		if snapErr != nil {
			require.Equal(t, snapErr, targets.Err())
			return
		}
		require.NoError(t, targets.Err())
		require.Equal(t, snap.Len(), targets.Len())
		for _, e := range snap.Users() {
			want, pw, errW := m.MapEntry(e)
			got, pg, errG := m.MapEntry(e)
			require.Equal(t, errW, errG)
			m.Resolve(&want, pw, e, snap)
			direct := got
			m.ResolveTargets(&direct, pg, targets)
			require.Equal(t, want, direct, "entry %q", e.ID)
			pk, rest := m.ReadUnresolved(kept[e.ID], targets)
			require.Empty(t, rest)
			require.Equal(t, pg == nil, pk == nil)
			m.ResolveTargets(&got, pk, targets)
			require.Equal(t, want, got, "entry %q, compact Unresolved", e.ID)
			if got.Manager != "" || len(got.Department) > 0 {
				resolved++
			}
		}
	})
	require.Positive(t, resolved, "no lookup ever resolved: the property was not exercised")
}

// usersFirst orders a read as a Syncer hands it to NewSnapshot: the user
// entries, then the others, each in read order.
func usersFirst(read []connector.Entry) []connector.Entry {
	var users, others []connector.Entry
	for _, e := range read {
		if e.Kind == connector.KindUser || e.Kind == "" {
			users = append(users, e)
		} else {
			others = append(others, e)
		}
	}
	return append(users, others...)
}

// The duplicate NewSnapshot names is the first user whose ID an earlier
// user has, else the first other entry whose ID any user or earlier entry
// has, whatever order the kinds come in.
func TestTargetsDuplicateOrder(t *testing.T) {
	user := func(id string) connector.Entry { return connector.Entry{ID: id, Kind: connector.KindUser} }
	group := func(id string) connector.Entry { return connector.Entry{ID: id, Kind: connector.KindGroup} }
	for _, read := range [][]connector.Entry{
		{group("a"), user("a"), user("b"), user("b")},
		{group("a"), user("a")},
		{group("a"), group("b"), user("b"), user("a")},
		{group("a"), group("a"), user("c")},
		{user("a"), {ID: "a", Kind: connector.KindUser, Deleted: true}},
	} {
		targets := mapping.NewTargets(nil)
		for i := range read {
			targets.Add(&read[i])
		}
		_, want := connector.NewSnapshot(usersFirst(read))
		require.Equal(t, want, targets.Err(), "%v", read)
	}
}
