package scim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// Every response body the server returns is checked by scimmy, a SCIM
// implementation nobody here wrote (testdata/scimmy/validate.mjs).
// scripts/test.sh installs it into .tools/node_modules and exports
// DIRSYNC_SCIMMY_DIR; without it the test skips, except under CI=true.

func scimmyDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DIRSYNC_SCIMMY_DIR")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("..", "..", ".tools", "node_modules", "scimmy"))
	}
	_, nodeErr := exec.LookPath("node")
	_, pkgErr := os.Stat(filepath.Join(dir, "dist", "scimmy.js"))
	if nodeErr != nil || pkgErr != nil {
		msg := "node or scimmy missing (run scripts/test.sh, or npm install --prefix .tools scimmy@1.3.5)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// scimmy runs the validator on the bodies; it returns its output and
// whether it accepted every body.
func scimmy(t *testing.T, dir string, bodies []recorded) (string, bool) {
	t.Helper()
	in, err := json.Marshal(bodies)
	require.NoError(t, err)
	cmd := exec.Command("node", filepath.Join("testdata", "scimmy", "validate.mjs"))
	cmd.Env = append(os.Environ(), "DIRSYNC_SCIMMY_DIR="+dir)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errorsAs(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("validator: %v\n%s", err, out.String())
	}
	return out.String(), err == nil
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func TestScimmyAcceptsEveryResponse(t *testing.T) {
	dir := scimmyDir(t)
	_, entra := open(t, scim.Config{})
	runEntraSequence(t, entra)
	_, okta := open(t, scim.Config{})
	runOktaSequence(t, okta)
	// Discovery, filters, projections and every error the server gives.
	_, c := open(t, scim.Config{MaxBodyBytes: 4096})
	for _, p := range []string{"/ServiceProviderConfig", "/ResourceTypes", "/Schemas", "/Users?attributes=userName", "/Groups?excludedAttributes=members",
		"/Users?filter=" + urlq(`emails[type eq "work"] and meta.lastModified gt "2000-01-01T00:00:00Z"`)} {
		c.do(http.MethodGet, p, nil).mustStatus(t, http.StatusOK)
	}
	id := newUser(t, c, "taken@x")
	other := newUser(t, c, "other@x")
	gid := oktaCreateGroup(t, c, "G")
	for _, bc := range badRequestCases(id, other, gid) {
		c.do(bc.method, bc.path, bc.body).scimError(t, bc.status, bc.scimType)
	}
	c.doToken(http.MethodGet, "/Users", nil, "wrong").scimError(t, http.StatusUnauthorized, "")

	bodies := append(append(entra.recorded(), okta.recorded()...), c.recorded()...)
	kinds := map[string]int{}
	for _, b := range bodies {
		kinds[b.Kind]++
	}
	for _, k := range []string{"User", "Group", "ListResponse", "Error"} {
		assert.Positive(t, kinds[k], "no %s response was checked", k)
	}
	out, ok := scimmy(t, dir, bodies)
	assert.True(t, ok, "scimmy rejected responses:\n%s", out)
	t.Log(out)
}

// The validator is not a rubber stamp: it rejects each kind of bad body.
func TestScimmyRejectsBadBodies(t *testing.T) {
	dir := scimmyDir(t)
	meta := map[string]any{"resourceType": "User", "created": "2026-01-01T00:00:00Z", "lastModified": "2026-01-01T00:00:00Z", "location": "https://x/Users/1", "version": `W/"1"`}
	good := map[string]any{"schemas": []string{scim.URNUser}, "id": "1", "userName": "a", "active": true, "meta": meta}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	_, ok := scimmy(t, dir, []recorded{{Kind: "User", Body: raw(good)}})
	require.True(t, ok, "the good user must pass, or the cases below prove nothing")
	bad := []recorded{
		{Kind: "User", Body: raw(with("active", "False"))},
		{Kind: "User", Body: raw(with("favouriteColour", "blue"))},
		{Kind: "User", Body: raw(with("meta", nil))},
		{Kind: "User", Body: raw(with("emails", "a@b"))},
		{Kind: "Group", Body: raw(map[string]any{"schemas": []string{scim.URNGroup}, "id": "g", "meta": meta, "members": []any{map[string]any{"value": "1"}}})},
		{Kind: "ListResponse", Body: raw(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"}, "totalResults": 1, "startIndex": 1, "itemsPerPage": 2, "Resources": []any{}})},
		{Kind: "ListResponse", Body: raw(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"}, "totalResults": -1, "startIndex": 1, "itemsPerPage": 0, "Resources": []any{}})},
		{Kind: "Error", Body: raw(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": "405", "detail": "x"})},
		{Kind: "Error", Body: raw(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": "409", "scimType": "invalidFilter"})},
		{Kind: "Error", Body: raw(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": 400})},
	}
	for i, b := range bad {
		out, ok := scimmy(t, dir, []recorded{b})
		assert.False(t, ok, "case %d (%s) was accepted: %s\n%s", i, b.Kind, b.Body, out)
	}
}
