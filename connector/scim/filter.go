package scim

import (
	"cmp"
	"encoding/json"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// maxFilterLen caps a filter or path expression; longer ones are refused
// before parsing. maxFilterClauses caps the comparisons of one filter, so
// that a filter of many "or" clauses cannot make a list evaluate
// thousands of comparisons per resource.
const (
	maxFilterLen     = 4096
	maxFilterClauses = 64
)

// parseFilter parses a filter expression (RFC 7644 section 3.4.2.2) with
// github.com/scim2/filter-parser/v2 and checks every attribute it names
// against rt's schema. An expression that does not parse, names an unknown
// attribute or compares a value of the wrong type is an invalidFilter
// error: a filter is never ignored, so it never turns into a full listing.
func (rt *resourceType) parseFilter(s string) (e filter.Expression, err error) {
	if len(s) > maxFilterLen {
		return nil, badRequest(scimInvalidFilter, "the filter is longer than %d bytes", maxFilterLen)
	}
	defer func() {
		if v := recover(); v != nil { // the parser must not take the server down
			e, err = nil, badRequest(scimInvalidFilter, "the filter cannot be parsed")
		}
	}()
	e, err = filter.ParseFilter([]byte(normalizeFilter(s)))
	if err != nil {
		return nil, badRequest(scimInvalidFilter, "the filter cannot be parsed")
	}
	if n := countClauses(e); n > maxFilterClauses {
		return nil, badRequest(scimInvalidFilter, "the filter has %d comparisons; at most %d are allowed", n, maxFilterClauses)
	}
	if err := unescapeFilter(e); err != nil {
		return nil, err
	}
	if err := rt.checkFilter(e, nil); err != nil {
		return nil, err
	}
	return e, nil
}

// countClauses returns the number of comparisons in e.
func countClauses(e filter.Expression) int {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return countClauses(x.Left) + countClauses(x.Right)
	case *filter.NotExpression:
		return countClauses(x.Expression)
	case *filter.ValuePath:
		return countClauses(x.ValueFilter)
	}
	return 1
}

// unescapeFilter decodes the JSON escapes of the string values in e
// (RFC 7644 section 3.4.2.2: a compValue is a JSON string), which the
// parser leaves as written: userName eq "a\"b" compares with a"b.
func unescapeFilter(e filter.Expression) error {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if err := unescapeFilter(x.Left); err != nil {
			return err
		}
		return unescapeFilter(x.Right)
	case *filter.NotExpression:
		return unescapeFilter(x.Expression)
	case *filter.ValuePath:
		return unescapeFilter(x.ValueFilter)
	case *filter.AttributeExpression:
		s, ok := x.CompareValue.(string)
		if !ok || !strings.Contains(s, `\`) {
			return nil
		}
		var u string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &u); err != nil {
			return badRequest(scimInvalidFilter, "a value of the filter is not a valid JSON string")
		}
		x.CompareValue = u
	}
	return nil
}

// filterAttr is what an attribute path in a filter resolves to.
type filterAttr struct {
	special string // "id", "externalId", "meta.created", … for values kept outside the document
	a       *attr  // the attribute compared (a sub-attribute where named)
	parent  *attr  // the attribute holding it, when a is a sub-attribute
	contnr  string // document container ("" or an extension URN)
}

var (
	idAttr       = &attr{name: "id", typ: tString, caseExact: true}
	externalAttr = &attr{name: "externalId", typ: tString, caseExact: true}
	metaDate     = &attr{name: "meta", typ: tDateTime}
	metaString   = &attr{name: "meta", typ: tString, caseExact: true}
)

// resolveFilterAttr resolves an attribute path of a filter. within is the
// multi-valued attribute a value filter applies to (emails[type eq
// "work"]), whose sub-attributes the path then names; nil at top level.
func (rt *resourceType) resolveFilterAttr(ap filter.AttributePath, within *attr) (filterAttr, error) {
	if within != nil {
		if ap.URIPrefix != nil || ap.SubAttribute != nil {
			return filterAttr{}, badRequest(scimInvalidFilter, "unsupported attribute %q in a value filter", clip(ap.String()))
		}
		s := within.find(ap.AttributeName)
		if s == nil {
			return filterAttr{}, badRequest(scimInvalidFilter, "unknown attribute %q of %s", clip(ap.AttributeName), within.name)
		}
		return filterAttr{a: s}, nil
	}
	sch, container := rt.core, ""
	if uri := ap.URI(); uri != "" {
		switch {
		case strings.EqualFold(uri, rt.core.id):
		case rt.ext(uri) != nil:
			sch, container = rt.ext(uri), rt.ext(uri).id
		default:
			return filterAttr{}, badRequest(scimInvalidFilter, "unknown schema %q", clip(uri))
		}
	}
	name, sub := ap.AttributeName, ap.SubAttributeName()
	if container == "" {
		switch {
		case strings.EqualFold(name, "id") && sub == "":
			return filterAttr{special: "id", a: idAttr}, nil
		case strings.EqualFold(name, "externalId") && sub == "":
			return filterAttr{special: "externalId", a: externalAttr}, nil
		case strings.EqualFold(name, "meta"):
			switch strings.ToLower(sub) {
			case "created", "lastmodified":
				return filterAttr{special: "meta." + strings.ToLower(sub), a: metaDate}, nil
			case "resourcetype", "version", "location":
				return filterAttr{special: "meta." + strings.ToLower(sub), a: metaString}, nil
			}
			return filterAttr{}, badRequest(scimInvalidFilter, "unknown attribute %q", clip(ap.String()))
		}
	}
	a := sch.find(name)
	if a == nil && ap.URI() == "" {
		// An extension attribute named without its URN (normalize.go).
		if bs, bc := rt.resolveBare(name); bs != nil && bs != rt.core {
			sch, container, a = bs, bc, bs.find(name)
		}
	}
	if a == nil || a.writeOnly {
		return filterAttr{}, badRequest(scimInvalidFilter, "unknown attribute %q", clip(ap.String()))
	}
	if sub != "" {
		s := a.find(sub)
		if a.typ != tComplex || s == nil {
			return filterAttr{}, badRequest(scimInvalidFilter, "unknown attribute %q", clip(ap.String()))
		}
		return filterAttr{a: s, parent: a, contnr: container}, nil
	}
	if a.typ == tComplex {
		// emails eq "x" compares emails.value; manager eq "id" compares
		// manager.value (the Entra tutorial asks for querying users by
		// manager:
		// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
		if v := a.find("value"); v != nil {
			return filterAttr{a: v, parent: a, contnr: container}, nil
		}
		return filterAttr{}, badRequest(scimInvalidFilter, "attribute %q is complex; name a sub-attribute", a.name)
	}
	return filterAttr{a: a, contnr: container}, nil
}

// checkFilter validates every attribute expression of e.
func (rt *resourceType) checkFilter(e filter.Expression, within *attr) error {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if err := rt.checkFilter(x.Left, within); err != nil {
			return err
		}
		return rt.checkFilter(x.Right, within)
	case *filter.NotExpression:
		return rt.checkFilter(x.Expression, within)
	case *filter.ValuePath:
		if within != nil {
			return badRequest(scimInvalidFilter, "nested value filters are not supported")
		}
		fa, err := rt.resolveFilterAttr(x.AttributePath, nil)
		if err != nil {
			return err
		}
		if fa.parent == nil || !fa.parent.multi || x.AttributePath.SubAttribute != nil {
			return badRequest(scimInvalidFilter, "a value filter needs a multi-valued complex attribute")
		}
		return rt.checkFilter(x.ValueFilter, fa.parent)
	case *filter.AttributeExpression:
		fa, err := rt.resolveFilterAttr(x.AttributePath, within)
		if err != nil {
			return err
		}
		return checkCompare(fa.a, x.Operator, x.CompareValue)
	}
	return badRequest(scimInvalidFilter, "unsupported filter")
}

func checkCompare(a *attr, op filter.CompareOperator, v any) error {
	if op == filter.PR {
		return nil
	}
	switch a.typ {
	case tBoolean:
		if op != filter.EQ && op != filter.NE {
			return badRequest(scimInvalidFilter, "%s is a boolean: only eq and ne apply", a.name)
		}
		if _, ok := boolValue(v); !ok {
			return badRequest(scimInvalidFilter, "%s is a boolean: compare it with true or false", a.name)
		}
	case tDateTime:
		s, ok := v.(string)
		if !ok {
			return badRequest(scimInvalidFilter, "%s is a dateTime: compare it with a string", a.name)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return badRequest(scimInvalidFilter, "%s is a dateTime: the value is not RFC 3339", a.name)
		}
		switch op {
		case filter.CO, filter.SW, filter.EW:
			return badRequest(scimInvalidFilter, "%s is a dateTime: %s does not apply", a.name, op)
		}
	case tInteger:
		if _, ok := number(v); !ok {
			return badRequest(scimInvalidFilter, "%s is an integer: compare it with a number", a.name)
		}
	default:
		if _, ok := v.(string); !ok {
			return badRequest(scimInvalidFilter, "%s is a string: compare it with a string", a.name)
		}
	}
	return nil
}

// filterSubject is what a filter is evaluated against: a stored resource,
// or one value of a multi-valued attribute.
type filterSubject struct {
	rt   *resourceType
	rec  *record
	item map[string]any
	in   *attr // the multi-valued attribute item belongs to
}

// values returns the values the attribute path names in the subject.
func (fs filterSubject) values(ap filter.AttributePath) ([]any, *attr) {
	fa, err := fs.rt.resolveFilterAttr(ap, fs.in)
	if err != nil {
		return nil, nil // checked before evaluation
	}
	if fs.item != nil {
		return nonNil(fs.item[fa.a.name]), fa.a
	}
	return recordValues(fs.rec, fa), fa.a
}

// recordValues returns the values the resolved attribute path fa names in
// the stored resource r.
func recordValues(r *record, fa filterAttr) []any {
	switch fa.special {
	case "id":
		return []any{r.ID}
	case "externalId":
		return nonNil(r.doc["externalId"])
	case "meta.created":
		return []any{r.Created.UTC().Format(time.RFC3339Nano)}
	case "meta.lastmodified":
		return []any{r.Modified.UTC().Format(time.RFC3339Nano)}
	case "meta.resourcetype":
		return []any{r.Type}
	case "meta.version":
		return []any{r.version()}
	case "meta.location":
		return nil
	}
	m := containerOf(r.doc, fa.contnr, false)
	if fa.parent == nil {
		v := m[fa.a.name]
		if l, ok := v.([]any); ok {
			return l
		}
		return nonNil(v)
	}
	switch pv := m[fa.parent.name].(type) {
	case map[string]any:
		return nonNil(pv[fa.a.name])
	case []any:
		var out []any
		for _, it := range pv {
			if im, ok := it.(map[string]any); ok && im[fa.a.name] != nil {
				out = append(out, im[fa.a.name])
			}
		}
		return out
	}
	return nil
}

func nonNil(v any) []any {
	if v == nil {
		return nil
	}
	return []any{v}
}

// compileFilter returns the checked filter e as a predicate on a stored
// resource, with every attribute path resolved once: a list evaluates it
// for every resource. It answers as filterSubject.eval does (FuzzFilter
// compares them).
func (rt *resourceType) compileFilter(e filter.Expression) func(*record) bool {
	never := func(*record) bool { return false }
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, r := rt.compileFilter(x.Left), rt.compileFilter(x.Right)
		if x.Operator == filter.AND {
			return func(rec *record) bool { return l(rec) && r(rec) }
		}
		return func(rec *record) bool { return l(rec) || r(rec) }
	case *filter.NotExpression:
		f := rt.compileFilter(x.Expression)
		return func(rec *record) bool { return !f(rec) }
	case *filter.ValuePath:
		fa, err := rt.resolveFilterAttr(x.AttributePath, nil)
		if err != nil || fa.parent == nil {
			return never
		}
		inner := compileItemFilter(x.ValueFilter, fa.parent)
		return func(rec *record) bool {
			list, _ := containerOf(rec.doc, fa.contnr, false)[fa.parent.name].([]any)
			for _, it := range list {
				if im, ok := it.(map[string]any); ok && inner(im) {
					return true
				}
			}
			return false
		}
	case *filter.AttributeExpression:
		fa, err := rt.resolveFilterAttr(x.AttributePath, nil)
		if err != nil {
			return never
		}
		op, want := x.Operator, x.CompareValue
		return func(rec *record) bool {
			vals := recordValues(rec, fa)
			if op == filter.PR {
				for _, v := range vals {
					if s, ok := v.(string); !ok || s != "" {
						return true
					}
				}
				return false
			}
			hit := false
			for _, v := range vals {
				if compare(fa.a, op, v, want) {
					hit = true
					break
				}
			}
			if op == filter.NE {
				return !hit
			}
			return hit
		}
	}
	return never
}

// eval evaluates a checked filter against the subject.
func (fs filterSubject) eval(e filter.Expression) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return fs.eval(x.Left) && fs.eval(x.Right)
		}
		return fs.eval(x.Left) || fs.eval(x.Right)
	case *filter.NotExpression:
		return !fs.eval(x.Expression)
	case *filter.ValuePath:
		fa, err := fs.rt.resolveFilterAttr(x.AttributePath, nil)
		if err != nil || fa.parent == nil {
			return false
		}
		list, _ := containerOf(fs.rec.doc, fa.contnr, false)[fa.parent.name].([]any)
		for _, it := range list {
			im, ok := it.(map[string]any)
			if ok && (filterSubject{rt: fs.rt, item: im, in: fa.parent}).eval(x.ValueFilter) {
				return true
			}
		}
		return false
	case *filter.AttributeExpression:
		vals, a := fs.values(x.AttributePath)
		if a == nil {
			return false
		}
		if x.Operator == filter.PR {
			for _, v := range vals {
				if s, ok := v.(string); !ok || s != "" {
					return true
				}
			}
			return false
		}
		any := false
		for _, v := range vals {
			if compare(a, x.Operator, v, x.CompareValue) {
				any = true
				break
			}
		}
		if x.Operator == filter.NE {
			// ne holds when no value equals (compare reports eq for ne).
			return !any
		}
		return any
	}
	return false
}

// compare reports whether have op want holds; for ne it reports equality
// (the caller negates over all values).
func compare(a *attr, op filter.CompareOperator, have, want any) bool {
	switch a.typ {
	case tBoolean:
		h, ok1 := boolValue(have)
		w, ok2 := boolValue(want)
		return ok1 && ok2 && h == w
	case tInteger:
		h, ok1 := number(have)
		w, ok2 := number(want)
		if !ok1 || !ok2 {
			return false
		}
		return order(op, cmp.Compare(h, w))
	case tDateTime:
		hs, _ := have.(string)
		ws, _ := want.(string)
		h, err1 := time.Parse(time.RFC3339Nano, hs)
		w, err2 := time.Parse(time.RFC3339Nano, ws)
		if err1 != nil || err2 != nil {
			return false
		}
		return order(op, h.Compare(w))
	}
	h, ok1 := have.(string)
	w, ok2 := want.(string)
	if !ok1 || !ok2 {
		return false
	}
	if !a.caseExact {
		// Case-insensitive, and one Unicode spelling, as userName
		// uniqueness is checked (foldUserName).
		if op == filter.EQ || op == filter.NE {
			return equalFold(h, w)
		}
		h, w = foldString(h), foldString(w)
	}
	switch op {
	case filter.CO:
		return strings.Contains(h, w)
	case filter.SW:
		return strings.HasPrefix(h, w)
	case filter.EW:
		return strings.HasSuffix(h, w)
	}
	return order(op, strings.Compare(h, w))
}

func order(op filter.CompareOperator, c int) bool {
	switch op {
	case filter.EQ, filter.NE:
		return c == 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}

func boolValue(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string: // "True"/"False", as Entra writes booleans
		switch strings.ToLower(x) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// eqClauses returns the sub-attribute values an "a eq x and b eq y" value
// filter pins down, or false when the filter is anything else.
func eqClauses(e filter.Expression, within *attr, out map[string]any) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return x.Operator == filter.AND && eqClauses(x.Left, within, out) && eqClauses(x.Right, within, out)
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ || x.AttributePath.URIPrefix != nil || x.AttributePath.SubAttribute != nil {
			return false
		}
		s := within.find(x.AttributePath.AttributeName)
		if s == nil {
			return false
		}
		v, err := coerceOne(s, x.CompareValue)
		if err != nil || v == nil {
			return false
		}
		out[s.name] = v
		return true
	}
	return false
}
