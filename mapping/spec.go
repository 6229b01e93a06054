package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
	// go in braces, "{{" and "}}" stand for literal braces. Runs of white
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
// "tranforms") and trailing data are errors wrapping ErrInvalidSpec, where
// encoding/json would silently ignore them. It does not validate the rules;
// New does.
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
	return s.clone(), nil
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
