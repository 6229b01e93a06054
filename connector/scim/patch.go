package scim

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// pathTarget is a resolved PATCH path (RFC 7644 section 3.5.2).
type pathTarget struct {
	container string            // "" for the core schema, else the extension URN
	a         *attr             // the attribute; nil when the path is a whole extension
	sub       *attr             // name.givenName: the sub-attribute of a single complex a
	filter    filter.Expression // emails[type eq "work"]: the value filter on a multi-valued a
	fsub      *attr             // emails[type eq "work"].value: the sub-attribute after the filter
	raw       string            // an attribute no schema declares, stored as sent (normalize.go); a is nil
	rawWhole  bool              // the whole of an undeclared extension (container); a is nil
}

// parsePath parses and resolves a PATCH path with
// github.com/scim2/filter-parser/v2. Anything it cannot resolve against
// rt's schema is an invalidPath error.
func (rt *resourceType) parsePath(s string) (t pathTarget, err error) {
	if len(s) > maxFilterLen {
		return pathTarget{}, badRequest(scimInvalidPath, "the path is longer than %d bytes", maxFilterLen)
	}
	// A path that is an extension URN itself: the whole extension.
	if ext := rt.ext(s); ext != nil {
		return pathTarget{container: ext.id}, nil
	}
	if isUndeclaredURN(rt, s) {
		return pathTarget{container: s, rawWhole: true}, nil
	}
	defer func() {
		if v := recover(); v != nil {
			t, err = pathTarget{}, badRequest(scimInvalidPath, "the path cannot be parsed")
		}
	}()
	p, perr := filter.ParsePath([]byte(s))
	if perr != nil {
		return pathTarget{}, badRequest(scimInvalidPath, "the path %q cannot be parsed", clip(s))
	}
	ap := p.AttributePath
	sch, container := rt.core, ""
	simple := ap.SubAttribute == nil && p.ValueExpression == nil && p.SubAttribute == nil
	if uri := ap.URI(); uri != "" {
		switch {
		case strings.EqualFold(uri, rt.core.id):
		case rt.ext(uri) != nil:
			sch, container = rt.ext(uri), rt.ext(uri).id
		case isUndeclaredURN(rt, uri) && simple && validAttrName(ap.AttributeName):
			return pathTarget{container: uri, raw: ap.AttributeName}, nil
		default:
			return pathTarget{}, badRequest(scimInvalidPath, "unknown schema in path %q", clip(s))
		}
	}
	a := sch.find(ap.AttributeName)
	if a == nil && container == "" && ap.URI() == "" {
		// An extension attribute named without its URN (normalize.go).
		if bs, bc := rt.resolveBare(ap.AttributeName); bs != nil && bs != rt.core {
			sch, container, a = bs, bc, bs.find(ap.AttributeName)
		}
	}
	if a == nil && container == "" && ap.SubAttribute == nil && p.ValueExpression == nil {
		// The common attributes (RFC 7643 section 3.1).
		switch {
		case strings.EqualFold(ap.AttributeName, "externalId"):
			a = externalAttr
		case strings.EqualFold(ap.AttributeName, "id"), strings.EqualFold(ap.AttributeName, "meta"):
			return pathTarget{}, &protoError{status: 400, scimType: scimMutability, detail: ap.AttributeName + " is read-only"}
		}
	}
	if a == nil && simple && validAttrName(ap.AttributeName) {
		// An attribute no schema declares: stored as sent (normalize.go).
		return pathTarget{container: container, raw: ap.AttributeName}, nil
	}
	if a == nil {
		return pathTarget{}, badRequest(scimInvalidPath, "unknown attribute in path %q", clip(s))
	}
	t = pathTarget{container: container, a: a}
	if sub := ap.SubAttributeName(); sub != "" {
		if a.typ != tComplex || a.multi || a.find(sub) == nil {
			return pathTarget{}, badRequest(scimInvalidPath, "unknown attribute in path %q", clip(s))
		}
		t.sub = a.find(sub)
	}
	if p.ValueExpression != nil {
		if !a.multi || a.typ != tComplex || t.sub != nil {
			return pathTarget{}, badRequest(scimInvalidPath, "a value filter needs a multi-valued complex attribute: %q", clip(s))
		}
		if n := countClauses(p.ValueExpression); n > maxFilterClauses {
			return pathTarget{}, badRequest(scimInvalidPath, "the filter of path %q has %d comparisons; at most %d are allowed", clip(s), n, maxFilterClauses)
		}
		if err := unescapeFilter(p.ValueExpression); err != nil {
			return pathTarget{}, badRequest(scimInvalidPath, "the filter of path %q: %s", clip(s), err.(*protoError).detail)
		}
		if err := rt.checkFilter(p.ValueExpression, a); err != nil {
			return pathTarget{}, badRequest(scimInvalidPath, "the filter of path %q: %s", clip(s), err.(*protoError).detail)
		}
		t.filter = p.ValueExpression
		if fs := p.SubAttributeName(); fs != "" {
			if t.fsub = a.find(fs); t.fsub == nil {
				return pathTarget{}, badRequest(scimInvalidPath, "unknown attribute in path %q", clip(s))
			}
		}
	} else if p.SubAttribute != nil {
		return pathTarget{}, badRequest(scimInvalidPath, "the path %q cannot be parsed", clip(s))
	}
	return t, nil
}

// applyPatch applies ops to a copy of doc and returns it; doc is not
// modified. The result is checked as a whole (required attributes).
func (rt *resourceType) applyPatch(doc map[string]any, ops []patchOp) (map[string]any, error) {
	out := deepClone(doc).(map[string]any)
	for _, op := range ops {
		if err := rt.applyOp(out, op); err != nil {
			return nil, err
		}
		if err := rt.checkSizes(out); err != nil {
			return nil, err
		}
	}
	if err := rt.checkRequired(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (rt *resourceType) applyOp(doc map[string]any, op patchOp) (err error) {
	t, err := rt.parsePath(op.path)
	if err != nil {
		return err
	}
	if t.a != nil && t.a.multi && t.a.find("primary") != nil && op.op != "remove" {
		// RFC 7644 section 3.5.2: a PATCH that makes a value primary
		// makes the others not primary, so that the new primary email is
		// the one the app gets.
		was := primaries(containerOf(doc, t.container, false)[t.a.name])
		defer func() {
			if err == nil {
				demotePrimaries(containerOf(doc, t.container, false)[t.a.name], was)
			}
		}()
	}
	if t.raw != "" || t.rawWhole {
		return applyUndeclared(doc, t, op)
	}
	if t.a == nil { // a whole extension
		if op.op == "remove" {
			delete(doc, t.container)
			return nil
		}
		m, ok := op.value.(map[string]any)
		if !ok {
			return badRequest(scimInvalidValue, "the value for %s must be an object", t.container)
		}
		if op.op == "replace" {
			delete(doc, t.container)
		}
		for _, k := range sortedKeys(m) {
			if err := rt.applyOp(doc, patchOp{op: op.op, path: t.container + ":" + k, value: m[k]}); err != nil {
				return err
			}
		}
		return nil
	}
	if t.a.writeOnly {
		return nil // a password: never stored (see normalize.go)
	}
	if t.a.readOnly {
		return &protoError{status: 400, scimType: scimMutability, detail: t.a.name + " is read-only"}
	}
	m := containerOf(doc, t.container, op.op != "remove")
	if m == nil {
		return nil // removing from an extension the resource does not have
	}
	defer dropEmptyContainer(doc, t.container)
	switch {
	case t.filter != nil:
		return applyFiltered(m, t, op)
	case t.sub != nil:
		cm, _ := m[t.a.name].(map[string]any)
		cm = cloneMap(cm)
		if op.op == "remove" {
			delete(cm, t.sub.name)
		} else {
			v, err := coerceOne(t.sub, op.value)
			if err != nil {
				return err
			}
			if v == nil {
				delete(cm, t.sub.name)
			} else {
				cm[t.sub.name] = v
			}
		}
		putOrDelete(m, t.a.name, cm)
		return nil
	}
	a := t.a
	switch op.op {
	case "remove":
		if a.multi && op.value != nil {
			// Members removed as a value array (Entra, see normalize.go).
			rm, err := coerce(a, op.value)
			if err != nil {
				return err
			}
			list, _ := m[a.name].([]any)
			matches := removalMatcher(rm.([]any), a)
			kept := list[:0:0]
			for _, it := range list {
				if !matches(it) {
					kept = append(kept, it)
				}
			}
			putOrDelete(m, a.name, kept)
			return nil
		}
		delete(m, a.name)
		return nil
	case "add":
		v, err := coerce(a, op.value)
		if err != nil {
			return err
		}
		switch {
		case a.multi:
			// m is the PATCH's own copy (applyPatch): appended in place.
			list, _ := m[a.name].([]any)
			if v != nil {
				list = addValues(list, v.([]any), a)
			}
			putOrDelete(m, a.name, list)
		case a.typ == tComplex && v != nil:
			putOrDelete(m, a.name, mergeMaps(m[a.name], v))
		default:
			putOrDelete(m, a.name, v)
		}
		return nil
	default: // replace
		v, err := coerce(a, op.value)
		if err != nil {
			return err
		}
		if a.typ == tComplex && !a.multi && v != nil {
			// Sub-attributes not named are left unchanged (RFC 7644
			// section 3.5.2.3).
			putOrDelete(m, a.name, mergeMaps(m[a.name], v))
			return nil
		}
		putOrDelete(m, a.name, v)
		return nil
	}
}

// applyUndeclared applies op to an attribute no schema declares, or to a
// whole undeclared extension: remove deletes it, replace sets it as sent,
// add sets it as sent (a list is appended to a list, an object merged
// into an object, as RFC 7644 section 3.5.2.1 adds).
func applyUndeclared(doc map[string]any, t pathTarget, op patchOp) error {
	container, name := t.container, t.raw
	if t.rawWhole {
		container, name = "", t.container
	}
	cur, _ := lookupFold(containerOf(doc, foldKey(doc, container), false), name)
	v := op.value
	switch {
	case op.op == "remove":
		v = nil
	case op.op == "add":
		if cl, ok := cur.([]any); ok {
			if al, ok := v.([]any); ok {
				v = append(slices.Clone(cl), al...)
			} else if v != nil {
				v = append(slices.Clone(cl), v)
			}
		} else if cm, ok := cur.(map[string]any); ok {
			v = mergeMaps(cm, v)
		}
	}
	if op.op == "remove" && cur == nil {
		return nil
	}
	return putUndeclared(doc, container, name, v)
}

// foldKey returns the key of doc equal to k without regard to case, or k.
func foldKey(doc map[string]any, k string) string {
	for dk := range doc {
		if strings.EqualFold(dk, k) {
			return dk
		}
	}
	return k
}

// applyFiltered applies op to the values of a multi-valued attribute that
// the path's value filter selects.
func applyFiltered(m map[string]any, t pathTarget, op patchOp) error {
	a := t.a
	// m is the PATCH's own copy of the document (applyPatch), so its
	// values may be changed in place: no copy of a large list per
	// operation.
	list, _ := m[a.name].([]any)
	if list == nil {
		list = []any{}
	}
	var hits []int
	match := compileItemFilter(t.filter, a)
	for i, it := range list {
		im, ok := it.(map[string]any)
		if ok && match(im) {
			hits = append(hits, i)
		}
	}
	if op.op == "remove" {
		if len(hits) == 0 {
			return nil // nothing to remove (a retried removal)
		}
		kept := make([]any, 0, len(list))
		next := 0 // hits[next] is the next value the filter selected
		for i, it := range list {
			hit := next < len(hits) && hits[next] == i
			if hit {
				next++
			}
			switch {
			case !hit:
				kept = append(kept, it)
			case t.fsub != nil:
				im := it.(map[string]any)
				delete(im, t.fsub.name)
				if len(im) > 0 {
					kept = append(kept, im)
				}
			}
		}
		putOrDelete(m, a.name, kept)
		return nil
	}
	var val any
	var err error
	if t.fsub != nil {
		val, err = coerceOne(t.fsub, op.value)
	} else {
		val, err = coerceOne(a, op.value)
	}
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		// Nothing matches: add a value built from the filter's eq
		// clauses (Entra's replace of emails[type eq "work"].value, see
		// normalize.go); any other filter has no target.
		seed := map[string]any{}
		if !eqClauses(t.filter, a, seed) {
			return badRequest(scimNoTarget, "the path's filter matches no value of %s", a.name)
		}
		if t.fsub != nil {
			if val != nil {
				seed[t.fsub.name] = val
			}
		} else if vm, ok := val.(map[string]any); ok {
			for k, v := range vm {
				seed[k] = v
			}
		}
		list = append(list, seed)
		putOrDelete(m, a.name, list)
		return nil
	}
	for _, i := range hits {
		im := list[i].(map[string]any)
		switch {
		case t.fsub != nil && val == nil:
			delete(im, t.fsub.name)
		case t.fsub != nil:
			im[t.fsub.name] = val
		case op.op == "replace":
			vm, _ := val.(map[string]any)
			list[i] = vm
		default:
			list[i] = mergeMaps(im, val)
		}
	}
	kept := list[:0:0]
	for _, it := range list {
		if im, ok := it.(map[string]any); ok && len(im) > 0 {
			kept = append(kept, it)
		}
	}
	putOrDelete(m, a.name, kept)
	return nil
}

// compileItemFilter returns a checked value filter as a predicate on one
// value of the multi-valued attribute in, with its sub-attributes
// resolved once: an operation's filter is tried on every member of a
// group that may have tens of thousands.
func compileItemFilter(e filter.Expression, in *attr) func(map[string]any) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, r := compileItemFilter(x.Left, in), compileItemFilter(x.Right, in)
		if x.Operator == filter.AND {
			return func(m map[string]any) bool { return l(m) && r(m) }
		}
		return func(m map[string]any) bool { return l(m) || r(m) }
	case *filter.NotExpression:
		f := compileItemFilter(x.Expression, in)
		return func(m map[string]any) bool { return !f(m) }
	case *filter.AttributeExpression:
		s := in.find(x.AttributePath.AttributeName)
		if s == nil {
			return func(map[string]any) bool { return false }
		}
		name, op, want := s.name, x.Operator, x.CompareValue
		switch op {
		case filter.PR:
			return func(m map[string]any) bool {
				v := m[name]
				str, isStr := v.(string)
				return v != nil && (!isStr || str != "")
			}
		case filter.NE:
			return func(m map[string]any) bool { v := m[name]; return !(v != nil && compare(s, op, v, want)) }
		}
		return func(m map[string]any) bool { v := m[name]; return v != nil && compare(s, op, v, want) }
	}
	return func(map[string]any) bool { return false }
}

// addValues appends to list the values of add it does not hold yet
// (itemKey), in linear time however many members a group has and a
// request adds.
func addValues(list, add []any, a *attr) []any {
	if len(add) == 1 {
		// One value (one member per operation, as Okta batches them):
		// a scan without building an index.
		k := itemKey(add[0], a)
		for _, it := range list {
			if itemKey(it, a) == k {
				return list
			}
		}
		return append(list, add[0])
	}
	seen := make(map[string]bool, len(list)+len(add))
	for _, it := range list {
		seen[itemKey(it, a)] = true
	}
	for _, it := range add {
		if k := itemKey(it, a); !seen[k] {
			seen[k] = true
			list = append(list, it)
		}
	}
	return list
}

// removalMatcher returns whether a value of a is one of the values a
// removal by value array names (itemMatches), looking candidates up by
// their "value" so that removing many values from many stays linear.
func removalMatcher(rm []any, a *attr) func(any) bool {
	byValue := map[string][]any{}
	var other []any
	for _, w := range rm {
		if wm, ok := w.(map[string]any); ok {
			if v, ok := wm["value"].(string); ok {
				byValue[v] = append(byValue[v], w)
				continue
			}
		}
		other = append(other, w)
	}
	return func(it any) bool {
		if im, ok := it.(map[string]any); ok {
			v, _ := im["value"].(string)
			for _, w := range byValue[v] {
				if itemMatches(w, it, a) {
					return true
				}
			}
		}
		for _, w := range other {
			if itemMatches(w, it, a) {
				return true
			}
		}
		return false
	}
}

// primaries returns the values of a multi-valued attribute whose primary
// is true.
func primaries(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, it := range list {
		if m, ok := it.(map[string]any); ok && m["primary"] == true {
			out = append(out, m)
		}
	}
	return out
}

// demotePrimaries sets primary false on the values of was when another
// value of v became primary.
func demotePrimaries(v any, was []map[string]any) {
	now := primaries(v)
	isOld := func(m map[string]any) bool {
		return slices.ContainsFunc(was, func(w map[string]any) bool { return sameMap(w, m) })
	}
	if !slices.ContainsFunc(now, func(m map[string]any) bool { return !isOld(m) }) {
		return
	}
	for _, m := range now {
		if isOld(m) {
			m["primary"] = false
		}
	}
}

// sameMap reports whether a and b are the same map (not equal ones).
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// itemKey identifies a value of a multi-valued attribute: a member by its
// id (the same member added twice is in the group once), any other value
// by its content.
func itemKey(it any, a *attr) string {
	if m, ok := it.(map[string]any); ok && a.name == "members" {
		v, _ := m["value"].(string)
		return v
	}
	b, _ := json.Marshal(it) // map keys sorted: equal values, equal keys
	return string(b)
}

// itemMatches reports whether the value have of a multi-valued attribute
// is the one a removal names: for members the same member id; otherwise
// every sub-attribute the removal gives is equal, so that
// {"value": "a@x"} removes the email a@x whatever its type and primary.
func itemMatches(want, have any, a *attr) bool {
	wm, ok1 := want.(map[string]any)
	hm, ok2 := have.(map[string]any)
	if !ok1 || !ok2 {
		return reflect.DeepEqual(want, have)
	}
	if a.name == "members" {
		return wm["value"] == hm["value"]
	}
	for k, v := range wm {
		if !sameValue(hm[k], v) {
			return false
		}
	}
	return len(wm) > 0
}

// sameValue compares two coerced simple values, without reflection for
// the usual ones.
func sameValue(x, y any) bool {
	switch a := x.(type) {
	case string:
		b, ok := y.(string)
		return ok && a == b
	case bool:
		b, ok := y.(bool)
		return ok && a == b
	case float64:
		b, ok := y.(float64)
		return ok && a == b
	}
	return reflect.DeepEqual(x, y)
}

// mergeMaps returns old with the keys of add set on a copy.
func mergeMaps(old, add any) any {
	om, _ := old.(map[string]any)
	am, _ := add.(map[string]any)
	out := cloneMap(om)
	for k, v := range am {
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
