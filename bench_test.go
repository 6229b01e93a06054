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
	sink := syncedSink(b, entries)
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

// syncedSink is the app as a previous sync of entries left it: every user
// as the default mapping makes it, managed under source "ad". Built
// directly, not through a plan, so that setting up a million accounts stays
// cheap.
func syncedSink(b *testing.B, entries []connector.Entry) *dirsynctest.MemorySink {
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
	return dirsynctest.NewMemorySink(accounts...)
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
// bare map-diff baseline over the same data, and beside a fixture-only read
// of the same streams (fixtureOnly): Plan and baseline report their own
// time (own-ns/op, their time minus the fixture's) and Plan its ratios to
// the baseline (own-x, whole-x). DIRSYNC_BENCH_SIZES limits the sizes
// (e.g. "100k").
func BenchmarkPlan(b *testing.B) {
	only := os.Getenv("DIRSYNC_BENCH_SIZES")
	for _, size := range benchSizes {
		if only != "" && !slices.Contains(strings.Split(only, ","), size.name) {
			continue
		}
		b.Run(size.name+"/fixture", func(b *testing.B) {
			w := newBenchWorld(b, size.n)
			benchFixture(b, "plan/"+size.name, size.n, w.dir, w.sink)
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
			reportOwnTime(b, "plan/"+size.name, true)
		})
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
			reportOwnTime(b, "plan/"+size.name, false)
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

// fixtureOnly reads the same streams as Plan and baseline and keeps
// nothing: every entry and every account, every string touched (its length
// and first byte), so that what the fixture costs to produce (generating,
// copying, iterating) is measured apart from what is done with it. The
// count of users and accounts is returned so that the loop cannot be
// optimised away and so that the benchmark can check it read everything.
func fixtureOnly(ctx context.Context, c connector.Connector, s dirsync.Sink) (users, accounts int, sum uint64, err error) {
	touch := func(v string) {
		sum += uint64(len(v))
		if v != "" {
			sum += uint64(v[0])
		}
	}
	for e, err := range c.Read(ctx) {
		if err != nil {
			return 0, 0, 0, err
		}
		if e.Kind == connector.KindUser {
			users++
		}
		touch(e.ID)
		touch(e.DN)
		for _, p := range e.Path {
			touch(p)
		}
		for k, vs := range e.Attrs {
			touch(k)
			for _, v := range vs {
				touch(v)
			}
		}
		for _, v := range e.MemberOf {
			touch(v)
		}
		for _, v := range e.Members {
			touch(v)
		}
	}
	for a, err := range s.Accounts(ctx) {
		if err != nil {
			return 0, 0, 0, err
		}
		accounts++
		for _, v := range []string{a.ID, a.Source, a.ExternalID, a.Username, a.Email, a.GivenName,
			a.FamilyName, a.DisplayName, a.Title, a.Phone, a.Manager, a.BlockReason} {
			touch(v)
		}
		for _, v := range a.Department {
			touch(v)
		}
		for _, v := range a.Roles {
			touch(v)
		}
		for k, v := range a.Extra {
			touch(k)
			touch(v)
		}
	}
	return users, accounts, sum, nil
}

// fixtureSum keeps fixtureOnly's checksum alive.
var fixtureSum uint64

// ownTime records, per fixture and size, the time of one fixture-only read
// and of one baseline diff, so that the sub-benchmarks that run after them
// can report their own cost: their time minus the fixture's.
var ownTime = map[string]*struct{ fixture, baseline float64 }{}

func nsPerOp(b *testing.B) float64 {
	if b.N == 0 {
		return 0
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// benchFixture is the fixture-only sub-benchmark of key (fixture and size):
// it must run before the baseline and dirsync sub-benchmarks of the same
// key, which then report their own time.
func benchFixture(b *testing.B, key string, n int, c connector.Connector, s dirsync.Sink) {
	fixture := resetPeakRSS()
	b.ReportAllocs()
	for b.Loop() {
		users, accounts, sum, err := fixtureOnly(context.Background(), c, s)
		if err != nil {
			b.Fatal(err)
		}
		if users != n || accounts != n {
			b.Fatalf("read %d users and %d accounts, want %d", users, accounts, n)
		}
		fixtureSum += sum
	}
	reportPeakRSS(b, fixture)
	ownTime[key] = &struct{ fixture, baseline float64 }{fixture: nsPerOp(b)}
}

// reportOwnTime reports, when the fixture-only sub-benchmark of key ran,
// "own-ns/op": this sub-benchmark's time minus the fixture's. For Plan
// (baseline false) it also reports "own-x": Plan's own time over the
// baseline's own time, and "whole-x": Plan's whole time over the
// baseline's.
func reportOwnTime(b *testing.B, key string, baseline bool) {
	t, ok := ownTime[key]
	if !ok || t.fixture == 0 {
		return
	}
	whole := nsPerOp(b)
	b.ReportMetric(whole-t.fixture, "own-ns/op")
	if baseline {
		t.baseline = whole
		return
	}
	if t.baseline > t.fixture {
		b.ReportMetric((whole-t.fixture)/(t.baseline-t.fixture), "own-x")
		b.ReportMetric(whole/t.baseline, "whole-x")
	}
}
