package mapping

import (
	"errors"
	"fmt"
)

// Builder assembles a Spec in Go. Each of From, Const, Template and Path
// starts a rule; Lookup, Split, Skip, TrimSuffixes and Transform modify the
// rule started last; Role adds a role link. The Spec it builds is the same
// plain data a JSON spec decodes to, so it can be stored and edited later.
//
//	m, err := mapping.NewBuilder().
//		From(diff.FieldEmail, "mail", "userPrincipalName").Transform("lower").
//		Template(diff.FieldDisplayName, "{givenName} {sn}").
//		Role("App Admins", "admin").
//		Build()
type Builder struct {
	spec Spec
	err  error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// Rule adds a rule as it is.
func (b *Builder) Rule(r Rule) *Builder {
	b.spec.Rules = append(b.spec.Rules, r.clone())
	return b
}

// From starts a rule filling target from the first non-empty attribute.
func (b *Builder) From(target string, attrs ...string) *Builder {
	return b.Rule(Rule{Target: target, From: attrs})
}

// Const starts a rule setting target to a constant.
func (b *Builder) Const(target, value string) *Builder {
	return b.Rule(Rule{Target: target, Value: value})
}

// Template starts a rule filling target from a template such as
// "{givenName} {sn}".
func (b *Builder) Template(target, tmpl string) *Builder {
	return b.Rule(Rule{Target: target, Template: tmpl})
}

// Path starts a rule filling target (the department) from the org-unit
// path.
func (b *Builder) Path(target string) *Builder {
	return b.Rule(Rule{Target: target, FromPath: true})
}

// Lookup makes the last rule resolve its From value as a reference to
// another entry and take that entry's attribute.
func (b *Builder) Lookup(attr string) *Builder {
	return b.modify("Lookup", func(r *Rule) { r.Lookup = attr })
}

// Split makes the last rule cut its value into path elements on sep.
func (b *Builder) Split(sep string) *Builder {
	return b.modify("Split", func(r *Rule) { r.Split = sep })
}

// Skip makes the last rule drop n leading path elements.
func (b *Builder) Skip(n int) *Builder {
	return b.modify("Skip", func(r *Rule) { r.Skip = n })
}

// TrimSuffixes adds suffixes the last rule removes from path elements.
func (b *Builder) TrimSuffixes(suffixes ...string) *Builder {
	return b.modify("TrimSuffixes", func(r *Rule) { r.TrimSuffixes = append(r.TrimSuffixes, suffixes...) })
}

// Transform appends transforms to the last rule.
func (b *Builder) Transform(names ...string) *Builder {
	return b.modify("Transform", func(r *Rule) { r.Transforms = append(r.Transforms, names...) })
}

// Role adds a role link: members of group get role.
func (b *Builder) Role(group, role string) *Builder {
	b.spec.Roles = append(b.spec.Roles, RoleLink{Group: group, Role: role})
	return b
}

func (b *Builder) modify(method string, f func(*Rule)) *Builder {
	if len(b.spec.Rules) == 0 {
		if b.err == nil {
			b.err = &RuleError{Index: -1, Err: fmt.Errorf("builder: %s called before any rule", method)}
		}
		return b
	}
	f(&b.spec.Rules[len(b.spec.Rules)-1])
	return b
}

// Spec returns a copy of the spec built so far.
func (b *Builder) Spec() Spec { return b.spec.clone() }

// Build validates the spec and returns its mapper, as New does. A modifier
// called before any rule is reported here too.
func (b *Builder) Build() (*RuleMapper, error) {
	m, err := New(b.spec)
	if b.err != nil {
		return nil, errors.Join(b.err, err)
	}
	return m, err
}
