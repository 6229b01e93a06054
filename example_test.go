package dirsync_test

import (
	"context"
	"fmt"
	"os"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
)

func exampleUser(id, sam, given, sn string, path ...string) connector.Entry {
	e := connector.Entry{ID: id, Kind: connector.KindUser, Path: path, Attrs: connector.Attrs{}}
	e.Attrs.Set("sAMAccountName", sam)
	e.Attrs.Set("mail", sam+"@example.test")
	e.Attrs.Set("givenName", given)
	e.Attrs.Set("sn", sn)
	return e
}

// A directory of three people, one of them in an OU that is not synced,
// planned and applied into an in-memory sink, then planned again.
func ExampleSyncer() {
	ctx := context.Background()
	dir := fake.New(
		exampleUser("1", "ann", "Ann", "Lee", "Sales department users"),
		exampleUser("2", "bob", "Bob", "Ray", "IT Users"),
		exampleUser("3", "svc-backup", "Backup", "Service", "Service Accounts"),
	)
	pol, err := policy.New(policy.Config{Scope: policy.ScopeConfig{
		Rules: []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}}})
	if err != nil {
		panic(err)
	}
	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(dir, sink, &dirsync.Options{Source: "corp-ad", Policy: pol})
	if err != nil {
		panic(err)
	}

	plan, err := sy.Plan(ctx)
	if err != nil {
		panic(err)
	}
	for _, c := range plan.Changes {
		fmt.Printf("%s %s: %s\n", c.Op, c.Label(), c.Status())
	}
	report, err := sy.Apply(ctx, plan)
	if err != nil {
		panic(err)
	}
	fmt.Println("applied:", report.Count(dirsync.StatusApplied))

	dir.Disable("2")
	plan, _ = sy.Plan(ctx)
	fmt.Println("next:", plan.Summary())
	bob, _ := plan.Search("^Bob")
	fmt.Println(bob.Changes[0].Op, bob.Changes[0].Label()+":", bob.Changes[0].Status())
	// Output:
	// create-department IT: Department IT does not exist in the app yet
	// create-department Sales department: Department Sales department does not exist in the app yet
	// create Ann Lee: New in the directory: OU "Sales department users" is a synced OU (name ends with "user" or "users")
	// create Bob Ray: New in the directory: OU "IT Users" is a synced OU (name ends with "user" or "users")
	// skip Backup Service: The account's OU "Service Accounts" is not synced (only OUs whose name ends with "user" or "users" are synced)
	// applied: 4
	// next: 1 block
	// block Bob Ray: Disabled in the directory; block and end all sessions
}

// The plan renders as the table an admin reviews.
func ExamplePlan_WriteText() {
	dir := fake.New(exampleUser("1", "ann", "Ann", "Lee", "Staff"))
	sy, _ := dirsync.New(dir, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "corp-ad"})
	plan, _ := sy.Plan(context.Background())
	_ = plan.WriteText(os.Stdout)
	// Output:
	// OPERATION          ACCOUNT  EMAIL             STATUS
	// create-department  Staff                      Department Staff does not exist in the app yet
	// create             Ann Lee  ann@example.test  New in the directory: No scope rules: every user is synced
	//                                                 department: ∅ → Staff
	//                                                 displayName: ∅ → Ann Lee
	//                                                 email: ∅ → ann@example.test
	//                                                 familyName: ∅ → Lee
	//                                                 givenName: ∅ → Ann
	//                                                 username: ∅ → ann
	// Plan for corp-ad: 1 create-department, 1 create
}
