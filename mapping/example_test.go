package mapping_test

import (
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

func ExampleNew() {
	// A spec as an admin console stores it.
	spec, err := mapping.ParseSpec([]byte(`{
	  "rules": [
	    {"target": "username",   "from": ["sAMAccountName"], "transforms": ["lower"]},
	    {"target": "email",      "from": ["mail", "userPrincipalName"], "transforms": ["lower"]},
	    {"target": "displayName", "template": "{givenName} {initials} {sn}"},
	    {"target": "manager",    "from": ["manager"], "lookup": "mail"},
	    {"target": "department", "fromPath": true, "skip": 1, "trimSuffixes": ["users", "user"]}
	  ],
	  "roles": [{"group": "App Admins", "role": "admin"}]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := mapping.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}

	dir, _ := connector.NewSnapshot([]connector.Entry{
		{ID: "1", Kind: connector.KindUser, Path: []string{"Europe", "Sales users"},
			Attrs: connector.Attrs{
				"samaccountname":    {"JSmith"},
				"userprincipalname": {"J.Smith@Corp.Example"},
				"givenname":         {"John"},
				"sn":                {"Smith"},
				"manager":           {"CN=Ann Lee,OU=Europe,DC=corp,DC=example"},
			},
			MemberOf: []string{"g1"}},
		{ID: "2", Kind: connector.KindUser, DN: "cn=ann lee,ou=europe,dc=corp,dc=example",
			Attrs: connector.Attrs{"mail": {"ann.lee@corp.example"}}},
		{ID: "g1", Kind: connector.KindGroup, Attrs: connector.Attrs{"cn": {"App Admins"}}},
	})
	john, _ := dir.Get("1")
	a, _ := m.Map(john, dir)
	fmt.Println(a.Username, a.Email)
	fmt.Println(a.DisplayName)
	fmt.Println(a.Manager)
	fmt.Println(a.Department, a.Roles)
	fmt.Println(m.Fields())
	// Output:
	// jsmith j.smith@corp.example
	// John Smith
	// ann.lee@corp.example
	// [Sales] [admin]
	// [department displayName email manager roles username]
}

func ExampleNewBuilder() {
	m, err := mapping.NewBuilder().
		Template(diff.FieldUsername, "{givenName}.{sn}").Transform("translit:ru-icao", "lower").
		Template(diff.FieldEmail, "{givenName}.{sn}").Transform("translit:ru-icao", "lower", "domain:corp.example").
		Template(diff.FieldDisplayName, "{givenName} {sn}").
		Template("extra.latinName", "{givenName} {sn}").Transform("translit:ru-icao").
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	e := &connector.Entry{ID: "42", Attrs: connector.Attrs{"givenname": {"Юлия"}, "sn": {"Щербакова"}}}
	a, _ := m.Map(e, nil)
	fmt.Println(a.Username)
	fmt.Println(a.Email)
	fmt.Println(a.DisplayName, "/", a.Extra["latinName"])
	// Output:
	// iuliia.shcherbakova
	// iuliia.shcherbakova@corp.example
	// Юлия Щербакова / Iuliia Shcherbakova
}

func ExampleADSpec() {
	// Start from a default and add what the host needs.
	spec := mapping.ADSpec()
	spec.Rules = append(spec.Rules, mapping.Rule{Target: "extra.employeeId", From: []string{"employeeID"}})
	spec.Roles = append(spec.Roles, mapping.RoleLink{Group: "Domain Admins", Role: "admin"})
	m, err := mapping.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Fields())
	// Output:
	// [department displayName email extra.employeeId familyName givenName manager phone roles title username]
}

func ExampleRuleError() {
	_, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{
		{Target: "username", From: []string{"sAMAccountName"}},
		{Target: "email", From: []string{"mail"}, Transforms: []string{"lowercase"}},
	}})
	var re *mapping.RuleError
	if errors.As(err, &re) {
		fmt.Println(re.Index, re.Target, errors.Is(err, mapping.ErrInvalidSpec))
	}
	fmt.Println(err)
	// Output:
	// 1 email true
	// mapping: rule 1 (target "email"): unknown transform "lowercase" (known: lower, upper, trim, title, localpart, domain:<domain>, translit, translit:ru-icao)
}

func ExampleSpec_WithTransform() {
	// The AD defaults, with display names in Latin letters.
	spec, err := mapping.ADSpec().WithTransform(diff.FieldDisplayName, "translit:ru-icao")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := mapping.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	withName := &connector.Entry{ID: "1", Attrs: connector.Attrs{"displayname": {"Юлия Щербакова"}}}
	fromParts := &connector.Entry{ID: "2", Attrs: connector.Attrs{"givenname": {"Пётр"}, "sn": {"Жуков"}}}
	for _, e := range []*connector.Entry{withName, fromParts} {
		a, _ := m.Map(e, nil)
		fmt.Println(a.DisplayName)
	}

	_, err = mapping.ADSpec().WithTransform("nickname", "lower")
	fmt.Println(err)
	// Output:
	// Iuliia Shcherbakova
	// Petr Zhukov
	// mapping: invalid spec: no rule fills target "nickname"
}
