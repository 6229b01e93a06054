package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// TargetExternalID is the rule target that replaces the join key.
const TargetExternalID = diff.FieldExternalID

// RuleMapper is the Mapper a Spec describes. It is safe for concurrent use
// with different snapshots; a Snapshot itself is not safe for concurrent
// use.
type RuleMapper struct {
	spec   Spec
	rules  []*rule
	roles  []roleLink
	fields []string
	extID  bool // a rule targets externalId
	lookup bool // a rule uses Lookup
}

var _ Mapper = (*RuleMapper)(nil)

// rule is a compiled Rule.
type rule struct {
	target     string
	from       []string
	value      string
	tmpl       *template
	fromPath   bool
	lookup     string
	split      string
	skip       int
	suffixes   []string
	transforms []transform
}

type roleLink struct {
	name string // lower case, for IDs and names
	dn   string // normDN form
	role string
}

// New validates spec and compiles it. Every problem is reported, each as a
// *RuleError naming the rule, joined with errors.Join; all of them wrap
// ErrInvalidSpec.
func New(spec Spec) (*RuleMapper, error) {
	spec = spec.clone()
	m := &RuleMapper{spec: spec}
	var errs []error
	if len(spec.Rules) == 0 && len(spec.Roles) == 0 {
		errs = append(errs, &RuleError{Index: -1, Err: errors.New("no rules and no role links")})
	}
	owned := map[string]bool{}
	for i, r := range spec.Rules {
		cr, err := compileRule(r)
		if err != nil {
			errs = append(errs, &RuleError{Index: i, Target: r.Target, Err: err})
			continue
		}
		m.rules = append(m.rules, cr)
		if cr.lookup != "" {
			m.lookup = true
		}
		if cr.target == TargetExternalID {
			m.extID = true
		} else {
			owned[cr.target] = true
		}
	}
	for i, l := range spec.Roles {
		if err := checkRoleLink(l); err != nil {
			errs = append(errs, &RuleError{Index: i, Target: diff.FieldRoles, Err: err})
			continue
		}
		m.roles = append(m.roles, roleLink{
			name: strings.ToLower(strings.TrimSpace(l.Group)),
			dn:   normDN(l.Group),
			role: strings.TrimSpace(l.Role),
		})
		owned[diff.FieldRoles] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.fields = make([]string, 0, len(owned))
	for f := range owned {
		m.fields = append(m.fields, f)
	}
	slices.Sort(m.fields)
	return m, nil
}

func checkRoleLink(l RoleLink) error {
	if strings.TrimSpace(l.Group) == "" {
		return errors.New("empty group")
	}
	if strings.TrimSpace(l.Role) == "" {
		return fmt.Errorf("group %q: empty role", l.Group)
	}
	if !utf8.ValidString(l.Group) || !utf8.ValidString(l.Role) {
		return errors.New("group or role is not valid UTF-8")
	}
	return nil
}

// Spec returns a copy of the spec the mapper was built from.
func (m *RuleMapper) Spec() Spec { return m.spec.clone() }

// Fields returns the fields the mapper owns, sorted: the targets of its
// rules (except externalId) and "roles" when it has role links. The result
// is never nil, so an empty list is never mistaken for "all fields".
func (m *RuleMapper) Fields() []string {
	return append([]string{}, m.fields...)
}

// checkTarget accepts the targets a rule may fill.
func checkTarget(t string) error {
	switch {
	case t == "":
		return errors.New("empty target")
	case t == diff.FieldRoles:
		return errors.New(`target "roles" is set by role links ("roles" in the spec), not by a rule`)
	case t == TargetExternalID:
		return nil
	case strings.HasPrefix(t, diff.ExtraPrefix):
		k := strings.TrimPrefix(t, diff.ExtraPrefix)
		if k == "" || strings.TrimSpace(k) != k || !utf8.ValidString(k) || strings.IndexFunc(k, unicode.IsControl) >= 0 {
			return fmt.Errorf("bad extra field name %q", t)
		}
		return nil
	case slices.Contains(diff.Fields, t):
		return nil
	}
	for _, f := range append(slices.Clone(diff.Fields), TargetExternalID) {
		if strings.EqualFold(f, t) {
			return fmt.Errorf("unknown target %q (did you mean %q?)", t, f)
		}
	}
	return fmt.Errorf("unknown target %q (known: %s, %s, extra.<key>)",
		t, strings.Join(slices.DeleteFunc(slices.Clone(diff.Fields), func(f string) bool { return f == diff.FieldRoles }), ", "), TargetExternalID)
}

func compileRule(r Rule) (*rule, error) {
	if err := checkTarget(r.Target); err != nil {
		return nil, err
	}
	// Attribute names are case-insensitive; connector.Attrs stores them in
	// lower case, so compile them that way once.
	from := make([]string, len(r.From))
	for i, f := range r.From {
		from[i] = strings.ToLower(f)
	}
	cr := &rule{target: r.Target, from: from, value: r.Value, fromPath: r.FromPath,
		lookup: strings.ToLower(r.Lookup), split: r.Split, skip: r.Skip}

	sources := 0
	if len(r.From) > 0 {
		sources++
		for _, a := range r.From {
			if err := checkAttrName(a); err != nil {
				return nil, fmt.Errorf("from: %w", err)
			}
		}
	}
	if r.Value != "" {
		sources++
		if !utf8.ValidString(r.Value) {
			return nil, errors.New("value is not valid UTF-8")
		}
	}
	if r.Template != "" {
		sources++
		if !utf8.ValidString(r.Template) {
			return nil, errors.New("template is not valid UTF-8")
		}
		t, err := parseTemplate(r.Template)
		if err != nil {
			return nil, err
		}
		cr.tmpl = t
	}
	if r.FromPath {
		sources++
	}
	switch {
	case sources == 0:
		return nil, errors.New("no source: set one of from, value, template, fromPath")
	case sources > 1:
		return nil, errors.New("more than one source: set only one of from, value, template, fromPath")
	}

	if r.Lookup != "" {
		if len(r.From) == 0 {
			return nil, fmt.Errorf("lookup %q needs from: the attribute holding the reference", r.Lookup)
		}
		if err := checkAttrName(r.Lookup); err != nil {
			return nil, fmt.Errorf("lookup: %w", err)
		}
	}

	dept := r.Target == diff.FieldDepartment
	for _, o := range []struct {
		set  bool
		name string
	}{
		{r.FromPath, "fromPath"}, {r.Split != "", "split"}, {r.Skip != 0, "skip"}, {len(r.TrimSuffixes) > 0, "trimSuffixes"},
	} {
		if o.set && !dept {
			return nil, fmt.Errorf("%s applies only to the %q target", o.name, diff.FieldDepartment)
		}
	}
	if r.Skip < 0 {
		return nil, fmt.Errorf("negative skip %d", r.Skip)
	}
	if !utf8.ValidString(r.Split) {
		return nil, errors.New("split is not valid UTF-8")
	}
	for _, s := range r.TrimSuffixes {
		if strings.TrimSpace(s) == "" || !utf8.ValidString(s) {
			return nil, fmt.Errorf("bad trimSuffixes entry %q", s)
		}
		cr.suffixes = append(cr.suffixes, strings.ToLower(strings.TrimSpace(s)))
	}

	for _, name := range r.Transforms {
		t, err := parseTransform(name)
		if err != nil {
			return nil, err
		}
		cr.transforms = append(cr.transforms, t)
	}
	return cr, nil
}

// Map builds the account e should have. It returns ErrNilEntry for a nil
// entry and never fails otherwise.
func (m *RuleMapper) Map(e *connector.Entry, dir *connector.Snapshot) (diff.Account, error) {
	if e == nil {
		return diff.Account{}, ErrNilEntry
	}
	var a diff.Account
	if !m.extID {
		a.ExternalID = e.ID
	}
	var idx *dnIndex
	if m.lookup && dir != nil {
		idx = m.dnIndex(dir)
	}
	for _, r := range m.rules {
		// Several rules may share a target: the first non-empty result
		// wins, and every result set is non-empty.
		if isSet(&a, r.target) {
			continue
		}
		if r.target == diff.FieldDepartment {
			if p := r.path(e, dir, idx); len(p) > 0 {
				a.Department = p
			}
			continue
		}
		if v := r.apply(r.source(e, dir, idx)); v != "" {
			setField(&a, r.target, v)
		}
	}
	if len(m.roles) > 0 && dir != nil {
		a.Roles = m.rolesOf(e, dir)
	}
	return a, nil
}

func isSet(a *diff.Account, target string) bool {
	switch target {
	case TargetExternalID:
		return a.ExternalID != ""
	case diff.FieldDepartment:
		return len(a.Department) > 0
	}
	return a.Get(target) != ""
}

func setField(a *diff.Account, target, v string) {
	switch target {
	case TargetExternalID:
		a.ExternalID = v
	case diff.FieldUsername:
		a.Username = v
	case diff.FieldEmail:
		a.Email = v
	case diff.FieldGivenName:
		a.GivenName = v
	case diff.FieldFamilyName:
		a.FamilyName = v
	case diff.FieldDisplayName:
		a.DisplayName = v
	case diff.FieldTitle:
		a.Title = v
	case diff.FieldPhone:
		a.Phone = v
	case diff.FieldManager:
		a.Manager = v
	default:
		if k, ok := strings.CutPrefix(target, diff.ExtraPrefix); ok {
			if a.Extra == nil {
				a.Extra = map[string]string{}
			}
			a.Extra[k] = v
		}
	}
}

// source returns the rule's raw value, trimmed.
func (r *rule) source(e *connector.Entry, dir *connector.Snapshot, idx *dnIndex) string {
	switch {
	case r.tmpl != nil:
		return r.tmpl.render(e)
	case r.value != "":
		return strings.TrimSpace(r.value)
	}
	for _, name := range r.from {
		v := strings.TrimSpace(e.Attr(name))
		if v != "" && r.lookup != "" {
			v = ""
			if ref := resolve(e.Attr(name), dir, idx); ref != nil {
				v = strings.TrimSpace(ref.Attr(r.lookup))
			}
		}
		if v != "" {
			return v
		}
	}
	return ""
}

// apply runs the transforms; the result is trimmed.
func (r *rule) apply(v string) string {
	for _, t := range r.transforms {
		if v == "" {
			return ""
		}
		v = t(v)
	}
	return strings.TrimSpace(v)
}

// path computes a department path.
func (r *rule) path(e *connector.Entry, dir *connector.Snapshot, idx *dnIndex) []string {
	if r.fromPath {
		return r.pathOf("", e.Path)
	}
	return r.pathOf(r.source(e, dir, idx), nil)
}

// pathOf makes a department path of elems or, when elems is nil, of the
// attribute value v split on the rule's separator.
func (r *rule) pathOf(v string, elems []string) []string {
	if elems == nil {
		if r.split != "" {
			elems = strings.Split(v, r.split)
		} else {
			elems = []string{v}
		}
	}
	var out []string
	for _, el := range elems {
		el = strings.TrimSpace(el)
		if el == "" {
			continue
		}
		out = append(out, el)
	}
	if r.skip >= len(out) {
		return nil
	}
	out = out[r.skip:]
	res := make([]string, 0, len(out))
	for _, el := range out {
		el = r.apply(trimSuffix(el, r.suffixes))
		if el != "" {
			res = append(res, el)
		}
	}
	if len(res) == 0 {
		return nil
	}
	return res
}

// trimSuffix removes the first of the lower-case suffixes that el ends with,
// case-insensitively, and the white space, "-", "_" or "." left before it. A
// suffix starting with a letter or digit must be the whole element or follow
// a character that is neither.
func trimSuffix(el string, suffixes []string) string {
	for _, s := range suffixes {
		n := utf8.RuneCountInString(s)
		cut := len(el)
		for i := 0; i < n && cut > 0; i++ {
			_, size := utf8.DecodeLastRuneInString(el[:cut])
			cut -= size
		}
		if utf8.RuneCountInString(el[cut:]) != n || !strings.EqualFold(el[cut:], s) {
			continue
		}
		rest := el[:cut]
		first, _ := utf8.DecodeRuneInString(s)
		last, _ := utf8.DecodeLastRuneInString(rest)
		if rest != "" && isWordRune(first) && isWordRune(last) {
			continue
		}
		return strings.TrimRightFunc(rest, func(r rune) bool {
			return unicode.IsSpace(r) || r == '-' || r == '_' || r == '.'
		})
	}
	return el
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// resolve finds the entry a reference names: by ID, else by DN.
func resolve(ref string, dir *connector.Snapshot, idx *dnIndex) *connector.Entry {
	if dir == nil {
		return nil
	}
	if e, ok := dir.Get(ref); ok {
		return e
	}
	if t := strings.TrimSpace(ref); t != ref {
		if e, ok := dir.Get(t); ok {
			return e
		}
	}
	return idx.get(ref)
}

// dnIndex returns the DN index of dir, building it on first use. The index
// is kept in the snapshot (Snapshot.Memo), so it lives as long as the
// snapshot and no longer: a mapper holds nothing of a finished read. It
// maps each DN as the directory spelled it; the normalised index, for
// references spelled another way, is built on the first miss.
func (m *RuleMapper) dnIndex(dir *connector.Snapshot) *dnIndex {
	return dir.Memo(dnIndexKey{}, func() any {
		idx := &dnIndex{dir: dir, raw: make(map[string]*connector.Entry, len(dir.Users())+len(dir.Groups()))}
		idx.each(func(e *connector.Entry) {
			if _, dup := idx.raw[e.DN]; !dup {
				idx.raw[e.DN] = e
			}
		})
		return idx
	}).(*dnIndex)
}

// dnIndexKey is the Snapshot.Memo key of the DN index.
type dnIndexKey struct{}

// dnIndex finds entries by DN.
type dnIndex struct {
	dir  *connector.Snapshot
	raw  map[string]*connector.Entry
	once sync.Once
	norm map[string]*connector.Entry
}

func (x *dnIndex) each(f func(*connector.Entry)) {
	for _, list := range [][]*connector.Entry{x.dir.Users(), x.dir.Groups()} {
		for _, e := range list {
			if e.DN != "" {
				f(e)
			}
		}
	}
}

func (x *dnIndex) get(dn string) *connector.Entry {
	if x == nil {
		return nil
	}
	if e, ok := x.raw[dn]; ok {
		return e
	}
	x.once.Do(func() {
		x.norm = map[string]*connector.Entry{}
		x.each(func(e *connector.Entry) {
			k := normDN(e.DN)
			if _, dup := x.norm[k]; !dup {
				x.norm[k] = e
			}
		})
	})
	return x.norm[normDN(dn)]
}

// rolesOf returns the sorted, distinct roles the entry's groups grant.
func (m *RuleMapper) rolesOf(e *connector.Entry, dir *connector.Snapshot) []string {
	var roles []string
	for _, g := range dir.GroupsOf(e.ID) {
		if g == nil {
			continue
		}
		names := []string{strings.ToLower(g.ID)}
		for _, attr := range groupNameAttrs {
			for _, v := range g.Attrs.Values(attr) {
				names = append(names, strings.ToLower(strings.TrimSpace(v)))
			}
		}
		dn := ""
		if g.DN != "" {
			dn = normDN(g.DN)
		}
		for _, l := range m.roles {
			if (dn != "" && l.dn == dn) || slices.Contains(names, l.name) {
				roles = append(roles, l.role)
			}
		}
	}
	if len(roles) == 0 {
		return nil
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}

// groupNameAttrs are the attributes a RoleLink's Group is compared with.
var groupNameAttrs = []string{"cn", "name", "displayName", "sAMAccountName", "mail", "email"}
