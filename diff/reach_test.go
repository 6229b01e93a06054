package diff_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/diff"
)

func change(t *testing.T, p *diff.Plan, key string) diff.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no change %s in\n%s", key, p)
	return diff.Change{}
}

// A create needs an email or a username; a name is not required.
func TestComputeCreatesOnlyReachableAccounts(t *testing.T) {
	for _, tt := range []struct {
		name    string
		acct    diff.Account
		created bool
	}{
		{"email and display name", diff.Account{Email: "a@x.test", DisplayName: "Ann"}, true},
		{"username only", diff.Account{Username: "ann"}, true},
		{"email only", diff.Account{Email: "a@x.test"}, true},
		{"blank", diff.Account{Title: "Engineer", Department: []string{"Sales"}}, false},
		{"names only", diff.Account{DisplayName: "Ann Lee", GivenName: "Ann", FamilyName: "Lee"}, false},
		{"white space is nothing", diff.Account{Email: " ", Username: "\t", DisplayName: "Ann"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := diff.Desired{Account: tt.acct}
			d.Account.ExternalID = "E1"
			p := compute([]diff.Desired{d}, nil, diff.Options{})
			c := change(t, p, "ad/E1")
			if tt.created {
				assert.Equal(t, diff.OpCreate, c.Op, "%s", p)
				return
			}
			assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
			require.Len(t, c.Reasons, 1)
			assert.Equal(t, diff.ReasonInvalid, c.Reasons[0].Code)
			assert.Contains(t, c.Reasons[0].Detail, "no email and no username")
		})
	}
}

// An update is judged on the account after it: the owned fields from the
// entry, the rest as the app has them.
func TestComputeUpdateKeepsTheWayToReach(t *testing.T) {
	cur := diff.Account{ID: "7", Source: "ad", ExternalID: "E1", Managed: true, Email: "ann@x.test",
		DisplayName: "Ann", Title: "Intern", Roles: []string{"admin"}}

	t.Run("emptied profile is kept, role change and block go through", func(t *testing.T) {
		d := diff.Desired{Disabled: true, Account: diff.Account{ExternalID: "E1", Title: "Engineer"}}
		p := compute([]diff.Desired{d}, []diff.Account{cur}, diff.Options{})
		c := change(t, p, "ad/E1")
		assert.Equal(t, diff.OpBlock, c.Op, "%s", p)
		assert.True(t, c.HasReason(diff.ReasonInvalid), "%s", p)
		assert.True(t, c.HasReason(diff.ReasonDisabled), "%s", p)
		assert.Equal(t, []diff.FieldChange{
			{Name: diff.FieldBlocked, Old: "false", New: "true"},
			{Name: diff.FieldRoles, Old: "admin", New: ""},
		}, c.Fields)
		assert.Equal(t, "ann@x.test", c.After.Email)
		assert.Equal(t, "Ann", c.After.DisplayName)
		assert.Equal(t, "Intern", c.After.Title, "the rest of the profile is kept too")
	})
	t.Run("emptied profile of an active person: a skip", func(t *testing.T) {
		d := diff.Desired{Account: diff.Account{ExternalID: "E1", DisplayName: "Ann", Roles: []string{"admin"}}}
		p := compute([]diff.Desired{d}, []diff.Account{cur}, diff.Options{})
		c := change(t, p, "ad/E1")
		assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
		require.Len(t, c.Reasons, 1)
		assert.Equal(t, diff.ReasonInvalid, c.Reasons[0].Code)
		assert.Contains(t, c.Reasons[0].Detail, "no email and no username")
		assert.Empty(t, c.Fields)
	})
	t.Run("a username left is enough", func(t *testing.T) {
		d := diff.Desired{Account: diff.Account{ExternalID: "E1", Username: "ann", Title: "Intern", Roles: []string{"admin"}}}
		p := compute([]diff.Desired{d}, []diff.Account{cur}, diff.Options{})
		c := change(t, p, "ad/E1")
		assert.Equal(t, diff.OpUpdate, c.Op, "%s", p)
		assert.False(t, c.HasReason(diff.ReasonInvalid))
	})
	t.Run("fields the mapping does not own are the app's", func(t *testing.T) {
		d := diff.Desired{Account: diff.Account{ExternalID: "E1", Title: "Engineer"}}
		p := diff.Compute(diff.Input{Source: "ad", Desired: []diff.Desired{d}, Current: []diff.Account{cur},
			Fields: []string{diff.FieldTitle}, Options: diff.Options{Now: now}})
		c := change(t, p, "ad/E1")
		assert.Equal(t, diff.OpUpdate, c.Op, "%s", p)
		assert.Equal(t, []diff.FieldChange{{Name: diff.FieldTitle, Old: "Intern", New: "Engineer"}}, c.Fields)
		assert.Empty(t, p.Warnings, "a mapping that owns no email or name is not told it fills none")
	})
	t.Run("an account already unreachable is not held back", func(t *testing.T) {
		blank := cur
		blank.Email = ""
		d := diff.Desired{Account: diff.Account{ExternalID: "E1", DisplayName: "Ann", Title: "Engineer", Roles: []string{"admin"}}}
		p := compute([]diff.Desired{d}, []diff.Account{blank}, diff.Options{})
		c := change(t, p, "ad/E1")
		assert.Equal(t, diff.OpUpdate, c.Op, "%s", p)
		assert.False(t, c.HasReason(diff.ReasonInvalid))
	})
}

func blankEntries(n int, prefix string) []diff.Desired {
	out := make([]diff.Desired, n)
	for i := range out {
		out[i] = diff.Desired{Account: diff.Account{ExternalID: fmt.Sprintf("%s%02d", prefix, i), Department: []string{"Staff"}}}
	}
	return out
}

// Most users map to nothing: one warning, with the numbers; entries left
// out as in step count among the users.
func TestComputeWarnsWhenMostUsersMapToNothing(t *testing.T) {
	good := func(n int) []diff.Desired {
		out := make([]diff.Desired, n)
		for i := range out {
			out[i] = want(fmt.Sprintf("G%02d", i), fmt.Sprintf("g%d@x.test", i))
		}
		return out
	}
	outOfScope := blankEntries(20, "O")
	for i := range outOfScope {
		outOfScope[i].OutOfScope = true
	}
	for _, tt := range []struct {
		name    string
		in      diff.Input
		warning string
	}{
		{"most", diff.Input{Desired: append(blankEntries(6, "B"), good(5)...)}, "6 of 11 directory users map to no email and no username"},
		{"half is not most", diff.Input{Desired: append(blankEntries(6, "B"), good(6)...)}, ""},
		{"a handful at least", diff.Input{Desired: blankEntries(4, "B")}, ""},
		{"in step count", diff.Input{Desired: append(blankEntries(6, "B"), good(2)...), InStepEntries: 4}, ""},
		{"in step count, still most", diff.Input{Desired: blankEntries(6, "B"), InStepEntries: 5}, "6 of 11 directory users"},
		{"out of scope not counted", diff.Input{Desired: append(append(blankEntries(5, "B"), outOfScope...), good(1)...)}, "5 of 6 directory users"},
		{"names are not needed", diff.Input{Desired: func() []diff.Desired {
			d := blankEntries(5, "B")
			for i := range d {
				d[i].Account.Email = fmt.Sprintf("b%d@x.test", i)
			}
			return d
		}()}, ""},
		{"the mapping owns no email or username", diff.Input{Desired: blankEntries(6, "B"),
			Fields: []string{diff.FieldTitle, diff.FieldDisplayName}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Source = "ad"
			p := diff.Compute(in)
			if tt.warning == "" {
				assert.Empty(t, p.Warnings)
				return
			}
			require.Len(t, p.Warnings, 1)
			w := p.Warnings[0]
			assert.Equal(t, diff.ReasonInvalid, w.Code)
			assert.Contains(t, w.Detail, tt.warning)
			assert.Contains(t, p.Summary(), w.Detail)
			text := p.String()
			assert.Equal(t, 1, strings.Count(text, w.Detail), "once in the text:\n%s", text)
			b, err := p.MarshalJSON()
			require.NoError(t, err)
			assert.Contains(t, string(b), `"warnings":[{"code":"mapping.invalid"`)
			s, err := p.Search("^nobody$")
			require.NoError(t, err)
			assert.Equal(t, p.Warnings, s.Warnings, "a subset of the plan keeps its warning")
		})
	}
}
