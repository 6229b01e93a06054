package ad

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readIDs(t *testing.T, c connector.Connector) []string {
	t.Helper()
	entries, err := connector.ReadAll(context.Background(), c)
	require.NoError(t, err)
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	slices.Sort(ids)
	return ids
}

// Whatever cuts the unpaged search (the DC's MaxPageSize, the connector's
// own UnpagedLimit, a time or administrative limit), a full read yields
// exactly what a paged read yields: the entries of a cut answer are never
// taken for the directory. After a cut the connector, and every
// projection of it, pages on that DC without trying again.
func TestUnpagedReadEqualsPagedRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2026))
	for range 40 {
		users := rng.IntN(400)
		dc := newCountingDC(t, users)
		addr := dc.start()
		pagedCfg := dc.config(addr)
		pagedCfg.UnpagedLimit = -1
		paged, err := Open(pagedCfg, nil)
		require.NoError(t, err)
		want := readIDs(t, paged)
		require.Len(t, want, users+1)

		cfg := dc.config(addr)
		switch rng.IntN(4) {
		case 0: // no cap
		case 1:
			dc.maxPageSize = 1 + rng.IntN(450)
		case 2:
			cfg.UnpagedLimit = 1 + rng.IntN(450)
		case 3:
			dc.unpagedCode = []int{ldap.LDAPResultSizeLimitExceeded, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded}[rng.IntN(3)]
		}
		c, err := Open(cfg, nil)
		require.NoError(t, err)
		before, _ := dc.snapshot()
		assert.Equal(t, want, readIDs(t, c), "users %d, DC cap %d, UnpagedLimit %d, code %d", users, dc.maxPageSize, cfg.UnpagedLimit, dc.unpagedCode)
		first, _ := dc.snapshot()
		assert.Equal(t, 1, first.Unpaged-before.Unpaged, "one unpaged attempt")
		cut := first.Cut > before.Cut

		// Again, through a projection of the same connector.
		assert.Equal(t, want, readIDs(t, c.Project([]string{"mail"})))
		second, _ := dc.snapshot()
		if cut {
			assert.Equal(t, first.Unpaged, second.Unpaged, "a DC that cut the unpaged search is paged from then on")
		} else {
			assert.Equal(t, first.Unpaged+1, second.Unpaged, "a DC that answered in full is asked unpaged again")
			assert.Equal(t, first.Paged, second.Paged, "no pages when the unpaged search answered in full")
		}
	}
}

// Only a size, time or administrative limit turns the read into a paged
// one; any other failure of the unpaged search fails the read, as a failed
// page does.
func TestUnpagedReadFailureFailsTheRead(t *testing.T) {
	for _, code := range []int{ldap.LDAPResultBusy, ldap.LDAPResultOperationsError, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInsufficientAccessRights} {
		dc := newCountingDC(t, 50)
		dc.unpagedCode = code
		c, err := Open(dc.config(dc.start()), nil)
		require.NoError(t, err)
		_, err = connector.ReadAll(context.Background(), c)
		require.Error(t, err, "code %d", code)
		assert.True(t, ldap.IsErrorWithCode(err, uint16(code)), "code %d: %v", code, err)
		got, _ := dc.snapshot()
		assert.Zero(t, got.Paged, "code %d: no fallback to pages", code)
	}
}
