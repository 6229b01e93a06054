package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// FuzzScope decides entries whose org-unit path, rule path and attribute
// come from the fuzzer. Decide must not panic, must explain every decision,
// and must agree with simple models of the OUEndsWithUsers preset and the subtree rule.
// The path elements are passed joined with "\x00".
func FuzzScope(f *testing.F) {
	f.Add("Europe\x00Sales department users", "Europe/Sales", "staff")
	f.Add("IT Users\x00Contractors", `R\/D`, "")
	f.Add("R/D\x00Lab\\1", `R\/D/Lab\\1`, "ü")
	f.Add("", "/", "\n")
	f.Add("\x00\x00", "a//b", "(")
	f.Add("USERſ", "USERS", "\xff")
	f.Fuzz(func(t *testing.T, path, ou, attr string) {
		var elems []string
		if path != "" {
			elems = strings.Split(path, "\x00")
		}
		e := connector.Entry{ID: "u", Kind: connector.KindUser, Path: elems, Attrs: connector.Attrs{}}
		e.Attrs.Set("title", attr)

		preset, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
			{Action: policy.ActionInclude, OUEndsWithUsers: true},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		d := preset.Decide(&e, nil)
		check(t, d)
		if want := slices.ContainsFunc(elems, policy.IsUserOU); d.In != want {
			t.Fatalf("preset on %q: in=%v, want %v", elems, d.In, want)
		}

		rules := []policy.ScopeRule{
			{Action: policy.ActionExclude, Attr: "title", Equals: attr},
			{Action: policy.ActionInclude, OU: ou},
			{Action: policy.ActionInclude, OURegex: ou},
			{Action: policy.ActionInclude, Attr: "title", Regex: attr},
			{Action: policy.ActionInclude, Group: ou},
		}
		for _, r := range rules {
			p, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{r}}})
			if err != nil {
				continue // invalid expressions and paths are rejected, not panicked on
			}
			check(t, p.Decide(&e, nil))
		}

		want, err := policy.ParseOUPath(ou)
		if err != nil {
			return
		}
		if back, err := policy.ParseOUPath(policy.JoinOUPath(want)); err != nil || !slices.Equal(back, want) {
			t.Fatalf("ParseOUPath(JoinOUPath(%q)) = %q, %v", want, back, err)
		}
		p, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: policy.ActionInclude, OU: ou}}}})
		if err != nil {
			t.Fatalf("ParseOUPath accepts %q but New does not: %v", ou, err)
		}
		in := len(elems) >= len(want)
		for i := 0; in && i < len(want); i++ {
			in = strings.EqualFold(strings.TrimSpace(elems[i]), want[i])
		}
		if got := p.Decide(&e, nil).In; got != in {
			t.Fatalf("ou %q on %q: in=%v, want %v", ou, elems, got, in)
		}
	})
}

func check(t *testing.T, d policy.Decision) {
	t.Helper()
	if d.Reason.Detail == "" {
		t.Fatalf("decision without a reason: %+v", d)
	}
	if want := map[bool]string{true: policy.ReasonIncluded, false: diff.ReasonOutOfScope}[d.In]; d.Reason.Code != want {
		t.Fatalf("decision %+v: code %q, want %q", d, d.Reason.Code, want)
	}
	if strings.ContainsAny(d.Reason.Detail, "\n\r") {
		t.Fatalf("reason with a line break: %q", d.Reason.Detail)
	}
}

// FuzzParseDuration checks that every accepted duration survives a round
// trip through its text form.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "720h", "-2d", "", "0", "106751d", "1.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := policy.ParseDuration(s)
		if err != nil {
			return
		}
		text, _ := policy.Duration{Duration: d}.MarshalText()
		var back policy.Duration
		if err := back.UnmarshalText(text); err != nil || back.Duration != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, text, back.Duration, err)
		}
	})
}
