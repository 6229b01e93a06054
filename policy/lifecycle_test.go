package policy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

func TestLifecycleOptions(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		lc   policy.Lifecycle
		want diff.Options
	}{
		{policy.Lifecycle{}, diff.Options{Missing: diff.MissingBlock, AppBlock: diff.AppBlockKeep, Now: now}},
		{policy.Lifecycle{Missing: "block", AppBlock: "keep"}, diff.Options{Missing: diff.MissingBlock, AppBlock: diff.AppBlockKeep, Now: now}},
		{policy.Lifecycle{Missing: "delete", DeleteAfter: policy.Days(30)},
			diff.Options{Missing: diff.MissingDelete, DeleteAfter: 30 * 24 * time.Hour, Now: now}},
		{policy.Lifecycle{Missing: "delete"}, diff.Options{Missing: diff.MissingDelete, Now: now}},
		{policy.Lifecycle{Missing: "leave", AppBlock: "directory"},
			diff.Options{Missing: diff.MissingLeave, AppBlock: diff.DirectoryWins, Now: now}},
	}
	for _, tt := range tests {
		p := mustPolicy(t, policy.Config{Lifecycle: tt.lc})
		got := p.Options(now)
		assert.Equal(t, tt.want, got, "%+v", tt.lc)
	}
}

func TestLifecycleInvalid(t *testing.T) {
	_, err := policy.New(policy.Config{Lifecycle: policy.Lifecycle{Missing: "archive", AppBlock: "app", DeleteAfter: policy.Days(-1)}})
	require.Error(t, err)
	assert.ErrorContains(t, err, `lifecycle.missing: unknown value "archive" (want "block", "delete" or "leave")`)
	assert.ErrorContains(t, err, `lifecycle.appBlock: unknown value "app" (want "keep" or "directory")`)
	assert.ErrorContains(t, err, "lifecycle.deleteAfter: negative grace period -1d")
}

func TestNilPolicyIsDefault(t *testing.T) {
	var p *policy.Policy
	now := time.Now()
	assert.Equal(t, diff.Options{Now: now}, p.Options(now))
	e := user("u1", "Anywhere")
	assert.True(t, p.Decide(&e, nil).In)
	assert.Equal(t, policy.Config{}, p.Config())
	assert.NoError(t, p.CheckSafety(&diff.Plan{}, policy.SafetyInput{}))
}

func TestDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"30d", 30 * day, "30d"},
		{"720h", 30 * day, "30d"},
		{"1d12h", 36 * time.Hour, "36h0m0s"},
		{"36h", 36 * time.Hour, "36h0m0s"},
		{"1d", day, "1d"},
		{"0d", 0, "0s"},
		{"0", 0, "0s"},
		{"", 0, "0s"},
		{" 7d ", 7 * day, "7d"},
		{"90m", 90 * time.Minute, "1h30m0s"},
		{"-2d", -2 * day, "-2d"},
		{"+2d", 2 * day, "2d"},
		{"106751d", 106751 * day, "106751d"},
	}
	for _, tt := range tests {
		got, err := policy.ParseDuration(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		d := policy.Duration{Duration: got}
		assert.Equal(t, tt.out, d.String(), tt.in)

		b, err := json.Marshal(d)
		require.NoError(t, err)
		assert.Equal(t, `"`+tt.out+`"`, string(b))
		var back policy.Duration
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, d, back)
	}
	for _, bad := range []string{"d", "1.5d", "xd", "1d2d", "1d-2h", "1d+2h", "-1d-2h", "d12h", "30 days", "30", "106752d",
		"99999999999999999999d", "106751d24h", "2562047h48m", "abc"} {
		_, err := policy.ParseDuration(bad)
		assert.Error(t, err, bad)
	}
	var d policy.Duration
	err := json.Unmarshal([]byte(`"one month"`), &d)
	assert.ErrorContains(t, err, `policy: invalid duration "one month"`)
	assert.Error(t, json.Unmarshal([]byte(`3600`), &d), "a bare number has no unit")
}

// source is a test directory and mapping: each entry maps to an account
// with its ID, email and name.
type source struct {
	entries []connector.Entry
}

func (s *source) user(id, path string, disabled bool) {
	e := user(id)
	if path != "" {
		e.Path = []string{path}
	}
	e.Disabled = disabled
	e.Attrs.Set("mail", id+"@example.com")
	s.entries = append(s.entries, e)
}

func (s *source) plan(t *testing.T, p *policy.Policy, now time.Time, current []diff.Account, extra ...policy.Exception) *diff.Plan {
	t.Helper()
	dir, err := connector.NewSnapshot(s.entries)
	require.NoError(t, err)
	var desired []diff.Desired
	for _, e := range dir.Users() {
		d := p.Decide(e, dir)
		desired = append(desired, diff.Desired{
			Account:    diff.Account{Source: "ad", ExternalID: e.ID, Email: e.Attr("mail"), DisplayName: e.ID},
			Disabled:   e.Disabled,
			OutOfScope: !d.In,
			Reason:     d.Reason,
		})
	}
	return diff.Compute(diff.Input{Source: "ad", Desired: desired, Current: current, Options: p.Options(now, extra...),
		Fields: []string{diff.FieldEmail, diff.FieldDisplayName}})
}

func managed(id string) diff.Account {
	return diff.Account{ID: "app-" + id, Source: "ad", ExternalID: id, Email: id + "@example.com", DisplayName: id, Managed: true}
}

func blockedBySync(id string, at time.Time) diff.Account {
	a := managed(id)
	a.Blocked, a.BlockedBySync, a.BlockedAt = true, true, at
	return a
}

func changeOf(p *diff.Plan, id string) *diff.Change {
	for i := range p.Changes {
		if p.Changes[i].Key == "ad/"+id {
			return &p.Changes[i]
		}
	}
	return nil
}

func codes(c *diff.Change) []string {
	var out []string
	for _, r := range c.Reasons {
		out = append(out, r.Code)
	}
	return out
}

func TestLifecycleEndToEnd(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	userOUsScope := policy.ScopeConfig{Rules: []policy.ScopeRule{include(userOUs)}}
	tests := []struct {
		name    string
		cfg     policy.Config
		entry   func(s *source) // nil: missing from the directory
		current diff.Account
		op      diff.Op // 0: no change in the plan
		codes   []string
		detail  string // the first reason's detail, when set
	}{
		{name: "disabled at source is blocked",
			entry:   func(s *source) { s.user("u1", "IT Users", true) },
			current: managed("u1"), op: diff.OpBlock, codes: []string{diff.ReasonDisabled}},
		{name: "missing is blocked by default",
			current: managed("u1"), op: diff.OpBlock, codes: []string{diff.ReasonDeleted},
			detail: "No longer in the directory; block and end all sessions"},
		{name: "missing with delete and grace is blocked first",
			cfg:     policy.Config{Lifecycle: policy.Lifecycle{Missing: "delete", DeleteAfter: policy.Days(30)}},
			current: managed("u1"), op: diff.OpBlock, codes: []string{diff.ReasonDeleted},
			detail: "No longer in the directory; block now, delete after 30 days"},
		{name: "not deleted before the grace period ends",
			cfg:     policy.Config{Lifecycle: policy.Lifecycle{Missing: "delete", DeleteAfter: policy.Days(30)}},
			current: blockedBySync("u1", now.Add(-29*day)), op: 0},
		{name: "deleted once the grace period ends",
			cfg:     policy.Config{Lifecycle: policy.Lifecycle{Missing: "delete", DeleteAfter: policy.Days(30)}},
			current: blockedBySync("u1", now.Add(-30*day)), op: diff.OpDelete, codes: []string{diff.ReasonDeleted, diff.ReasonGraceDelete}},
		{name: "delete without grace deletes at once",
			cfg:     policy.Config{Lifecycle: policy.Lifecycle{Missing: "delete"}},
			current: managed("u1"), op: diff.OpDelete, codes: []string{diff.ReasonDeleted}},
		{name: "missing is left alone",
			cfg:     policy.Config{Lifecycle: policy.Lifecycle{Missing: "leave"}},
			current: managed("u1"), op: diff.OpSkip, codes: []string{diff.ReasonDeleted, diff.ReasonLeave}},
		{name: "moved out of scope is blocked with the rule's reason",
			cfg:     policy.Config{Scope: userOUsScope},
			entry:   func(s *source) { s.user("u1", "Contractors", false) },
			current: managed("u1"), op: diff.OpBlock, codes: []string{diff.ReasonScopeLeft},
			detail: `Left the sync scope: the account's OU "Contractors" is not synced (only OUs whose name ends with "user" or "users" are synced); block and end all sessions`},
		{name: "new out of scope is skipped with the rule's reason",
			cfg:   policy.Config{Scope: userOUsScope},
			entry: func(s *source) { s.user("u2", "Service Accounts", false) },
			op:    diff.OpSkip, codes: []string{diff.ReasonOutOfScope},
			detail: `The account's OU "Service Accounts" is not synced (only OUs whose name ends with "user" or "users" are synced)`},
		{name: "new in scope is invited with the rule's reason",
			cfg:   policy.Config{Scope: userOUsScope},
			entry: func(s *source) { s.user("u2", "IT Users", false) },
			op:    diff.OpCreate, codes: []string{diff.ReasonNew},
			detail: `New in the directory: OU "IT Users" is a synced OU (name ends with "user" or "users")`},
		{name: "re-enabled is unblocked when sync blocked it",
			entry: func(s *source) { s.user("u1", "IT Users", false) },
			current: func() diff.Account {
				a := blockedBySync("u1", now.Add(-day))
				a.BlockReason = diff.ReasonDisabled
				return a
			}(), op: diff.OpUnblock, codes: []string{diff.ReasonEnabled}},
		{name: "blocked by an older version that kept no reason: unblocked with a neutral reason",
			entry:   func(s *source) { s.user("u1", "IT Users", false) },
			current: blockedBySync("u1", now.Add(-day)), op: diff.OpUnblock, codes: []string{diff.ReasonActive}},
		{name: "an admin's block is kept",
			entry: func(s *source) { s.user("u1", "IT Users", false) },
			current: func() diff.Account {
				a := managed("u1")
				a.Blocked = true
				return a
			}(), op: diff.OpSkip, codes: []string{diff.ReasonAppBlockKept}},
		{name: "the directory wins over an admin's block on request",
			cfg:   policy.Config{Lifecycle: policy.Lifecycle{AppBlock: "directory"}},
			entry: func(s *source) { s.user("u1", "IT Users", false) },
			current: func() diff.Account {
				a := managed("u1")
				a.Blocked = true
				return a
			}(), op: diff.OpUnblock, codes: []string{diff.ReasonDrift}},
		{name: "an exception is never blocked",
			cfg:     policy.Config{Exceptions: []policy.Exception{{ID: "u1", Note: "CEO"}}},
			entry:   func(s *source) { s.user("u1", "IT Users", true) },
			current: managed("u1"), op: diff.OpSkip, codes: []string{diff.ReasonException},
			detail: `Exception by ID "u1" (CEO): never touched by sync`},
		{name: "an exception is never deleted",
			cfg: policy.Config{
				Exceptions: []policy.Exception{{Email: "U1@example.com"}},
				Lifecycle:  policy.Lifecycle{Missing: "delete"},
			},
			current: managed("u1"), op: diff.OpSkip, codes: []string{diff.ReasonException}},
		{name: "an exception out of scope is not blocked",
			cfg: policy.Config{
				Scope:      userOUsScope,
				Exceptions: []policy.Exception{{Pattern: "^u1$"}},
			},
			entry:   func(s *source) { s.user("u1", "Contractors", false) },
			current: managed("u1"), op: diff.OpSkip, codes: []string{diff.ReasonException}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			var s source
			s.user("other", "IT Users", false) // keeps the source non-empty
			if tt.entry != nil {
				tt.entry(&s)
			}
			current := []diff.Account{managed("other")}
			if tt.current.ExternalID != "" {
				current = append(current, tt.current)
			}
			plan := s.plan(t, p, now, current)
			id := "u1"
			if tt.current.ExternalID == "" {
				id = "u2"
			}
			c := changeOf(plan, id)
			if tt.op == 0 {
				assert.Nil(t, c, "%v", plan)
				return
			}
			require.NotNil(t, c, "%v", plan)
			assert.Equal(t, tt.op, c.Op)
			assert.Equal(t, tt.codes, codes(c))
			if tt.detail != "" {
				assert.Equal(t, tt.detail, c.Reasons[0].Detail)
			}
			assert.Nil(t, changeOf(plan, "other"), "an unchanged account has no change")
		})
	}
}

func TestExtraExceptionEndToEnd(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := mustPolicy(t, policy.Config{})
	var s source
	s.user("u1", "IT Users", true)
	plan := s.plan(t, p, now, []diff.Account{managed("u1")}, policy.Exception{ID: "u1", Note: "stored by the host"})
	c := changeOf(plan, "u1")
	require.NotNil(t, c)
	assert.Equal(t, diff.OpSkip, c.Op)
	assert.Equal(t, `Exception by ID "u1" (stored by the host): never touched by sync`, c.Status())
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
