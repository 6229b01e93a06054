package policy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// A policy that syncs the org units named "… users", except service
// accounts, and explains each decision.
func Example() {
	var cfg policy.Config
	err := json.Unmarshal([]byte(`{
		"scope": {"rules": [
			{"name": "No service accounts", "action": "exclude", "ouRegex": "^service"},
			{"action": "include", "ouEndsWithUsers": true}
		]},
		"lifecycle": {"missing": "delete", "deleteAfter": "30d"}
	}`), &cfg)
	if err != nil {
		panic(err)
	}
	p, err := policy.New(cfg)
	if err != nil {
		panic(err)
	}
	for _, path := range [][]string{
		{"Sales department users"},
		{"IT Users", "Interns"},
		{"Contractors"},
		{"IT Users", "Service Accounts"},
	} {
		e := connector.Entry{ID: "1", Kind: connector.KindUser, Path: path}
		d := p.Decide(&e, nil)
		fmt.Printf("%-5v %s\n", d.In, d.Reason.Detail)
	}
	o := p.Options(time.Now())
	fmt.Println(o.Missing, o.DeleteAfter)
	// Output:
	// true  OU "Sales department users" is a synced OU (name ends with "user" or "users")
	// true  OU "IT Users/Interns" is inside synced OU "IT Users" (name ends with "user" or "users")
	// false The account's OU "Contractors" is not synced (only OUs whose name ends with "user" or "users" are synced)
	// false OU "IT Users/Service Accounts" is an excluded OU (name matches "^service"), per rule "No service accounts"
	// delete 720h0m0s
}

// Scope by membership in a group, through nested groups.
func ExamplePolicy_Decide_group() {
	dir, err := connector.NewSnapshot([]connector.Entry{
		{ID: "alice", Kind: connector.KindUser, MemberOf: []string{"devs"}},
		{ID: "bob", Kind: connector.KindUser},
		{ID: "devs", Kind: connector.KindGroup, Attrs: connector.Attrs{"cn": {"Developers"}}},
		{ID: "app", Kind: connector.KindGroup, Attrs: connector.Attrs{"cn": {"App Users"}}, Members: []string{"devs"}},
	})
	if err != nil {
		panic(err)
	}
	p, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
		{Action: policy.ActionInclude, Group: "App Users"},
	}}})
	if err != nil {
		panic(err)
	}
	for _, e := range dir.Users() {
		d := p.Decide(e, dir)
		fmt.Printf("%s: %v, %s\n", e.ID, d.In, d.Reason.Detail)
	}
	// Output:
	// alice: true, Member of synced group "App Users"
	// bob: false, Not a member of synced group "App Users"
}

func ExamplePolicy_CheckSafety() {
	p, err := policy.New(policy.Config{}) // default limits: 500 removals, 20%
	if err != nil {
		panic(err)
	}
	// A plan that blocks 30 of 100 managed accounts.
	plan := &diff.Plan{Source: "ad"}
	for i := range 30 {
		before := diff.Account{Source: "ad", ExternalID: fmt.Sprint(i), Managed: true}
		plan.Changes = append(plan.Changes, diff.Change{Op: diff.OpBlock, Before: &before})
	}
	err = p.CheckSafety(plan, policy.SafetyInput{Managed: 100, SourceUsers: 70})
	fmt.Println(errors.Is(err, policy.ErrSafetyLimit))
	var se *policy.SafetyError
	if errors.As(err, &se) {
		fmt.Println(se.Removals, se.Managed, se.Percent, se.MaxPercent)
		fmt.Println(se)
	}
	// After an admin approved this plan:
	fmt.Println(p.CheckSafety(plan, policy.SafetyInput{Managed: 100, SourceUsers: 70, Approved: true}))
	// Output:
	// true
	// 30 100 30 20
	// policy: the plan would block or delete 30 of 100 managed accounts (30%), more than the safety limit of 20% of managed accounts; approve the plan to apply it
	// <nil>
}

func ExampleExceptions_Match() {
	x, err := policy.NewExceptions([]policy.Exception{
		{Email: "breakglass@example.com", Note: "Break-glass admin"},
		{Pattern: "^svc-"},
	})
	if err != nil {
		panic(err)
	}
	for _, a := range []diff.Account{
		{Email: "BreakGlass@example.com"},
		{Username: "svc-backup"},
		{Email: "jane@example.com"},
	} {
		r, ok := x.Match(&a)
		fmt.Println(ok, r.Detail)
	}
	// Output:
	// true Exception by email "breakglass@example.com" (Break-glass admin): never touched by sync
	// true Exception by pattern "^svc-": never touched by sync
	// false
}

func ExampleDuration() {
	var l policy.Lifecycle
	if err := json.Unmarshal([]byte(`{"missing": "delete", "deleteAfter": "2d12h"}`), &l); err != nil {
		panic(err)
	}
	fmt.Println(l.DeleteAfter.Hours())
	l.DeleteAfter = policy.Days(30)
	b, _ := json.Marshal(l)
	fmt.Println(string(b))
	// Output:
	// 60
	// {"missing":"delete","deleteAfter":"30d"}
}

func ExampleNew_error() {
	_, err := policy.New(policy.Config{
		Scope:     policy.ScopeConfig{Rules: []policy.ScopeRule{{Name: "Contractors", Action: "exclude", OURegex: "(contract"}}},
		Lifecycle: policy.Lifecycle{Missing: "archive"},
	})
	fmt.Println(err)
	// Output:
	// policy: invalid configuration: scope.rules[0] ("Contractors"): ouRegex: error parsing regexp: missing closing ): `(contract`
	// lifecycle.missing: unknown value "archive" (want "block", "delete" or "leave")
}
