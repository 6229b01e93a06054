package ad

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requestsMemberships reports whether any search in lists asked for
// memberOf or member.
func requestsMemberships(lists [][]string) bool {
	for _, l := range lists {
		if slices.ContainsFunc(l, func(a string) bool {
			return strings.EqualFold(a, "memberOf") || strings.EqualFold(a, "member")
		}) {
			return true
		}
	}
	return false
}

// A Syncer's plans ask the DC for memberOf and member exactly when the
// mapping's role links or the policy's group scope rules use groups, and
// the groups' members then reach the plan (the role is granted).
func TestPlanRequestsMembershipsOnlyWhenGroupsAreUsed(t *testing.T) {
	roles := mapping.ADSpec()
	roles.Roles = []mapping.RoleLink{{Group: "Staff", Role: "staff"}}
	byGroup, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
		{Name: "staff only", Group: "Staff", Action: policy.ActionInclude},
	}}})
	require.NoError(t, err)
	cases := []struct {
		name   string
		spec   mapping.Spec
		pol    *policy.Policy
		groups bool
	}{
		{"ADSpec", mapping.ADSpec(), nil, false},
		{"role links", roles, nil, true},
		{"group scope rule", mapping.ADSpec(), byGroup, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const users = 150
			dc := newCountingDC(t, users)
			c, err := Open(t.Context(), dc.config(dc.start()))
			require.NoError(t, err)
			m, err := mapping.New(tc.spec)
			require.NoError(t, err)
			sy, err := dirsync.New(c, dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: m, Policy: tc.pol})
			require.NoError(t, err)
			p, err := sy.Plan(context.Background())
			require.NoError(t, err)
			_, lists := dc.snapshot()
			assert.Equal(t, tc.groups, requestsMemberships(lists), "searches: %v", lists)
			assert.Equal(t, users, p.SourceUsers)
			withRole := 0
			for _, ch := range p.Changes {
				if ch.After != nil && slices.Contains(ch.After.Roles, "staff") {
					withRole++
				}
			}
			if tc.spec.Roles != nil {
				assert.Equal(t, users, withRole, "every member of Staff gets the role")
			}
		})
	}
}

// A projection without memberships issues cursors that remember none and
// say so; incremental reads from them work and neither read nor track
// memberships; a connector that reads memberships refuses such a cursor
// as expired, and accepts its own.
func TestCursorWithoutMemberships(t *testing.T) {
	ctx := context.Background()
	dc := newCountingDC(t, 120)
	c, err := Open(t.Context(), dc.config(dc.start()))
	require.NoError(t, err)
	plain := c.Project([]string{"mail", "sAMAccountName"})
	withGroups := c.Project([]string{"mail", "sAMAccountName", "memberof"})

	var got []connector.Entry
	cur, err := plain.(connector.Incremental).ReadChanges(ctx, nil, func(e connector.Entry) error {
		got = append(got, e)
		return nil
	})
	require.NoError(t, err)
	require.Len(t, got, 121)
	for _, e := range got {
		assert.Empty(t, e.MemberOf, e.DN)
		assert.Empty(t, e.Members, e.DN)
	}
	dec, err := decodeCursor(cur)
	require.NoError(t, err)
	assert.True(t, dec.NoMembers)
	assert.Empty(t, dec.Groups)
	_, lists := dc.snapshot()
	assert.False(t, requestsMemberships(lists), "searches: %v", lists)

	// A membership change: the group loses a member.
	g := len(dc.objs) - 1
	dc.modify(g, "member", dc.objs[g].attrs["member"][1:]...)
	dc.modify(0, "memberOf")
	n := 0
	cur2, err := plain.(connector.Incremental).ReadChanges(ctx, cur, func(connector.Entry) error { n++; return nil })
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the changed group and user, no member re-reads")
	dec, err = decodeCursor(cur2)
	require.NoError(t, err)
	assert.True(t, dec.NoMembers)
	_, lists = dc.snapshot()
	assert.False(t, requestsMemberships(lists), "searches: %v", lists)

	for _, tracking := range []connector.Connector{c, withGroups} {
		_, err = tracking.(connector.Incremental).ReadChanges(ctx, cur2, func(connector.Entry) error { return nil })
		assert.ErrorIs(t, err, connector.ErrCursorExpired)
	}
	full, err := withGroups.(connector.Incremental).ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)
	dec, err = decodeCursor(full)
	require.NoError(t, err)
	assert.False(t, dec.NoMembers)
	assert.Len(t, dec.Groups, 1)
	_, err = withGroups.(connector.Incremental).ReadChanges(ctx, full, func(connector.Entry) error { return nil })
	assert.NoError(t, err)
	// A connector that does not read memberships accepts a tracking
	// cursor and stops tracking.
	next, err := plain.(connector.Incremental).ReadChanges(ctx, full, func(connector.Entry) error { return nil })
	require.NoError(t, err)
	dec, err = decodeCursor(next)
	require.NoError(t, err)
	assert.True(t, dec.NoMembers)
	assert.Empty(t, dec.Groups)
}
