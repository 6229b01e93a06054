package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/dirsync-go/dirsync/internal/fakegraph"
)

const demoUsers = 10

// startDemo starts a fake Graph on loopback holding a small tenant: ten
// people in three departments with managers, one disabled, and two groups.
func startDemo() *fakegraph.Server {
	fg := fakegraph.NewHTTP()
	type person struct{ given, surname, dept, title string }
	people := []person{
		{"Carol", "Boss", "Management", "CEO"},
		{"Alice", "Smith", "Sales", "Head of Sales"},
		{"Bob", "Jones", "Sales", "Account executive"},
		{"Chen", "Wei", "Sales", "Account executive"},
		{"Dave", "Lee", "Engineering", "Head of Engineering"},
		{"Eve", "Martin", "Engineering", "Engineer"},
		{"Femi", "Adeyemi", "Engineering", "Engineer"},
		{"Grete", "Müller", "Engineering", "Engineer"},
		{"Hugo", "Silva", "Finance", "Controller"},
		{"Ines", "Costa", "Finance", "Accountant"},
	}
	ids := map[string]string{}
	for i, p := range people {
		upn := strings.ToLower(p.given) + "@contoso.example"
		ids[p.given] = fg.AddUser(map[string]any{
			"userPrincipalName": upn, "mail": upn,
			"givenName": p.given, "surname": p.surname, "displayName": p.given + " " + p.surname,
			"jobTitle": p.title, "department": p.dept, "companyName": "Contoso",
			"businessPhones": []any{fmt.Sprintf("+1 425 555 01%02d", i+1)},
			"employeeId":     fmt.Sprint(1001 + i),
		})
	}
	for _, m := range [][2]string{{"Alice", "Carol"}, {"Bob", "Alice"}, {"Chen", "Alice"}, {"Dave", "Carol"},
		{"Eve", "Dave"}, {"Femi", "Dave"}, {"Grete", "Dave"}, {"Hugo", "Carol"}, {"Ines", "Hugo"}} {
		fg.SetManager(ids[m[0]], ids[m[1]])
	}
	fg.DisableUser(ids["Chen"]) // left last week
	fg.AddGroup("Sales team", ids["Alice"], ids["Bob"], ids["Chen"])
	fg.AddGroup("Engineering", ids["Dave"], ids["Eve"], ids["Femi"], ids["Grete"])
	return fg
}

// fixedToken is an azcore.TokenCredential that hands out one token, as
// entra.Config.Credential takes any.
type fixedToken string

func (t fixedToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
