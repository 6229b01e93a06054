package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file is the one place where what identity providers send is made
// into the RFC 7643 shape the rest of the package works on. Each quirk
// names the provider page that documents it; normalize_test.go has a test
// per quirk.
//
//   - Attribute names and sub-attribute names in any case (RFC 7643
//     section 2.1) are stored in the schema's spelling.
//   - Booleans sent as the strings "True" and "False" (Microsoft Entra
//     provisioning, "Known issues for provisioning":
//     https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility)
//     are stored as JSON booleans.
//   - PATCH "op" values in any case ("Add", "Replace", "Remove": Entra, same
//     page); the message's member names in any case ("Operations").
//   - A PATCH without "path" whose value holds dotted keys ("name.givenName")
//     or URN-prefixed keys ("urn:…:enterprise:2.0:User:department") is taken
//     as one operation per key, each key a path (Entra, same page).
//   - A replace whose path filter matches no value (emails[type eq
//     "work"].value) adds a value built from the filter's eq clauses
//     (Entra, "Tutorial: Develop and plan provisioning for a SCIM
//     endpoint": https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
//   - A member removal given as a value array on the path "members" removes
//     those members (Entra, same tutorial), as members[value eq "…"] does.
//   - The enterprise manager sent as a plain string (the manager's id) is
//     stored as manager.value, which is how Entra reads it back (Microsoft
//     Q&A, "SCIM user provisioning setup with manager attribute":
//     https://learn.microsoft.com/en-us/answers/questions/188003/scim-user-provisioning-setup-with-manager-attribut);
//     an empty string, or an empty manager.value, removes it.
//   - A filter comparing a value path, as Entra's matching-attribute
//     query does (emails[type eq "work"].value eq "x", or the tutorial's
//     emails[type eq "work"] eq "x", which compares the value: Entra
//     tutorial above, and the documentation issue
//     https://github.com/MicrosoftDocs/azure-docs/issues/83855), is read
//     as the RFC 7644 value filter emails[type eq "work" and value eq "x"].
//   - The aadOptscim062020 query flag is accepted and ignored (Entra, known
//     issues page).
//   - A single value sent for a multi-valued attribute is taken as a list
//     of one.
//   - A password is never stored (RFC 7643 section 4.1.1: returned
//     "never"); Okta sends one when password sync is on (Okta, "SCIM 2.0
//     protocol reference": https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20).
//   - Unknown schema URNs listed in "schemas" with no attributes in the
//     body are ignored: Entra lists its own group schema on group creates
//     (tutorial above). A member's "displayName" (Entra's group PATCH in
//     the same tutorial) is the member's "display".
//   - Read-only attributes a client sends back (id, meta, groups; Okta's
//     full-user PUT sends them) are ignored, not refused.
//   - An enterprise extension attribute (manager, department,
//     employeeNumber, costCenter, organization, division) or a declared
//     custom extension attribute named without its URN, in a body, a
//     PATCH path or a filter, is that attribute when exactly one schema
//     of the resource has the name (a core attribute of that name wins;
//     two extensions with it leave it unresolved): older Entra
//     configurations map "manager" and "department" unprefixed (Entra
//     known-issues page above, "PATCH ... manager" and the attribute
//     mapping list; go-scim's Entra reports,
//     https://github.com/imulab/go-scim/issues/75).
//   - The manager sent as an array of one value ([{"value": "id"}] or
//     ["id"]), as some clients send every complex attribute, is that
//     value; an empty array removes it.
//   - Attributes no schema declares — an Entra custom extension
//     attribute the host did not declare in Config.Extensions, an Okta
//     custom profile attribute — are stored as sent and read back (see
//     the package doc for why they are not refused): Entra sends custom
//     extension attributes whatever /Schemas advertises
//     (https://github.com/MicrosoftDocs/azure-docs/issues/65648).

// normalizeResource turns a POST or PUT body into a stored document:
// attribute names in the schema's spelling, values of the schema's types,
// the extension under its URN. Unknown attributes and wrong schemas are
// errors; read-only ones are dropped.
func (rt *resourceType) normalizeResource(in map[string]any) (map[string]any, error) {
	if err := rt.checkSchemas(in); err != nil {
		return nil, err
	}
	doc := map[string]any{}
	for _, k := range sortedKeys(in) {
		v := in[k]
		switch {
		case strings.EqualFold(k, "schemas"), strings.EqualFold(k, "id"), strings.EqualFold(k, "meta"):
			continue
		case strings.EqualFold(k, "externalId"):
			if v == nil {
				continue
			}
			c, err := coerceOne(externalAttr, v)
			if err != nil {
				return nil, err
			}
			doc["externalId"] = c
			continue
		}
		if ext := rt.ext(k); ext != nil {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, badRequest(scimInvalidSyntax, "extension %s must be an object", ext.id)
			}
			for _, sk := range sortedKeys(m) {
				if err := rt.setAttr(doc, ext, ext.id, sk, m[sk]); err != nil {
					return nil, err
				}
			}
			continue
		}
		if isUndeclaredURN(rt, k) {
			if err := putUndeclared(doc, "", k, v); err != nil {
				return nil, err
			}
			continue
		}
		sch, container, rest := rt.splitURN(k)
		if sch == nil {
			// urn:…:Foo:2.0:User:attr of an undeclared extension.
			if err := putUndeclared(doc, container, rest, v); err != nil {
				return nil, err
			}
			continue
		}
		if err := rt.setAttr(doc, sch, container, rest, v); err != nil {
			return nil, err
		}
	}
	if err := rt.checkRequired(doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// checkSchemas requires the core schema URN in "schemas" and allows only
// known extensions besides.
func (rt *resourceType) checkSchemas(in map[string]any) error {
	raw, ok := lookupFold(in, "schemas")
	if !ok {
		return badRequest(scimInvalidSyntax, "schemas is missing; want %s", rt.core.id)
	}
	list, ok := raw.([]any)
	if !ok {
		return badRequest(scimInvalidSyntax, "schemas must be an array")
	}
	core := false
	for _, s := range list {
		u, ok := s.(string)
		if !ok {
			return badRequest(scimInvalidSyntax, "schemas must be an array of strings")
		}
		switch {
		case strings.EqualFold(u, rt.core.id):
			core = true
		case rt.ext(u) != nil:
		case isResourceURN(u):
			// The other resource type's schema: a request to the wrong
			// endpoint.
			return badRequest(scimInvalidValue, "schema %q does not belong to %s", clip(u), rt.endpoint)
		default:
			// A schema this server does not know, with no attributes of
			// its own in the body (those would be refused as unknown):
			// Entra lists its own group schema
			// "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
			// on every group it creates (tutorial, see above).
		}
	}
	if !core {
		return badRequest(scimInvalidSyntax, "schemas must include %s", rt.core.id)
	}
	return nil
}

func (rt *resourceType) checkRequired(doc map[string]any) error {
	for _, a := range rt.core.attrs {
		if !a.required {
			continue
		}
		if s, _ := doc[a.name].(string); strings.TrimSpace(s) == "" {
			return badRequest(scimInvalidValue, "%s is required", a.name)
		}
	}
	return nil
}

// splitURN splits a key such as "urn:…:enterprise:2.0:User:department"
// into the schema it names, its container in a document ("" for the core
// schema, else the extension URN) and the attribute name after the URN.
// A key without a URN prefix is a core attribute name. A key with the
// URN of an undeclared extension returns a nil schema, the URN (up to
// the last colon) and the attribute name.
func (rt *resourceType) splitURN(k string) (sch *schema, container, rest string) {
	for _, s := range append([]*schema{rt.core}, rt.exts...) {
		if len(k) > len(s.id)+1 && strings.EqualFold(k[:len(s.id)+1], s.id+":") {
			if s != rt.core {
				container = s.id
			}
			return s, container, k[len(s.id)+1:]
		}
	}
	if hasURNPrefix(k) {
		if i := strings.LastIndex(k, ":"); i > 0 && i < len(k)-1 {
			return nil, k[:i], k[i+1:]
		}
	}
	return rt.core, "", k
}

// hasURNPrefix reports whether k starts with "urn:", in any case.
func hasURNPrefix(k string) bool { return len(k) > 4 && strings.EqualFold(k[:4], "urn:") }

// isUndeclaredURN reports whether k is the URN of a schema extension rt
// does not declare: "urn:…" ending in ":" and the resource type's name
// (urn:ietf:params:scim:schemas:extension:Foo:2.0:User), and not the URN
// of a schema this package knows (nor a known schema's URN followed by
// an attribute name).
func isUndeclaredURN(rt *resourceType, k string) bool {
	if !hasURNPrefix(k) || rt.ext(k) != nil || isResourceURN(k) || strings.ContainsAny(k, " \"[]") ||
		!strings.HasSuffix(strings.ToLower(k), ":"+strings.ToLower(rt.name)) {
		return false
	}
	for _, s := range append([]*schema{rt.core}, rt.exts...) {
		if len(k) > len(s.id) && strings.EqualFold(k[:len(s.id)+1], s.id+":") {
			return false
		}
	}
	return true
}

// putUndeclared stores v, an attribute no schema declares, as sent under
// name in container ("" for the top level, else an extension URN),
// replacing a key that differs only in case; null removes it. It is
// checked only for size (maxValues in any list).
func putUndeclared(doc map[string]any, container, name string, v any) error {
	if container == "" && !validAttrName(name) && !hasURNPrefix(name) {
		return badRequest(scimInvalidValue, "unknown attribute %q", clip(name))
	}
	if container != "" && !validAttrName(name) {
		return badRequest(scimInvalidValue, "unknown attribute %q of %s", clip(name), clip(container))
	}
	if tooLong(v) {
		return badRequest(scimInvalidValue, "%s has more than %d values", clip(name), maxValues)
	}
	if container != "" {
		// The container itself is kept in the spelling first sent.
		for k := range doc {
			if strings.EqualFold(k, container) {
				container = k
			}
		}
	}
	m := containerOf(doc, container, v != nil)
	if m == nil {
		return nil
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			delete(m, k)
		}
	}
	putOrDelete(m, name, deepClone(v))
	dropEmptyContainer(doc, container)
	return nil
}

// tooLong reports a list with more than maxValues values anywhere in v.
func tooLong(v any) bool {
	switch x := v.(type) {
	case []any:
		if len(x) > maxValues {
			return true
		}
		for _, e := range x {
			if tooLong(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if tooLong(e) {
				return true
			}
		}
	}
	return false
}

// undeclaredNames returns the names of the attributes of doc no schema of
// rt declares, URN-qualified when in an extension, sorted.
func (rt *resourceType) undeclaredNames(doc map[string]any) []string {
	var out []string
	for _, k := range sortedKeys(doc) {
		switch {
		case k == "externalId" || rt.core.find(k) != nil:
		case rt.ext(k) != nil:
			ext := rt.ext(k)
			m, _ := doc[k].(map[string]any)
			for _, sk := range sortedKeys(m) {
				if ext.find(sk) == nil {
					out = append(out, ext.id+":"+sk)
				}
			}
		default:
			if m, ok := doc[k].(map[string]any); ok && isUndeclaredURN(rt, k) {
				for _, sk := range sortedKeys(m) {
					out = append(out, k+":"+sk)
				}
				continue
			}
			out = append(out, k)
		}
	}
	return out
}

// logUndeclared logs, once per name and Server, at Warn, the undeclared
// attributes rec holds: the host learns which to declare in
// Config.Extensions. Names only, never values.
func (s *Server) logUndeclared(ctx context.Context, rt *resourceType, rec *record) {
	if rec == nil || rec.doc == nil {
		return
	}
	for _, n := range rt.undeclaredNames(rec.doc) {
		if len(n) > 256 {
			n = n[:256] + "…"
		}
		if _, seen := s.undeclared.LoadOrStore(strings.ToLower(n), true); !seen {
			s.log.WarnContext(ctx, "scim: attribute not declared in Config.Extensions, stored as sent", "attribute", n, "resource", rt.name)
		}
	}
}

// setAttr sets the attribute key (which may be dotted) of schema s in the
// container of doc (the document itself, or the extension object), coerced
// to its type. A null value removes it. An attribute no schema declares
// is stored as sent (putUndeclared); one of a known attribute's unknown
// sub-attributes is refused.
func (rt *resourceType) setAttr(doc map[string]any, s *schema, container, key string, v any) error {
	name, subName, dotted := strings.Cut(key, ".")
	a := s.find(name)
	if a == nil && s == rt.core {
		// An extension attribute sent without its URN (see above).
		if bs, bc := rt.resolveBare(name); bs != nil && bs != rt.core {
			s, container, a = bs, bc, bs.find(name)
		}
	}
	if a == nil {
		if dotted {
			return badRequest(scimInvalidValue, "unknown attribute %q", clip(key))
		}
		return putUndeclared(doc, container, key, v)
	}
	if a.readOnly || a.writeOnly {
		return nil // ignored: see the list of quirks above
	}
	m := containerOf(doc, container, true)
	if dotted {
		sub := a.find(subName)
		if a.typ != tComplex || a.multi || sub == nil {
			return badRequest(scimInvalidValue, "unknown attribute %q", clip(key))
		}
		c, err := coerce(sub, v)
		if err != nil {
			return err
		}
		cm, _ := m[a.name].(map[string]any)
		cm = cloneMap(cm)
		if c == nil {
			delete(cm, sub.name)
		} else {
			cm[sub.name] = c
		}
		putOrDelete(m, a.name, cm)
		dropEmptyContainer(doc, container)
		return nil
	}
	c, err := coerce(a, v)
	if err != nil {
		return err
	}
	putOrDelete(m, a.name, c)
	dropEmptyContainer(doc, container)
	return nil
}

// containerOf returns the map attributes of container live in: doc itself
// for the core schema, doc[urn] for an extension (created when create is
// set; else nil when absent).
func containerOf(doc map[string]any, container string, create bool) map[string]any {
	if container == "" {
		return doc
	}
	m, ok := doc[container].(map[string]any)
	if !ok && create {
		m = map[string]any{}
		doc[container] = m
	}
	return m
}

func dropEmptyContainer(doc map[string]any, container string) {
	if container == "" {
		return
	}
	if m, ok := doc[container].(map[string]any); ok && len(m) == 0 {
		delete(doc, container)
	}
}

// putOrDelete stores v under k, or removes k when v is empty (null, an
// empty list or object: RFC 7643 section 2.5, unassigned).
func putOrDelete(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		delete(m, k)
		return
	case []any:
		if len(x) == 0 {
			delete(m, k)
			return
		}
	case map[string]any:
		if len(x) == 0 {
			delete(m, k)
			return
		}
	}
	m[k] = v
}

// coerce checks v against the attribute definition and returns it in the
// stored shape. nil means "unassigned".
func coerce(a *attr, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.multi {
		list, ok := v.([]any)
		if !ok {
			list = []any{v} // a single value for a multi-valued attribute
		}
		if len(list) > maxValues && a.name != "members" {
			return nil, badRequest(scimInvalidValue, "%s has more than %d values", a.name, maxValues)
		}
		out := make([]any, 0, len(list))
		for _, it := range list {
			c, err := coerceOne(a, it)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out = append(out, c)
			}
		}
		return out, nil
	}
	return coerceOne(a, v)
}

func coerceOne(a *attr, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.typ {
	case tBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			// Entra sends "True" and "False" (see above).
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, badRequest(scimInvalidValue, "%s must be a boolean", a.name)
	case tInteger:
		if f, ok := v.(float64); ok && f == math.Trunc(f) {
			return f, nil
		}
		return nil, badRequest(scimInvalidValue, "%s must be an integer", a.name)
	case tComplex:
		if l, isList := v.([]any); isList && !a.multi && a.name == "manager" {
			// The manager as an array of one value (see above).
			switch len(l) {
			case 0:
				return nil, nil
			case 1:
				v = l[0]
			default:
				return nil, badRequest(scimInvalidValue, "%s has one value", a.name)
			}
		}
		m, ok := v.(map[string]any)
		if s, isStr := v.(string); isStr && a.name == "manager" {
			// Entra sends the manager as the manager's id, a plain string,
			// and reads it back as manager.value (see above).
			if strings.TrimSpace(s) == "" {
				return nil, nil
			}
			m, ok = map[string]any{"value": s}, true
		}
		if !ok {
			return nil, badRequest(scimInvalidValue, "%s must be an object", a.name)
		}
		out := map[string]any{}
		for _, k := range sortedKeys(m) {
			s := a.find(k)
			if s == nil && a.name == "members" && strings.EqualFold(k, "displayName") {
				// Entra names a member's display "displayName" (tutorial,
				// see above).
				s = a.find("display")
			}
			if s == nil {
				return nil, badRequest(scimInvalidValue, "unknown attribute %q of %s", clip(k), a.name)
			}
			if s.readOnly && a.name != "manager" {
				continue
			}
			c, err := coerceOne(s, m[k])
			if err != nil {
				return nil, err
			}
			if c != nil {
				out[s.name] = c
			}
		}
		if v, ok := out["value"].(string); ok && a.name == "manager" && strings.TrimSpace(v) == "" {
			// {"value": ""} clears the manager, as "" does (see above).
			delete(out, "value")
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	default: // string, reference, dateTime, binary
		switch x := v.(type) {
		case string:
			return x, nil
		case float64:
			// A number for a string attribute (an employee number).
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
		return nil, badRequest(scimInvalidValue, "%s must be a string", a.name)
	}
}

// Limits on what one request may hold, beyond the body size: without
// them a body of a megabyte could keep the integration's writes waiting
// for minutes.
const (
	// maxValues caps the values of a multi-valued attribute other than
	// a group's members (emails, phoneNumbers, roles, …).
	maxValues = 1000
	// maxOperations caps the operations of one PATCH (after a pathless
	// operation is split into one per attribute).
	maxOperations = 1000
)

// checkSizes refuses a document with more than maxValues values in a
// multi-valued attribute other than members.
func (rt *resourceType) checkSizes(doc map[string]any) error {
	for _, sch := range append([]*schema{rt.core}, rt.exts...) {
		container := ""
		if sch != rt.core {
			container = sch.id
		}
		m := containerOf(doc, container, false)
		for _, a := range sch.attrs {
			if l, ok := m[a.name].([]any); ok && a.multi && a.name != "members" && len(l) > maxValues {
				return badRequest(scimInvalidValue, "%s has more than %d values", a.name, maxValues)
			}
		}
	}
	return nil
}

// patchOp is one PATCH operation after normalisation.
type patchOp struct {
	op    string // "add", "replace", "remove"
	path  string
	value any
}

// parsePatch decodes a PatchOp message (RFC 7644 section 3.5.2): member
// names in any case, op values in any case (Entra).
func (rt *resourceType) parsePatch(body map[string]any) ([]patchOp, error) {
	raw, ok := lookupFold(body, "schemas")
	list, isList := raw.([]any)
	if !ok || !isList || !slices.ContainsFunc(list, func(s any) bool { u, _ := s.(string); return strings.EqualFold(u, urnPatchOp) }) {
		return nil, badRequest(scimInvalidSyntax, "schemas must include %s", urnPatchOp)
	}
	rawOps, _ := lookupFold(body, "Operations")
	ops, ok := rawOps.([]any)
	if !ok || len(ops) == 0 {
		return nil, badRequest(scimInvalidSyntax, "Operations must be a non-empty array")
	}
	out := make([]patchOp, 0, len(ops))
	for i, o := range ops {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, badRequest(scimInvalidSyntax, "operation %d is not an object", i+1)
		}
		opRaw, _ := lookupFold(m, "op")
		op, _ := opRaw.(string)
		op = strings.ToLower(strings.TrimSpace(op))
		if op != "add" && op != "replace" && op != "remove" {
			return nil, badRequest(scimInvalidSyntax, "operation %d: op must be add, replace or remove", i+1)
		}
		pathRaw, hasPath := lookupFold(m, "path")
		path, isStr := pathRaw.(string)
		if hasPath && pathRaw != nil && !isStr {
			return nil, badRequest(scimInvalidPath, "operation %d: path must be a string", i+1)
		}
		value, hasValue := lookupFold(m, "value")
		path = strings.TrimSpace(path)
		switch {
		case op == "remove" && path == "":
			return nil, badRequest(scimNoTarget, "operation %d: remove needs a path", i+1)
		case op != "remove" && !hasValue:
			return nil, badRequest(scimInvalidSyntax, "operation %d: %s needs a value", i+1, op)
		}
		if path != "" {
			out = append(out, patchOp{op: op, path: path, value: value})
			continue
		}
		// No path: the value is an object whose keys are paths (dotted
		// and URN-prefixed keys included: Entra, see above).
		vm, ok := value.(map[string]any)
		if !ok {
			return nil, badRequest(scimInvalidSyntax, "operation %d: without a path the value must be an object", i+1)
		}
		for _, k := range sortedKeys(vm) {
			if strings.EqualFold(k, "schemas") || strings.EqualFold(k, "id") || strings.EqualFold(k, "meta") {
				continue // Okta sends the id along (see above)
			}
			if ext, ok := vm[k].(map[string]any); ok && (rt.ext(k) != nil || isExtensionURN(k) || isUndeclaredURN(rt, k)) {
				for _, sk := range sortedKeys(ext) {
					out = append(out, patchOp{op: op, path: k + ":" + sk, value: ext[sk]})
				}
				continue
			}
			out = append(out, patchOp{op: op, path: k, value: vm[k]})
		}
		if len(out) > maxOperations {
			return nil, badRequest(scimInvalidValue, "more than %d operations in one request", maxOperations)
		}
	}
	if len(out) > maxOperations {
		return nil, badRequest(scimInvalidValue, "more than %d operations in one request", maxOperations)
	}
	return out, nil
}

func isResourceURN(u string) bool {
	for _, rt := range allTypes {
		if strings.EqualFold(u, rt.core.id) || rt.ext(u) != nil {
			return true
		}
	}
	return false
}

func isExtensionURN(k string) bool {
	for _, rt := range allTypes {
		if rt.ext(k) != nil {
			return true
		}
	}
	return false
}

// lookupFold returns m[k], matching k without regard to case.
func lookupFold(m map[string]any, k string) (any, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for _, mk := range sortedKeys(m) {
		if strings.EqualFold(mk, k) {
			return m[mk], true
		}
	}
	return nil, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// clip shortens a client-supplied name for an error message, so that an
// error never echoes a long value.
func clip(s string) string {
	const max = 64
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// cloneMap returns a shallow copy of m (never nil).
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// deepClone copies a decoded JSON value.
func deepClone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepClone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepClone(e)
		}
		return out
	}
	return v
}

// decodeJSON decodes a request body into a JSON object. A body in which
// one object names a member twice (in any case: attribute names are
// case-insensitive) is refused: parsers disagree on which one counts
// (encoding/json takes the last, others the first), so what was checked
// upstream and what is stored could differ.
func decodeJSON(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, badRequest(scimInvalidSyntax, "the body is not a JSON object")
	}
	if k, dup := duplicateKey(b); dup {
		return nil, badRequest(scimInvalidSyntax, "the member %q appears twice in one object", clip(k))
	}
	return m, nil
}

// duplicateKey returns a member name that appears twice in one object of
// the valid JSON text b, compared without regard to case.
func duplicateKey(b []byte) (string, bool) {
	type frame struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // the end (b was decoded before)
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			top := stack[n-1]
			if k, ok := tok.(string); ok {
				fk := strings.ToLower(k)
				if top.keys[fk] {
					return k, true
				}
				top.keys[fk], top.wantKey = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// normalizeFilter rewrites a comparison of a value path, which RFC 7644
// section 3.4.2.2 does not allow and Entra sends (see above), into a
// value filter: attr[f].sub op v and attr[f] op v (sub = value) become
// attr[f and sub op v]. A value filter with "or" or "not" in it is left
// alone (the parser has no grouping inside brackets), and so is anything
// else; the parser then decides.
func normalizeFilter(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		switch s[i] {
		case '"':
			j := skipQuoted(s, i)
			b.WriteString(s[i:j])
			i = j
			continue
		case '[':
		default:
			b.WriteByte(s[i])
			i++
			continue
		}
		end := i + 1
		for end < len(s) && s[end] != ']' && s[end] != '[' {
			if s[end] == '"' {
				end = skipQuoted(s, end)
				continue
			}
			end++
		}
		if end >= len(s) || s[end] != ']' {
			b.WriteString(s[i:end])
			i = end
			continue
		}
		inner := s[i+1 : end]
		rewritten, next, ok := valuePathCompare(s, end+1, inner)
		if !ok {
			b.WriteString(s[i : end+1])
			i = end + 1
			continue
		}
		b.WriteString(rewritten)
		i = next
	}
	return b.String()
}

// valuePathCompare reads ".sub op value" or " op value" at s[k:] after the
// value filter inner, and returns the value filter that means the same.
func valuePathCompare(s string, k int, inner string) (string, int, bool) {
	if hasWord(inner, "or") || hasWord(inner, "not") {
		return "", 0, false
	}
	sub := "value"
	if k < len(s) && s[k] == '.' {
		m := k + 1
		for m < len(s) && isNameByte(s[m]) {
			m++
		}
		if m == k+1 {
			return "", 0, false
		}
		sub, k = s[k+1:m], m
	}
	m := k
	for m < len(s) && s[m] == ' ' {
		m++
	}
	if m == k || m+2 > len(s) {
		return "", 0, false
	}
	op := strings.ToLower(s[m : m+2])
	if !slices.Contains([]string{"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}, op) ||
		(m+2 < len(s) && s[m+2] != ' ' && s[m+2] != ')') {
		return "", 0, false
	}
	n := m + 2
	clause := sub + " " + op
	if op != "pr" {
		v := n
		for v < len(s) && s[v] == ' ' {
			v++
		}
		if v == n || v == len(s) {
			return "", 0, false
		}
		e := v
		if s[v] == '"' {
			e = skipQuoted(s, v)
		} else {
			for e < len(s) && s[e] != ' ' && s[e] != ')' {
				e++
			}
		}
		clause += " " + s[v:e]
		n = e
	}
	return "[" + inner + " and " + clause + "]", n, true
}

// skipQuoted returns the index after the JSON string starting at s[i].
func skipQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}

// hasWord reports whether s holds the word w (in any case) outside its
// quoted strings.
func hasWord(s, w string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			i = skipQuoted(s, i) - 1
			continue
		}
		if i+len(w) <= len(s) && strings.EqualFold(s[i:i+len(w)], w) &&
			(i == 0 || !isNameByte(s[i-1])) && (i+len(w) == len(s) || !isNameByte(s[i+len(w)])) {
			return true
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
