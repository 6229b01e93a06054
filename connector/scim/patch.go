package scim

import (
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
	if uri := ap.URI(); uri != "" {
		switch {
		case strings.EqualFold(uri, rt.core.id):
		case rt.ext(uri) != nil:
			sch, container = rt.ext(uri), rt.ext(uri).id
		default:
			return pathTarget{}, badRequest(scimInvalidPath, "unknown schema in path %q", clip(s))
		}
	}
	a := sch.find(ap.AttributeName)
	if a == nil && container == "" && ap.SubAttribute == nil && p.ValueExpression == nil {
		// The common attributes (RFC 7643 section 3.1).
		switch {
		case strings.EqualFold(ap.AttributeName, "externalId"):
			a = externalAttr
		case strings.EqualFold(ap.AttributeName, "id"), strings.EqualFold(ap.AttributeName, "meta"):
			return pathTarget{}, &protoError{status: 400, scimType: scimMutability, detail: ap.AttributeName + " is read-only"}
		}
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
	}
	if err := rt.checkRequired(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (rt *resourceType) applyOp(doc map[string]any, op patchOp) error {
	t, err := rt.parsePath(op.path)
	if err != nil {
		return err
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
			kept := list[:0:0]
			for _, it := range list {
				if !slices.ContainsFunc(rm.([]any), func(want any) bool { return itemMatches(want, it, a) }) {
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
			list, _ := m[a.name].([]any)
			list = append([]any(nil), list...)
			if v != nil {
				for _, it := range v.([]any) {
					if !containsItem(list, it, a) {
						list = append(list, it)
					}
				}
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

// applyFiltered applies op to the values of a multi-valued attribute that
// the path's value filter selects.
func applyFiltered(m map[string]any, t pathTarget, op patchOp) error {
	a := t.a
	list, _ := m[a.name].([]any)
	list = deepClone(list).([]any)
	if list == nil {
		list = []any{}
	}
	var hits []int
	for i, it := range list {
		im, ok := it.(map[string]any)
		if ok && (filterSubject{rt: nil, item: im, in: a}).evalItem(t.filter) {
			hits = append(hits, i)
		}
	}
	if op.op == "remove" {
		kept := list[:0:0]
		for i, it := range list {
			switch {
			case !containsInt(hits, i):
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

// evalItem evaluates a checked value filter against one value of a
// multi-valued attribute.
func (fs filterSubject) evalItem(e filter.Expression) bool {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return fs.evalItem(x.Left) && fs.evalItem(x.Right)
		}
		return fs.evalItem(x.Left) || fs.evalItem(x.Right)
	case *filter.NotExpression:
		return !fs.evalItem(x.Expression)
	case *filter.AttributeExpression:
		s := fs.in.find(x.AttributePath.AttributeName)
		if s == nil {
			return false
		}
		v := fs.item[s.name]
		if x.Operator == filter.PR {
			str, isStr := v.(string)
			return v != nil && (!isStr || str != "")
		}
		eq := v != nil && compare(s, x.Operator, v, x.CompareValue)
		if x.Operator == filter.NE {
			return !eq
		}
		return eq
	}
	return false
}

func containsInt(list []int, i int) bool {
	for _, x := range list {
		if x == i {
			return true
		}
	}
	return false
}

// containsItem reports whether list holds it: for members, a value with
// the same "value" (the member's id); otherwise an equal value.
func containsItem(list []any, it any, a *attr) bool {
	im, isMap := it.(map[string]any)
	for _, x := range list {
		if isMap && a.name == "members" {
			if xm, ok := x.(map[string]any); ok && xm["value"] == im["value"] {
				return true
			}
			continue
		}
		if reflect.DeepEqual(x, it) {
			return true
		}
	}
	return false
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
		if !reflect.DeepEqual(hm[k], v) {
			return false
		}
	}
	return len(wm) > 0
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
