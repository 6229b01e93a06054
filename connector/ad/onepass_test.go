package ad

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A full plan reads every object from the DC exactly once: no search runs
// whose results are thrown away, whatever the size of the directory. The
// one exception is bounded: a DC that cuts the unpaged search (Windows
// AD's MaxPageSize) costs at most that many entries more, once.
func TestFullPlanIsOnePass(t *testing.T) {
	const capped = 100 // a Windows-like MaxPageSize, in units of this fake
	for _, mode := range []string{"unpaged", "paged", "windows"} {
		for _, users := range []int{0, 1, 99, 100, 1050} {
			dc := newCountingDC(t, users)
			cfg := dc.config(dc.start())
			switch mode {
			case "paged": // the default
			case "unpaged":
				cfg.UnpagedLimit = 20000
			case "windows":
				cfg.UnpagedLimit = 20000
				dc.maxPageSize = capped
			}
			c, err := Open(t.Context(), cfg)
			require.NoError(t, err)
			sy, err := dirsync.New(c, dirsynctest.NewMemorySink(), nil)
			require.NoError(t, err)
			plan, err := sy.Plan(context.Background())
			require.NoError(t, err)
			assert.Equal(t, users, plan.SourceUsers)

			got, _ := dc.snapshot()
			objects := users + 1
			pages := (objects + 99) / 100
			assert.Zero(t, got.DirSyncEntries, "%s, %d users: DirSync returned entries that a full read discards", mode, users)
			assert.LessOrEqual(t, got.DirSync, 1, "%s, %d users: DirSync searches", mode, users)
			switch {
			case mode == "paged":
				assert.Equal(t, objects, got.Entries, "%s, %d users: entries returned for %d objects (a second full pass?)", mode, users, objects)
				assert.Equal(t, 0, got.Unpaged, "%s, %d users", mode, users)
				assert.Equal(t, pages, got.Paged, "%s, %d users: paged search requests", mode, users)
			case mode == "windows" && objects > capped:
				assert.Equal(t, objects+capped, got.Entries, "%s, %d users: the cut unpaged answer and one paged pass", mode, users)
				assert.Equal(t, 1, got.Unpaged, "%s, %d users", mode, users)
				assert.Equal(t, 1, got.Cut, "%s, %d users", mode, users)
				assert.Equal(t, pages, got.Paged, "%s, %d users: paged search requests", mode, users)
			default:
				assert.Equal(t, objects, got.Entries, "%s, %d users: entries returned for %d objects (a second full pass?)", mode, users, objects)
				assert.Equal(t, 1, got.Unpaged, "%s, %d users: one unpaged search", mode, users)
				assert.Equal(t, 0, got.Paged, "%s, %d users", mode, users)
			}
		}
	}
}

// The cursor of a full read is taken before the read: an object changed on
// the DC while the pages are read comes back in the next incremental read.
// The groups' memberships the cursor remembers come from the same pass.
func TestFullReadLosesNoChangeMadeDuringIt(t *testing.T) {
	const users = 450
	for _, page := range []int{-1, 0, 2, 4} { // the unpaged read; the first, a middle and the last page
		dc := newCountingDC(t, users)
		cfg := dc.config(dc.start())
		if page < 0 {
			cfg.UnpagedLimit = 20000
		}
		c, err := Open(t.Context(), cfg)
		require.NoError(t, err)
		victim := max(page, 0)*100 + 7 // on the page just read: the read has it with the old title
		dc.onPage = func(p int) {
			if p == max(page, 0) {
				dc.modify(victim, "title", "Changed during the read")
			}
		}
		var full []connector.Entry
		cur, err := c.ReadChanges(context.Background(), nil, func(e connector.Entry) error {
			full = append(full, e)
			return nil
		})
		require.NoError(t, err)
		require.Len(t, full, users+1)
		dec, err := decodeCursor(cur)
		require.NoError(t, err)
		mem, err := dec.members()
		require.NoError(t, err)
		require.Len(t, mem, 1)
		for _, m := range mem {
			assert.Len(t, m, users, "the cursor remembers every member of the group")
		}

		dc.onPage = nil
		var changed []connector.Entry
		_, err = c.ReadChanges(context.Background(), cur, func(e connector.Entry) error {
			changed = append(changed, e)
			return nil
		})
		require.NoError(t, err)
		var titles []string
		for _, e := range changed {
			if e.DN == dc.objs[victim].dn {
				titles = append(titles, e.Attr("title"))
			}
		}
		assert.Equal(t, []string{"Changed during the read"}, titles, "change on page %d", page)
	}
}

// The read asks for pages of Config.PageSize entries, by default AD's
// MaxPageSize of 1,000 (a larger page would be cut to it by the DC).
func TestPageSize(t *testing.T) {
	const users = 2499
	for _, size := range []int{0, 250, 999, 1000, 5000} {
		dc := newCountingDC(t, users)
		cfg := dc.config(dc.start())
		cfg.PageSize = size
		cfg.UnpagedLimit = -1 // only pages
		c, err := Open(t.Context(), cfg)
		require.NoError(t, err)
		entries, err := connector.ReadAll(context.Background(), c)
		require.NoError(t, err)
		require.Len(t, entries, users+1)
		want := size
		if size == 0 {
			want = 1000
		}
		got, _ := dc.snapshot()
		assert.Equal(t, (users+1+want-1)/want, got.Paged, "PageSize %d", size)
		assert.Equal(t, want, c.Config().PageSize)
	}
}

// A Syncer's full plan asks the DC for the attributes its mapping and
// policy read and the connector's own, in every search; the constructed
// lockout attribute only when a rule reads lockedout. Projecting leaves
// the connector itself unchanged.
func TestPlanRequestsProjectedAttributes(t *testing.T) {
	lockout := mapping.ADSpec()
	lockout.Rules = append(lockout.Rules, mapping.Rule{Target: diff.ExtraPrefix + "locked", From: []string{"lockedout"}})
	for name, spec := range map[string]mapping.Spec{"ad": mapping.ADSpec(), "lockout": lockout} {
		dc := newCountingDC(t, 120)
		c, err := Open(t.Context(), dc.config(dc.start()))
		require.NoError(t, err)
		m, err := mapping.New(spec)
		require.NoError(t, err)
		sy, err := dirsync.New(c, dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: m})
		require.NoError(t, err)
		_, err = sy.Plan(context.Background())
		require.NoError(t, err)

		allowed := map[string]bool{}
		for _, a := range append(append(m.Attributes(), "cn", "displayname"), ownAttributes...) {
			allowed[strings.ToLower(a)] = true
		}
		for _, a := range []string{"msds-user-account-control-computed", "lockouttime"} {
			allowed[a] = name == "lockout"
		}
		_, lists := dc.snapshot()
		require.NotEmpty(t, lists)
		for _, list := range lists {
			if slices.Equal(list, []string{"objectGUID"}) {
				continue // the cookie search
			}
			for _, a := range list {
				assert.True(t, allowed[strings.ToLower(a)], "%s: %q requested", name, a)
			}
		}
		assert.Equal(t, name == "lockout", slices.ContainsFunc(lists[len(lists)-1], func(a string) bool {
			return strings.EqualFold(a, "msDS-User-Account-Control-Computed")
		}), name)
		assert.Equal(t, readAttributes, c.attributes(), "the connector itself still reads its defaults")
	}
}

// On a real DC the cookie of a full read names the state before the read:
// the next incremental read returns what changed since, not the domain.
func TestFullReadCookieIsCurrent(t *testing.T) {
	f := needDC(t)
	c, err := Open(t.Context(), f.config(f.base))
	require.NoError(t, err)
	ctx := context.Background()
	n := 0
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { n++; return nil })
	require.NoError(t, err)
	require.Greater(t, n, 100)
	again := 0
	_, err = c.ReadChanges(ctx, cur, func(connector.Entry) error { again++; return nil })
	require.NoError(t, err)
	assert.Less(t, again, 10, "the first incremental read after a full read of %d entries", n)
}
