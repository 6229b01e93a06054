package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// ReasonIncluded is the reason code of a Decision that puts an entry in
// scope. An entry out of scope gets diff.ReasonOutOfScope.
const ReasonIncluded = diff.ReasonInScope

// The values of ScopeRule.Action and ScopeConfig.Default.
const (
	ActionInclude = "include"
	ActionExclude = "exclude"
)

// ScopeConfig selects the directory users that sync manages.
//
// Rules are tried in order and the first rule that matches an entry decides
// it. When no rule matches, Default decides: "include" or "exclude". An
// empty Default includes when there is no include rule (no rules at all, or
// only exclude rules) and excludes otherwise, which is what a list of
// include rules means.
type ScopeConfig struct {
	Rules   []ScopeRule `json:"rules,omitempty"`
	Default string      `json:"default,omitempty"`
}

// ScopeRule includes or excludes the entries it matches. Set Action and
// exactly one matcher: OUEndsWithUsers, OU, OURegex, Group or Attr (with
// Equals or Regex).
//
// All comparisons ignore case. Regular expressions use RE2 syntax (see
// regexp/syntax); they are case-insensitive unless they start with "(?-i)"
// and unanchored unless they use ^ and $.
//
// The OU matchers look at the entry's Path, the org units from the root
// down to the entry. An org unit includes everything below it: a matcher
// matches when any org unit on the path matches, so a rule for "IT Users"
// also covers "IT Users/Contractors". An entry with an empty Path (at the
// root of the directory, or from a source without org units) matches no OU
// matcher.
type ScopeRule struct {
	// Name optionally labels the rule in decisions: `…, per rule "Name"`.
	Name string `json:"name,omitempty"`
	// Action is "include" or "exclude".
	Action string `json:"action"`

	// OUEndsWithUsers is the preset "only OUs whose name ends with user
	// or users" (see IsUserOU): it matches org units such as "IT Users",
	// "Sales department users" and "user", ignoring case and surrounding
	// spaces, but also "Superusers" and "Poweruser", since the rule is
	// exactly what the words say. Put an exclude rule before it to carve
	// out such OUs.
	OUEndsWithUsers bool `json:"ouEndsWithUsers,omitempty"`
	// OU is an org-unit path such as "Europe/Sales", compared element by
	// element with the entry's Path: it matches entries in that org unit
	// and below it. A "/" inside a name is written "\/" and a backslash
	// "\\", as in Active Directory's canonical names.
	OU string `json:"ou,omitempty"`
	// OURegex is matched against the name of each org unit on the path,
	// one at a time (not against the joined path); use OU for paths.
	OURegex string `json:"ouRegex,omitempty"`
	// Group matches members of a group, directly or through nested
	// groups. It names the group by ID, by distinguished name, or by
	// name (the group's displayName, name, cn, sAMAccountName, mail or
	// email attribute). A name can be shared by several groups; use the
	// DN or the ID to be exact.
	Group string `json:"group,omitempty"`
	// Attr names an entry attribute, compared with Equals or Regex. A
	// multi-valued attribute matches when any value does; an attribute
	// the entry lacks is compared as one empty value, so Regex "^$"
	// matches entries without it.
	Attr   string `json:"attr,omitempty"`
	Equals string `json:"equals,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// Decision is the scope decision for one entry.
type Decision struct {
	// In is set when the entry is in scope.
	In bool
	// Reason has the code ReasonIncluded or diff.ReasonOutOfScope and a
	// sentence an admin can act on, naming the rule that decided.
	Reason diff.Reason
	// Rule is the index in ScopeConfig.Rules of the rule that decided, or
	// -1 when no rule matched and the default decided.
	Rule int
}

// maxMisses caps how many unmatched include rules an exclusion explains.
const maxMisses = 3

type scope struct {
	rules          []rule
	defaultInclude bool
	// includes counts the include rules.
	includes int
}

type rule struct {
	name    string
	include bool
	m       matcher
}

// matcher is one kind of scope test. match reports whether the entry
// matches and hands the hit to the sentence builders.
type matcher interface {
	match(e *connector.Entry, dir *connector.Snapshot) (hit, bool)
	// hit returns the sentence for a match by an include or exclude rule.
	hit(e *connector.Entry, h hit, include bool) string
	// miss returns the sentence for an include rule that did not match.
	miss(e *connector.Entry) string
}

// hit carries what matched: the index of the OU on the path, a group's
// label or an attribute's value.
type hit struct {
	index int
	label string
}

func compileScope(c ScopeConfig) (*scope, error) {
	s := &scope{}
	var errs []error
	for i, r := range c.Rules {
		cr, err := compileRule(r)
		if err != nil {
			where := fmt.Sprintf("scope.rules[%d]", i)
			if r.Name != "" {
				where += fmt.Sprintf(" (%q)", r.Name)
			}
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if cr.include {
			s.includes++
		}
		s.rules = append(s.rules, cr)
	}
	switch c.Default {
	case "":
		s.defaultInclude = s.includes == 0
	case ActionInclude:
		s.defaultInclude = true
	case ActionExclude:
	default:
		errs = append(errs, fmt.Errorf("scope.default: unknown value %q (want %q or %q)", c.Default, ActionInclude, ActionExclude))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func compileRule(r ScopeRule) (rule, error) {
	cr := rule{name: strings.TrimSpace(r.Name)}
	var errs []error
	switch r.Action {
	case ActionInclude:
		cr.include = true
	case ActionExclude:
	case "":
		errs = append(errs, fmt.Errorf("action: missing (want %q or %q)", ActionInclude, ActionExclude))
	default:
		errs = append(errs, fmt.Errorf("action: unknown value %q (want %q or %q)", r.Action, ActionInclude, ActionExclude))
	}
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"ouEndsWithUsers", r.OUEndsWithUsers}, {"ou", r.OU != ""}, {"ouRegex", r.OURegex != ""},
		{"group", r.Group != ""}, {"attr", r.Attr != ""},
	} {
		if f.set {
			set = append(set, f.name)
		}
	}
	if r.Attr == "" && (r.Equals != "" || r.Regex != "") {
		errs = append(errs, errors.New("equals and regex need attr"))
	}
	switch len(set) {
	case 0:
		errs = append(errs, errors.New("no matcher: set one of ouEndsWithUsers, ou, ouRegex, group or attr"))
	case 1:
		m, err := compileMatcher(r)
		if err != nil {
			errs = append(errs, err)
		}
		cr.m = m
	default:
		errs = append(errs, fmt.Errorf("several matchers (%s): a rule has exactly one; split it into several rules",
			strings.Join(set, ", ")))
	}
	return cr, errors.Join(errs...)
}

func compileMatcher(r ScopeRule) (matcher, error) {
	switch {
	case r.OUEndsWithUsers:
		return &ouMatcher{
			find:    findUserOU,
			hitWhy:  `name ends with "user" or "users"`,
			missWhy: `only OUs whose name ends with "user" or "users" are synced`,
		}, nil
	case r.OU != "":
		path, err := ParseOUPath(r.OU)
		if err != nil {
			return nil, fmt.Errorf("ou: %w", err)
		}
		return &ouMatcher{
			find:    func(p []string) int { return findSubtree(p, path) },
			missWhy: fmt.Sprintf("only %s and the OUs below it are synced", quote(JoinOUPath(path))),
		}, nil
	case r.OURegex != "":
		re, err := compileRegex(r.OURegex)
		if err != nil {
			return nil, fmt.Errorf("ouRegex: %w", err)
		}
		return &ouMatcher{
			find:    func(p []string) int { return findOU(p, re.MatchString) },
			hitWhy:  fmt.Sprintf("name matches %s", quote(r.OURegex)),
			missWhy: fmt.Sprintf("only OUs whose name matches %s are synced", quote(r.OURegex)),
		}, nil
	case r.Group != "":
		g := strings.TrimSpace(r.Group)
		if g == "" {
			return nil, errors.New("group: blank")
		}
		return &groupMatcher{want: g, dn: connector.NormalizeDN(g)}, nil
	default:
		m := &attrMatcher{attr: strings.TrimSpace(r.Attr)}
		switch {
		case m.attr == "":
			return nil, errors.New("attr: blank")
		case r.Equals != "" && r.Regex != "":
			return nil, errors.New("attr: set equals or regex, not both")
		case r.Regex != "":
			re, err := compileRegex(r.Regex)
			if err != nil {
				return nil, fmt.Errorf("regex: %w", err)
			}
			m.re, m.want = re, fmt.Sprintf("matches %s", quote(r.Regex))
		case r.Equals != "":
			m.equals, m.want = r.Equals, fmt.Sprintf("equals %s", quote(r.Equals))
		default:
			return nil, errors.New(`attr: set equals or regex (regex "^$" matches a missing attribute)`)
		}
		return m, nil
	}
}

func (s *scope) decide(e *connector.Entry, dir *connector.Snapshot) Decision {
	if e == nil {
		return out(-1, "No entry")
	}
	if e.Kind != connector.KindUser && e.Kind != "" {
		return out(-1, fmt.Sprintf("Entry of kind %s is not a user; only users are synced as accounts", quote(string(e.Kind))))
	}
	for i := range s.rules {
		r := &s.rules[i]
		h, ok := r.m.match(e, dir)
		if !ok {
			continue
		}
		d := r.per(r.m.hit(e, h, r.include))
		if r.include {
			return in(i, d)
		}
		return out(i, d)
	}
	switch {
	case len(s.rules) == 0 && s.defaultInclude:
		return in(-1, "No scope rules: every user is synced")
	case s.defaultInclude:
		return in(-1, "No scope rule matched; synced by default")
	case s.includes == 0:
		return out(-1, "No scope rule matched; not synced by default")
	}
	var misses []string
	for i := range s.rules {
		r := &s.rules[i]
		if !r.include {
			continue
		}
		if len(misses) == maxMisses {
			n := s.includes - maxMisses
			misses = append(misses, fmt.Sprintf("%d more include %s did not match", n, plural(n, "rule", "rules")))
			break
		}
		misses = append(misses, r.per(r.m.miss(e)))
	}
	return out(-1, strings.Join(misses, "; "))
}

func (r *rule) per(s string) string {
	if r.name == "" {
		return s
	}
	return fmt.Sprintf("%s, per rule %s", s, quote(r.name))
}

func in(rule int, detail string) Decision {
	return Decision{In: true, Rule: rule, Reason: diff.Reason{Code: ReasonIncluded, Detail: detail}}
}

func out(rule int, detail string) Decision {
	return Decision{Rule: rule, Reason: diff.Reason{Code: diff.ReasonOutOfScope, Detail: detail}}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ouMatcher covers the OUEndsWithUsers, subtree and regex matchers: find returns
// the index on the path of the org unit that matches, or -1.
type ouMatcher struct {
	find            func(path []string) int
	hitWhy, missWhy string
}

func (m *ouMatcher) match(e *connector.Entry, _ *connector.Snapshot) (hit, bool) {
	i := m.find(e.Path)
	return hit{index: i}, i >= 0
}

func (m *ouMatcher) hit(e *connector.Entry, h hit, include bool) string {
	kind := "an excluded"
	if include {
		kind = "a synced"
	}
	why := ""
	if m.hitWhy != "" {
		why = " (" + m.hitWhy + ")"
	}
	p := JoinOUPath(e.Path)
	if h.index == len(e.Path)-1 {
		return fmt.Sprintf("OU %s is %s OU%s", quote(p), kind, why)
	}
	return fmt.Sprintf("OU %s is inside %s OU %s%s", quote(p), strings.TrimPrefix(strings.TrimPrefix(kind, "an "), "a "), quote(JoinOUPath(e.Path[:h.index+1])), why)
}

func (m *ouMatcher) miss(e *connector.Entry) string {
	if len(e.Path) == 0 {
		return fmt.Sprintf("The account is in no OU (%s)", m.missWhy)
	}
	return fmt.Sprintf("The account's OU %s is not synced (%s)", quote(JoinOUPath(e.Path)), m.missWhy)
}

// IsUserOU reports whether an org-unit name ends with "user" or "users",
// ignoring case and surrounding spaces: the test of ScopeRule.OUEndsWithUsers.
func IsUserOU(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	return strings.HasSuffix(n, "user") || strings.HasSuffix(n, "users")
}

func findUserOU(path []string) int { return findOU(path, IsUserOU) }

// findOU returns the index of the innermost org unit on the path that
// satisfies f, or -1.
func findOU(path []string, f func(string) bool) int {
	for i := len(path) - 1; i >= 0; i-- {
		if f(path[i]) {
			return i
		}
	}
	return -1
}

// findSubtree returns the index of the last element of want when path
// starts with it, or -1.
func findSubtree(path, want []string) int {
	if len(want) == 0 || len(path) < len(want) {
		return -1
	}
	for i, w := range want {
		if !strings.EqualFold(strings.TrimSpace(path[i]), w) {
			return -1
		}
	}
	return len(want) - 1
}

// ParseOUPath splits an org-unit path written as in ScopeRule.OU
// ("Europe/Sales") into its names. A backslash escapes the next character,
// so "R\/D" is the single name "R/D". Spaces around names and a leading or
// trailing "/" are ignored; an empty name in the middle is an error.
func ParseOUPath(s string) ([]string, error) {
	var (
		out []string
		cur strings.Builder
	)
	esc := false
	flush := func() {
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == '/':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	if esc {
		return nil, fmt.Errorf("path %q ends with a lone backslash", s)
	}
	flush()
	if len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	if len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("path %q names no OU", s)
	}
	for _, n := range out {
		if n == "" {
			return nil, fmt.Errorf("path %q has an empty OU name", s)
		}
	}
	return out, nil
}

// JoinOUPath writes an org-unit path as ParseOUPath reads it, escaping "/"
// and "\" inside names.
func JoinOUPath(path []string) string {
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('/')
		}
		for _, r := range n {
			if r == '/' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// groupMatcher matches members of a group named by ID, DN or name.
type groupMatcher struct {
	want string
	dn   string
}

// groupNameAttrs are the attributes a group may be named by.
var groupNameAttrs = []string{"displayName", "name", "cn", "sAMAccountName", "mail", "email"}

func (m *groupMatcher) match(e *connector.Entry, dir *connector.Snapshot) (hit, bool) {
	if dir == nil {
		for _, id := range e.MemberOf {
			if strings.EqualFold(id, m.want) {
				return hit{label: m.want}, true
			}
		}
		return hit{}, false
	}
	for _, id := range groupIDs(e, dir) {
		g, ok := dir.Get(id)
		switch {
		case ok && m.names(g):
			return hit{label: groupLabel(g)}, true
		case !ok && strings.EqualFold(id, m.want):
			// A group the snapshot does not hold can still be named
			// by its ID.
			return hit{label: m.want}, true
		}
	}
	return hit{}, false
}

// groupIDs returns the IDs of the entry's groups, transitively, sorted. An
// entry that is not itself in the snapshot contributes its MemberOf.
func groupIDs(e *connector.Entry, dir *connector.Snapshot) []string {
	ids := dir.GroupIDs(e.ID)
	if _, ok := dir.Get(e.ID); ok || len(e.MemberOf) == 0 {
		return ids
	}
	ids = slices.Clone(ids)
	for _, g := range e.MemberOf {
		ids = append(ids, g)
		ids = append(ids, dir.GroupIDs(g)...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func (m *groupMatcher) names(g *connector.Entry) bool {
	if strings.EqualFold(g.ID, m.want) {
		return true
	}
	if g.DN != "" && connector.NormalizeDN(g.DN) == m.dn {
		return true
	}
	for _, a := range groupNameAttrs {
		for _, v := range g.Attrs.Values(a) {
			if strings.EqualFold(strings.TrimSpace(v), m.want) {
				return true
			}
		}
	}
	return false
}

func groupLabel(g *connector.Entry) string {
	for _, a := range []string{"displayName", "name", "cn"} {
		if v := strings.TrimSpace(g.Attr(a)); v != "" {
			return v
		}
	}
	if g.DN != "" {
		return g.DN
	}
	return g.ID
}

func (m *groupMatcher) hit(_ *connector.Entry, h hit, include bool) string {
	if include {
		return "Member of synced group " + quote(h.label)
	}
	return "Member of excluded group " + quote(h.label)
}

func (m *groupMatcher) miss(*connector.Entry) string {
	return "Not a member of synced group " + quote(m.want)
}

// attrMatcher compares an attribute with a value or an expression.
type attrMatcher struct {
	attr   string
	equals string
	re     *regexp.Regexp
	// want describes the test: `equals "x"` or `matches "re"`.
	want string
}

func (m *attrMatcher) values(e *connector.Entry) []string {
	vs := e.Attrs.Values(m.attr)
	if len(vs) == 0 {
		return []string{""}
	}
	return vs
}

func (m *attrMatcher) match(e *connector.Entry, _ *connector.Snapshot) (hit, bool) {
	for _, v := range m.values(e) {
		if m.re != nil && m.re.MatchString(v) || m.re == nil && strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(m.equals)) {
			return hit{label: v}, true
		}
	}
	return hit{}, false
}

func (m *attrMatcher) hit(_ *connector.Entry, h hit, include bool) string {
	kind := "excluded"
	if include {
		kind = "synced"
	}
	return fmt.Sprintf("%s (%s: %s %s)", m.describe([]string{h.label}), kind, m.attr, m.want)
}

func (m *attrMatcher) miss(e *connector.Entry) string {
	return fmt.Sprintf("%s (synced only when %s %s)", m.describe(e.Attrs.Values(m.attr)), m.attr, m.want)
}

// describe renders "Attribute employeeType is "Staff"" for up to three
// values.
func (m *attrMatcher) describe(vs []string) string {
	var quoted []string
	for _, v := range vs {
		if v == "" {
			continue
		}
		if len(quoted) == maxMisses {
			quoted = append(quoted, "…")
			break
		}
		quoted = append(quoted, quote(v))
	}
	if len(quoted) == 0 {
		return fmt.Sprintf("Attribute %s is empty", m.attr)
	}
	return fmt.Sprintf("Attribute %s is %s", m.attr, strings.Join(quoted, ", "))
}

// quote puts a value in double quotes for a sentence an admin reads. Unlike
// %q it leaves backslashes alone, so that "R\/D" and `^r&d\b` read as
// written; values with quotes or control characters fall back to
// strconv.Quote so that a directory value cannot forge a sentence.
func quote(s string) string {
	for _, r := range s {
		if r == '"' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}
