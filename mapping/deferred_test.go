package mapping_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/mapping"
)

// MapEntry then Resolve gives what Map gives, for every default spec and a
// spec with roles, fallbacks behind lookups and a lookup into a department.
func TestDeferredEqualsMap(t *testing.T) {
	custom := mapping.NewBuilder().
		From("email", "mail").Transform("lower").
		From("manager", "manager").Lookup("displayName").
		From("manager", "manager").
		Template("manager", "nobody").
		From("department", "manager").Lookup("department").Split("/").
		Path("department").
		Template("displayName", "{givenName} {sn}").Transform("translit:ru-icao", "translit").
		Role("App Admins", "admin").Role("Sales", "sales").
		Spec()
	entries := fake.Company(400, 7)
	snap, err := connector.NewSnapshot(entries)
	require.NoError(t, err)
	for name, spec := range map[string]mapping.Spec{"ad": mapping.ADSpec(), "entra": mapping.EntraSpec(),
		"google": mapping.GoogleSpec(), "custom": custom} {
		m, err := mapping.New(spec)
		require.NoError(t, err)
		for _, e := range snap.Users() {
			want, err := m.Map(e, snap)
			require.NoError(t, err)
			got, p, err := m.MapEntry(e)
			require.NoError(t, err)
			// Resolve sees only a slim copy: the referenced attributes.
			slim := connector.Entry{ID: e.ID, Kind: e.Kind, DN: e.DN, Path: e.Path, MemberOf: e.MemberOf, Attrs: connector.Attrs{}}
			for _, a := range m.ReferencedAttributes() {
				if v := e.Attrs.Values(a); v != nil {
					slim.Attrs.Set(a, v...)
				}
			}
			m.Resolve(&got, p, &slim, snap)
			require.Equal(t, want, got, "%s: %s", name, e.DN)
		}
	}
}
