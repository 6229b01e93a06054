package policy_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// removalPlan returns a plan with n blocks and m deletes of managed
// accounts, plus changes that are not removals.
func removalPlan(blocks, deletes int) *diff.Plan {
	p := &diff.Plan{Source: "ad"}
	add := func(op diff.Op, before *diff.Account) {
		p.Changes = append(p.Changes, diff.Change{Op: op, Before: before, After: &diff.Account{}})
	}
	for i := range blocks {
		a := managed(fmt.Sprint("b", i))
		add(diff.OpBlock, &a)
	}
	for i := range deletes {
		a := managed(fmt.Sprint("d", i))
		add(diff.OpDelete, &a)
	}
	// Not removals: an adopted app account blocked on adoption, a create,
	// an update, a skip.
	add(diff.OpBlock, &diff.Account{ID: "app-1", Email: "x@example.com"})
	add(diff.OpCreate, nil)
	m := managed("m")
	add(diff.OpUpdate, &m)
	add(diff.OpSkip, &m)
	return p
}

func TestRemovals(t *testing.T) {
	assert.Equal(t, 0, policy.Removals(nil))
	assert.Equal(t, 0, policy.Removals(removalPlan(0, 0)))
	assert.Equal(t, 7, policy.Removals(removalPlan(3, 4)))
}

func TestCheckSafety(t *testing.T) {
	tests := []struct {
		name            string
		safety          policy.Safety
		blocks, deletes int
		in              policy.SafetyInput
		want            *policy.SafetyError // nil: no error
		msg             string
	}{
		{name: "nothing removed", in: policy.SafetyInput{Managed: 100, SourceUsers: 100}},
		{name: "under both limits", blocks: 10, deletes: 10, in: policy.SafetyInput{Managed: 1000, SourceUsers: 1000}},
		{name: "at the count limit", blocks: 500, in: policy.SafetyInput{Managed: 10000, SourceUsers: 9600}},
		{name: "over the count limit", blocks: 300, deletes: 201, in: policy.SafetyInput{Managed: 10000, SourceUsers: 9600},
			want: &policy.SafetyError{Removals: 501, Managed: 10000, Percent: 5.01, MaxRemovals: 500, MaxPercent: 20},
			msg:  "policy: the plan would block or delete 501 of 10000 managed accounts (5%), more than the safety limit of 500 accounts; approve the plan to apply it"},
		{name: "at the percent limit", blocks: 20, in: policy.SafetyInput{Managed: 100, SourceUsers: 90}},
		{name: "over the percent limit", blocks: 21, in: policy.SafetyInput{Managed: 100, SourceUsers: 90},
			want: &policy.SafetyError{Removals: 21, Managed: 100, Percent: 21, MaxRemovals: 500, MaxPercent: 20},
			msg:  "policy: the plan would block or delete 21 of 100 managed accounts (21%), more than the safety limit of 20% of managed accounts; approve the plan to apply it"},
		{name: "over both limits", blocks: 600, in: policy.SafetyInput{Managed: 900, SourceUsers: 300},
			want: &policy.SafetyError{Removals: 600, Managed: 900, Percent: 600.0 / 9, MaxRemovals: 500, MaxPercent: 20},
			msg:  "policy: the plan would block or delete 600 of 900 managed accounts (66.7%), more than the safety limits of 500 accounts and 20% of managed accounts; approve the plan to apply it"},
		{name: "small tenant: percent does not apply", blocks: 5, in: policy.SafetyInput{Managed: 9, SourceUsers: 4}},
		{name: "small tenant: threshold reached", blocks: 5, in: policy.SafetyInput{Managed: 10, SourceUsers: 5},
			want: &policy.SafetyError{Removals: 5, Managed: 10, Percent: 50, MaxRemovals: 500, MaxPercent: 20}},
		{name: "small tenant: custom threshold", blocks: 5, safety: policy.Safety{MinManagedForPercent: 50},
			in: policy.SafetyInput{Managed: 40, SourceUsers: 35}},
		{name: "custom limits", blocks: 11, safety: policy.Safety{MaxRemovals: 10, MaxPercent: 50},
			in:   policy.SafetyInput{Managed: 1000, SourceUsers: 990},
			want: &policy.SafetyError{Removals: 11, Managed: 1000, Percent: 1.1, MaxRemovals: 10, MaxPercent: 50}},
		{name: "count limit off", blocks: 1000, safety: policy.Safety{MaxRemovals: -1},
			in: policy.SafetyInput{Managed: 100000, SourceUsers: 99000}},
		{name: "percent limit off", blocks: 90, safety: policy.Safety{MaxPercent: -1},
			in: policy.SafetyInput{Managed: 100, SourceUsers: 10}},
		{name: "disabled", blocks: 1000, safety: policy.Safety{Disabled: true},
			in: policy.SafetyInput{Managed: 1000, SourceUsers: 1}},
		{name: "approved", blocks: 1000, in: policy.SafetyInput{Managed: 1000, SourceUsers: 1, Approved: true}},
		{name: "empty source", blocks: 3, in: policy.SafetyInput{Managed: 3},
			want: &policy.SafetyError{Removals: 3, Managed: 3, Percent: 100, MaxRemovals: -1, MaxPercent: -1, EmptySource: true},
			msg: "policy: the directory returned no users, yet the plan would block or delete 3 of 3 managed accounts; " +
				"an empty read is not taken to mean that everybody left: check the connector, or approve the plan"},
		{name: "empty source even when disabled", blocks: 1, deletes: 1, safety: policy.Safety{Disabled: true},
			in:   policy.SafetyInput{Managed: 2},
			want: &policy.SafetyError{Removals: 2, Managed: 2, Percent: 100, MaxRemovals: -1, MaxPercent: -1, EmptySource: true}},
		{name: "empty source approved", blocks: 3, safety: policy.Safety{Disabled: true},
			in: policy.SafetyInput{Managed: 3, Approved: true}},
		{name: "empty source removing nobody", in: policy.SafetyInput{Managed: 3}},
		{name: "managed under-reported", blocks: 30, in: policy.SafetyInput{Managed: 0, SourceUsers: 5},
			want: &policy.SafetyError{Removals: 30, Managed: 30, Percent: 100, MaxRemovals: -1, MaxPercent: -1, Everyone: true}},
		{name: "small tenant, everyone removed", blocks: 3, in: policy.SafetyInput{Managed: 3, SourceUsers: 7},
			want: &policy.SafetyError{Removals: 3, Managed: 3, Percent: 100, MaxRemovals: -1, MaxPercent: -1, Everyone: true}},
		{name: "incremental, everyone removed, limits off", blocks: 2, safety: policy.Safety{Disabled: true},
			in:   policy.SafetyInput{Managed: 2, Incremental: true},
			want: &policy.SafetyError{Removals: 2, Managed: 2, Percent: 100, MaxRemovals: -1, MaxPercent: -1, Everyone: true, Incremental: true}},
		{name: "small tenant, one of three removed", blocks: 1, in: policy.SafetyInput{Managed: 3, Incremental: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, policy.Config{Safety: tt.safety})
			err := p.CheckSafety(removalPlan(tt.blocks, tt.deletes), tt.in)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, policy.ErrSafetyLimit)
			var se *policy.SafetyError
			require.ErrorAs(t, err, &se)
			assert.InDelta(t, tt.want.Percent, se.Percent, 1e-9)
			se.Percent = tt.want.Percent
			assert.Equal(t, tt.want, se)
			if tt.msg != "" {
				assert.Equal(t, tt.msg, err.Error())
			}
			// A host wraps it; errors.Is still finds the sentinel.
			assert.True(t, errors.Is(fmt.Errorf("dirsync: plan: %w", err), policy.ErrSafetyLimit))
		})
	}
}

func TestSafetyInvalid(t *testing.T) {
	_, err := policy.New(policy.Config{Safety: policy.Safety{MaxPercent: 150, MinManagedForPercent: -1}})
	require.Error(t, err)
	assert.ErrorContains(t, err, "safety.maxPercent: 150 is not a percentage")
	assert.ErrorContains(t, err, "safety.minManagedForPercent: negative value -1")
}

func TestSafetyEndToEnd(t *testing.T) {
	// Twelve managed accounts; the directory still has two of them.
	var s source
	s.user("u00", "IT Users", false)
	s.user("u01", "IT Users", false)
	var current []diff.Account
	for i := range 12 {
		current = append(current, managed(fmt.Sprintf("u%02d", i)))
	}
	p := mustPolicy(t, policy.Config{})
	plan := s.plan(t, p, testNow, current)
	assert.Equal(t, 10, plan.Count(diff.OpBlock))
	err := p.CheckSafety(plan, policy.SafetyInput{Managed: 12, SourceUsers: 2})
	var se *policy.SafetyError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 10, se.Removals)
	assert.NoError(t, p.CheckSafety(plan, policy.SafetyInput{Managed: 12, SourceUsers: 2, Approved: true}))

	// The directory returned nobody: every account would be blocked.
	var empty source
	plan = empty.plan(t, p, testNow, current)
	err = p.CheckSafety(plan, policy.SafetyInput{Managed: 12})
	require.ErrorAs(t, err, &se)
	assert.True(t, se.EmptySource)
	assert.Equal(t, 12, se.Removals)

	// With "leave", an empty source removes nobody and passes.
	leave := mustPolicy(t, policy.Config{Lifecycle: policy.Lifecycle{Missing: "leave"}})
	plan = empty.plan(t, leave, testNow, current)
	assert.NoError(t, leave.CheckSafety(plan, policy.SafetyInput{Managed: 12}))
}

// Removals applied within the window count against the limits with the
// plan's own: a flood that arrives a few at a time stops where a burst
// would, and the percentage is of the accounts managed at the window's
// start. With the window turned off each plan counts alone.
func TestCheckSafetyCountsTheWindow(t *testing.T) {
	plan := func(n int) *diff.Plan {
		p := &diff.Plan{Source: "ad"}
		for i := range n {
			a := diff.Account{ID: fmt.Sprint(i), Source: "ad", ExternalID: fmt.Sprint(i), Managed: true}
			p.Changes = append(p.Changes, diff.Change{Op: diff.OpBlock, Before: &a, After: &a})
		}
		return p
	}
	pol, err := policy.New(policy.Config{})
	require.NoError(t, err)
	// 100 managed at the start; 19 blocked already (still managed).
	require.NoError(t, pol.CheckSafety(plan(1), policy.SafetyInput{Managed: 100, SourceUsers: 100, Recent: 19}))
	err = pol.CheckSafety(plan(2), policy.SafetyInput{Managed: 100, SourceUsers: 100, Recent: 19})
	var se *policy.SafetyError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 19, se.Recent)
	assert.Equal(t, 21.0, se.Percent)
	assert.Equal(t, policy.DefaultWindow, se.Window)
	assert.Contains(t, err.Error(), "with the 19 removed in the last 24 h that is 21% of the accounts managed then")
	assert.False(t, se.Suspect())
	// Deleted ones are no longer managed: the base is what was managed.
	require.NoError(t, pol.CheckSafety(plan(1), policy.SafetyInput{Managed: 81, SourceUsers: 81, Recent: 19, RecentDeletes: 19}))
	require.Error(t, pol.CheckSafety(plan(2), policy.SafetyInput{Managed: 81, SourceUsers: 81, Recent: 19, RecentDeletes: 19}))

	// The count limit too.
	pol, err = policy.New(policy.Config{Safety: policy.Safety{MaxRemovals: 5, MaxPercent: -1}})
	require.NoError(t, err)
	require.Error(t, pol.CheckSafety(plan(1), policy.SafetyInput{Managed: 1000, SourceUsers: 1000, Recent: 5}))
	require.NoError(t, pol.CheckSafety(plan(1), policy.SafetyInput{Managed: 1000, SourceUsers: 1000, Recent: 4}))

	// A negative window counts each plan alone.
	pol, err = policy.New(policy.Config{Safety: policy.Safety{Window: policy.Duration{Duration: -1}}})
	require.NoError(t, err)
	require.NoError(t, pol.CheckSafety(plan(2), policy.SafetyInput{Managed: 100, SourceUsers: 100, Recent: 19}))
}
