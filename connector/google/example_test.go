package google_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
)

// The example runs against the in-repo fake Directory API; against Google,
// leave Endpoint empty and use a real key.
func Example() {
	ctx := context.Background()
	fk := fakegoogle.New("admin@example.com")
	defer fk.Close()
	fk.AddUser(fakegoogle.User{ID: "104", PrimaryEmail: "alice@example.com", GivenName: "Alice", FamilyName: "Archer",
		OrgUnitPath: "/Europe/Sales users", Title: "Sales lead"})
	fk.AddUser(fakegoogle.User{ID: "105", PrimaryEmail: "bob@example.com", OrgUnitPath: "/Europe", Suspended: true})
	fk.AddGroup(fakegoogle.Group{ID: "g7", Email: "sales@example.com", Name: "Sales"})
	fk.AddMember("g7", fakegoogle.Member{ID: "104", Type: "USER"})

	c, err := google.Open(ctx, google.Config{
		ServiceAccountJSON: string(fk.ServiceAccountJSON(fakegoogle.NewKey())),
		Subject:            "admin@example.com",
		Endpoint:           fk.URL,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for e, err := range c.Read(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		line := fmt.Sprintf("%s %s %q disabled=%t memberOf=%v %s %s", e.Kind, e.ID, e.Path, e.Disabled, e.MemberOf,
			e.Attrs.Get("primaryEmail"), e.Attrs.Get("organizations.title"))
		fmt.Println(strings.TrimSpace(line))
	}
	// Output:
	// user 104 ["Europe" "Sales users"] disabled=false memberOf=[g7] alice@example.com Sales lead
	// user 105 ["Europe"] disabled=true memberOf=[] bob@example.com
	// group g7 [] disabled=false memberOf=[]
}

func ExampleConnector_ReadChanges() {
	ctx := context.Background()
	fk := fakegoogle.New("admin@example.com")
	defer fk.Close()
	fk.AddUser(fakegoogle.User{ID: "104", PrimaryEmail: "alice@example.com"})
	fk.AddUser(fakegoogle.User{ID: "105", PrimaryEmail: "bob@example.com"})
	c, err := google.Open(ctx, google.Config{
		ServiceAccountJSON: string(fk.ServiceAccountJSON(fakegoogle.NewKey())),
		Subject:            "admin@example.com",
		Endpoint:           fk.URL,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func(e connector.Entry) error {
		fmt.Println(" ", e.ID, "deleted:", e.Deleted)
		return nil
	}
	fmt.Println("first run:")
	cur, _ := c.ReadChanges(ctx, nil, show)
	fmt.Println("no change:")
	cur, _ = c.ReadChanges(ctx, cur, show)
	fk.UpdateUser("104", func(u *fakegoogle.User) { u.Title = "CEO" })
	fk.DeleteUser("105")
	fmt.Println("one change, one deletion:")
	_, err = c.ReadChanges(ctx, cur, show)
	fmt.Println(err)
	// Output:
	// first run:
	//   104 deleted: false
	//   105 deleted: false
	// no change:
	// one change, one deletion:
	//   104 deleted: false
	//   105 deleted: true
	// <nil>
}

func ExampleConfig_String() {
	cfg := google.Config{ServiceAccountJSON: `{"private_key": "…"}`, Subject: "admin@example.com"}
	fmt.Printf("%+v\n", cfg)
	// Output:
	// google.Config{ServiceAccountJSON:[redacted] ServiceAccountFile:"" Subject:"admin@example.com" TokenSource:false Customer:"" Domain:"" Query:"" CustomSchemas:[] Endpoint:"" PageSize:0 MaxAttempts:0 RetryDelay:0s}
}
