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
// own UnpagedLimit asked of the DC or enforced on a DC that ignores it, a
// time or administrative limit, Samba's operationsError), a full read yields
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
		paged, err := Open(t.Context(), pagedCfg)
		require.NoError(t, err)
		want := readIDs(t, paged)
		require.Len(t, want, users+1)

		cfg := dc.config(addr)
		cfg.UnpagedLimit = 20000
		switch rng.IntN(5) {
		case 0: // no cap
		case 1:
			dc.maxPageSize = 1 + rng.IntN(450)
		case 2:
			cfg.UnpagedLimit = 1 + rng.IntN(450)
		case 3:
			dc.unpagedCode = []int{ldap.LDAPResultSizeLimitExceeded, ldap.LDAPResultTimeLimitExceeded,
				ldap.LDAPResultAdminLimitExceeded, ldap.LDAPResultOperationsError}[rng.IntN(4)]
		case 4: // a DC that ignores the limit asked (Samba): the connector stops reading
			dc.ignoreSizeLimit = true
			cfg.UnpagedLimit = 1 + rng.IntN(450)
		}
		c, err := Open(t.Context(), cfg)
		require.NoError(t, err)
		before, _ := dc.snapshot()
		assert.Equal(t, want, readIDs(t, c), "users %d, DC cap %d, UnpagedLimit %d, code %d", users, dc.maxPageSize, cfg.UnpagedLimit, dc.unpagedCode)
		first, _ := dc.snapshot()
		assert.Equal(t, 1, first.Unpaged-before.Unpaged, "one unpaged attempt")
		cut := first.Cut > before.Cut || first.Paged > before.Paged // the DC cut it, or the connector did
		if dc.ignoreSizeLimit && users+1 > cfg.UnpagedLimit {
			assert.True(t, cut, "users %d, UnpagedLimit %d: the connector stops at its own limit when the DC ignores it", users, cfg.UnpagedLimit)
			assert.Equal(t, 2, first.Binds-before.Binds, "a new connection leaves the rest of the cut answer behind")
		} else {
			assert.Equal(t, 1, first.Binds-before.Binds, "one connection for the read")
		}

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

// Only a limit (size, time, administrative, or Samba's operationsError)
// turns the read into a paged one; any other failure of the unpaged
// search fails the read, as a failed page does.
func TestUnpagedReadFailureFailsTheRead(t *testing.T) {
	for _, code := range []int{ldap.LDAPResultBusy, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInsufficientAccessRights} {
		dc := newCountingDC(t, 50)
		dc.unpagedCode = code
		cfg := dc.config(dc.start())
		cfg.UnpagedLimit = 20000
		c, err := Open(t.Context(), cfg)
		require.NoError(t, err)
		_, err = connector.ReadAll(context.Background(), c)
		require.Error(t, err, "code %d", code)
		assert.True(t, ldap.IsErrorWithCode(err, uint16(code)), "code %d: %v", code, err)
		got, _ := dc.snapshot()
		assert.Zero(t, got.Paged, "code %d: no fallback to pages", code)
	}
}

// By default a full read pages: the unpaged attempt is opt-in, since its
// cost grows with the directory (at 100,000 users Samba answered it with
// the whole directory whatever limit was asked, or with operationsError).
func TestFullReadPagesByDefault(t *testing.T) {
	dc := newCountingDC(t, 250)
	c, err := Open(t.Context(), dc.config(dc.start()))
	require.NoError(t, err)
	assert.Len(t, readIDs(t, c), 251)
	got, _ := dc.snapshot()
	assert.Zero(t, got.Unpaged, "no unpaged attempt")
	assert.Equal(t, 3, got.Paged, "three pages of 100")
}
