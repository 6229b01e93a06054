package mapping_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// sampleEntries is a small AD-shaped directory: a user, her manager, and
// nested groups.
func sampleEntries() []connector.Entry {
	return []connector.Entry{
		{
			ID:   "u-julia",
			Kind: connector.KindUser,
			DN:   "CN=Юлия Щербакова,OU=Sales department users,OU=Europe,DC=corp,DC=example",
			Path: []string{"Europe", "Sales department users"},
			Attrs: connector.Attrs{
				"samaccountname":    {"YShcherbakova"},
				"userprincipalname": {"Y.Shcherbakova@Corp.Example"},
				"givenname":         {"Юлия"},
				"sn":                {"Щербакова"},
				"title":             {"  Account   manager "},
				"mobile":            {"+7 495 000-00-00"},
				"manager":           {"cn=Boss Man, ou=Europe,dc=corp,dc=example"},
				"department":        {"Sales / EMEA"},
				"employeeid":        {"E-1001"},
			},
			MemberOf: []string{"g-sales"},
		},
		{
			ID:   "u-boss",
			Kind: connector.KindUser,
			DN:   "CN=Boss Man,OU=Europe,DC=corp,DC=example",
			Path: []string{"Europe"},
			Attrs: connector.Attrs{
				"samaccountname":    {"boss"},
				"mail":              {"Boss@Corp.Example"},
				"userprincipalname": {"boss@corp.example"},
				"manager":           {"u-nobody"},
			},
		},
		{
			ID:    "g-sales",
			Kind:  connector.KindGroup,
			DN:    "CN=Sales,OU=Groups,DC=corp,DC=example",
			Attrs: connector.Attrs{"cn": {"Sales"}},
			// Sales is nested in Everyone.
			MemberOf: []string{"g-all"},
		},
		{
			ID:    "g-all",
			Kind:  connector.KindGroup,
			DN:    "CN=Everyone,OU=Groups,DC=corp,DC=example",
			Attrs: connector.Attrs{"cn": {"Everyone"}},
		},
		{
			ID:      "g-admins",
			Kind:    connector.KindGroup,
			Attrs:   connector.Attrs{"displayname": {"App Admins"}},
			Members: []string{"u-boss"},
		},
	}
}

func sampleSnapshot(t testing.TB) *connector.Snapshot {
	t.Helper()
	s, err := connector.NewSnapshot(sampleEntries())
	require.NoError(t, err)
	return s
}

func mustEntry(t testing.TB, dir *connector.Snapshot, id string) *connector.Entry {
	t.Helper()
	e, ok := dir.Get(id)
	require.True(t, ok, id)
	return e
}

// mapOne builds a mapper from rules and maps the entry id of the sample
// directory.
func mapOne(t *testing.T, id string, rules ...mapping.Rule) diff.Account {
	t.Helper()
	m, err := mapping.New(mapping.Spec{Rules: rules})
	require.NoError(t, err)
	dir := sampleSnapshot(t)
	a, err := m.Map(mustEntry(t, dir, id), dir)
	require.NoError(t, err)
	return a
}
