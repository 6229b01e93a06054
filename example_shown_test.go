package dirsync_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// The "Sync" button of a preview page: the page shows a plan and keeps its
// digest; the click applies the plan only if it is still the one shown.
func ExampleSyncer_ApplyShown() {
	ctx := context.Background()
	dir := fake.New(exampleUser("1", "ann", "Ann", "Lee", "Sales users"))
	sy, err := dirsync.New(dir, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "corp-ad"})
	if err != nil {
		panic(err)
	}
	shown, _ := sy.Plan(ctx) // rendered on the preview page with shown.Digest()
	fmt.Println("shown:", shown.Summary())

	// Someone joins before the admin clicks "Sync": nothing is applied,
	// and the page shows the new plan instead.
	dir.Add(exampleUser("2", "bob", "Bob", "Ray", "IT Users"))
	fresh, _, err := sy.ApplyShown(ctx, shown.Digest(), false)
	fmt.Println("moved:", errors.Is(err, dirsync.ErrPlanChanged), "now:", fresh.Summary())

	// The admin looks at the new plan and clicks again.
	_, report, err := sy.ApplyShown(ctx, fresh.Digest(), false)
	if err != nil {
		panic(err)
	}
	fmt.Println("applied:", report.Count(dirsync.StatusApplied))
	// Output:
	// shown: 1 create-department, 1 create
	// moved: true now: 2 create-department, 2 create
	// applied: 4
}
