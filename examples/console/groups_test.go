package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
)

type groupAnswer struct {
	Groups []groupHit `json:"groups"`
	Match  string     `json:"match"`
	Note   string     `json:"note"`
}

func (tc *testConsole) searchGroups(integration, q string) groupAnswer {
	tc.Helper()
	code, body := tc.get("/i/" + integration + "/groups?prefix=" + url.QueryEscape(q))
	require.Equal(tc, http.StatusOK, code, body)
	var a groupAnswer
	require.NoError(tc, json.Unmarshal([]byte(body), &a), body)
	return a
}

// The group picker finds a group by a part of its name where the
// directory can (the sample's LDIF file is searched in memory: "adm"
// finds "App Admins"), and says when a directory matches names from the
// start only, so the admin learns why "dmin" finds nothing there.
func TestGroupPickerMatch(t *testing.T) {
	tc := newTestConsole(t)
	a := tc.searchGroups(sampleName, "adm")
	assert.Equal(t, "substring", a.Match)
	assert.Empty(t, a.Note)
	require.NotEmpty(t, a.Groups)
	assert.Equal(t, "App Admins", a.Groups[0].Name)
	a = tc.searchGroups(sampleName, "ontract")
	require.NotEmpty(t, a.Groups)
	assert.Equal(t, "External Contractors", a.Groups[0].Name)
	_, page := tc.get("/i/" + sampleName + "/settings")
	assert.Contains(t, page, `id="group-search"`)
	assert.NotContains(t, page, `id="group-match"`)

	in, ok := tc.c.get("lab")
	require.True(t, ok)
	prefixOnly := fake.New(fake.Company(30, 1)...) // a directory that matches from the start only, as Google's does
	prefixOnly.SetGroupMatch(connector.MatchPrefix)
	in.conn = prefixOnly
	a = tc.searchGroups("lab", "dmin")
	assert.Equal(t, "prefix", a.Match)
	assert.Equal(t, prefixOnlyNote, a.Note, "the admin learns why nothing was found")
	assert.Empty(t, a.Groups)
	a = tc.searchGroups("lab", "IT A")
	require.Len(t, a.Groups, 1)
	assert.Equal(t, "IT Admins", a.Groups[0].Name)
	_, page = tc.get("/i/lab/settings")
	assert.Contains(t, page, `id="group-match"`)
	assert.Contains(t, page, "matches names from the start only")
}
