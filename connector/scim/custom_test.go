package scim_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// Issue #20: what real tenants send.

const urnAcme = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"

// acmeExtensions declares an Entra-style custom extension and Okta-style
// custom attributes in the core namespace.
func acmeExtensions() []scim.Extension {
	return []scim.Extension{
		{URN: urnAcme, Attributes: []scim.Attribute{
			{Name: "costCode"},
			{Name: "badge", Type: scim.TypeInteger},
			{Name: "contractor", Type: scim.TypeBoolean},
			{Name: "startDate", Type: scim.TypeDateTime},
			{Name: "homePage", Type: scim.TypeReference},
			{Name: "skills", MultiValued: true},
			{Name: "department"}, // also an enterprise attribute: never bare
		}},
		{URN: scim.URNUser, Attributes: []scim.Attribute{{Name: "favouriteColour"}, {Name: "floor", Type: scim.TypeInteger}}},
	}
}

func acmeUser(userName string) map[string]any {
	return map[string]any{
		"schemas":  []string{scim.URNUser, urnAcme},
		"userName": userName, "favouriteColour": "blue", "floor": 3,
		urnAcme: map[string]any{"costCode": "CC-1", "badge": 42, "contractor": "True", "startDate": "2026-01-02T03:04:05Z",
			"homePage": "https://x/y", "skills": []any{"go", "sql"}, "department": "Acme Dept"},
		urnEnterprise: map[string]any{"department": "Sales"},
	}
}

func TestCustomAttributesRoundTrip(t *testing.T) {
	srv, c := open(t, scim.Config{Extensions: acmeExtensions()})
	r := c.do(http.MethodPost, "/Users", acmeUser("a@x")).mustStatus(t, http.StatusCreated)
	id := r.id()
	want := map[string]any{"costCode": "CC-1", "badge": 42.0, "contractor": true, "startDate": "2026-01-02T03:04:05Z",
		"homePage": "https://x/y", "skills": []any{"go", "sql"}, "department": "Acme Dept"}
	assert.Equal(t, want, r.body[urnAcme])
	assert.Contains(t, r.body["schemas"], urnAcme)
	got := c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, want, got.body[urnAcme])
	assert.Equal(t, "blue", got.body["favouriteColour"])
	assert.Equal(t, 3.0, got.body["floor"])

	// Wrong types are refused, naming the attribute.
	bad := acmeUser("b@x")
	bad[urnAcme].(map[string]any)["badge"] = "many"
	c.do(http.MethodPost, "/Users", bad).scimError(t, http.StatusBadRequest, "invalidValue")

	// Filters on declared attributes, by URN and bare.
	for _, f := range []string{urnAcme + `:costCode eq "cc-1"`, `costCode eq "CC-1"`, `badge gt 40`, `contractor eq true`,
		`startDate ge "2026-01-01T00:00:00Z"`, `skills eq "GO"`, `favouriteColour eq "Blue"`, `floor eq 3`} {
		assert.Equal(t, 1, c.do(http.MethodGet, "/Users?filter="+urlq(f), nil).mustStatus(t, http.StatusOK).total(), f)
	}
	assert.Equal(t, 0, c.do(http.MethodGet, "/Users?filter="+urlq(`badge lt 40`), nil).mustStatus(t, http.StatusOK).total())
	// department names two schemas' attributes: unprefixed, it is not resolved.
	c.do(http.MethodGet, "/Users?filter="+urlq(`department eq "Sales"`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")

	// PATCH with and without path.
	c.do(http.MethodPatch, "/Users/"+id, patchOp(
		map[string]any{"op": "replace", "path": urnAcme + ":costCode", "value": "CC-2"},
		map[string]any{"op": "add", "path": urnAcme + ":skills", "value": []any{"k8s"}},
		map[string]any{"op": "remove", "path": urnAcme + ":homePage"},
		map[string]any{"op": "Replace", "value": map[string]any{urnAcme + ":badge": 7, "floor": 4, urnAcme: map[string]any{"contractor": "False"}}},
		map[string]any{"op": "replace", "path": "favouriteColour", "value": "green"},
	)).mustStatus(t, http.StatusOK)
	got = c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, map[string]any{"costCode": "CC-2", "badge": 7.0, "contractor": false, "startDate": "2026-01-02T03:04:05Z",
		"skills": []any{"go", "sql", "k8s"}, "department": "Acme Dept"}, got.body[urnAcme])
	assert.Equal(t, "green", got.body["favouriteColour"])
	assert.Equal(t, 4.0, got.body["floor"])
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "remove", "path": urnAcme})).mustStatus(t, http.StatusOK)
	assert.Nil(t, c.do(http.MethodGet, "/Users/"+id, nil).body[urnAcme])

	// PUT replaces as written.
	put := acmeUser("a@x")
	c.do(http.MethodPut, "/Users/"+id, put).mustStatus(t, http.StatusOK)
	assert.Equal(t, want, c.do(http.MethodGet, "/Users/"+id, nil).body[urnAcme])

	// The mapping reads them: the URN-qualified name, the bare name when
	// unambiguous, core custom attributes by name.
	e, ok := readEntry(t, srv, id)
	require.True(t, ok)
	assert.Equal(t, []string{"CC-1"}, e.Attrs.Values("costCode"))
	assert.Equal(t, []string{"CC-1"}, e.Attrs.Values(urnAcme+":costCode"))
	assert.Equal(t, []string{"go", "sql"}, e.Attrs.Values("skills"))
	assert.Equal(t, []string{"42"}, e.Attrs.Values("badge"))
	assert.Equal(t, []string{"Sales"}, e.Attrs.Values("department"), "the enterprise department keeps its bare name")
	assert.Equal(t, []string{"Acme Dept"}, e.Attrs.Values(urnAcme+":department"))
	assert.Equal(t, []string{"blue"}, e.Attrs.Values("favouriteColour"))

	spec := mapping.SCIMSpec()
	for i := range spec.Rules {
		if spec.Rules[i].Target == diff.FieldDepartment {
			spec.Rules[i].From = []string{urnAcme + ":costCode"}
		}
	}
	m, err := mapping.New(spec)
	require.NoError(t, err)
	acc, _, err := m.MapEntry(&e)
	require.NoError(t, err)
	assert.Equal(t, []string{"CC-1"}, acc.Department)

	// Advertised.
	rt := c.do(http.MethodGet, "/ResourceTypes/User", nil).mustStatus(t, http.StatusOK)
	assert.Contains(t, string(rt.raw), urnAcme)
	sch := c.do(http.MethodGet, "/Schemas/"+urnAcme, nil).mustStatus(t, http.StatusOK)
	assert.Contains(t, string(sch.raw), `"name":"badge"`)
	assert.Contains(t, string(sch.raw), `"type":"integer"`)
	core := c.do(http.MethodGet, "/Schemas/"+scim.URNUser, nil).mustStatus(t, http.StatusOK)
	assert.Contains(t, string(core.raw), `"favouriteColour"`)
}

func TestExtensionsConfigChecked(t *testing.T) {
	for _, exts := range [][]scim.Extension{
		{{URN: scim.URNEnterprise, Attributes: []scim.Attribute{{Name: "x"}}}},
		{{URN: "not-a-urn", Attributes: []scim.Attribute{{Name: "x"}}}},
		{{URN: urnAcme, Attributes: []scim.Attribute{{Name: "x y"}}}},
		{{URN: urnAcme, Attributes: []scim.Attribute{{Name: "x", Type: "float"}}}},
		{{URN: urnAcme, Attributes: []scim.Attribute{{Name: "x"}, {Name: "X"}}}},
		{{URN: scim.URNUser, Attributes: []scim.Attribute{{Name: "userName"}}}},
		{{URN: urnAcme}, {URN: urnAcme}},
	} {
		_, err := scim.Open(context.Background(), scim.Config{Extensions: exts})
		assert.Error(t, err, "%+v", exts)
	}
}

// Undeclared attributes and extensions are stored as sent and read back
// (see the package doc), logged once by name, and are not entry
// attributes.
func TestUndeclaredAttributesStoredAsSent(t *testing.T) {
	var logs bytes.Buffer
	srv, c := open(t, scim.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const urnOther = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
	u := map[string]any{
		"schemas": []string{scim.URNUser, urnOther}, "userName": "u@x", "active": true,
		"shoeSize": 9, urnOther: map[string]any{"CustomAttribute": "v", "nested": map[string]any{"a": []any{1, "b"}}},
		urnEnterprise: map[string]any{"department": "Sales", "building": "B1"},
	}
	r := c.do(http.MethodPost, "/Users", u).mustStatus(t, http.StatusCreated)
	id := r.id()
	got := c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, 9.0, got.body["shoeSize"])
	assert.Equal(t, map[string]any{"CustomAttribute": "v", "nested": map[string]any{"a": []any{1.0, "b"}}}, got.body[urnOther])
	assert.Equal(t, map[string]any{"department": "Sales", "building": "B1"}, got.body[urnEnterprise])
	assert.Contains(t, got.body["schemas"], urnOther)

	// Entra's PATCH of a custom extension attribute, with and without
	// path, and a deactivation in the same request goes through.
	c.do(http.MethodPatch, "/Users/"+id, patchOp(
		map[string]any{"op": "Replace", "path": urnOther + ":CustomAttribute", "value": "w"},
		map[string]any{"op": "Add", "value": map[string]any{urnOther + ":Other": "o", "shoeSize": 10}},
		map[string]any{"op": "Replace", "path": "active", "value": "False"},
	)).mustStatus(t, http.StatusOK)
	got = c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	assert.Equal(t, false, got.body["active"])
	assert.Equal(t, 10.0, got.body["shoeSize"])
	assert.Equal(t, "w", got.body[urnOther].(map[string]any)["CustomAttribute"])
	assert.Equal(t, "o", got.body[urnOther].(map[string]any)["Other"])
	c.do(http.MethodPatch, "/Users/"+id, patchOp(
		map[string]any{"op": "remove", "path": "SHOESIZE"},
		map[string]any{"op": "remove", "path": urnOther},
	)).mustStatus(t, http.StatusOK)
	got = c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	assert.NotContains(t, got.body, "shoeSize")
	assert.NotContains(t, got.body, urnOther)

	// Not filterable (their type is unknown), not entry attributes.
	c.do(http.MethodGet, "/Users?filter="+urlq(`shoeSize eq 9`), nil).scimError(t, http.StatusBadRequest, "invalidFilter")
	e, ok := readEntry(t, srv, id)
	require.True(t, ok)
	assert.Empty(t, e.Attrs.Values("building"))
	assert.Equal(t, []string{"Sales"}, e.Attrs.Values("department"))

	// Logged once per name, names only.
	c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "v@x", "shoeSize": 11}).mustStatus(t, http.StatusCreated)
	assert.Equal(t, 1, strings.Count(logs.String(), "attribute=shoeSize"), logs.String())
	assert.Contains(t, logs.String(), "attribute="+urnOther+":CustomAttribute")
	assert.NotContains(t, logs.String(), "B1")
}

// Enterprise attributes without the URN, in a body, a PATCH path (with
// and without path) and a filter; the manager as an array of one.
func TestQuirkUnprefixedEnterpriseAttributes(t *testing.T) {
	srv, c := open(t, scim.Config{})
	mgr := newUser(t, c, "boss@x")
	id := c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "e@x", "department": "Sales"}).mustStatus(t, http.StatusCreated).id()
	got := c.do(http.MethodGet, "/Users/"+id, nil)
	assert.Equal(t, map[string]any{"department": "Sales"}, got.body[urnEnterprise])
	c.do(http.MethodPatch, "/Users/"+id, patchOp(
		map[string]any{"op": "add", "path": "employeeNumber", "value": "701"},
		map[string]any{"op": "replace", "path": "manager", "value": []any{map[string]any{"value": mgr}}},
		map[string]any{"op": "replace", "value": map[string]any{"costCenter": "C1", "division": "D"}},
	)).mustStatus(t, http.StatusOK)
	got = c.do(http.MethodGet, "/Users/"+id, nil)
	assert.Equal(t, map[string]any{"department": "Sales", "employeeNumber": "701", "manager": map[string]any{"value": mgr},
		"costCenter": "C1", "division": "D"}, got.body[urnEnterprise])
	for _, f := range []string{`manager eq "` + mgr + `"`, `manager.value eq "` + mgr + `"`, `department eq "sales"`, `employeeNumber eq "701"`, `costCenter pr`} {
		assert.Equal(t, 1, c.do(http.MethodGet, "/Users?filter="+urlq(f), nil).mustStatus(t, http.StatusOK).total(), f)
	}
	e, _ := readEntry(t, srv, id)
	assert.Equal(t, []string{mgr}, e.Attrs.Values("manager"))
	// A manager as ["id"], and as [] (removed).
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": urnEnterprise + ":manager", "value": []any{mgr}})).mustStatus(t, http.StatusOK)
	assert.Equal(t, map[string]any{"value": mgr}, c.do(http.MethodGet, "/Users/"+id, nil).body[urnEnterprise].(map[string]any)["manager"])
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "manager", "value": []any{}})).mustStatus(t, http.StatusOK)
	assert.NotContains(t, c.do(http.MethodGet, "/Users/"+id, nil).body[urnEnterprise], "manager")
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "manager", "value": []any{mgr, mgr}})).scimError(t, http.StatusBadRequest, "invalidValue")
	// A core attribute keeps its name: displayName is never an extension's.
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "E"})).mustStatus(t, http.StatusOK)
	assert.Equal(t, "E", c.do(http.MethodGet, "/Users/"+id, nil).body["displayName"])
}

// One comparison of names: full case folding over NFC.
func TestUnicodeNames(t *testing.T) {
	_, c := open(t, scim.Config{})
	post := func(u string) response {
		return c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": u})
	}
	// Final sigma: ΟΔΟΣ, οδος and οδοσ are one userName.
	post("ΟΔΟΣ").mustStatus(t, http.StatusCreated)
	post("οδος").scimError(t, http.StatusConflict, "uniqueness")
	post("οδοσ").scimError(t, http.StatusConflict, "uniqueness")
	// ß, SS and ss are one.
	post("straße").mustStatus(t, http.StatusCreated)
	post("STRASSE").scimError(t, http.StatusConflict, "uniqueness")
	post("strasse").scimError(t, http.StatusConflict, "uniqueness")
	// İ folds to i and a combining dot: İSTANBUL and istanbul are two.
	post("İSTANBUL").mustStatus(t, http.StatusCreated)
	post("istanbul").mustStatus(t, http.StatusCreated)
	post("i\u0307stanbul").scimError(t, http.StatusConflict, "uniqueness")
	// Decomposed and precomposed.
	post("José").mustStatus(t, http.StatusCreated)
	post("JOSE\u0301").scimError(t, http.StatusConflict, "uniqueness")

	for f, n := range map[string]int{
		`userName eq "οδος"`: 1, `userName eq "Οδοσ"`: 1, `userName eq "STRASSE"`: 1, `userName eq "istanbul"`: 1,
		`userName eq "İstanbul"`: 1, `userName sw "ISTAN"`: 1, `userName eq "jose\u0301"`: 1, `userName co "ß"`: 1,
		`userName eq "οδος" or userName eq "istanbul"`: 2,
	} {
		assert.Equal(t, n, c.do(http.MethodGet, "/Users?filter="+urlq(f), nil).mustStatus(t, http.StatusOK).total(), f)
	}
	// Groups compare displayNames the same way.
	c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "ΟΔΟΣ"}).mustStatus(t, http.StatusCreated)
	c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "οδος"}).scimError(t, http.StatusConflict, "uniqueness")
	assert.Equal(t, 1, c.do(http.MethodGet, "/Groups?filter="+urlq(`displayName eq "οδοσ"`), nil).total())
}

// A group's displayName is unique (Entra's SCIM tutorial requires it):
// POST, PUT and PATCH onto a taken name get 409 uniqueness; a group keeps
// its own name; a deleted group's name is free.
func TestGroupDisplayNameUnique(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  func(t *testing.T) scim.Resources
	}{
		{"memory", func(*testing.T) scim.Resources { return scim.NewMemoryResources() }},
		{"journal", func(t *testing.T) scim.Resources {
			j, err := scim.OpenJournal(t.TempDir() + "/j.scim")
			require.NoError(t, err)
			t.Cleanup(func() { _ = j.Close() })
			return j
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := open(t, scim.Config{Resources: tc.res(t)})
			grp := func(n string) map[string]any {
				return map[string]any{"schemas": []string{scim.URNGroup}, "displayName": n}
			}
			a := c.do(http.MethodPost, "/Groups", grp("Engineers")).mustStatus(t, http.StatusCreated).id()
			b := c.do(http.MethodPost, "/Groups", grp("Sales")).mustStatus(t, http.StatusCreated).id()
			c.do(http.MethodPost, "/Groups", grp(" engineers ")).scimError(t, http.StatusConflict, "uniqueness")
			c.do(http.MethodPut, "/Groups/"+b, grp("ENGINEERS")).scimError(t, http.StatusConflict, "uniqueness")
			c.do(http.MethodPatch, "/Groups/"+b, patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "Engineers"})).scimError(t, http.StatusConflict, "uniqueness")
			c.do(http.MethodPatch, "/Groups/"+b, patchOp(map[string]any{"op": "replace", "value": map[string]any{"displayName": "Engineers"}})).scimError(t, http.StatusConflict, "uniqueness")
			assert.Equal(t, "Sales", c.do(http.MethodGet, "/Groups/"+b, nil).body["displayName"])
			// Its own name, in another case, is its own.
			c.do(http.MethodPut, "/Groups/"+a, grp("ENGINEERS")).mustStatus(t, http.StatusOK)
			// A user may share a group's name.
			newUser(t, c, "Engineers")
			// Deleted, the name is free.
			c.do(http.MethodDelete, "/Groups/"+a, nil).mustStatus(t, http.StatusNoContent)
			c.do(http.MethodPatch, "/Groups/"+b, patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "Engineers"})).mustStatus(t, http.StatusOK)
			c.do(http.MethodPost, "/Groups", grp("Sales")).mustStatus(t, http.StatusCreated)
		})
	}
}

// Concurrent creates and renames onto one displayName: exactly one wins.
func TestGroupDisplayNameUniqueConcurrent(t *testing.T) {
	for _, name := range []string{"memory", "journal"} {
		t.Run(name, func(t *testing.T) {
			var res scim.Resources = scim.NewMemoryResources()
			if name == "journal" {
				j, err := scim.OpenJournal(t.TempDir() + "/j.scim")
				require.NoError(t, err)
				t.Cleanup(func() { _ = j.Close() })
				res = j
			}
			_, c := open(t, scim.Config{Resources: res})
			var ids []string
			for i := range 8 {
				ids = append(ids, c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "g" + itoa(i)}).mustStatus(t, http.StatusCreated).id())
			}
			var wg sync.WaitGroup
			codes := make(chan int, 16)
			for i := range 8 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					codes <- c.do(http.MethodPost, "/Groups", map[string]any{"schemas": []string{scim.URNGroup}, "displayName": "Same"}).status
				}()
				go func() {
					defer wg.Done()
					codes <- c.do(http.MethodPatch, "/Groups/"+ids[i], patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "SAME"})).status
				}()
			}
			wg.Wait()
			close(codes)
			ok := 0
			for code := range codes {
				if code == http.StatusCreated || code == http.StatusOK {
					ok++
				} else {
					assert.Equal(t, http.StatusConflict, code)
				}
			}
			assert.Equal(t, 1, ok)
			assert.Equal(t, 1, c.do(http.MethodGet, "/Groups?filter="+urlq(`displayName eq "same"`), nil).total())
		})
	}
}
