package dirsync_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
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
	// Only one world at a time, so that peak memory belongs to one size.
	clear(benchWorlds)
	entries := fake.Company(n, 42)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(b, dir, sink, nil)
	p, err := sy.Plan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sy.Apply(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	changed := 0
	for _, e := range entries {
		if e.Kind == connector.KindUser && changed < n/100 {
			dir.Set(e.ID, "title", "Changed "+strconv.Itoa(changed))
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
	want := map[string]diff.Account{}
	for e, err := range c.Read(ctx) {
		if err != nil {
			return 0, 0, 0, err
		}
		if e.Kind != connector.KindUser {
			continue
		}
		want[e.ID] = diff.Account{
			ExternalID:  e.ID,
			Username:    strings.ToLower(e.Attr("sAMAccountName")),
			Email:       strings.ToLower(e.Attr("mail")),
			GivenName:   e.Attr("givenName"),
			FamilyName:  e.Attr("sn"),
			DisplayName: e.Attr("displayName"),
			Title:       e.Attr("title"),
			Phone:       e.Attr("telephoneNumber"),
			Department:  e.Path,
		}
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
			h.Phone != w.Phone || !slices.Equal(h.Department, w.Department):
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
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p, err := sy.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if got := p.Count(diff.OpUpdate); got < size.n/200 {
					b.Fatalf("%d updates, want at least %d", got, size.n/200)
				}
			}
			reportPeakRSS(b)
		})
		b.Run(size.name+"/baseline", func(b *testing.B) {
			w := newBenchWorld(b, size.n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, updates, _, err := baseline(context.Background(), w.dir, w.sink)
				if err != nil {
					b.Fatal(err)
				}
				if updates < size.n/200 {
					b.Fatalf("%d updates", updates)
				}
			}
			reportPeakRSS(b)
		})
	}
}

// reportPeakRSS reports the process's peak resident set (VmHWM) in MiB.
// Run one size per process to read it for that size alone.
func reportPeakRSS(b *testing.B) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err == nil {
				b.ReportMetric(kb/1024, "peak-RSS-MiB")
			}
		}
	}
}
