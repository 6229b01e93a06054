package main

import (
	"fmt"
	"strings"

	"github.com/dirsync-go/dirsync/internal/fakegoogle"
)

const (
	demoAdmin = "admin@demo.example"
	demoUsers = 12
)

// startDemo starts the fake Google (Directory API and token endpoint, on
// loopback) holding a small company: twelve people in three org units
// with managers and a group, one suspended and one archived.
func startDemo() *fakegoogle.Server {
	fk := fakegoogle.New(demoAdmin)
	type person struct{ given, family, ou, title string }
	people := []person{
		{"Carol", "Clark", "/Management", "CEO"},
		{"Alice", "Archer", "/Sales", "Head of Sales"},
		{"Bob", "Baker", "/Sales", "Account executive"},
		{"Dmitri", "Dunn", "/Sales/EMEA", "Account executive"},
		{"Erin", "Evans", "/Sales/EMEA", "Sales engineer"},
		{"Farah", "Fischer", "/Engineering", "Head of Engineering"},
		{"Gus", "García", "/Engineering", "Engineer"},
		{"Hana", "Hayashi", "/Engineering", "Engineer"},
		{"Ivan", "Ivanov", "/Engineering", "Engineer"},
		{"Jade", "Jones", "/Engineering", "Intern"},
		{"Kofi", "Kumi", "/Sales", "Account executive"},
		{"Lena", "Larsen", "/Engineering", "Engineer"},
	}
	managers := map[string]string{"/Sales": "alice", "/Sales/EMEA": "alice", "/Engineering": "farah", "/Management": ""}
	for i, p := range people {
		u := fakegoogle.User{
			ID:           fmt.Sprintf("1%020d", i+1),
			PrimaryEmail: fmt.Sprintf("%s@demo.example", strings.ToLower(p.given)),
			GivenName:    p.given, FamilyName: p.family,
			OrgUnitPath: p.ou, Title: p.title, Department: p.ou[1:],
			WorkPhone: fmt.Sprintf("+1 555 01%02d", i+1),
		}
		if m := managers[p.ou]; m != "" && m != strings.ToLower(p.given) {
			u.Manager = m + "@demo.example"
		} else if p.ou != "/Management" {
			u.Manager = "carol@demo.example"
		}
		switch p.given {
		case "Kofi":
			u.Suspended = true // left last week
		case "Jade":
			u.Archived = true // internship over
		}
		fk.AddUser(u)
	}
	for _, ou := range []string{"/Management", "/Sales", "/Sales/EMEA", "/Engineering"} {
		fk.AddOrgUnit(ou)
	}
	fk.AddGroup(fakegoogle.Group{ID: "g1", Email: "admins@demo.example", Name: "App Admins"})
	fk.AddMember("g1", fakegoogle.Member{ID: fmt.Sprintf("1%020d", 6), Type: "USER"})
	return fk
}
