package dirsync_test

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
)

// benchSizesFor is benchSizes limited by DIRSYNC_BENCH_SIZES.
func benchSizesFor() []struct {
	name string
	n    int
} {
	only := os.Getenv("DIRSYNC_BENCH_SIZES")
	var out []struct {
		name string
		n    int
	}
	for _, size := range benchSizes {
		if only == "" || slices.Contains(strings.Split(only, ","), size.name) {
			out = append(out, size)
		}
	}
	return out
}

// BenchmarkIncrementalAtScale is a sync run (plan and apply) after one
// change in a directory of n users that are all managed accounts of a
// MemorySink (which has AccountLookup): full reads against incremental
// ones. The full sub-benchmark runs first; the incremental one then reports
// its time and its memory above the fixture as a share of the full run's
// ("time-%", "mem-%"). One size per process for clean peaks:
//
//	DIRSYNC_BENCH_SIZES=1M go test -run '^$' -bench IncrementalAtScale -benchtime 1x .
func BenchmarkIncrementalAtScale(b *testing.B) {
	for _, size := range benchSizesFor() {
		clear(benchWorlds) // one fixture at a time
		runtime.GC()
		entries := fake.Company(size.n, 42)
		sink := syncedSink(b, entries)
		dir := fake.New(entries...)
		entries = nil
		target := sink.Snapshot()[size.n/2].ExternalID
		i := 0
		change := func(b *testing.B) {
			i++
			if err := dir.Set(target, "title", "Title "+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
		// The incremental Syncer's first run is a full read in step with
		// the sink (but for the departments, which it creates): it stores
		// the cursor and the managed count.
		inc := newSyncer(b, dir, sink, nil)
		if p, _ := syncOnce(b, inc); p.Actionable() != p.Count(diff.OpCreateDepartment) || p.Incremental {
			b.Fatalf("first run: %d actionable, incremental=%v\n%s", p.Actionable(), p.Incremental, p)
		}
		var full struct{ ns, mib float64 }
		for _, mode := range []string{"full", "incremental"} {
			b.Run(size.name+"/"+mode, func(b *testing.B) {
				sy := inc
				if mode == "full" {
					sy = newSyncer(b, fullOnly{dir}, sink, nil)
				}
				fixture := resetPeakRSS()
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					change(b)
					b.StartTimer()
					p, _ := syncOnce(b, sy)
					if p.Actionable() != 1 || p.Incremental != (mode == "incremental") {
						b.Fatalf("plan: incremental=%v, %d actionable", p.Incremental, p.Actionable())
					}
				}
				reportPeakRSS(b, fixture)
				mib := procStatusMiB("VmHWM:") - fixture
				if mode == "full" {
					full.ns, full.mib = nsPerOp(b), mib
				} else if full.ns > 0 && full.mib > 0 {
					b.ReportMetric(100*nsPerOp(b)/full.ns, "time-%")
					b.ReportMetric(100*mib/full.mib, "mem-%")
				}
			})
		}
		runtime.KeepAlive(sink)
	}
}

// BenchmarkTenants plans many integrations of 10,000 users each in one
// process: each tenant its own Syncer, generated directory (streamDir, with
// 1% changed titles) and app (streamApp), all planned at once
// ("concurrent", one goroutine a tenant) against one after another
// ("sequential"). The number of tenants is the DIRSYNC_BENCH_SIZES size
// over 10,000: 100k is 10 tenants, 1M is 100. The concurrent sub-benchmark
// reports its time over the sequential one's ("x-sequential").
//
//	DIRSYNC_BENCH_SIZES=1M go test -run '^$' -bench Tenants -benchtime 1x .
func BenchmarkTenants(b *testing.B) {
	const per = 10_000
	for _, size := range benchSizesFor() {
		clear(benchWorlds)
		runtime.GC()
		tenants := size.n / per
		syncers := make([]*dirsync.Syncer, tenants)
		for t := range syncers {
			syncers[t] = newSyncer(b, streamDir{per}, streamApp{per}, nil)
		}
		plan := func(b *testing.B, sy *dirsync.Syncer) {
			p, err := sy.Plan(context.Background())
			if err != nil {
				b.Error(err)
				return
			}
			if got, want := p.Count(diff.OpUpdate), per/100; got != want {
				b.Errorf("%d updates, want %d", got, want)
			}
		}
		var sequential float64
		name := size.name + "/" + strconv.Itoa(tenants) + "x10k/"
		b.Run(name+"sequential", func(b *testing.B) {
			fixture := resetPeakRSS()
			b.ReportAllocs()
			for b.Loop() {
				for _, sy := range syncers {
					plan(b, sy)
				}
			}
			reportPeakRSS(b, fixture)
			sequential = nsPerOp(b)
		})
		b.Run(name+"concurrent", func(b *testing.B) {
			fixture := resetPeakRSS()
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for _, sy := range syncers {
					wg.Go(func() { plan(b, sy) })
				}
				wg.Wait()
			}
			reportPeakRSS(b, fixture)
			if sequential > 0 {
				b.ReportMetric(nsPerOp(b)/sequential, "x-sequential")
			}
		})
	}
}

var _ connector.Connector = streamDir{}
