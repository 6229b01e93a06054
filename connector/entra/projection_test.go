package entra

import (
	"context"
	"encoding/json"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/store"
)

// unprojected hides Project: the Syncer reads it with the connector's
// default $select.
type unprojected struct{ c *Connector }

func (u unprojected) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return u.c.Read(ctx)
}
func (u unprojected) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	return u.c.ReadChanges(ctx, since, yield)
}

// selected splits the recorded $select values of an endpoint.
func selected(t *testing.T, tn *tenant, endpoint string) [][]string {
	t.Helper()
	var out [][]string
	for _, s := range tn.srv.Selects(endpoint) {
		if s != "" {
			l := strings.Split(s, ",")
			slices.Sort(l)
			out = append(out, l)
		}
	}
	return out
}

func sortedCopy(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}

// entraOwn is what the connector selects whatever the projection (with the
// default OrgPathAttribute, department).
var entraOwn = []string{"id", "accountEnabled", "department"}

// For mapping.EntraSpec, and for EntraSpec with random extra rules over
// the user properties the connector reads, a plan through a Syncer
// selects exactly the properties the mapping reads plus the connector's
// own (and manager on the delta round), every entry carries only
// selected properties, and the plan is byte-identical to the plan of an
// unprojected read.
func TestProjectedPlanSelectsMappedProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 14))
	for round := range 8 {
		spec := mapping.EntraSpec()
		// The properties EntraSpec reads (and displayName, which the Syncer shows).
		want := []string{"userPrincipalName", "mail", "givenName", "surname", "displayName", "jobTitle",
			"businessPhones", "mobilePhone", "department"}
		if round > 0 {
			for _, p := range userSelect {
				if !slices.Contains(want, p) && rng.IntN(2) == 0 {
					// Any case: Syncer projections are lower case, specs are not.
					name := p
					if rng.IntN(2) == 0 {
						name = strings.ToLower(p)
					}
					spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "x" + strings.ToLower(p), From: []string{name}})
					want = append(want, p)
				}
			}
			// Names Graph does not have (a shared AD spec) are not sent.
			spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "ad", From: []string{"sAMAccountName", "physicalDeliveryOfficeName"}})
		}
		for _, p := range entraOwn {
			if !slices.Contains(want, p) {
				want = append(want, p)
			}
		}
		slices.Sort(want)

		tn := newTenant(t)
		ctx := testCtx(t)
		m, err := mapping.New(spec)
		require.NoError(t, err)
		plans := map[bool][]byte{}
		for _, project := range []bool{true, false} {
			tn.srv.ResetCounts()
			var conn connector.Connector = tn.open(t)
			if !project {
				conn = unprojected{tn.open(t)}
			}
			sy, err := dirsync.New(conn, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "entra", Mapper: m})
			require.NoError(t, err)
			p, err := sy.Plan(ctx)
			require.NoError(t, err)
			require.Positive(t, p.Count(diff.OpCreate))
			plans[project], err = json.Marshal(p)
			require.NoError(t, err)
			if project {
				deltas := selected(t, tn, "users/delta")
				require.NotEmpty(t, deltas)
				for _, sel := range deltas {
					assert.Equal(t, sortedCopy(append(slices.Clone(want), "manager")), sel, "round %d", round)
				}
				for _, sel := range append(selected(t, tn, "groups"), selected(t, tn, "groups/delta")...) {
					assert.Subset(t, []string{"id", "displayName", "mail", "members"}, sel)
				}
			} else {
				assert.Equal(t, sortedCopy(append(slices.Clone(userSelect), "manager")), selected(t, tn, "users/delta")[0])
			}
		}
		assert.Equal(t, string(plans[false]), string(plans[true]), "round %d: the projected read plans the same", round)

		// The entries of a projected read carry only selected properties.
		entries, err := connector.ReadAll(ctx, tn.open(t).Project(m.Attributes()))
		require.NoError(t, err)
		for _, e := range entries {
			if e.Kind != connector.KindUser {
				continue
			}
			for name := range e.Attrs {
				assert.True(t, name == "manager" || slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, name) }),
					"round %d: %s carries %q", round, e.ID, name)
			}
		}
	}
}

// Project does not change the receiver, and a changed user re-read by
// ReadChanges is read with the projection's $select.
func TestProjectIncremental(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t)
	p := c.Project([]string{"userprincipalname"})
	_, cur, err := readChanges(t, p.(*Connector), nil)
	require.NoError(t, err)
	tn.srv.UpdateUser(tn.alice, map[string]any{"userPrincipalName": "alice2@contoso.test", "jobTitle": "CEO"})
	tn.srv.UpdateUser(tn.dave, map[string]any{"jobTitle": "CTO"}) // not selected: not reported
	tn.srv.ResetCounts()
	got, _, err := readChanges(t, p.(*Connector), cur)
	require.NoError(t, err)
	var ids []string
	for _, e := range got {
		if e.Kind == connector.KindUser {
			ids = append(ids, e.ID)
			assert.Equal(t, "alice2@contoso.test", e.Attr("userPrincipalName"))
			assert.Empty(t, e.Attr("jobTitle"), "not selected")
		}
	}
	assert.Equal(t, []string{tn.alice}, ids)
	assert.Equal(t, [][]string{{"accountEnabled", "department", "id", "userPrincipalName"}}, selected(t, tn, "users/{id}"))

	tn.srv.ResetCounts()
	_, err = connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	assert.Equal(t, sortedCopy(append(slices.Clone(userSelect), "manager")), selected(t, tn, "users/delta")[0],
		"the receiver keeps its default $select")
}

// A rule added at run time reaches the next read: a new Syncer with the
// widened spec selects the new property, reads in full and maps it.
func TestRuleAddedAtRunTimeReachesNextRead(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t)
	sink := dirsynctest.NewMemorySink()
	store := store.NewMemory()
	m, err := mapping.New(mapping.EntraSpec())
	require.NoError(t, err)
	sy, err := dirsync.New(c, sink, &dirsync.Options{Source: "entra", Mapper: m, Store: store})
	require.NoError(t, err)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	for _, sel := range selected(t, tn, "users/delta") {
		assert.NotContains(t, sel, "officeLocation")
	}
	tn.srv.UpdateUser(tn.alice, map[string]any{"officeLocation": "Room 7"})
	tn.srv.UpdateUser(tn.carol, map[string]any{"officeLocation": "Room 1"})

	spec := mapping.EntraSpec()
	spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "office", From: []string{"officeLocation"}})
	m2, err := mapping.New(spec)
	require.NoError(t, err)
	sy2, err := dirsync.New(c, sink, &dirsync.Options{Source: "entra", Mapper: m2, Store: store})
	require.NoError(t, err)
	tn.srv.ResetCounts()
	p2, err := sy2.Plan(ctx)
	require.NoError(t, err)
	assert.False(t, p2.Incremental, "a wider projection reads in full")
	sels := selected(t, tn, "users/delta")
	require.NotEmpty(t, sels)
	assert.Contains(t, sels[0], "officeLocation")
	offices := map[string]string{}
	for _, ch := range p2.Changes {
		if ch.Op == diff.OpUpdate && ch.After != nil {
			offices[ch.After.ExternalID] = ch.After.Extra["office"]
		}
	}
	assert.Equal(t, map[string]string{tn.alice: "Room 7", tn.carol: "Room 1"}, offices)
}
