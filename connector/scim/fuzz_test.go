package scim

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

func sampleRecord() *record {
	doc := map[string]any{
		"userName":    "ada@example.com",
		"displayName": "Ada",
		"active":      true,
		"name":        map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails":      []any{map[string]any{"value": "ada@example.com", "type": "work", "primary": true}},
		URNEnterprise: map[string]any{"department": "Engines", "manager": map[string]any{"value": "m1"}},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &record{Record: Record{ID: "id-1", Type: "User", Seq: 3, Created: now, Modified: now}, doc: doc}
}

// FuzzFilter: any string either parses into a filter that evaluates
// without panicking, or is refused with a 400 invalidFilter; never a
// panic, never another kind of error.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "a"`, `not (active eq true)`, `emails[type eq "work" and value co "@"]`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `a eq 1 or b eq 2`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "E"`,
		`members[value eq "x"]`, `((userName pr))`, `userName eq "\"`, `emails[`, ``, `name.givenName ew "a"`,
		`emails[type eq "work"].value eq "x"`, `emails[type eq "work"] eq "x"`, `not (emails[type eq "w"].value pr)`,
		`userName eq "a\"b"`, `emails[value eq "]"].value eq "["`, `x[a eq "b" or c eq "d"].e eq "f"`,
	} {
		f.Add(s)
	}
	rec := sampleRecord()
	f.Fuzz(func(t *testing.T, s string) {
		// The rewrite of Entra's value-path comparisons (normalize.go)
		// leaves every filter the parser accepts as it is.
		if e, err := parseRaw(s); err == nil && e != nil && normalizeFilter(s) != s {
			t.Fatalf("normalizeFilter changed the valid filter %q into %q", s, normalizeFilter(s))
		}
		for _, rt := range allTypes {
			e, err := rt.parseFilter(s)
			if err != nil {
				var pe *protoError
				if !errors.As(err, &pe) || pe.status != 400 || pe.scimType != scimInvalidFilter {
					t.Fatalf("filter %q: %v", s, err)
				}
				continue
			}
			if got, want := rt.compileFilter(e)(rec), (filterSubject{rt: rt, rec: rec}).eval(e); got != want {
				t.Fatalf("filter %q: compiled %v, evaluated %v", s, got, want)
			}
		}
	})
}

// FuzzPatchPath: any path and value either apply to a user, giving a
// document that a PUT of the same attributes would store unchanged (PATCH
// never stores what a PUT refuses), or are refused with a 400 or 409
// protocol error, leaving the document untouched; never a panic.
func FuzzPatchPath(f *testing.F) {
	for _, s := range []struct{ op, path, value string }{
		{"replace", `emails[type eq "work"].value`, `"x@y"`}, {"add", "name.givenName", `"A"`},
		{"remove", `members[value eq "1"]`, `null`}, {"Replace", "active", `"False"`},
		{"add", URNEnterprise + ":manager", `{"value":"m2"}`}, {"remove", "emails", `[{"value":"ada@example.com"}]`},
		{"replace", URNEnterprise, `{"department":"D"}`}, {"add", "", `{"name.familyName":"B"}`},
		{"replace", `phoneNumbers[type eq "mobile" and primary eq true].value`, `"1"`}, {"add", "x[", `1`},
		{"replace", "externalId", `"e"`}, {"add", "", `{"externalId":"e","id":"i"}`}, {"replace", "meta", `{}`},
	} {
		f.Add(s.op, s.path, s.value)
	}
	rec := sampleRecord()
	orig, _ := json.Marshal(rec.doc)
	f.Fuzz(func(t *testing.T, op, path, value string) {
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			v = value
		}
		m := map[string]any{"op": op, "value": v}
		if path != "" {
			m["path"] = path
		}
		ops, err := userType.parsePatch(map[string]any{"schemas": []any{urnPatchOp}, "Operations": []any{m}})
		if err != nil {
			checkProto(t, err)
			return
		}
		out, err := userType.applyPatch(rec.doc, ops)
		if after, _ := json.Marshal(rec.doc); string(after) != string(orig) {
			t.Fatalf("applyPatch modified its input: %s", after)
		}
		if err != nil {
			checkProto(t, err)
			return
		}
		in := deepClone(out).(map[string]any)
		in["schemas"] = []any{URNUser, URNEnterprise}
		again, err := userType.normalizeResource(in)
		if err != nil {
			t.Fatalf("PATCH %s %q %s stored what a PUT refuses: %v\n%v", op, path, value, err, out)
		}
		if !reflect.DeepEqual(again, out) {
			t.Fatalf("PATCH %s %q %s stored a document a PUT would change:\n%v\n%v", op, path, value, out, again)
		}
	})
}

func checkProto(t *testing.T, err error) {
	t.Helper()
	var pe *protoError
	if !errors.As(err, &pe) || (pe.status != 400 && pe.status != 409) {
		t.Fatalf("not a protocol error: %v", err)
	}
}

// parseRaw parses a filter without the package's normalisation.
func parseRaw(s string) (e filter.Expression, err error) {
	defer func() {
		if recover() != nil {
			e, err = nil, errors.New("panic")
		}
	}()
	return filter.ParseFilter([]byte(s))
}
