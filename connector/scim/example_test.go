package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
)

// A host mounts one Server per integration, gives the identity provider a
// token, and reads what the provider pushed as a directory.
func Example() {
	ctx := context.Background()
	srv, err := scim.Open(ctx, scim.Config{OnChange: func(context.Context) {
		// sy.SyncNow(): the integration's Syncer plans and applies
	}})
	if err != nil {
		panic(err)
	}
	token, err := srv.RotateToken(ctx) // paste into Okta or Entra ID
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/acme/", http.StripPrefix("/scim/v2/acme", srv))

	// What Okta sends when a person is assigned to the app.
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"ada@example.com","active":true,
		"name":{"givenName":"Ada","familyName":"Lovelace"},
		"emails":[{"primary":true,"type":"work","value":"ada@example.com"}]}`
	req := httptest.NewRequest(http.MethodPost, "https://app.example.com/scim/v2/acme/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	srv.Wait()

	entries, err := connector.ReadAll(ctx, srv)
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.Kind, e.Attr("userName"), e.Attr("emails.primary"), e.Attr("name.givenName"), "disabled:", e.Disabled)
	}
	// Output:
	// 201 application/scim+json
	// user ada@example.com ada@example.com Ada disabled: false
}
