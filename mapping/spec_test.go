package mapping_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

func roundTrip(t *testing.T, s mapping.Spec) mapping.Spec {
	t.Helper()
	data, err := json.Marshal(s)
	require.NoError(t, err)
	var back mapping.Spec
	require.NoError(t, json.Unmarshal(data, &back))
	return back
}

func builderSpec() *mapping.Builder {
	return mapping.NewBuilder().
		From(diff.FieldUsername, "sAMAccountName").Transform("lower").
		From(diff.FieldEmail, "mail", "userPrincipalName").Transform("lower", "trim").
		Template(diff.FieldDisplayName, "{givenName} {sn}").
		Const("extra.locale", "ru").
		From(diff.FieldManager, "manager").Lookup("mail").
		Path(diff.FieldDepartment).Skip(1).TrimSuffixes("users", "user").
		From(diff.FieldDepartment, "department").Split("/").
		Rule(mapping.Rule{Target: "externalId", From: []string{"employeeID"}}).
		Role("App Admins", "admin").
		Role("Sales", "crm")
}

func builderLiteral() mapping.Spec {
	return mapping.Spec{
		Rules: []mapping.Rule{
			{Target: "username", From: []string{"sAMAccountName"}, Transforms: []string{"lower"}},
			{Target: "email", From: []string{"mail", "userPrincipalName"}, Transforms: []string{"lower", "trim"}},
			{Target: "displayName", Template: "{givenName} {sn}"},
			{Target: "extra.locale", Value: "ru"},
			{Target: "manager", From: []string{"manager"}, Lookup: "mail"},
			{Target: "department", FromPath: true, Skip: 1, TrimSuffixes: []string{"users", "user"}},
			{Target: "department", From: []string{"department"}, Split: "/"},
			{Target: "externalId", From: []string{"employeeID"}},
		},
		Roles: []mapping.RoleLink{{Group: "App Admins", Role: "admin"}, {Group: "Sales", Role: "crm"}},
	}
}

func TestBuilder(t *testing.T) {
	b := builderSpec()
	assert.Equal(t, builderLiteral(), b.Spec())

	m, err := b.Build()
	require.NoError(t, err)
	assert.Equal(t, builderLiteral(), m.Spec())
	assert.Equal(t, []string{"department", "displayName", "email", "extra.locale", "manager", "roles", "username"}, m.Fields())

	// Building does not freeze the builder's spec into the mapper.
	b.Const("title", "x")
	assert.Equal(t, builderLiteral(), m.Spec())
}

func TestBuilderErrors(t *testing.T) {
	_, err := mapping.NewBuilder().Transform("lower").From("email", "mail").Build()
	require.ErrorIs(t, err, mapping.ErrInvalidSpec)
	assert.Contains(t, err.Error(), "Transform called before any rule")

	_, err = mapping.NewBuilder().From("email", "mail").Transform("lowr").Build()
	var re *mapping.RuleError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 0, re.Index)
	assert.Equal(t, "email", re.Target)
}

func TestJSONRoundTrip(t *testing.T) {
	specs := map[string]mapping.Spec{
		"ad":      mapping.ADSpec(),
		"entra":   mapping.EntraSpec(),
		"google":  mapping.GoogleSpec(),
		"scim":    mapping.SCIMSpec(),
		"builder": builderSpec().Spec(),
		"literal": builderLiteral(),
	}
	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			m, err := mapping.New(s)
			require.NoError(t, err)
			assert.Equal(t, s, roundTrip(t, s))
			assert.Equal(t, s, roundTrip(t, m.Spec()))

			data, err := json.Marshal(s)
			require.NoError(t, err)
			parsed, err := mapping.ParseSpec(data)
			require.NoError(t, err)
			assert.Equal(t, s, parsed)
		})
	}
}

func TestJSONShape(t *testing.T) {
	s := mapping.NewBuilder().
		From("email", "mail").Transform("lower").
		Path("department").TrimSuffixes("users").
		Role("Admins", "admin").
		Spec()
	data, err := json.Marshal(s)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"rules": [
			{"target": "email", "from": ["mail"], "transforms": ["lower"]},
			{"target": "department", "fromPath": true, "trimSuffixes": ["users"]}
		],
		"roles": [{"group": "Admins", "role": "admin"}]
	}`, string(data))
}

func TestParseSpec(t *testing.T) {
	s, err := mapping.ParseSpec([]byte(`{"rules": [{"target": "email", "from": ["mail"], "transforms": []}], "roles": []}`))
	require.NoError(t, err)
	// Empty lists decode to nil, so the spec equals its round trip.
	assert.Equal(t, mapping.Spec{Rules: []mapping.Rule{{Target: "email", From: []string{"mail"}}}}, s)

	for _, bad := range []string{
		`{"rules": [{"target": "email", "from": ["mail"], "tranforms": ["lower"]}]}`,
		`{"rules": [{"target": "email", "from": "mail"}]}`,
		`{"rules": []} {}`,
		`{"rules": []}}`,
		`not json`,
		``,
	} {
		_, err := mapping.ParseSpec([]byte(bad))
		assert.ErrorIs(t, err, mapping.ErrInvalidSpec, bad)
	}
}

func TestDefaultsAD(t *testing.T) {
	m, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	dir := sampleSnapshot(t)

	a, err := m.Map(mustEntry(t, dir, "u-julia"), dir)
	require.NoError(t, err)
	assert.Equal(t, diff.Account{
		ExternalID:  "u-julia",
		Username:    "yshcherbakova",
		Email:       "y.shcherbakova@corp.example",
		GivenName:   "Юлия",
		FamilyName:  "Щербакова",
		DisplayName: "Юлия Щербакова",
		Title:       "Account   manager",
		Phone:       "+7 495 000-00-00",
		Manager:     "boss@corp.example",
		Department:  []string{"Sales / EMEA"},
	}, a)

	a, err = m.Map(mustEntry(t, dir, "u-boss"), dir)
	require.NoError(t, err)
	assert.Equal(t, diff.Account{
		ExternalID: "u-boss",
		Username:   "boss",
		Email:      "boss@corp.example",
		Department: []string{"Europe"},
	}, a)

	assert.Equal(t, []string{"department", "displayName", "email", "familyName", "givenName", "manager", "phone", "title", "username"}, m.Fields())
}

func TestDefaultsADPathSuffix(t *testing.T) {
	m, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	for _, tt := range []struct {
		path []string
		want []string
	}{
		{[]string{"Europe", "Sales department users"}, []string{"Europe", "Sales department"}},
		{[]string{"Europe", "Sales User"}, []string{"Europe", "Sales"}},
		{[]string{"Users"}, nil},
		{[]string{"Superusers"}, []string{"Superusers"}},
		{[]string{"IT-users"}, []string{"IT"}},
		{[]string{"Ops_USERS", "Team. user"}, []string{"Ops", "Team"}},
	} {
		a, err := m.Map(&connector.Entry{ID: "1", Path: tt.path}, nil)
		require.NoError(t, err)
		assert.Equal(t, tt.want, a.Department, tt.path)
	}
}

func TestDefaultsEntra(t *testing.T) {
	entries := []connector.Entry{
		{ID: "0b5e-1", Kind: connector.KindUser, Attrs: connector.Attrs{
			"userprincipalname": {"Petr.Khrushchev@Contoso.onmicrosoft.com"},
			"givenname":         {"Пётр"},
			"surname":           {"Хрущёв"},
			"jobtitle":          {"Engineer"},
			"department":        {"R&D"},
			"mobilephone":       {"+7 900 000 00 00"},
			"businessphones":    {"+7 495 111 11 11", "+7 495 222 22 22"},
			"employeeid":        {"1001"},
			"manager":           {"0b5e-2"},
		}},
		{ID: "0b5e-2", Kind: connector.KindUser, Attrs: connector.Attrs{
			"userprincipalname": {"Chief@Contoso.onmicrosoft.com"},
			"displayname":       {"The Chief"},
		}},
	}
	dir, err := connector.NewSnapshot(entries)
	require.NoError(t, err)
	m, err := mapping.New(mapping.EntraSpec())
	require.NoError(t, err)

	a, err := m.Map(mustEntry(t, dir, "0b5e-1"), dir)
	require.NoError(t, err)
	assert.Equal(t, diff.Account{
		ExternalID:  "0b5e-1",
		Username:    "petr.khrushchev@contoso.onmicrosoft.com",
		Email:       "petr.khrushchev@contoso.onmicrosoft.com",
		GivenName:   "Пётр",
		FamilyName:  "Хрущёв",
		DisplayName: "Пётр Хрущёв",
		Title:       "Engineer",
		Phone:       "+7 495 111 11 11",
		Manager:     "chief@contoso.onmicrosoft.com",
		Department:  []string{"R&D"},
	}, a)

	a, err = m.Map(mustEntry(t, dir, "0b5e-2"), dir)
	require.NoError(t, err)
	assert.Equal(t, "The Chief", a.DisplayName)
}

func TestDefaultsGoogle(t *testing.T) {
	m, err := mapping.New(mapping.GoogleSpec())
	require.NoError(t, err)
	e := connector.Entry{ID: "1171", Kind: connector.KindUser, Attrs: connector.Attrs{
		"primaryemail":        {"Natalia.Zaitseva@Example.com"},
		"name.givenname":      {"Наталья"},
		"name.familyname":     {"Зайцева"},
		"organizations.title": {"Designer"},
		"phones.value":        {"+7 812 000 00 00"},
		"relations.manager":   {"Boss@Example.com"},
		"orgunitpath":         {"/Europe/Design/"},
	}}
	a, err := m.Map(&e, nil)
	require.NoError(t, err)
	assert.Equal(t, diff.Account{
		ExternalID:  "1171",
		Username:    "natalia.zaitseva@example.com",
		Email:       "natalia.zaitseva@example.com",
		GivenName:   "Наталья",
		FamilyName:  "Зайцева",
		DisplayName: "Наталья Зайцева",
		Title:       "Designer",
		Phone:       "+7 812 000 00 00",
		Manager:     "boss@example.com",
		Department:  []string{"Europe", "Design"},
	}, a)

	e.Attrs.Set("organizations.department", "Product Design")
	e.Attrs.Set("name.fullName", "Natalia Zaitseva")
	a, err = m.Map(&e, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"Product Design"}, a.Department)
	assert.Equal(t, "Natalia Zaitseva", a.DisplayName)
}

func BenchmarkMapAD(b *testing.B) {
	m, err := mapping.New(mapping.ADSpec())
	require.NoError(b, err)
	dir := sampleSnapshot(b)
	e := mustEntry(b, dir, "u-julia")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(e, dir); err != nil {
			b.Fatal(err)
		}
	}
}
