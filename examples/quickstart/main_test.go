package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// The quickstart as its README runs it: the first run seeds the app and
// applies the plan, the second has nothing to do.
func TestRunTwice(t *testing.T) {
	ctx := context.Background()
	args := []string{"-data", t.TempDir()}
	var first, second bytes.Buffer
	require.NoError(t, run(ctx, args, &first, io.Discard))
	assert.Contains(t, first.String(), "New app store: 3 accounts")
	assert.Contains(t, first.String(), "Applied")
	assert.Regexp(t, `App now: \d+ accounts \(\d+ managed by sync, \d+ blocked\), [1-9]\d* departments`, first.String())
	require.NoError(t, run(ctx, args, &second, io.Discard))
	assert.Contains(t, second.String(), "No changes")
	assert.NotContains(t, second.String(), "New app store")
}

// The first run's output starts with the summary and what needs
// attention, lists one line per change, and shows the fields each change
// sets only with -v.
func TestFirstRunSummaryFirst(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-data", t.TempDir(), "-dry-run"}, &out, io.Discard))
	lines := strings.Split(out.String(), "\n")
	require.Greater(t, len(lines), 3)
	assert.Regexp(t, `^Plan for northwind-ad: \d+ create-department, \d+ create, `, lines[1])
	assert.Equal(t, "Needs attention: nothing (no conflicts, invalid entries, warnings or safety hold).", lines[2])
	assert.NotContains(t, out.String(), "→", "field changes without -v")
	assert.Contains(t, out.String(), "\ncreate             Aisha Khan ")
	// One line per change, plus a dozen of headings.
	assert.Less(t, len(lines), 214+15)

	var verbose bytes.Buffer
	require.NoError(t, run(ctx, []string{"-data", t.TempDir(), "-dry-run", "-v"}, &verbose, io.Discard))
	assert.Contains(t, verbose.String(), "email: ∅ → aisha.khan@example.test")
	assert.Less(t, strings.Index(verbose.String(), "Needs attention"), strings.Index(verbose.String(), "OPERATION"))
}

// --except with --dry-run plans as if the exception were saved, says it
// is not, and saves nothing; without --dry-run it is saved for later runs.
func TestDryRunExceptSavesNothing(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	const aisha = "aisha.khan@example.test"
	skipped := `(?m)^skip +Aisha Khan +aisha\.khan@example\.test +Exception by email`
	created := `(?m)^create +Aisha Khan `

	var dry bytes.Buffer
	require.NoError(t, run(ctx, []string{"-data", data, "-dry-run", "-except", aisha}, &dry, io.Discard))
	assert.Contains(t, dry.String(), "exception for "+aisha+" NOT saved")
	assert.NotContains(t, dry.String(), "Exception saved")
	assert.Regexp(t, skipped, dry.String())

	var after bytes.Buffer
	require.NoError(t, run(ctx, []string{"-data", data, "-dry-run"}, &after, io.Discard))
	assert.Regexp(t, created, after.String(), "the dry run saved the exception")

	var saved bytes.Buffer
	require.NoError(t, run(ctx, []string{"-data", data, "-except", aisha}, &saved, io.Discard))
	assert.Contains(t, saved.String(), "Exception saved: "+aisha)
	var later bytes.Buffer
	require.NoError(t, run(ctx, []string{"-data", data, "-dry-run", "-search", "Aisha"}, &later, io.Discard))
	assert.Regexp(t, `(?m)^skip +Aisha Khan `, later.String())
}

// -h prints the usage and is no failure: main exits 0 on flag.ErrHelp.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{arg}, io.Discard, &stderr)
		assert.ErrorIs(t, err, flag.ErrHelp)
		assert.Contains(t, stderr.String(), "Usage: quickstart")
		assert.Contains(t, stderr.String(), "-dry-run")
	}
}

// What needs attention is listed by kind, each account on one line.
func TestSummaryAttention(t *testing.T) {
	acct := func(name string) *diff.Account {
		return &diff.Account{DisplayName: name, Email: strings.ToLower(name) + "@x.test"}
	}
	p := &dirsync.Plan{Plan: diff.Plan{Source: "hr", Changes: []diff.Change{
		{Op: diff.OpCreate, Key: "hr/1", After: acct("Ann"), Reasons: []diff.Reason{{Code: diff.ReasonNew, Detail: "New"}}},
		{Op: diff.OpSkip, Key: "hr/2", After: acct("Bob"), Reasons: []diff.Reason{{Code: diff.ReasonJoinConflict, Detail: "Same ID as hr/3\nsecond line"}}},
		{Op: diff.OpSkip, Key: "hr/4", After: acct("Cy"), Reasons: []diff.Reason{{Code: diff.ReasonInvalid, Detail: "No email and no username"}}},
	}, Warnings: []diff.Reason{{Code: diff.ReasonInvalid, Detail: "Most users map to no email"}}},
		Safety: &policy.SafetyError{Removals: 5, Managed: 10, Percent: 50, MaxRemovals: 2, MaxPercent: 10}}
	var b bytes.Buffer
	require.NoError(t, writeSummary(&b, p))
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "Plan for hr: 1 create, 2 skip\nNeeds attention:\n"), out)
	assert.Contains(t, out, "  1 conflicts (")
	assert.Contains(t, out, "      skip Bob: Same ID as hr/3 second line\n")
	assert.Contains(t, out, "  1 invalid or unmappable entries:\n      skip Cy: No email and no username\n")
	assert.Contains(t, out, "  warning: ")
	assert.Contains(t, out, "Most users map to no email")
	assert.Contains(t, out, "  safety hold: ")
	assert.NotContains(t, out, "Ann")
}
