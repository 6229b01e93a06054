package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/policy"
)

const configJSON = `{
  "scope": {
    "rules": [
      {"name": "No service accounts", "action": "exclude", "ouRegex": "^service"},
      {"action": "exclude", "group": "CN=No Sync,OU=Groups,DC=example,DC=com"},
      {"action": "exclude", "attr": "employeeType", "equals": "contractor"},
      {"action": "include", "ouEndsWithUsers": true},
      {"action": "include", "ou": "Europe/Sales"},
      {"action": "include", "attr": "department", "regex": "^R&D"}
    ],
    "default": "exclude"
  },
  "exceptions": [
    {"email": "breakglass@example.com", "note": "Break-glass admin"},
    {"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
    {"pattern": "^svc-"}
  ],
  "lifecycle": {"missing": "delete", "deleteAfter": "30d", "appBlock": "keep"},
  "safety": {"maxRemovals": 100, "maxPercent": 10, "minManagedForPercent": 25}
}`

func TestConfigJSONRoundTrip(t *testing.T) {
	var cfg policy.Config
	require.NoError(t, json.Unmarshal([]byte(configJSON), &cfg))
	assert.Len(t, cfg.Scope.Rules, 6)
	assert.Equal(t, policy.Days(30), cfg.Lifecycle.DeleteAfter)
	assert.Equal(t, "Break-glass admin", cfg.Exceptions[0].Note)

	p, err := policy.New(cfg)
	require.NoError(t, err)
	got := p.Config()
	assert.Equal(t, cfg, got)

	b, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	var back policy.Config
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, cfg, back)
	assert.JSONEq(t, configJSON, string(b))

	// Config returns a copy.
	got.Scope.Rules[0].Action = "include"
	got.Exceptions[0].Email = "x"
	assert.Equal(t, cfg, p.Config())
}

func TestZeroConfigJSON(t *testing.T) {
	b, err := json.Marshal(policy.Config{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"scope":{},"lifecycle":{},"safety":{}}`, string(b))
	var cfg policy.Config
	require.NoError(t, json.Unmarshal([]byte(`{}`), &cfg))
	_, err = policy.New(cfg)
	assert.NoError(t, err)
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := policy.New(policy.Config{
		Scope:      policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OURegex: "("}}},
		Exceptions: []policy.Exception{{}},
		Lifecycle:  policy.Lifecycle{Missing: "purge"},
		Safety:     policy.Safety{MaxPercent: 101},
	})
	require.Error(t, err)
	for _, want := range []string{"scope.rules[0]", "exceptions[0]", "lifecycle.missing", "safety.maxPercent"} {
		assert.Contains(t, err.Error(), want)
	}
}
