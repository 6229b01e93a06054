package mapping_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/mapping"
)

// ExternalIDFromEntryID is true exactly when the mapped join key is the
// entry's ID, for every entry.
func TestExternalIDFromEntryID(t *testing.T) {
	e := connector.Entry{ID: "guid-1", Kind: connector.KindUser, Attrs: connector.Attrs{}}
	e.Attrs.Set("employeeID", "E-7")
	e.Attrs.Set("mail", "a@example.test")
	for _, tc := range []struct {
		name string
		spec mapping.Spec
	}{
		{"default AD spec", mapping.ADSpec()},
		{"email only", mapping.Spec{Rules: []mapping.Rule{{Target: "email", From: []string{"mail"}}}}},
		{"external ID from employeeID", mapping.Spec{Rules: []mapping.Rule{
			{Target: mapping.TargetExternalID, From: []string{"employeeID"}},
			{Target: "email", From: []string{"mail"}}}}},
		{"external ID from a template", mapping.Spec{Rules: []mapping.Rule{
			{Target: mapping.TargetExternalID, Template: "{employeeID}"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mapping.New(tc.spec)
			require.NoError(t, err)
			a, err := m.Map(&e, nil)
			require.NoError(t, err)
			assert.Equal(t, a.ExternalID == e.ID, m.ExternalIDFromEntryID(), "mapped join key %q", a.ExternalID)
		})
	}
}
