package mapping_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

func TestRuleKinds(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		rules []mapping.Rule
		field string
		want  string
	}{
		{"from single", "u-julia", []mapping.Rule{{Target: "username", From: []string{"sAMAccountName"}}}, "username", "YShcherbakova"},
		{"from is case-insensitive", "u-julia", []mapping.Rule{{Target: "username", From: []string{"SAMACCOUNTNAME"}}}, "username", "YShcherbakova"},
		{"from first non-empty", "u-julia", []mapping.Rule{{Target: "email", From: []string{"mail", "userPrincipalName"}}}, "email", "Y.Shcherbakova@Corp.Example"},
		{"from first present", "u-boss", []mapping.Rule{{Target: "email", From: []string{"mail", "userPrincipalName"}}}, "email", "Boss@Corp.Example"},
		{"from missing", "u-julia", []mapping.Rule{{Target: "title", From: []string{"nope"}}}, "title", ""},
		{"from trims", "u-julia", []mapping.Rule{{Target: "title", From: []string{"title"}}}, "title", "Account   manager"},
		{"trim collapses", "u-julia", []mapping.Rule{{Target: "title", From: []string{"title"}, Transforms: []string{"trim"}}}, "title", "Account manager"},
		{"constant", "u-julia", []mapping.Rule{{Target: "extra.locale", Value: "ru"}}, "extra.locale", "ru"},
		{"template", "u-julia", []mapping.Rule{{Target: "displayName", Template: "{givenName} {sn}"}}, "displayName", "Юлия Щербакова"},
		{"template collapses empty part", "u-julia", []mapping.Rule{{Target: "displayName", Template: "{givenName} {initials} {sn}"}}, "displayName", "Юлия Щербакова"},
		{"template all empty", "u-boss", []mapping.Rule{{Target: "displayName", Template: "{givenName} {sn}"}}, "displayName", ""},
		{"template braces", "u-julia", []mapping.Rule{{Target: "extra.x", Template: "{{{sAMAccountName}}}"}}, "extra.x", "{YShcherbakova}"},
		{"template spaces in braces", "u-julia", []mapping.Rule{{Target: "extra.x", Template: "{ sn }"}}, "extra.x", "Щербакова"},
		{"template no placeholders", "u-boss", []mapping.Rule{{Target: "extra.x", Template: "a  b"}}, "extra.x", "a b"},
		{"fallback first wins", "u-julia", []mapping.Rule{
			{Target: "displayName", From: []string{"displayName"}},
			{Target: "displayName", Template: "{sn}, {givenName}"},
			{Target: "displayName", Value: "never"},
		}, "displayName", "Щербакова, Юлия"},
		{"externalId override", "u-julia", []mapping.Rule{{Target: "externalId", From: []string{"employeeID"}}}, "externalId", "E-1001"},
		{"externalId override empty", "u-boss", []mapping.Rule{{Target: "externalId", From: []string{"employeeID"}}}, "externalId", ""},
		{"externalId default", "u-boss", []mapping.Rule{{Target: "username", From: []string{"sAMAccountName"}}}, "externalId", "u-boss"},
		{"lookup DN case-insensitive", "u-julia", []mapping.Rule{{Target: "manager", From: []string{"manager"}, Lookup: "mail", Transforms: []string{"lower"}}}, "manager", "boss@corp.example"},
		{"lookup unresolved", "u-boss", []mapping.Rule{{Target: "manager", From: []string{"manager"}, Lookup: "mail"}}, "manager", ""},
		{"lookup falls through from list", "u-julia", []mapping.Rule{{Target: "manager", From: []string{"sAMAccountName", "manager"}, Lookup: "sAMAccountName"}}, "manager", "boss"},
		{"department from path", "u-julia", []mapping.Rule{{Target: "department", FromPath: true}}, "department", "Europe / Sales department users"},
		{"department path trim suffix skip", "u-julia", []mapping.Rule{{Target: "department", FromPath: true, Skip: 1, TrimSuffixes: []string{"users", "user"}}}, "department", "Sales department"},
		{"department skip everything", "u-julia", []mapping.Rule{{Target: "department", FromPath: true, Skip: 5}}, "department", ""},
		{"department split", "u-julia", []mapping.Rule{{Target: "department", From: []string{"department"}, Split: "/"}}, "department", "Sales / EMEA"},
		{"department split transforms each", "u-julia", []mapping.Rule{{Target: "department", From: []string{"department"}, Split: "/", Transforms: []string{"upper"}}}, "department", "SALES / EMEA"},
		{"department unsplit", "u-julia", []mapping.Rule{{Target: "department", From: []string{"department"}}}, "department", "Sales / EMEA"},
		{"department fallback to path", "u-boss", []mapping.Rule{
			{Target: "department", From: []string{"department"}},
			{Target: "department", FromPath: true},
		}, "department", "Europe"},
		{"department constant", "u-boss", []mapping.Rule{{Target: "department", Value: "HQ/Board", Split: "/"}}, "department", "HQ / Board"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mapOne(t, tt.id, tt.rules...)
			assert.Equal(t, tt.want, a.Get(tt.field))
			assert.Empty(t, a.Source, "Source is the Syncer's")
		})
	}
}

func TestLookupByID(t *testing.T) {
	entries := sampleEntries()
	entries[0].Attrs["manager"] = []string{"u-boss"} // Entra style: the manager's id
	dir, err := connector.NewSnapshot(entries)
	require.NoError(t, err)
	m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "manager", From: []string{"manager"}, Lookup: "userPrincipalName"}}})
	require.NoError(t, err)
	a, err := m.Map(mustEntry(t, dir, "u-julia"), dir)
	require.NoError(t, err)
	assert.Equal(t, "boss@corp.example", a.Manager)

	// Without a snapshot nothing resolves, and nothing fails.
	a, err = m.Map(mustEntry(t, dir, "u-julia"), nil)
	require.NoError(t, err)
	assert.Empty(t, a.Manager)
	assert.Equal(t, "u-julia", a.ExternalID)
}

func TestLookupNewSnapshot(t *testing.T) {
	// The mapper caches a DN index per snapshot; a new read must not see
	// the old one.
	m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "manager", From: []string{"manager"}, Lookup: "mail"}}})
	require.NoError(t, err)
	dir := sampleSnapshot(t)
	a, err := m.Map(mustEntry(t, dir, "u-julia"), dir)
	require.NoError(t, err)
	assert.Equal(t, "Boss@Corp.Example", a.Manager)

	entries := sampleEntries()
	entries[1].Attrs["mail"] = []string{"new-boss@corp.example"}
	dir2, err := connector.NewSnapshot(entries)
	require.NoError(t, err)
	a, err = m.Map(mustEntry(t, dir2, "u-julia"), dir2)
	require.NoError(t, err)
	assert.Equal(t, "new-boss@corp.example", a.Manager)
}

func TestRoles(t *testing.T) {
	spec := mapping.Spec{
		Rules: []mapping.Rule{{Target: "username", From: []string{"sAMAccountName"}}},
		Roles: []mapping.RoleLink{
			{Group: "everyone", Role: "member"},                                // cn, nested
			{Group: "cn=sales, ou=groups, dc=corp, dc=example", Role: "sales"}, // DN
			{Group: "G-SALES", Role: "crm"},                                    // ID
			{Group: "Sales", Role: "crm"},                                      // duplicate role
			{Group: "app admins", Role: "admin"},                               // displayName, via Members
			{Group: "Nobody", Role: "ghost"},
		},
	}
	m, err := mapping.New(spec)
	require.NoError(t, err)
	dir := sampleSnapshot(t)

	a, err := m.Map(mustEntry(t, dir, "u-julia"), dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"crm", "member", "sales"}, a.Roles)

	a, err = m.Map(mustEntry(t, dir, "u-boss"), dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"admin"}, a.Roles)

	a, err = m.Map(mustEntry(t, dir, "u-julia"), nil)
	require.NoError(t, err)
	assert.Nil(t, a.Roles)

	assert.Equal(t, []string{"roles", "username"}, m.Fields())
}

func TestFields(t *testing.T) {
	m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{
		{Target: "extra.b", Value: "1"},
		{Target: "email", From: []string{"mail"}},
		{Target: "externalId", From: []string{"employeeID"}},
		{Target: "email", From: []string{"userPrincipalName"}},
		{Target: "department", FromPath: true},
	}})
	require.NoError(t, err)
	assert.Equal(t, []string{"department", "email", "extra.b"}, m.Fields())

	// The returned slice is the caller's.
	f := m.Fields()
	f[0] = "x"
	assert.Equal(t, "department", m.Fields()[0])

	// Only roles: never nil, so never "all fields".
	m, err = mapping.New(mapping.Spec{Roles: []mapping.RoleLink{{Group: "g", Role: "r"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"roles"}, m.Fields())
	m, err = mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "externalId", From: []string{"employeeID"}}}})
	require.NoError(t, err)
	assert.NotNil(t, m.Fields())
	assert.Empty(t, m.Fields())
}

func TestMapDoesNotAlias(t *testing.T) {
	m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "department", FromPath: true}}})
	require.NoError(t, err)
	e := sampleEntries()[0]
	a, err := m.Map(&e, nil)
	require.NoError(t, err)
	a.Department[0] = "changed"
	assert.Equal(t, "Europe", e.Path[0])
}

func TestMapOddInput(t *testing.T) {
	m, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)

	_, err = m.Map(nil, nil)
	require.ErrorIs(t, err, mapping.ErrNilEntry)

	a, err := m.Map(&connector.Entry{}, nil)
	require.NoError(t, err)
	assert.Equal(t, diff.Account{}, a)

	a, err = m.Map(&connector.Entry{ID: "x", Attrs: connector.Attrs{"mail": {}, "givenname": {"  "}, "manager": {"\\"}}}, &connector.Snapshot{})
	require.NoError(t, err)
	assert.Equal(t, diff.Account{ExternalID: "x"}, a)
}

func TestSpecIsCopied(t *testing.T) {
	rules := []mapping.Rule{{Target: "username", From: []string{"sAMAccountName"}, Transforms: []string{"lower"}}}
	m, err := mapping.New(mapping.Spec{Rules: rules})
	require.NoError(t, err)
	rules[0].Transforms[0] = "upper"
	rules[0].From[0] = "cn"
	s := m.Spec()
	assert.Equal(t, "lower", s.Rules[0].Transforms[0])
	s.Rules[0].From[0] = "mail"
	assert.Equal(t, "sAMAccountName", m.Spec().Rules[0].From[0])

	a, err := m.Map(&connector.Entry{ID: "1", Attrs: connector.Attrs{"samaccountname": {"JDoe"}}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "jdoe", a.Username)
}

func TestInvalidSpec(t *testing.T) {
	ok := mapping.Rule{Target: "username", From: []string{"sAMAccountName"}}
	tests := []struct {
		name   string
		spec   mapping.Spec
		index  int
		target string
		msg    string
	}{
		{"empty spec", mapping.Spec{}, -1, "", "no rules"},
		{"unknown transform", mapping.Spec{Rules: []mapping.Rule{ok, {Target: "email", From: []string{"mail"}, Transforms: []string{"lower", "lowr"}}}}, 1, "email", `unknown transform "lowr"`},
		{"unknown scheme", mapping.Spec{Rules: []mapping.Rule{{Target: "givenName", From: []string{"givenName"}, Transforms: []string{"translit:klingon"}}}}, 0, "givenName", `scheme "klingon"`},
		{"empty domain", mapping.Spec{Rules: []mapping.Rule{{Target: "email", From: []string{"cn"}, Transforms: []string{"domain:"}}}}, 0, "email", "empty domain"},
		{"bad domain", mapping.Spec{Rules: []mapping.Rule{{Target: "email", From: []string{"cn"}, Transforms: []string{"domain:a@b"}}}}, 0, "email", "domain"},
		{"unterminated template", mapping.Spec{Rules: []mapping.Rule{{Target: "displayName", Template: "{givenName} {sn"}}}, 0, "displayName", "unmatched {"},
		{"nested brace template", mapping.Spec{Rules: []mapping.Rule{{Target: "displayName", Template: "{giv{enName}"}}}, 0, "displayName", "unmatched {"},
		{"empty placeholder", mapping.Spec{Rules: []mapping.Rule{{Target: "displayName", Template: "{givenName} { }"}}}, 0, "displayName", "empty attribute name"},
		{"empty target", mapping.Spec{Rules: []mapping.Rule{ok, ok, {From: []string{"mail"}}}}, 2, "", "empty target"},
		{"unknown target", mapping.Spec{Rules: []mapping.Rule{{Target: "mail", From: []string{"mail"}}}}, 0, "mail", `unknown target "mail"`},
		{"wrong case target", mapping.Spec{Rules: []mapping.Rule{{Target: "Email", From: []string{"mail"}}}}, 0, "Email", `did you mean "email"`},
		{"roles target", mapping.Spec{Rules: []mapping.Rule{{Target: "roles", Value: "admin"}}}, 0, "roles", "role links"},
		{"empty extra", mapping.Spec{Rules: []mapping.Rule{{Target: "extra.", Value: "x"}}}, 0, "extra.", "extra"},
		{"no source", mapping.Spec{Rules: []mapping.Rule{{Target: "title"}}}, 0, "title", "no source"},
		{"two sources", mapping.Spec{Rules: []mapping.Rule{{Target: "title", From: []string{"title"}, Value: "x"}}}, 0, "title", "more than one source"},
		{"bad attribute", mapping.Spec{Rules: []mapping.Rule{{Target: "title", From: []string{"title", ""}}}}, 0, "title", "empty attribute name"},
		{"lookup without from", mapping.Spec{Rules: []mapping.Rule{{Target: "manager", Template: "{manager}", Lookup: "mail"}}}, 0, "manager", "lookup"},
		{"lookup with path", mapping.Spec{Rules: []mapping.Rule{{Target: "department", FromPath: true, Lookup: "cn"}}}, 0, "department", "lookup"},
		{"bad lookup name", mapping.Spec{Rules: []mapping.Rule{{Target: "manager", From: []string{"manager"}, Lookup: "e mail"}}}, 0, "manager", "lookup"},
		{"path on scalar", mapping.Spec{Rules: []mapping.Rule{{Target: "title", FromPath: true}}}, 0, "title", "fromPath applies only"},
		{"split on scalar", mapping.Spec{Rules: []mapping.Rule{{Target: "title", From: []string{"title"}, Split: "/"}}}, 0, "title", "split applies only"},
		{"negative skip", mapping.Spec{Rules: []mapping.Rule{{Target: "department", FromPath: true, Skip: -1}}}, 0, "department", "negative skip"},
		{"blank suffix", mapping.Spec{Rules: []mapping.Rule{{Target: "department", FromPath: true, TrimSuffixes: []string{" "}}}}, 0, "department", "trimSuffixes"},
		{"role without group", mapping.Spec{Rules: []mapping.Rule{ok}, Roles: []mapping.RoleLink{{Group: "a", Role: "b"}, {Role: "admin"}}}, 1, "roles", "empty group"},
		{"role without role", mapping.Spec{Roles: []mapping.RoleLink{{Group: "Admins"}}}, 0, "roles", "empty role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.New(tt.spec)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, mapping.ErrInvalidSpec)
			var re *mapping.RuleError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.index, re.Index)
			assert.Equal(t, tt.target, re.Target)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestInvalidSpecReportsEveryRule(t *testing.T) {
	_, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{
		{Target: "email", From: []string{"mail"}, Transforms: []string{"nope"}},
		{Target: "username", From: []string{"sAMAccountName"}},
		{Target: "bogus", Value: "x"},
	}})
	require.Error(t, err)
	var targets []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var re *mapping.RuleError
		require.True(t, errors.As(e, &re))
		targets = append(targets, re.Target)
	}
	assert.Equal(t, []string{"email", "bogus"}, targets)
	assert.Contains(t, err.Error(), `mapping: rule 0 (target "email"): unknown transform "nope"`)
	assert.Contains(t, err.Error(), `mapping: rule 2 (target "bogus")`)
}
