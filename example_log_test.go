package dirsync_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/store"
)

// The provisioning log answers "who was invited last night?" and "why was
// Bob blocked?": one entry per change each run applied, failed or
// skipped, read by run or by account, a page at a time.
func ExampleSyncer_Log() {
	ctx := context.Background()
	dir := fake.New(
		exampleUser("1", "ann", "Ann", "Lee", "Staff"),
		exampleUser("2", "bob", "Bob", "Ray", "Staff"),
		exampleUser("3", "cy", "Cy", "Ng", "Staff"),
	)
	sink := dirsynctest.NewMemorySink()
	sink.Fail = func(c diff.Change) error {
		if c.Op == diff.OpCreate && c.After.Username == "cy" {
			return errors.New("seat limit reached")
		}
		return nil
	}
	sy, err := dirsync.New(dir, sink, &dirsync.Options{Source: "corp-ad", Store: store.NewMemory(),
		Log: dirsync.LogOptions{MaxAge: 90 * 24 * time.Hour, MaxEntries: 500_000}})
	if err != nil {
		panic(err)
	}
	first, _ := sy.RunOnce(ctx, dirsync.TriggerStart, dirsync.ModeAutomatic)

	// Who was invited in that run, two to a page?
	q := dirsync.LogQuery{Run: first.ID, Op: dirsync.OpCreate, Limit: 2}
	for {
		page, err := sy.Log(ctx, q)
		if err != nil {
			panic(err)
		}
		for _, e := range page.Entries {
			fmt.Printf("%d %s %s <%s>: %s", e.Seq, e.Op, e.Name, e.Email, e.Status)
			if e.Error != "" {
				fmt.Print(": ", e.Error)
			}
			fmt.Println()
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}

	// Why was Bob blocked? Look him up by email, in any case.
	sink.Fail = nil
	dir.Disable("2")
	sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	page, _ := sy.Log(ctx, dirsync.LogQuery{Account: "Bob@Example.test"})
	for _, e := range page.Entries {
		fmt.Printf("%s %s: %s (%s)\n", e.Op, e.Name, e.Reasons[0].Detail, e.Reasons[0].Code)
	}
	// Output:
	// 1 create Ann Lee <ann@example.test>: applied
	// 2 create Bob Ray <bob@example.test>: applied
	// 3 create Cy Ng <cy@example.test>: failed: seat limit reached
	// block Bob Ray: Disabled in the directory; block and end all sessions (source.disabled)
	// create Bob Ray: New in the directory: No scope rules: every user is synced (source.new)
}
