package scim

import (
	"fmt"
	"slices"
	"strings"
)

// The schema URNs of RFC 7643 and RFC 7644 this package speaks.
const (
	URNUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	urnListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	urnPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	urnError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	urnSPConfig     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	urnResourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	urnSchema       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attribute data types (RFC 7643 section 2.3).
const (
	tString    = "string"
	tBoolean   = "boolean"
	tComplex   = "complex"
	tReference = "reference"
	tDateTime  = "dateTime"
	tInteger   = "integer"
	tBinary    = "binary"
)

// attr is one attribute definition of a schema (RFC 7643 section 7).
type attr struct {
	name       string
	typ        string
	multi      bool
	required   bool
	caseExact  bool
	readOnly   bool
	writeOnly  bool // returned "never": never stored, never returned
	uniqueness string
	refTypes   []string
	canonical  []string
	sub        []*attr
	desc       string
	custom     bool // declared in Config.Extensions
	bare       bool // a custom extension attribute also flattened under its bare name
}

// find returns the sub-attribute named name, ignoring case (attribute names
// are case-insensitive: RFC 7643 section 2.1).
func (a *attr) find(name string) *attr { return findAttr(a.sub, name) }

func findAttr(list []*attr, name string) *attr {
	for _, s := range list {
		if strings.EqualFold(s.name, name) {
			return s
		}
	}
	return nil
}

// schema is a core schema or an extension.
type schema struct {
	id     string
	name   string
	desc   string
	attrs  []*attr
	custom bool // declared in Config.Extensions
}

func (s *schema) find(name string) *attr { return findAttr(s.attrs, name) }

// resourceType is /Users or /Groups.
type resourceType struct {
	name     string // "User", "Group"
	endpoint string // "/Users"
	core     *schema
	exts     []*schema
}

// ext returns the extension whose URN is urn, ignoring case.
func (rt *resourceType) ext(urn string) *schema {
	for _, e := range rt.exts {
		if strings.EqualFold(e.id, urn) {
			return e
		}
	}
	return nil
}

// multiValued builds the usual {value, display, type, primary} attribute.
func multiValued(name, desc string, types ...string) *attr {
	return &attr{name: name, typ: tComplex, multi: true, desc: desc, sub: []*attr{
		{name: "value", typ: tString, desc: "The value."},
		{name: "display", typ: tString, desc: "A human-readable name."},
		{name: "type", typ: tString, canonical: types, desc: "A label indicating the function."},
		{name: "primary", typ: tBoolean, desc: "The primary or preferred value."},
	}}
}

func str(name, desc string) *attr { return &attr{name: name, typ: tString, desc: desc} }

var userSchema = &schema{id: URNUser, name: "User", desc: "User Account", attrs: []*attr{
	{name: "userName", typ: tString, required: true, uniqueness: "server", desc: "Unique identifier for the User, typically used to sign in."},
	{name: "name", typ: tComplex, desc: "The components of the user's real name.", sub: []*attr{
		str("formatted", "The full name."),
		str("familyName", "The family name."),
		str("givenName", "The given name."),
		str("middleName", "The middle name."),
		str("honorificPrefix", "The honorific prefix."),
		str("honorificSuffix", "The honorific suffix."),
	}},
	str("displayName", "The name of the User, suitable for display."),
	str("nickName", "The casual way to address the user."),
	{name: "profileUrl", typ: tReference, refTypes: []string{"external"}, desc: "A URI of the User's online profile."},
	str("title", "The user's title."),
	str("userType", "The relationship between the organization and the user."),
	str("preferredLanguage", "The User's preferred written or spoken language."),
	str("locale", "The User's default location."),
	str("timezone", "The User's time zone in the Olson format."),
	{name: "active", typ: tBoolean, desc: "The User's administrative status."},
	{name: "password", typ: tString, writeOnly: true, desc: "Never stored and never returned by this service provider."},
	multiValued("emails", "Email addresses for the user.", "work", "home", "other"),
	multiValued("phoneNumbers", "Phone numbers for the User.", "work", "home", "mobile", "fax", "pager", "other"),
	multiValued("ims", "Instant messaging addresses for the User."),
	multiValued("photos", "URLs of photos of the User.", "photo", "thumbnail"),
	{name: "addresses", typ: tComplex, multi: true, desc: "A physical mailing address for this User.", sub: []*attr{
		str("formatted", "The full mailing address."),
		str("streetAddress", "The street address."),
		str("locality", "The city or locality."),
		str("region", "The state or region."),
		str("postalCode", "The zip code or postal code."),
		str("country", "The country name."),
		{name: "type", typ: tString, canonical: []string{"work", "home", "other"}, desc: "A label indicating the function."},
		{name: "primary", typ: tBoolean, desc: "The primary address."},
	}},
	{name: "groups", typ: tComplex, multi: true, readOnly: true, desc: "Groups the user belongs to; managed through /Groups.", sub: []*attr{
		{name: "value", typ: tString, readOnly: true, desc: "The identifier of the group."},
		{name: "$ref", typ: tReference, readOnly: true, refTypes: []string{"Group"}, desc: "The URI of the group."},
		{name: "display", typ: tString, readOnly: true, desc: "The group's display name."},
		{name: "type", typ: tString, readOnly: true, canonical: []string{"direct", "indirect"}, desc: "How the membership was derived."},
	}},
	multiValued("entitlements", "A list of entitlements for the User."),
	multiValued("roles", "A list of roles for the User."),
	multiValued("x509Certificates", "A list of certificates issued to the User."),
}}

var enterpriseSchema = &schema{id: URNEnterprise, name: "EnterpriseUser", desc: "Enterprise User", attrs: []*attr{
	str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
	str("costCenter", "Identifies the name of a cost center."),
	str("organization", "Identifies the name of an organization."),
	str("division", "Identifies the name of a division."),
	str("department", "Identifies the name of a department."),
	{name: "manager", typ: tComplex, desc: "The User's manager.", sub: []*attr{
		{name: "value", typ: tString, desc: "The id of the SCIM resource representing the User's manager."},
		{name: "$ref", typ: tReference, refTypes: []string{"User"}, desc: "The URI of the manager."},
		{name: "displayName", typ: tString, readOnly: true, desc: "The displayName of the User's manager."},
	}},
}}

var groupSchema = &schema{id: URNGroup, name: "Group", desc: "Group", attrs: []*attr{
	{name: "displayName", typ: tString, required: true, uniqueness: "server", desc: "A human-readable name for the Group, unique in the integration."},
	{name: "members", typ: tComplex, multi: true, desc: "A list of members of the Group.", sub: []*attr{
		{name: "value", typ: tString, desc: "Identifier of the member of this Group."},
		{name: "$ref", typ: tReference, refTypes: []string{"User", "Group"}, desc: "The URI of the member."},
		{name: "display", typ: tString, desc: "A human-readable name of the member."},
		{name: "type", typ: tString, canonical: []string{"User", "Group"}, desc: "The type of the member."},
	}},
}}

var (
	userType  = &resourceType{name: "User", endpoint: "/Users", core: userSchema, exts: []*schema{enterpriseSchema}}
	groupType = &resourceType{name: "Group", endpoint: "/Groups", core: groupSchema}
	allTypes  = []*resourceType{userType, groupType}
)

func typeNamed(name string) *resourceType {
	for _, rt := range allTypes {
		if rt.name == name {
			return rt
		}
	}
	return nil
}

// attrJSON renders an attribute definition for /Schemas (RFC 7643 section 7).
func (a *attr) json() map[string]any {
	m := map[string]any{
		"name": a.name, "type": a.typ, "multiValued": a.multi, "description": a.desc,
		"required": a.required, "caseExact": a.caseExact,
		"mutability": "readWrite", "returned": "default", "uniqueness": "none",
	}
	if a.readOnly {
		m["mutability"] = "readOnly"
	}
	if a.writeOnly {
		m["mutability"], m["returned"] = "writeOnly", "never"
	}
	if a.uniqueness != "" {
		m["uniqueness"] = a.uniqueness
	}
	if len(a.refTypes) > 0 {
		m["referenceTypes"] = a.refTypes
	}
	if len(a.canonical) > 0 {
		m["canonicalValues"] = a.canonical
	}
	if len(a.sub) > 0 {
		subs := make([]any, len(a.sub))
		for i, s := range a.sub {
			subs[i] = s.json()
		}
		m["subAttributes"] = subs
	}
	return m
}

func (s *schema) json(location string) map[string]any {
	attrs := make([]any, len(s.attrs))
	for i, a := range s.attrs {
		attrs[i] = a.json()
	}
	return map[string]any{
		"schemas": []string{urnSchema}, "id": s.id, "name": s.name, "description": s.desc,
		"attributes": attrs,
		"meta":       map[string]any{"resourceType": "Schema", "location": location + "/Schemas/" + s.id},
	}
}

// Attribute types a declared custom attribute may have (RFC 7643 section
// 2.3).
const (
	TypeString    = tString
	TypeBoolean   = tBoolean
	TypeInteger   = tInteger
	TypeDateTime  = tDateTime
	TypeReference = tReference
)

// Extension declares custom User attributes an integration's provider
// sends: the attributes of a custom schema extension (Entra's
// urn:ietf:params:scim:schemas:extension:<Name>:2.0:User, "Provisioning
// a custom extension attribute to a SCIM compliant application":
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes),
// or, with URN set to URNUser, custom attributes in the core namespace
// (Okta's custom app profile attributes, whose "External namespace"
// defaults to the core User schema: "Add custom attributes to an Okta
// user profile", https://developer.okta.com/docs/guides/scim-provisioning-integration-prepare/main/).
// Declared attributes are checked and coerced to their type, can be
// filtered on and patched like the schema's own, are advertised in
// /Schemas and /ResourceTypes, and reach the Syncer as entry attributes
// (see the package doc).
type Extension struct {
	// URN is the extension's schema URN, or URNUser for custom
	// attributes at the top level of the User.
	URN string `json:"urn"`
	// Name and Description describe the extension in /Schemas. Name
	// defaults to the URN's segment before the version.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Attributes are the extension's attributes.
	Attributes []Attribute `json:"attributes"`
}

// Attribute declares one custom attribute.
type Attribute struct {
	// Name is the attribute's name: a letter, then letters, digits, "_"
	// or "-" (RFC 7643 section 2.1). Compared without regard to case.
	Name string `json:"name"`
	// Type is TypeString (the default), TypeBoolean, TypeInteger,
	// TypeDateTime or TypeReference.
	Type string `json:"type,omitempty"`
	// MultiValued makes the attribute a list of values of Type.
	MultiValued bool `json:"multiValued,omitempty"`
	// CaseExact compares string values exactly in filters; by default
	// they compare as userNames do (see the package doc).
	CaseExact   bool   `json:"caseExact,omitempty"`
	Description string `json:"description,omitempty"`
}

// buildUserType returns the User resource type with the declared
// extensions: custom core attributes appended to a copy of the core
// schema, custom extensions after the enterprise one.
func buildUserType(exts []Extension) (*resourceType, error) {
	if len(exts) == 0 {
		return userType, nil
	}
	core := *userSchema
	core.attrs = slices.Clone(userSchema.attrs)
	rt := &resourceType{name: userType.name, endpoint: userType.endpoint, core: &core, exts: slices.Clone(userType.exts)}
	for _, x := range exts {
		urn := strings.TrimSpace(x.URN)
		var sch *schema
		switch {
		case strings.EqualFold(urn, URNUser):
			sch = &core
		case strings.EqualFold(urn, URNEnterprise) || strings.EqualFold(urn, URNGroup) ||
			!strings.HasPrefix(strings.ToLower(urn), "urn:") || strings.ContainsAny(urn, " \"[]()") || strings.HasSuffix(urn, ":"):
			return nil, fmt.Errorf("scim: extension %q: the URN must be URNUser or a schema URN of its own", urn)
		case rt.ext(urn) != nil:
			return nil, fmt.Errorf("scim: extension %q declared twice", urn)
		default:
			name := x.Name
			if name == "" {
				parts := strings.Split(urn, ":")
				name = parts[max(len(parts)-3, 0)]
			}
			desc := x.Description
			if desc == "" {
				desc = "Custom attributes of " + name
			}
			sch = &schema{id: urn, name: name, desc: desc, custom: true}
			rt.exts = append(rt.exts, sch)
		}
		for _, a := range x.Attributes {
			if !validAttrName(a.Name) {
				return nil, fmt.Errorf("scim: extension %q: attribute name %q is not a SCIM attribute name", urn, a.Name)
			}
			if sch.find(a.Name) != nil || (sch == &core && (strings.EqualFold(a.Name, "id") || strings.EqualFold(a.Name, "externalId") ||
				strings.EqualFold(a.Name, "meta") || strings.EqualFold(a.Name, "schemas"))) {
				return nil, fmt.Errorf("scim: extension %q: attribute %q is declared twice or is a core attribute", urn, a.Name)
			}
			typ := a.Type
			if typ == "" {
				typ = tString
			}
			switch typ {
			case tString, tBoolean, tInteger, tDateTime, tReference:
			default:
				return nil, fmt.Errorf("scim: extension %q: attribute %q: type %q is not one of string, boolean, integer, dateTime, reference", urn, a.Name, a.Type)
			}
			desc := a.Description
			if desc == "" {
				desc = "A custom attribute."
			}
			na := &attr{name: a.Name, typ: typ, multi: a.MultiValued, caseExact: a.CaseExact, desc: desc, custom: true}
			if typ == tReference {
				na.refTypes = []string{"external"}
			}
			sch.attrs = append(sch.attrs, na)
		}
	}
	// A custom extension's attribute is an entry attribute under its bare
	// name too, when no other schema of the User has that name.
	for _, e := range rt.exts {
		if !e.custom {
			continue
		}
		for _, a := range e.attrs {
			sch, _ := rt.resolveBare(a.name)
			a.bare = sch == e
		}
	}
	return rt, nil
}

func validAttrName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; c == '$' || !isNameByte(c) {
			return false
		}
	}
	return true
}

// resolveBare finds the schema of an attribute named without a URN: the
// core schema when it has it, else the one extension that has it (an
// enterprise attribute sent unprefixed, as older Entra configurations
// and other clients do: see normalize.go). It returns nil when no schema
// or more than one extension has it.
func (rt *resourceType) resolveBare(name string) (*schema, string) {
	if rt.core.find(name) != nil {
		return rt.core, ""
	}
	var found *schema
	for _, e := range rt.exts {
		if e.find(name) != nil {
			if found != nil {
				return nil, ""
			}
			found = e
		}
	}
	if found == nil {
		return nil, ""
	}
	return found, found.id
}
