package dirsync_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
)

// benchWorld is a directory of n generated users already synced into an
// in-memory sink, after which 1% of the users changed at the source.
type benchWorld struct {
	dir  *fake.Directory
	sink *dirsynctest.MemorySink
}

var benchWorlds = map[int]*benchWorld{}

func newBenchWorld(b *testing.B, n int) *benchWorld {
	if w, ok := benchWorlds[n]; ok {
		return w
	}
	// Only one world at a time, so that memory belongs to one size.
	clear(benchWorlds)
	runtime.GC()
	entries := fake.Company(n, 42)
	// The app already holds every user as the default mapping makes it:
	// the state a previous sync left. Built directly, not through a plan,
	// so that setting up a million accounts stays cheap.
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		b.Fatal(err)
	}
	m, err := mapping.New(mapping.ADSpec())
	if err != nil {
		b.Fatal(err)
	}
	accounts := make([]diff.Account, 0, len(snap.Users()))
	for _, e := range snap.Users() {
		a, err := m.Map(e, snap)
		if err != nil {
			b.Fatal(err)
		}
		a.Source, a.Managed = "ad", true
		if e.Disabled {
			a.Blocked, a.BlockedBySync, a.BlockedAt = true, true, clock
		}
		accounts = append(accounts, a)
	}
	sink := dirsynctest.NewMemorySink(accounts...)
	accounts, snap = nil, nil
	dir := fake.New(entries...)
	changed := 0
	for _, e := range entries {
		if e.Kind == connector.KindUser && changed < n/100 {
			if err := dir.Set(e.ID, "title", "Changed "+strconv.Itoa(changed)); err != nil {
				b.Fatal(err)
			}
			changed++
		}
	}
	w := &benchWorld{dir: dir, sink: sink}
	benchWorlds[n] = w
	return w
}

// baseline is a bare, hand-written map diff over the same data: read every
// entry, map the AD attributes by hand, list the sink, compare by ID. No
// scope, no reasons, no ordering, no safety: the floor Plan is measured
// against.
func baseline(ctx context.Context, c connector.Connector, s dirsync.Sink) (creates, updates, blocks int, err error) {
	var users []connector.Entry
	mailByDN := map[string]string{}
	for e, err := range c.Read(ctx) {
		if err != nil {
			return 0, 0, 0, err
		}
		if e.Kind != connector.KindUser {
			continue
		}
		users = append(users, e)
		mailByDN[strings.ToLower(e.DN)] = e.Attr("mail")
	}
	first := func(e *connector.Entry, names ...string) string {
		for _, n := range names {
			if v := e.Attr(n); v != "" {
				return v
			}
		}
		return ""
	}
	want := make(map[string]diff.Account, len(users))
	for i := range users {
		e := &users[i]
		a := diff.Account{
			ExternalID:  e.ID,
			Username:    strings.ToLower(e.Attr("sAMAccountName")),
			Email:       strings.ToLower(first(e, "mail", "userPrincipalName")),
			GivenName:   e.Attr("givenName"),
			FamilyName:  e.Attr("sn"),
			DisplayName: first(e, "displayName"),
			Title:       e.Attr("title"),
			Phone:       first(e, "telephoneNumber", "mobile"),
			Manager:     strings.ToLower(mailByDN[strings.ToLower(e.Attr("manager"))]),
			Department:  e.Attrs.Values("department"),
		}
		if a.DisplayName == "" {
			a.DisplayName = strings.TrimSpace(e.Attr("givenName") + " " + e.Attr("sn"))
		}
		if len(a.Department) == 0 {
			a.Department = e.Path
		}
		want[e.ID] = a
	}
	have := map[string]diff.Account{}
	for a, err := range s.Accounts(ctx) {
		if err != nil {
			return 0, 0, 0, err
		}
		have[a.ExternalID] = a
	}
	for id, w := range want {
		h, ok := have[id]
		switch {
		case !ok:
			creates++
		case h.Username != w.Username || h.Email != w.Email || h.GivenName != w.GivenName ||
			h.FamilyName != w.FamilyName || h.DisplayName != w.DisplayName || h.Title != w.Title ||
			h.Phone != w.Phone || h.Manager != w.Manager || !slices.Equal(h.Department, w.Department):
			updates++
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			blocks++
		}
	}
	return creates, updates, blocks, nil
}

var benchSizes = []struct {
	name string
	n    int
}{{"100k", 100_000}, {"1M", 1_000_000}}

// BenchmarkPlan measures Syncer.Plan (fake connector → scope → mapping →
// diff, against the in-memory sink) with 1% of users changed, beside the
// bare map-diff baseline over the same data. DIRSYNC_BENCH_SIZES limits the
// sizes (e.g. "100k").
func BenchmarkPlan(b *testing.B) {
	only := os.Getenv("DIRSYNC_BENCH_SIZES")
	for _, size := range benchSizes {
		if only != "" && !slices.Contains(strings.Split(only, ","), size.name) {
			continue
		}
		b.Run(size.name+"/dirsync", func(b *testing.B) {
			w := newBenchWorld(b, size.n)
			sy := newSyncer(b, w.dir, w.sink, nil)
			fixture := resetPeakRSS()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p, err := sy.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if got := p.Count(diff.OpUpdate); got != size.n/100 {
					b.Fatalf("%d updates, want %d", got, size.n/100)
				}
			}
			reportPeakRSS(b, fixture)
		})
		b.Run(size.name+"/baseline", func(b *testing.B) {
			w := newBenchWorld(b, size.n)
			fixture := resetPeakRSS()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, updates, _, err := baseline(context.Background(), w.dir, w.sink)
				if err != nil {
					b.Fatal(err)
				}
				if updates != size.n/100 {
					b.Fatalf("%d updates, want %d", updates, size.n/100)
				}
			}
			reportPeakRSS(b, fixture)
		})
	}
}

// resetPeakRSS returns the memory to the OS, resets the kernel's peak-RSS
// mark (VmHWM) to the current RSS, and returns that RSS in MiB: the
// fixture's own size (generated directory and in-memory app).
func resetPeakRSS() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return procStatusMiB("VmRSS:")
}

// reportPeakRSS reports the process's peak RSS since resetPeakRSS
// ("peak-RSS-MiB", fixture included) and the part above the fixture
// ("plan-MiB"): what one Plan (or one baseline diff) costs in memory.
func reportPeakRSS(b *testing.B, fixture float64) {
	peak := procStatusMiB("VmHWM:")
	if peak > 0 {
		b.ReportMetric(peak, "peak-RSS-MiB")
		b.ReportMetric(peak-fixture, "plan-MiB")
	}
}

func procStatusMiB(field string) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
