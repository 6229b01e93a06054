package diff_test

import (
	"fmt"

	"github.com/dirsync-go/dirsync/diff"
)

// Compute over what the directory wants and what the app has: a rename is
// an update by external ID, a person gone from the directory is blocked, and
// an account sync never managed is left alone.
func ExampleCompute() {
	plan := diff.Compute(diff.Input{
		Source: "corp-ad",
		Desired: []diff.Desired{
			{Account: diff.Account{ExternalID: "g-1", Email: "ann.smith@example.test", DisplayName: "Ann Smith"}},
		},
		Current: []diff.Account{
			{ID: "u1", Source: "corp-ad", ExternalID: "g-1", Managed: true, Email: "ann.lee@example.test", DisplayName: "Ann Lee"},
			{ID: "u2", Source: "corp-ad", ExternalID: "g-2", Managed: true, Email: "bob@example.test", DisplayName: "Bob Ray"},
			{ID: "u3", Email: "owner@example.test", DisplayName: "Founder"},
		},
		Fields: []string{diff.FieldEmail, diff.FieldDisplayName},
	})
	for _, c := range plan.Changes {
		fmt.Printf("%-6s %-9s %s\n", c.Op, c.Label(), c.Status())
		for _, f := range c.Fields {
			fmt.Printf("       %s\n", f)
		}
	}
	// Output:
	// update Ann Smith Changed in the directory: displayName, email
	//        displayName: "Ann Lee" → "Ann Smith"
	//        email: "ann.lee@example.test" → "ann.smith@example.test"
	// block  Bob Ray   No longer in the directory; block and end all sessions
	//        blocked: "false" → "true"
	// skip   Founder   Not managed by directory sync; left alone
}

// InStep tells which pairs of an entry and an app account need no change,
// so that a large diff can leave them out.
func ExampleInStep() {
	in := diff.Input{Source: "ad"}
	step := diff.NewInStep(&in)
	entry := diff.Desired{Account: diff.Account{ExternalID: "E1", Email: "ann@example.test", Title: "Engineer"}}
	same := diff.Account{ID: "7", Source: "ad", ExternalID: "E1", Managed: true, Email: "ann@example.test", Title: "Engineer"}
	promoted := same
	promoted.Title = "Analyst"
	fmt.Println(step.Pair(&entry, &same), step.Pair(&entry, &promoted))
	// Output: true false
}
