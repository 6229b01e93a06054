package mapping_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/mapping"
)

// FuzzSpec feeds arbitrary JSON to New. A spec New accepts must map every
// sample entry without panicking and must survive a JSON round trip.
func FuzzSpec(f *testing.F) {
	for _, s := range []mapping.Spec{mapping.ADSpec(), mapping.EntraSpec(), mapping.GoogleSpec(), mapping.SCIMSpec(), builderLiteral()} {
		data, err := json.Marshal(s)
		require.NoError(f, err)
		f.Add(data)
	}
	for _, seed := range []string{
		`{}`,
		`{"rules":[{"target":"email","from":["mail"],"transforms":["lower","domain:example.com"]}]}`,
		`{"rules":[{"target":"displayName","template":"{{{givenName}}} {sn"}]}`,
		`{"rules":[{"target":"department","fromPath":true,"skip":99,"trimSuffixes":["users"]}]}`,
		`{"rules":[{"target":"department","from":["manager"],"lookup":"distinguishedName","split":","}]}`,
		`{"rules":[{"target":"extra.x","value":"Щукин","transforms":["translit:ru-icao","translit","title"]}]}`,
		`{"rules":[{"target":"externalId","from":["employeeID"]}],"roles":[{"group":"sales","role":"crm"}]}`,
		`{"roles":[{"group":"CN=Everyone,OU=Groups,DC=corp,DC=example","role":"member"}]}`,
		`{"rules":[{"target":"title","from":[""]}]}`,
		`{"rules":[{"target":"department","value":"a/b","split":"","skip":-1}]}`,
		// Unbalanced braces, refused by New wherever they stand.
		`{"rules":[{"target":"displayName","template":"givenName} {sn}"}]}`,
		`{"rules":[{"target":"displayName","template":"{givenName"}]}`,
		`{"rules":[{"target":"displayName","template":"}{"}]}`,
		`{"rules":[{"target":"displayName","template":"{{x}"}]}`,
		`{"rules":[{"target":"displayName","template":"{sn}}"}]}`,
		// Duplicate keys, refused by ParseSpec at any level and in any case.
		`{"rules":[{"target":"email","from":["mail"]}],"rules":[{"target":"username","from":["uid"]}]}`,
		`{"rules":[{"target":"email","from":["mail"]}],"Rules":[]}`,
		`{"rules":[{"target":"email","from":["mail"],"target":"username"}]}`,
		`{"rules":[{"target":"department","fromPath":true,"skip":1,"\u017fkip":2}]}`,
		`{"roles":[{"group":"a","role":"x","ROLE":"admin"}]}`,
	} {
		f.Add([]byte(seed))
	}
	dir := sampleSnapshot(f)
	odd := []*connector.Entry{
		{},
		{ID: "x", Attrs: connector.Attrs{"mail": nil, "manager": {""}, "department": {"/", "//"}}},
		{ID: "y", Path: []string{"", " ", "Users"}, Attrs: connector.Attrs{"manager": {"\\"}, "givenname": {"\xff\xfe"}}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s mapping.Spec
		if json.Unmarshal(data, &s) != nil {
			return
		}
		if strict, err := mapping.ParseSpec(data); err == nil {
			// What the strict parser accepts (no unknown or duplicate
			// key) means the same to encoding/json.
			a, _ := json.Marshal(strict)
			b, _ := json.Marshal(s)
			require.JSONEq(t, string(b), string(a))
		} else {
			require.ErrorIs(t, err, mapping.ErrInvalidSpec)
		}
		m, err := mapping.New(s)
		if err != nil {
			require.ErrorIs(t, err, mapping.ErrInvalidSpec)
			var re *mapping.RuleError
			require.ErrorAs(t, err, &re)
			return
		}
		for _, r := range s.Rules {
			// Braces of an accepted template come in pairs: "{{", "}}"
			// or a placeholder.
			require.Zero(t, (strings.Count(r.Template, "{")+strings.Count(r.Template, "}"))%2, r.Template)
		}
		entries := append(append([]*connector.Entry{}, dir.Users()...), dir.Groups()...)
		for _, e := range append(entries, odd...) {
			a, err := m.Map(e, dir)
			require.NoError(t, err)
			for _, r := range a.Roles {
				require.NotEmpty(t, r)
			}
			_, err = m.Map(e, nil)
			require.NoError(t, err)
		}

		spec := m.Spec()
		out, err := json.Marshal(spec)
		require.NoError(t, err)
		back, err := mapping.ParseSpec(out)
		require.NoError(t, err)
		require.Equal(t, spec, back)
		m2, err := mapping.New(back)
		require.NoError(t, err)
		require.Equal(t, m.Fields(), m2.Fields())
	})
}

// FuzzTemplate checks that templates either fail New with a rule error or
// render without panicking into text with tidy white space.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []struct{ tmpl, given, sn string }{
		{"{givenName} {sn}", "Юлия", "Щербакова"},
		{"{sn}, {givenName}", "", "Smith"},
		{"{{literal}} {givenName}", "a", "b"},
		{"}}{{", "", ""},
		{"{givenName", "a", "b"},
		{"{ }", "a", "b"},
		{"{a{b}}", "a", "b"},
		{"  {givenName}\t\t{sn}  ", " a ", "\tb\n"},
		{"plain text", "", ""},
		{"{}", "", ""},
	} {
		f.Add(seed.tmpl, seed.given, seed.sn)
	}
	f.Fuzz(func(t *testing.T, tmpl, given, sn string) {
		m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "displayName", Template: tmpl}}})
		if err != nil {
			var re *mapping.RuleError
			require.ErrorAs(t, err, &re)
			require.ErrorIs(t, err, mapping.ErrInvalidSpec)
			return
		}
		e := &connector.Entry{ID: "1", Attrs: connector.Attrs{"givenname": {given}, "sn": {sn}}}
		a, err := m.Map(e, nil)
		require.NoError(t, err)
		got := a.DisplayName
		assert.Equal(t, strings.Join(strings.Fields(got), " "), got, "white space not tidy")
		if !strings.ContainsAny(tmpl, "{}") {
			assert.Equal(t, strings.Join(strings.Fields(tmpl), " "), got, "a template without braces is a constant")
		}
	})
}
