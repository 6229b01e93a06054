package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// The group picker says when the directory matches names from the start
// only (the sample's LDIF connector declares nothing, so prefix), and
// finds a group by a part of its name where the directory can.
func TestGroupPickerMatch(t *testing.T) {
	tc := newTestConsole(t)
	a := tc.searchGroups(sampleName, "Ext")
	assert.Equal(t, "prefix", a.Match)
	assert.Equal(t, prefixOnlyNote, a.Note)
	require.NotEmpty(t, a.Groups)
	assert.Equal(t, "External Contractors", a.Groups[0].Name)
	a = tc.searchGroups(sampleName, "ontract")
	assert.Empty(t, a.Groups)
	assert.Equal(t, prefixOnlyNote, a.Note, "the admin learns why nothing was found")
	_, page := tc.get("/i/" + sampleName + "/settings")
	assert.Contains(t, page, `id="group-match"`)
	assert.Contains(t, page, "matches names from the start only")

	in, ok := tc.c.get("lab")
	require.True(t, ok)
	in.conn = fake.New(fake.Company(30, 1)...) // a directory that searches substrings
	a = tc.searchGroups("lab", "dmin")
	assert.Equal(t, "substring", a.Match)
	assert.Empty(t, a.Note)
	require.Len(t, a.Groups, 1)
	assert.Equal(t, "IT Admins", a.Groups[0].Name)
	_, page = tc.get("/i/lab/settings")
	assert.Contains(t, page, `id="group-search"`)
	assert.NotContains(t, page, `id="group-match"`)
}
