package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// Spec is a complete, JSON-serializable mapping: rules that fill account
// fields from entry attributes, and links that grant app roles to members of
// directory groups. It is plain data; New validates it and compiles it into
// a RuleMapper.
//
// A Spec survives a JSON round trip unchanged: a spec returned by
// RuleMapper.Spec or Builder.Spec marshals and unmarshals to an equal value.
type Spec struct {
	// Rules fill the account's fields. Several rules may share a target:
	// they are tried in order and the first non-empty result wins, so a
	// later rule is a fallback for an earlier one.
	Rules []Rule `json:"rules,omitempty"`
	// Roles grant app roles to members of directory groups. Without role
	// links the mapper does not own the roles field and leaves the roles
	// the app assigns alone.
	Roles []RoleLink `json:"roles,omitempty"`
}

// Rule fills one target field. It has exactly one source (From, Value,
// Template or FromPath); the value is then optionally resolved (Lookup),
// split into a department path (Split, Skip, TrimSuffixes) and transformed
// (Transforms, in order). Values are trimmed of surrounding white space, and
// a value that is only white space counts as empty.
type Rule struct {
	// Target is the account field to fill: a diff field name ("username",
	// "email", "givenName", "familyName", "displayName", "title", "phone",
	// "manager", "department"), "externalId" to replace the join key (the
	// entry's ID by default), or "extra.<key>". Roles are set by
	// Spec.Roles, never by a rule.
	Target string `json:"target"`

	// From names source attributes; the first one with a non-empty value
	// is used (with Lookup: the first one that resolves to a non-empty
	// value). Of a multi-valued attribute the first value is used.
	From []string `json:"from,omitempty"`
	// Value is a constant.
	Value string `json:"value,omitempty"`
	// Template composes attributes: "{givenName} {sn}". Attribute names
	// go in braces, "{{" and "}}" stand for literal braces, and any other
	// brace without its partner is an error. Runs of white
	// space are collapsed to one space, so an empty attribute leaves no
	// gap, and a template whose attributes are all empty yields nothing.
	Template string `json:"template,omitempty"`
	// FromPath takes the department path from the entry's org-unit path
	// (Entry.Path). Only for the department target.
	FromPath bool `json:"fromPath,omitempty"`

	// Lookup treats the From value as a reference to another entry of the
	// same read, its ID or its DN (compared case-insensitively), and
	// takes that entry's attribute instead: {"from": ["manager"],
	// "lookup": "mail"} gives the manager's email from an AD manager DN.
	// An unresolved reference yields nothing. Only with From.
	Lookup string `json:"lookup,omitempty"`

	// Split cuts the value into department path elements on this
	// separator ("Sales/EMEA" with "/"). Empty elements are dropped. Only
	// for the department target.
	Split string `json:"split,omitempty"`
	// Skip drops this many leading department path elements (the
	// "Europe" of ["Europe", "Sales"]). Only for the department target.
	Skip int `json:"skip,omitempty"`
	// TrimSuffixes removes the first matching suffix, case-insensitively,
	// from each department path element: with ["users", "user"],
	// "Sales department users" becomes "Sales department" and an element
	// that is just "Users" disappears. A suffix that starts with a letter
	// or digit matches only as a whole word ("Superusers" stays). White
	// space, "-", "_" and "." left at the end are removed too ("IT-users"
	// becomes "IT"). Only for the department target.
	TrimSuffixes []string `json:"trimSuffixes,omitempty"`

	// Transforms are applied in order, to each path element for the
	// department target. See the package documentation for the list.
	Transforms []string `json:"transforms,omitempty"`
}

// RoleLink grants Role to every member, direct or through nested groups, of
// Group. Group is matched case-insensitively against a group's ID, DN, or
// its cn, name, displayName, sAMAccountName, mail or email attribute.
type RoleLink struct {
	Group string `json:"group"`
	Role  string `json:"role"`
}

// ParseSpec decodes a JSON spec strictly: unknown keys (a misspelt
// "tranforms"), a key given twice in one object (`{"rules": […],
// "rules": […]}`, or "from" twice in a rule), and trailing data are errors
// wrapping ErrInvalidSpec, where encoding/json would silently ignore them
// or keep the last value. Keys are compared as encoding/json matches them
// to fields, without regard to case, so "Rules" after "rules" is a
// duplicate too. It does not validate the rules; New does.
func ParseSpec(data []byte) (Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%w: %v", ErrInvalidSpec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Spec{}, fmt.Errorf("%w: data after the spec", ErrInvalidSpec)
	}
	if err := checkDuplicateKeys(data); err != nil {
		return Spec{}, fmt.Errorf("%w: %v", ErrInvalidSpec, err)
	}
	return s.clone(), nil
}

// checkDuplicateKeys walks the tokens of one JSON value, already known to
// be well formed, and reports the first object that has a key twice. Keys
// are folded the way encoding/json folds a key to match a field name.
func checkDuplicateKeys(data []byte) error {
	type frame struct {
		keys   map[string]string // folded key → key as written; nil for an array
		path   string            // of this object or array, for the message
		index  int               // next element, in an array
		key    string            // last key read, in an object
		wanted bool              // an object expects a key next
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*frame
	// elemPath is the path of the value about to be read.
	elemPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if f.keys == nil {
			p := fmt.Sprintf("%s[%d]", f.path, f.index)
			f.index++
			return p
		}
		if f.path == "" {
			return f.key
		}
		return f.path + "." + f.key
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.wanted {
			// An object key, or the end of the object.
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			key := tok.(string)
			folded := foldKey(key)
			if prev, dup := top.keys[folded]; dup {
				where := "the spec"
				if top.path != "" {
					where = top.path
				}
				if prev == key {
					return fmt.Errorf("%s: duplicate key %q", where, key)
				}
				return fmt.Errorf("%s: duplicate key %q (JSON keys match without regard to case: %q is the same key)", where, key, prev)
			}
			top.keys[folded] = key
			top.key, top.wanted = key, false
			continue
		}
		if tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			continue
		}
		path := elemPath()
		if top != nil && top.keys != nil {
			top.wanted = true // the value is read; a key comes next
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]string{}, path: path, wanted: true})
		case json.Delim('['):
			stack = append(stack, &frame{path: path})
		}
	}
}

// foldKey maps a key to a form that is equal for keys encoding/json
// considers the same field name: each rune becomes the smallest rune of
// its simple case-folding orbit ("K", "k" and the Kelvin sign K all become
// "K"; "s" and the long s ſ become "S").
func foldKey(key string) string {
	var b strings.Builder
	b.Grow(len(key))
	for _, r := range key {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		b.WriteRune(low)
	}
	return b.String()
}

// WithTransform returns a copy of s in which every rule that fills target
// (the rule and its fallbacks) applies the transforms after its own: a
// default spec with transliterated names is
//
//	spec, err := mapping.ADSpec().WithTransform(diff.FieldDisplayName, "translit")
//
// It returns an error wrapping ErrInvalidSpec if no rule of s has that
// target (targets are case-sensitive, as in New) or if a transform is
// unknown. s itself is not modified.
func (s Spec) WithTransform(target string, transforms ...string) (Spec, error) {
	for _, name := range transforms {
		if _, err := parseTransform(name); err != nil {
			return Spec{}, fmt.Errorf("%w: target %q: %v", ErrInvalidSpec, target, err)
		}
	}
	c := s.clone()
	found := false
	for i := range c.Rules {
		if c.Rules[i].Target == target {
			found = true
			c.Rules[i].Transforms = append(c.Rules[i].Transforms, transforms...)
		}
	}
	if !found {
		return Spec{}, fmt.Errorf("%w: no rule fills target %q", ErrInvalidSpec, target)
	}
	return c, nil
}

// clone returns a deep copy in canonical form: empty slices become nil, so
// that the copy is equal to itself after a JSON round trip.
func (s Spec) clone() Spec {
	var c Spec
	if len(s.Rules) > 0 {
		c.Rules = make([]Rule, len(s.Rules))
		for i, r := range s.Rules {
			c.Rules[i] = r.clone()
		}
	}
	if len(s.Roles) > 0 {
		c.Roles = slices.Clone(s.Roles)
	}
	return c
}

func (r Rule) clone() Rule {
	r.From = cloneStrings(r.From)
	r.TrimSuffixes = cloneStrings(r.TrimSuffixes)
	r.Transforms = cloneStrings(r.Transforms)
	return r
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
