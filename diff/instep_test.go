package diff_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/diff"
)

// genStepInput is genJoinInput plus accounts that copy an entry (in step
// with it, or one field off), extra fields, roles, departments, an explicit
// list of owned fields or none, and an exception.
func genStepInput(t *rapid.T) diff.Input {
	in := genJoinInput(t)
	depts := [][]string{nil, {"Sales"}, {"Sales", "EMEA"}, {"R&D"}}
	for i := range in.Desired {
		d := &in.Desired[i]
		d.Account.Department = rapid.SampledFrom(depts).Draw(t, "dept")
		if rapid.IntRange(0, 3).Draw(t, "hasExtra") == 0 {
			d.Account.Extra = map[string]string{"locale": rapid.SampledFrom([]string{"en", "de"}).Draw(t, "locale")}
		}
		if rapid.IntRange(0, 3).Draw(t, "hasRoles") == 0 {
			d.Account.Roles = rapid.SampledFrom([][]string{{"admin"}, {"b", "a"}, {"a", "b"}}).Draw(t, "roles")
		}
		switch rapid.IntRange(0, 3).Draw(t, "copy") {
		case 0:
			continue
		case 1: // one field off
			a := d.Account.Clone()
			a.Title += " (old)"
			in.Current = append(in.Current, managedCopy(a, d, len(in.Current)))
		default: // in step
			in.Current = append(in.Current, managedCopy(d.Account.Clone(), d, len(in.Current)))
		}
	}
	// New people who want an email someone may hold.
	for i := range rapid.IntRange(0, 2).Draw(t, "newcomers") {
		in.Desired = append(in.Desired, diff.Desired{EntryID: fmt.Sprintf("n%d", i), Account: diff.Account{
			ExternalID: fmt.Sprintf("N%d", i), DisplayName: fmt.Sprintf("Newcomer %d", i),
			Email: emailVariant(t, rapid.SampledFrom([]string{"josé@x.test", "ann@x.test"}).Draw(t, "newEmail"), "newSpelling")}})
	}
	if rapid.Bool().Draw(t, "explicitFields") {
		in.Fields = rapid.SampledFrom([][]string{
			{diff.FieldEmail, diff.FieldTitle}, {diff.FieldDisplayName, diff.FieldDepartment, "extra.locale"}, {}}).Draw(t, "fields")
	}
	if rapid.Bool().Draw(t, "manageDepartments") {
		in.ManageDepartments = true
		in.Departments = [][]string{{"Sales"}}
	}
	if rapid.IntRange(0, 3).Draw(t, "hasException") == 0 {
		who := rapid.SampledFrom([]string{"E1", "E2", "app-1"}).Draw(t, "except")
		in.Options.Except = func(a *diff.Account) (diff.Reason, bool) {
			return diff.Reason{}, a.ExternalID == who || a.ID == who
		}
	}
	return in
}

// managedCopy is a, as the integration would hold it for d.
func managedCopy(a diff.Account, d *diff.Desired, n int) diff.Account {
	a.ID, a.Source, a.Managed = fmt.Sprintf("app-copy-%d", n), "ad", true
	a.Blocked, a.BlockedBySync = d.Disabled, d.Disabled
	if a.Blocked {
		a.BlockedAt, a.BlockReason = now, diff.ReasonDisabled
	}
	return a
}

// Leaving every pair InStep names out of the diff, the way its
// documentation says (the account kept as a holder of its email when
// another entry wants that email, its department passed on), plans
// byte-for-byte what the whole diff plans.
func TestInStepLeavesThePlanAlone(t *testing.T) {
	left := 0
	rapid.Check(t, func(t *rapid.T) {
		in := genStepInput(t)
		whole := renderPlan(t, diff.Compute(in))

		entries, accounts := map[string]int{}, map[string]int{}
		for _, d := range in.Desired {
			entries[d.Account.ExternalID]++
		}
		for _, a := range in.Current {
			if a.Managed && a.Source == in.Source && a.ExternalID != "" {
				accounts[a.ExternalID]++
			}
		}
		emails := map[string]int{}
		for _, d := range in.Desired {
			if e := diff.NormalizeEmail(d.Account.Email); e != "" {
				emails[e]++
			}
		}
		step := diff.NewInStep(&in)
		reduced := in
		reduced.Desired, reduced.Current = nil, nil
		out := map[string]bool{}
		for _, d := range in.Desired {
			id := d.Account.ExternalID
			if entries[id] != 1 || accounts[id] != 1 {
				continue
			}
			for _, a := range in.Current {
				if a.Managed && a.Source == in.Source && a.ExternalID == id && step.Pair(&d, &a) {
					out[id] = true
					e, own := diff.NormalizeEmail(a.Email), 0
					if e != "" && diff.NormalizeEmail(d.Account.Email) == e {
						own = 1
					}
					if e != "" && emails[e] > own {
						reduced.Unchanged = append(reduced.Unchanged, a)
					}
					reduced.WantDepartments = append(reduced.WantDepartments, d.Account.Department)
				}
			}
		}
		for _, d := range in.Desired {
			if !out[d.Account.ExternalID] {
				reduced.Desired = append(reduced.Desired, d)
			}
		}
		for _, a := range in.Current {
			if !(a.Managed && a.Source == in.Source && out[a.ExternalID]) {
				reduced.Current = append(reduced.Current, a)
			}
		}
		reduced.InStepEntries = len(out)
		left += len(out)
		require.Equal(t, whole, renderPlan(t, diff.Compute(reduced)), "%d pairs left out", len(out))
	})
	require.Positive(t, left, "no draw had a pair in step: the property was not exercised")
}

// A pair is never in step when the account belongs to no one, to another
// integration, or to another join key, or when the entry is out of scope,
// invalid or disabled while the account is active.
func TestInStepRefusesWhatComputeWouldTouch(t *testing.T) {
	in := diff.Input{Source: "ad"}
	step := diff.NewInStep(&in)
	d := diff.Desired{Account: diff.Account{ExternalID: "E1", Email: "a@x.test", Title: "Engineer"}}
	a := diff.Account{ID: "1", Source: "ad", ExternalID: "E1", Managed: true, Email: "a@x.test", Title: "Engineer"}
	require.True(t, step.Pair(&d, &a))
	for name, mutate := range map[string]func(d *diff.Desired, a *diff.Account){
		"unmanaged":     func(_ *diff.Desired, a *diff.Account) { a.Managed = false },
		"other source":  func(_ *diff.Desired, a *diff.Account) { a.Source = "google" },
		"other key":     func(_ *diff.Desired, a *diff.Account) { a.ExternalID = "E2" },
		"out of scope":  func(d *diff.Desired, _ *diff.Account) { d.OutOfScope = true },
		"invalid":       func(d *diff.Desired, _ *diff.Account) { d.Invalid = true },
		"disabled":      func(d *diff.Desired, _ *diff.Account) { d.Disabled = true },
		"blocked":       func(_ *diff.Desired, a *diff.Account) { a.Blocked = true },
		"email case":    func(d *diff.Desired, _ *diff.Account) { d.Account.Email = "A@x.test" },
		"extra":         func(d *diff.Desired, _ *diff.Account) { d.Account.Extra = map[string]string{"k": "v"} },
		"roles":         func(d *diff.Desired, _ *diff.Account) { d.Account.Roles = []string{"admin"} },
		"department":    func(_ *diff.Desired, a *diff.Account) { a.Department = []string{"Sales"} },
		"title changed": func(d *diff.Desired, _ *diff.Account) { d.Account.Title = "Principal Engineer" },
		// Both blank alike: the diff counts the entry as one the mapping
		// could not fill (Plan.Warnings).
		"no email or username": func(d *diff.Desired, a *diff.Account) { d.Account.Email, a.Email = "", "" },
	} {
		d2, a2 := d, a
		mutate(&d2, &a2)
		require.False(t, step.Pair(&d2, &a2), name)
	}
	// Unsorted roles are compared sorted, as Compute compares them.
	d2, a2 := d, a
	d2.Account.Roles, a2.Roles = []string{"b", "a"}, []string{"a", "b"}
	require.True(t, step.Pair(&d2, &a2))
	// An exception on either side keeps the pair in the diff (it is listed).
	ex := in
	ex.Options.Except = func(x *diff.Account) (diff.Reason, bool) { return diff.Reason{}, x.ID == "1" }
	require.False(t, diff.NewInStep(&ex).Pair(&d, &a))
}

func renderPlan(t *rapid.T, p *diff.Plan) string {
	var b strings.Builder
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b.String() + string(j)
}
