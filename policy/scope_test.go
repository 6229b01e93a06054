package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

func user(id string, path ...string) connector.Entry {
	return connector.Entry{ID: id, Kind: connector.KindUser, Path: path, Attrs: connector.Attrs{}}
}

func mustPolicy(t testing.TB, cfg policy.Config) *policy.Policy {
	t.Helper()
	p, err := policy.New(cfg)
	require.NoError(t, err)
	return p
}

func scopeOf(rules ...policy.ScopeRule) policy.Config {
	return policy.Config{Scope: policy.ScopeConfig{Rules: rules}}
}

func include(r policy.ScopeRule) policy.ScopeRule { r.Action = policy.ActionInclude; return r }
func exclude(r policy.ScopeRule) policy.ScopeRule { r.Action = policy.ActionExclude; return r }

var userOUs = policy.ScopeRule{OUEndsWithUsers: true}

func TestOUEndsWithUsers(t *testing.T) {
	p := mustPolicy(t, scopeOf(include(userOUs)))
	tests := []struct {
		path   []string
		in     bool
		detail string
	}{
		{[]string{"Sales department users"}, true,
			`OU "Sales department users" is a synced OU (name ends with "user" or "users")`},
		{[]string{"IT Users"}, true, `OU "IT Users" is a synced OU (name ends with "user" or "users")`},
		{[]string{"user"}, true, `OU "user" is a synced OU (name ends with "user" or "users")`},
		{[]string{"USERS"}, true, `OU "USERS" is a synced OU (name ends with "user" or "users")`},
		{[]string{"Guest User "}, true, `OU "Guest User " is a synced OU (name ends with "user" or "users")`},
		// The words of the preset, literally: any name ending in "users".
		{[]string{"Superusers"}, true, `OU "Superusers" is a synced OU (name ends with "user" or "users")`},
		{[]string{"Contractors"}, false,
			`The account's OU "Contractors" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		{[]string{"Service Accounts"}, false,
			`The account's OU "Service Accounts" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		{[]string{"Users Archive"}, false,
			`The account's OU "Users Archive" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		{[]string{"usersx"}, false,
			`The account's OU "usersx" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		// Nested: an OU includes its sub-OUs.
		{[]string{"Europe", "Sales department users"}, true,
			`OU "Europe/Sales department users" is a synced OU (name ends with "user" or "users")`},
		{[]string{"IT Users", "Contractors"}, true,
			`OU "IT Users/Contractors" is inside synced OU "IT Users" (name ends with "user" or "users")`},
		{[]string{"Europe", "IT Users", "Interns", "Summer"}, true,
			`OU "Europe/IT Users/Interns/Summer" is inside synced OU "Europe/IT Users" (name ends with "user" or "users")`},
		{[]string{"Users", "Admin users"}, true,
			`OU "Users/Admin users" is a synced OU (name ends with "user" or "users")`},
		{[]string{"Europe", "Contractors"}, false,
			`The account's OU "Europe/Contractors" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		{[]string{"R/D users"}, true, `OU "R\/D users" is a synced OU (name ends with "user" or "users")`},
		{nil, false, `The account is in no OU (only OUs whose name ends with "user" or "users" are synced)`},
	}
	for _, tt := range tests {
		t.Run(policy.JoinOUPath(tt.path), func(t *testing.T) {
			e := user("u1", tt.path...)
			d := p.Decide(&e, nil)
			assert.Equal(t, tt.in, d.In)
			assert.Equal(t, tt.detail, d.Reason.Detail)
			if tt.in {
				assert.Equal(t, policy.ReasonIncluded, d.Reason.Code)
				assert.Equal(t, 0, d.Rule)
			} else {
				assert.Equal(t, diff.ReasonOutOfScope, d.Reason.Code)
				assert.Equal(t, -1, d.Rule)
			}
		})
	}
}

func TestIsUserOU(t *testing.T) {
	for name, want := range map[string]bool{
		"IT Users": true, "user": true, "Users": true, "sales-user": true, "Poweruser": true,
		"": false, "Contractors": false, "Users Archive": false, "usr": false, "USERSS": false,
	} {
		assert.Equal(t, want, policy.IsUserOU(name), name)
	}
}

func TestOUSubtree(t *testing.T) {
	p := mustPolicy(t, scopeOf(include(policy.ScopeRule{OU: "Europe/Sales"})))
	tests := []struct {
		path   []string
		in     bool
		detail string
	}{
		{[]string{"Europe", "Sales"}, true, `OU "Europe/Sales" is a synced OU`},
		{[]string{"europe", "SALES"}, true, `OU "europe/SALES" is a synced OU`},
		{[]string{"Europe", "Sales", "Interns"}, true, `OU "Europe/Sales/Interns" is inside synced OU "Europe/Sales"`},
		{[]string{"Europe"}, false, `The account's OU "Europe" is not synced (only "Europe/Sales" and the OUs below it are synced)`},
		{[]string{"Europe", "Marketing"}, false, `The account's OU "Europe/Marketing" is not synced (only "Europe/Sales" and the OUs below it are synced)`},
		{[]string{"Asia", "Europe", "Sales"}, false, `The account's OU "Asia/Europe/Sales" is not synced (only "Europe/Sales" and the OUs below it are synced)`},
		{[]string{"Europe", "Sales department"}, false, `The account's OU "Europe/Sales department" is not synced (only "Europe/Sales" and the OUs below it are synced)`},
		{nil, false, `The account is in no OU (only "Europe/Sales" and the OUs below it are synced)`},
	}
	for _, tt := range tests {
		e := user("u1", tt.path...)
		d := p.Decide(&e, nil)
		assert.Equal(t, tt.in, d.In, tt.path)
		assert.Equal(t, tt.detail, d.Reason.Detail, tt.path)
	}
}

func TestParseOUPath(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "Europe/Sales", want: []string{"Europe", "Sales"}},
		{in: "/Europe/Sales/", want: []string{"Europe", "Sales"}},
		{in: " Europe / Sales ", want: []string{"Europe", "Sales"}},
		{in: `R\/D/Lab\\1`, want: []string{"R/D", `Lab\1`}},
		{in: "Users", want: []string{"Users"}},
		{in: "", err: "names no OU"},
		{in: "/", err: "names no OU"},
		{in: "Europe//Sales", err: "empty OU name"},
		{in: `Europe\`, err: "lone backslash"},
	}
	for _, tt := range tests {
		got, err := policy.ParseOUPath(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		back, err := policy.ParseOUPath(policy.JoinOUPath(got))
		require.NoError(t, err)
		assert.Equal(t, got, back)
	}
}

func TestOURegex(t *testing.T) {
	p := mustPolicy(t, scopeOf(
		exclude(policy.ScopeRule{OURegex: "^service"}),
		include(policy.ScopeRule{OURegex: `(?-i)^[A-Z]{2}-staff$`, Name: "Country staff"}),
	))
	tests := []struct {
		path   []string
		in     bool
		rule   int
		detail string
	}{
		{[]string{"Service Accounts"}, false, 0, `OU "Service Accounts" is an excluded OU (name matches "^service")`},
		{[]string{"DE-staff", "SERVICES"}, false, 0, `OU "DE-staff/SERVICES" is an excluded OU (name matches "^service")`},
		{[]string{"DE-staff"}, true, 1, `OU "DE-staff" is a synced OU (name matches "(?-i)^[A-Z]{2}-staff$"), per rule "Country staff"`},
		{[]string{"DE-staff", "Berlin"}, true, 1, `OU "DE-staff/Berlin" is inside synced OU "DE-staff" (name matches "(?-i)^[A-Z]{2}-staff$"), per rule "Country staff"`},
		{[]string{"de-staff"}, false, -1, `The account's OU "de-staff" is not synced (only OUs whose name matches "(?-i)^[A-Z]{2}-staff$" are synced), per rule "Country staff"`},
		// The expression sees one name at a time, never the joined path.
		{[]string{"DE", "staff"}, false, -1, `The account's OU "DE/staff" is not synced (only OUs whose name matches "(?-i)^[A-Z]{2}-staff$" are synced), per rule "Country staff"`},
	}
	for _, tt := range tests {
		e := user("u1", tt.path...)
		d := p.Decide(&e, nil)
		assert.Equal(t, tt.in, d.In, tt.path)
		assert.Equal(t, tt.rule, d.Rule, tt.path)
		assert.Equal(t, tt.detail, d.Reason.Detail, tt.path)
	}
}

func TestRuleOrderAndDefaults(t *testing.T) {
	contractors := policy.ScopeRule{Attr: "employeeType", Equals: "contractor"}
	tests := []struct {
		name   string
		scope  policy.ScopeConfig
		path   []string
		typ    string
		in     bool
		rule   int
		detail string
	}{
		{name: "no rules include everyone", path: []string{"Contractors"}, in: true, rule: -1,
			detail: "No scope rules: every user is synced"},
		{name: "exclude only, default include", in: true, rule: -1,
			scope:  policy.ScopeConfig{Rules: []policy.ScopeRule{exclude(contractors)}},
			detail: "No scope rule matched; synced by default"},
		{name: "exclude only, matched", typ: "Contractor", in: false, rule: 0,
			scope:  policy.ScopeConfig{Rules: []policy.ScopeRule{exclude(contractors)}},
			detail: `Attribute employeeType is "Contractor" (excluded: employeeType equals "contractor")`},
		{name: "include only, default exclude", path: []string{"Contractors"}, in: false, rule: -1,
			scope:  policy.ScopeConfig{Rules: []policy.ScopeRule{include(userOUs)}},
			detail: `The account's OU "Contractors" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		{name: "explicit default include with include rules", path: []string{"Contractors"}, in: true, rule: -1,
			scope:  policy.ScopeConfig{Rules: []policy.ScopeRule{include(userOUs)}, Default: "include"},
			detail: "No scope rule matched; synced by default"},
		{name: "explicit default exclude without include rules", in: false, rule: -1,
			scope:  policy.ScopeConfig{Default: "exclude"},
			detail: "No scope rule matched; not synced by default"},
		{name: "exclude before include wins", path: []string{"IT Users"}, typ: "contractor", in: false, rule: 0,
			scope:  policy.ScopeConfig{Rules: []policy.ScopeRule{exclude(contractors), include(userOUs)}},
			detail: `Attribute employeeType is "contractor" (excluded: employeeType equals "contractor")`},
		{name: "include before exclude wins", path: []string{"IT Users"}, typ: "contractor", in: true, rule: 0,
			scope:  policy.ScopeConfig{Rules: []policy.ScopeRule{include(userOUs), exclude(contractors)}},
			detail: `OU "IT Users" is a synced OU (name ends with "user" or "users")`},
		{name: "several include rules explained", path: []string{"Contractors"}, in: false, rule: -1,
			scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
				exclude(contractors), include(userOUs), include(policy.ScopeRule{OU: "Europe/Sales", Name: "Sales"}),
			}},
			detail: `The account's OU "Contractors" is not synced (only OUs whose name ends with "user" or "users" are synced); ` +
				`The account's OU "Contractors" is not synced (only "Europe/Sales" and the OUs below it are synced), per rule "Sales"`},
		{name: "many include rules capped", path: []string{"X"}, in: false, rule: -1,
			scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
				include(policy.ScopeRule{OU: "A"}), include(policy.ScopeRule{OU: "B"}), include(policy.ScopeRule{OU: "C"}),
				include(policy.ScopeRule{OU: "D"}), include(policy.ScopeRule{OU: "E"}),
			}},
			detail: `The account's OU "X" is not synced (only "A" and the OUs below it are synced); The account's OU "X" is not synced (only "B" and the OUs below it are synced); ` +
				`The account's OU "X" is not synced (only "C" and the OUs below it are synced); 2 more include rules did not match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, policy.Config{Scope: tt.scope})
			e := user("u1", tt.path...)
			if tt.typ != "" {
				e.Attrs.Set("employeeType", tt.typ)
			}
			d := p.Decide(&e, nil)
			assert.Equal(t, tt.in, d.In)
			assert.Equal(t, tt.rule, d.Rule)
			assert.Equal(t, tt.detail, d.Reason.Detail)
		})
	}
}

func TestDecideNonUsers(t *testing.T) {
	p := mustPolicy(t, policy.Config{})
	g := connector.Entry{ID: "g1", Kind: connector.KindGroup}
	d := p.Decide(&g, nil)
	assert.False(t, d.In)
	assert.Equal(t, `Entry of kind "group" is not a user; only users are synced as accounts`, d.Reason.Detail)
	assert.False(t, p.Decide(nil, nil).In)
	// An entry without a kind is taken for a user, as Snapshot does.
	u := connector.Entry{ID: "u1"}
	assert.True(t, p.Decide(&u, nil).In)
}

func directory(t testing.TB) *connector.Snapshot {
	t.Helper()
	group := func(id, dn, cn string, members ...string) connector.Entry {
		return connector.Entry{ID: id, Kind: connector.KindGroup, DN: dn, Attrs: connector.Attrs{"cn": {cn}}, Members: members}
	}
	alice := user("alice", "IT Users")
	alice.MemberOf = []string{"g-dev"}
	bob := user("bob", "Contractors")
	carol := user("carol", "Contractors")
	carol.MemberOf = []string{"g-outside"} // a group the snapshot does not hold
	dave := user("dave")
	entries := []connector.Entry{
		alice, bob, carol, dave,
		// App Users ⊃ Engineering ⊃ Developers ∋ alice; Engineering ∋ bob
		// (Members only, from the group's side).
		group("g-app", "CN=App Users,OU=Groups,DC=example,DC=com", "App Users", "g-eng"),
		group("g-eng", "CN=Engineering,OU=Groups,DC=example,DC=com", "Engineering", "g-dev", "bob"),
		group("g-dev", "CN=Developers,OU=Groups,DC=example,DC=com", "Developers"),
		// A cycle must not hang.
		group("g-loop1", "CN=Loop1,DC=example,DC=com", "Loop1", "g-loop2"),
		group("g-loop2", "CN=Loop2,DC=example,DC=com", "Loop2", "g-loop1", "dave"),
	}
	entries[6].Attrs.Set("displayName", "Dev Team")
	s, err := connector.NewSnapshot(entries)
	require.NoError(t, err)
	return s
}

func TestGroupRule(t *testing.T) {
	dir := directory(t)
	tests := []struct {
		group string
		in    []string // users in scope, others out
		label string   // the group named in alice's reason, when she is in
	}{
		{"App Users", []string{"alice", "bob"}, "App Users"},
		{"app users", []string{"alice", "bob"}, "App Users"},
		{"g-app", []string{"alice", "bob"}, "App Users"},
		{"G-APP", []string{"alice", "bob"}, "App Users"},
		{"CN=App Users,OU=Groups,DC=example,DC=com", []string{"alice", "bob"}, "App Users"},
		{"cn=app users, ou=groups, dc=example, dc=com", []string{"alice", "bob"}, "App Users"},
		{"Engineering", []string{"alice", "bob"}, "Engineering"},
		{"Developers", []string{"alice"}, "Dev Team"},
		{"Dev Team", []string{"alice"}, "Dev Team"},
		{"g-outside", []string{"carol"}, ""},
		{"Loop1", []string{"dave"}, ""},
		{"Nobody", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			p := mustPolicy(t, scopeOf(include(policy.ScopeRule{Group: tt.group})))
			var got []string
			for _, e := range dir.Users() {
				d := p.Decide(e, dir)
				if d.In {
					got = append(got, e.ID)
				} else {
					assert.Equal(t, `Not a member of synced group "`+tt.group+`"`, d.Reason.Detail)
				}
			}
			assert.Equal(t, tt.in, got)
			if tt.label != "" {
				alice, _ := dir.Get("alice")
				assert.Equal(t, `Member of synced group "`+tt.label+`"`, p.Decide(alice, dir).Reason.Detail)
			}
		})
	}
}

func TestGroupRuleWithoutSnapshot(t *testing.T) {
	p := mustPolicy(t, scopeOf(exclude(policy.ScopeRule{Group: "g-block"})))
	e := user("u1")
	e.MemberOf = []string{"G-Block"}
	d := p.Decide(&e, nil)
	assert.False(t, d.In)
	assert.Equal(t, `Member of excluded group "g-block"`, d.Reason.Detail)
	e.MemberOf = nil
	assert.True(t, p.Decide(&e, nil).In)
}

func TestGroupRuleEntryOutsideSnapshot(t *testing.T) {
	dir := directory(t)
	p := mustPolicy(t, scopeOf(include(policy.ScopeRule{Group: "App Users"})))
	e := user("newcomer")
	e.MemberOf = []string{"g-dev"}
	d := p.Decide(&e, dir)
	assert.True(t, d.In)
	assert.Equal(t, `Member of synced group "App Users"`, d.Reason.Detail)
}

func TestAttributeRule(t *testing.T) {
	tests := []struct {
		name   string
		rule   policy.ScopeRule
		values []string
		in     bool
		detail string
	}{
		{"equals ignores case", policy.ScopeRule{Attr: "EmployeeType", Equals: "staff"}, []string{"Staff"}, true,
			`Attribute EmployeeType is "Staff" (synced: EmployeeType equals "staff")`},
		{"equals misses", policy.ScopeRule{Attr: "employeeType", Equals: "staff"}, []string{"Contractor"}, false,
			`Attribute employeeType is "Contractor" (synced only when employeeType equals "staff")`},
		{"equals is not a substring test", policy.ScopeRule{Attr: "employeeType", Equals: "staff"}, []string{"staffing"}, false,
			`Attribute employeeType is "staffing" (synced only when employeeType equals "staff")`},
		{"missing attribute", policy.ScopeRule{Attr: "employeeType", Equals: "staff"}, nil, false,
			`Attribute employeeType is empty (synced only when employeeType equals "staff")`},
		{"multi-valued, any value", policy.ScopeRule{Attr: "employeeType", Equals: "staff"}, []string{"intern", "STAFF"}, true,
			`Attribute employeeType is "STAFF" (synced: employeeType equals "staff")`},
		{"regex", policy.ScopeRule{Attr: "department", Regex: `^r&d\b`}, []string{"R&D Europe"}, true,
			`Attribute department is "R&D Europe" (synced: department matches "^r&d\b")`},
		{"regex misses", policy.ScopeRule{Attr: "department", Regex: `^r&d\b`}, []string{"Sales", "Marketing", "HR", "Legal"}, false,
			`Attribute department is "Sales", "Marketing", "HR", … (synced only when department matches "^r&d\b")`},
		{"regex for a missing attribute", policy.ScopeRule{Attr: "mail", Regex: `^$`}, nil, true,
			`Attribute mail is empty (synced: mail matches "^$")`},
		{"regex case-sensitive on request", policy.ScopeRule{Attr: "department", Regex: `(?-i)^R&D`}, []string{"r&d"}, false,
			`Attribute department is "r&d" (synced only when department matches "(?-i)^R&D")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, scopeOf(include(tt.rule)))
			e := user("u1")
			if tt.values != nil {
				e.Attrs.Set(tt.rule.Attr, tt.values...)
			}
			d := p.Decide(&e, nil)
			assert.Equal(t, tt.in, d.In)
			assert.Equal(t, tt.detail, d.Reason.Detail)
		})
	}
}

func TestInvalidScope(t *testing.T) {
	tests := []struct {
		name string
		cfg  policy.ScopeConfig
		err  []string
	}{
		{"bad ouRegex", policy.ScopeConfig{Rules: []policy.ScopeRule{include(userOUs), exclude(policy.ScopeRule{OURegex: "(contract", Name: "No contractors"})}},
			[]string{`scope.rules[1] ("No contractors"): ouRegex: error parsing regexp: missing closing ): ` + "`(contract`"}},
		{"bad attr regex", policy.ScopeConfig{Rules: []policy.ScopeRule{include(policy.ScopeRule{Attr: "title", Regex: "[a-"})}},
			[]string{"scope.rules[0]: regex: error parsing regexp"}},
		{"no action", policy.ScopeConfig{Rules: []policy.ScopeRule{userOUs}},
			[]string{`scope.rules[0]: action: missing (want "include" or "exclude")`}},
		{"bad action", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "Include", OUEndsWithUsers: true}}},
			[]string{`scope.rules[0]: action: unknown value "Include"`}},
		{"no matcher", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include"}}},
			[]string{"scope.rules[0]: no matcher"}},
		{"two matchers", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OU: "A", Group: "G"}}},
			[]string{"scope.rules[0]: several matchers (ou, group)"}},
		{"preset with another matcher", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true, OURegex: "x"}}},
			[]string{"scope.rules[0]: several matchers (ouEndsWithUsers, ouRegex)"}},
		{"bad ou", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OU: "A//B"}}},
			[]string{`scope.rules[0]: ou: path "A//B" has an empty OU name`}},
		{"equals without attr", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", Equals: "x"}}},
			[]string{"scope.rules[0]: equals and regex need attr"}},
		{"attr without test", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", Attr: "title"}}},
			[]string{"scope.rules[0]: attr: set equals or regex"}},
		{"attr with both", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", Attr: "title", Equals: "a", Regex: "b"}}},
			[]string{"scope.rules[0]: attr: set equals or regex, not both"}},
		{"blank group", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", Group: " "}}},
			[]string{"scope.rules[0]: group: blank"}},
		{"bad default", policy.ScopeConfig{Default: "all"},
			[]string{`scope.default: unknown value "all"`}},
		{"every problem reported", policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OURegex: "("}, {Action: "x", OU: "A"}}, Default: "none"},
			[]string{"scope.rules[0]: ouRegex", `scope.rules[1]: action: unknown value "x"`, "scope.default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.New(policy.Config{Scope: tt.cfg})
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), "policy: invalid configuration")
			for _, want := range tt.err {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
