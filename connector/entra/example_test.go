package entra

import (
	"context"
	"fmt"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/fakegraph"
)

// A full read, then an incremental read after a change, against the fake
// Graph server. A real program calls Open with the tenant's app
// credentials instead of pointing the connector at a test server.
func Example() {
	srv := fakegraph.New()
	defer srv.Close()
	alice := srv.AddUser(map[string]any{"userPrincipalName": "alice@contoso.test", "givenName": "Alice", "department": "Sales"})
	srv.AddUser(map[string]any{"userPrincipalName": "bob@contoso.test", "givenName": "Bob", "department": "Support", "accountEnabled": false})
	srv.AddGroup("Sales team", alice)

	c, err := open(Config{Credential: staticCred{token: fakegraph.Token}, GraphBaseURL: srv.BaseURL()}, srv.Client().Transport)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cursor, err := c.ReadChanges(ctx, nil, func(e connector.Entry) error {
		fmt.Println(e.Kind, e.Attr("userPrincipalName")+e.Attr("displayName"), e.Path, "disabled:", e.Disabled, "groups:", len(e.MemberOf))
		return nil
	})
	if err != nil {
		panic(err)
	}
	srv.UpdateUser(alice, map[string]any{"jobTitle": "Sales lead"})
	_, err = c.ReadChanges(ctx, cursor, func(e connector.Entry) error {
		fmt.Println("changed:", e.Attr("userPrincipalName"), e.Attr("givenName"), e.Attr("jobTitle"))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// user alice@contoso.test [Sales] disabled: false groups: 1
	// user bob@contoso.test [Support] disabled: true groups: 0
	// group Sales team [] disabled: false groups: 0
	// changed: alice@contoso.test Alice Sales lead
}
