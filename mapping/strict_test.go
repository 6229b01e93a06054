package mapping_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// badTemplates have a brace that is neither part of a placeholder nor of
// a "{{" / "}}" pair.
var badTemplates = []string{
	"givenName} {sn}", "{givenName} sn}", "{givenName", "}{", "{{x}", "x}", "}", "{",
	"{sn} }", "{ {sn}", "a}b{c", "}}}", "{{{", "{sn}{", "{sn}}",
}

// templateRule puts tmpl at a random position among valid rules and
// checks the error New returns names that rule.
func requireTemplateRejected(t require.TestingT, tmpl string, before int, sayBrace bool) {
	rules := make([]mapping.Rule, 0, before+2)
	for i := range before {
		rules = append(rules, mapping.Rule{Target: fmt.Sprintf("extra.k%d", i), Template: "{{ok}} {sn}"})
	}
	rules = append(rules, mapping.Rule{Target: "displayName", Template: tmpl}, mapping.Rule{Target: "title", From: []string{"title"}})
	_, err := mapping.New(mapping.Spec{Rules: rules})
	require.ErrorIs(t, err, mapping.ErrInvalidSpec, "%q accepted", tmpl)
	var re *mapping.RuleError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, before, re.Index, tmpl)
	assert.Equal(t, "displayName", re.Target, tmpl)
	assert.Contains(t, err.Error(), fmt.Sprintf("rule %d", before))
	if sayBrace {
		assert.Contains(t, err.Error(), "brace")
	} else {
		// An inserted brace can also close an empty placeholder, "{ }",
		// or open one around text that is no attribute name, "{a a}".
		assert.Regexp(t, `brace|empty attribute name|attribute name ".*" contains`, err.Error())
	}
}

func TestTemplateUnbalancedBraces(t *testing.T) {
	for i, tmpl := range badTemplates {
		requireTemplateRejected(t, tmpl, i%3, true)
	}
}

// Templates made of text, placeholders and brace pairs are accepted and
// render as written; every template with an odd number of braces has a
// lone one, wherever it stands, and is refused naming its rule.
func TestTemplateBracesProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type token struct{ src, out string }
		n := rapid.IntRange(1, 8).Draw(t, "tokens")
		var src, want strings.Builder
		for range n {
			tok := rapid.SampledFrom([]token{
				{"{{", "{"}, {"}}", "}"}, {"{sn}", "S"}, {"{ givenName }", "G"},
				{"a", "a"}, {" ", " "}, {"-", "-"}, {"{title}", ""},
			}).Draw(t, "token")
			src.WriteString(tok.src)
			want.WriteString(tok.out)
		}
		tmpl := src.String()
		e := &connector.Entry{ID: "1", Attrs: connector.Attrs{"sn": {"S"}, "givenname": {"G"}}}
		m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "displayName", Template: tmpl}}})
		require.NoError(t, err, "%q", tmpl)
		a, err := m.Map(e, nil)
		require.NoError(t, err)
		filled := strings.Contains(tmpl, "{sn}") || strings.Contains(tmpl, "{ givenName }")
		if filled || !strings.Contains(tmpl, "{title}") {
			assert.Equal(t, strings.Join(strings.Fields(want.String()), " "), a.DisplayName, "%q", tmpl)
		} else {
			assert.Empty(t, a.DisplayName, "%q: every placeholder is empty", tmpl)
		}

		at := rapid.IntRange(0, len(tmpl)).Draw(t, "at")
		bad := tmpl[:at] + rapid.SampledFrom([]string{"{", "}"}).Draw(t, "brace") + tmpl[at:]
		requireTemplateRejected(t, bad, rapid.IntRange(0, 3).Draw(t, "before"), false)
	})
}

// jsonObj is a JSON object with its keys in order, duplicates allowed.
type jsonObj []jsonKV

type jsonKV struct {
	k string
	v any
}

func encodeJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case jsonObj:
		b.WriteByte('{')
		for i, kv := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(kv.k)
			b.Write(k)
			b.WriteByte(':')
			encodeJSON(b, kv.v)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeJSON(b, x)
		}
		b.WriteByte(']')
	default:
		data, _ := json.Marshal(v)
		b.Write(data)
	}
}

// specObj is the JSON object of a spec, keys in order.
func specObj(s mapping.Spec) jsonObj {
	var rules, roles []any
	for _, r := range s.Rules {
		o := jsonObj{{"target", r.Target}}
		if len(r.From) > 0 {
			o = append(o, jsonKV{"from", r.From})
		}
		if r.Value != "" {
			o = append(o, jsonKV{"value", r.Value})
		}
		if r.Template != "" {
			o = append(o, jsonKV{"template", r.Template})
		}
		if r.FromPath {
			o = append(o, jsonKV{"fromPath", true})
		}
		if r.Lookup != "" {
			o = append(o, jsonKV{"lookup", r.Lookup})
		}
		if r.Split != "" {
			o = append(o, jsonKV{"split", r.Split})
		}
		if r.Skip != 0 {
			o = append(o, jsonKV{"skip", r.Skip})
		}
		if len(r.TrimSuffixes) > 0 {
			o = append(o, jsonKV{"trimSuffixes", r.TrimSuffixes})
		}
		if len(r.Transforms) > 0 {
			o = append(o, jsonKV{"transforms", r.Transforms})
		}
		rules = append(rules, o)
	}
	for _, l := range s.Roles {
		roles = append(roles, jsonObj{{"group", l.Group}, {"role", l.Role}})
	}
	o := jsonObj{}
	if rules != nil {
		o = append(o, jsonKV{"rules", rules})
	}
	if roles != nil {
		o = append(o, jsonKV{"roles", roles})
	}
	return o
}

// respell writes key as encoding/json would still match it to the same
// field: any mix of case, and for k and s also the Kelvin sign and the long
// s, which fold to them.
func respell(t *rapid.T, key string) string {
	var b strings.Builder
	for _, r := range key {
		switch c := rapid.IntRange(0, 3).Draw(t, "case"); {
		case c == 3 && r == 'k':
			b.WriteRune('\u212a')
		case c == 3 && r == 's':
			b.WriteRune('\u017f')
		case c >= 2:
			b.WriteString(strings.ToUpper(string(r)))
		default:
			b.WriteString(strings.ToLower(string(r)))
		}
	}
	return b.String()
}

// A key given twice in any object of a spec, spelt the same or in another
// case, makes ParseSpec fail; without the duplicate it parses. (Before,
// encoding/json kept the last value silently.)
func TestParseSpecDuplicateKeys(t *testing.T) {
	specs := []mapping.Spec{mapping.ADSpec(), mapping.EntraSpec(), mapping.GoogleSpec(), builderLiteral()}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.SampledFrom(specs).Draw(t, "spec")
		root := specObj(s)
		// The objects of the spec: the root, every rule, every role link.
		objs := []*jsonObj{&root}
		for _, kv := range root {
			for i := range kv.v.([]any) {
				o := kv.v.([]any)[i].(jsonObj)
				objs = append(objs, &o)
				kv.v.([]any)[i] = &o
			}
		}
		var clean bytes.Buffer
		encodeJSON(&clean, deref(root))
		_, err := mapping.ParseSpec(clean.Bytes())
		require.NoError(t, err, clean.String())

		o := objs[rapid.IntRange(0, len(objs)-1).Draw(t, "object")]
		kv := (*o)[rapid.IntRange(0, len(*o)-1).Draw(t, "key")]
		dup := jsonKV{respell(t, kv.k), kv.v}
		at := rapid.IntRange(0, len(*o)).Draw(t, "at")
		*o = slices.Insert(*o, at, dup)

		var data bytes.Buffer
		encodeJSON(&data, deref(root))
		_, err = mapping.ParseSpec(data.Bytes())
		require.ErrorIs(t, err, mapping.ErrInvalidSpec, data.String())
		assert.Contains(t, err.Error(), "duplicate key")
	})
}

// deref replaces the *jsonObj the test edits by their values.
func deref(v any) any {
	switch v := v.(type) {
	case *jsonObj:
		return deref(*v)
	case jsonObj:
		out := make(jsonObj, len(v))
		for i, kv := range v {
			out[i] = jsonKV{kv.k, deref(kv.v)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deref(x)
		}
		return out
	}
	return v
}

func TestParseSpecDuplicateKeyExamples(t *testing.T) {
	for _, bad := range []string{
		`{"rules":[{"target":"email","from":["mail"]}],"rules":[{"target":"username","from":["uid"]}]}`,
		`{"rules":[{"target":"email","from":["mail"]}],"Rules":[]}`,
		`{"rules":[{"target":"email","from":["mail"],"target":"username"}]}`,
		`{"rules":[{"target":"email","from":["mail"],"FROM":["uid"]}]}`,
		`{"rules":[{"target":"department","fromPath":true,"skip":1,"\u017fkip":2}]}`,
		`{"roles":[{"group":"a","role":"x","Role":"admin"}]}`,
		`{"roles":[],"roles":[]}`,
	} {
		_, err := mapping.ParseSpec([]byte(bad))
		require.ErrorIs(t, err, mapping.ErrInvalidSpec, bad)
		assert.Contains(t, err.Error(), "duplicate key", bad)
	}
	_, err := mapping.ParseSpec([]byte(`{"rules":[{"target":"email","from":["mail"]},{"target":"title","from":["title"],"From":["x"]}]}`))
	assert.ErrorContains(t, err, `rules[1]: duplicate key "From" (JSON keys match without regard to case: "from" is the same key)`)
	_, err = mapping.ParseSpec([]byte(`{"roles":[], "rules":[], "roles":[]}`))
	assert.ErrorContains(t, err, `the spec: duplicate key "roles"`)

	// The same key in different objects is no duplicate.
	_, err = mapping.ParseSpec([]byte(`{"rules":[{"target":"email","from":["mail"]},{"target":"username","from":["uid"]}],"roles":[{"group":"a","role":"x"},{"group":"b","role":"x"}]}`))
	require.NoError(t, err)
}

// WithTransform appends to every rule of the target, leaves the other
// rules and the receiver alone, and refuses a target no rule fills or an
// unknown transform.
func TestWithTransform(t *testing.T) {
	for _, base := range []mapping.Spec{mapping.ADSpec(), mapping.EntraSpec(), mapping.GoogleSpec(), builderLiteral()} {
		before := roundTrip(t, base)
		for _, target := range append(slices.Clone(diff.Fields), "externalId", "extra.locale") {
			got, err := base.WithTransform(target, "translit", "upper")
			if !slices.ContainsFunc(base.Rules, func(r mapping.Rule) bool { return r.Target == target }) {
				require.ErrorIs(t, err, mapping.ErrInvalidSpec, target)
				assert.Contains(t, err.Error(), target)
				continue
			}
			require.NoError(t, err, target)
			require.Len(t, got.Rules, len(base.Rules))
			for i, r := range got.Rules {
				want := base.Rules[i]
				if r.Target == target {
					want.Transforms = append(slices.Clone(want.Transforms), "translit", "upper")
				}
				assert.Equal(t, want, r)
			}
			assert.Equal(t, base.Roles, got.Roles)
			_, err = mapping.New(got)
			require.NoError(t, err)
		}
		assert.Equal(t, before, base, "the receiver is unchanged")
	}
	_, err := mapping.ADSpec().WithTransform("displayName", "translit:xx")
	require.ErrorIs(t, err, mapping.ErrInvalidSpec)
	_, err = mapping.ADSpec().WithTransform("displayname", "lower")
	require.ErrorIs(t, err, mapping.ErrInvalidSpec)
}
