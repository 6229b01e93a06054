package mapping

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// project keeps only the named attributes of an entry.
func project(e connector.Entry, names []string) connector.Entry {
	p := e
	p.Attrs = connector.Attrs{}
	for _, n := range names {
		if v := e.Attrs.Values(n); v != nil {
			p.Attrs.Set(n, v...)
		}
	}
	return p
}

// A mapper given only the attributes Attributes names maps every entry as
// it does with all of them: nothing the rules read is left out of a
// projected read.
func TestAttributesCoverWhatMapReads(t *testing.T) {
	specs := map[string]Spec{
		"ad":     ADSpec(),
		"entra":  EntraSpec(),
		"google": GoogleSpec(),
		"scim":   SCIMSpec(),
		"custom": NewBuilder().
			Template(diff.FieldDisplayName, "{Initials}. {SN} ({employeeNumber})").
			From(diff.FieldEmail, "proxyAddresses").Transform("lower").
			From(diff.FieldManager, "Manager").Lookup("EmployeeID").
			From("extra.site", "physicalDeliveryOfficeName").
			From(diff.FieldDepartment, "extensionAttribute1").Split("/").
			Role("Admins", "admin").Role("CN=Ops,OU=Groups,DC=x", "ops").
			Spec(),
	}
	pool := []string{"sAMAccountName", "mail", "userPrincipalName", "givenName", "sn", "displayName",
		"title", "telephoneNumber", "mobile", "department", "employeeID", "initials", "employeeNumber",
		"proxyAddresses", "physicalDeliveryOfficeName", "extensionAttribute1", "surname", "jobTitle",
		"businessPhones", "mobilePhone", "primaryEmail", "name.givenName", "name.familyName", "name.fullName",
		"organizations.title", "phones.work", "orgUnitPath", "relations.manager", "cn", "name",
		"description", "info", "comment", "userName", "emails", "emails.primary", "emails.work",
		"name.formatted", "phoneNumbers", "phoneNumbers.work", "phoneNumbers.primary", "phoneNumbers.mobile"}
	rng := rand.New(rand.NewPCG(14, 14))
	for name, spec := range specs {
		m, err := New(spec)
		require.NoError(t, err, name)
		attrs := m.Attributes()
		assert.True(t, slices.IsSorted(attrs), name)
		for trial := range 50 {
			var entries []connector.Entry
			groups := []connector.Entry{
				{ID: "g1", Kind: connector.KindGroup, DN: "CN=Admins,OU=Groups,DC=x", Attrs: connector.Attrs{}},
				{ID: "g2", Kind: connector.KindGroup, DN: "CN=Ops,OU=Groups,DC=x", Attrs: connector.Attrs{}},
			}
			groups[0].Attrs.Set("cn", "Admins")
			groups[1].Attrs.Set("displayName", "Operations")
			for i := range 20 {
				e := connector.Entry{ID: fmt.Sprintf("u%d-%d", trial, i), Kind: connector.KindUser,
					DN: fmt.Sprintf("CN=U%d,OU=Sales users,DC=x", i), Path: []string{"Sales users"}, Attrs: connector.Attrs{}}
				for _, a := range pool {
					if rng.IntN(3) > 0 {
						e.Attrs.Set(a, fmt.Sprintf("%s-%d", a, rng.IntN(5)))
					}
				}
				if i > 0 && rng.IntN(2) == 0 {
					e.Attrs.Set("manager", entries[rng.IntN(i)].DN)
				}
				if rng.IntN(2) == 0 {
					e.MemberOf = []string{"g1"}
					groups[0].Members = append(groups[0].Members, e.ID)
				}
				entries = append(entries, e)
			}
			all := append(slices.Clone(entries), groups...)
			var slim []connector.Entry
			for _, e := range all {
				slim = append(slim, project(e, attrs))
			}
			full, err := connector.NewSnapshot(all)
			require.NoError(t, err)
			proj, err := connector.NewSnapshot(slim)
			require.NoError(t, err)
			for i := range entries {
				want, err := m.Map(&all[i], full)
				require.NoError(t, err)
				got, err := m.Map(&slim[i], proj)
				require.NoError(t, err)
				require.Equal(t, want, got, "%s: entry %d mapped differently from the projected attributes %v", name, i, attrs)
			}
		}
	}
}
