package dirsync_test

import (
	"context"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/store"
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
// ones. MemorySink's LookupAccounts scans every account; the
// incremental-indexed sub-benchmark answers it from indexes (indexedSink),
// as a database would, so that what remains is the engine's own cost. The
// full sub-benchmark runs first; the incremental ones then report
// their time and their memory above the fixture as a share of the full run's
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
		st := store.NewMemory()
		inc := newSyncer(b, dir, sink, &dirsync.Options{Store: st})
		if p, _ := syncOnce(b, inc); p.Actionable() != p.Count(diff.OpCreateDepartment) || p.Incremental {
			b.Fatalf("first run: %d actionable, incremental=%v\n%s", p.Actionable(), p.Incremental, p)
		}
		// The same integration (one Store) over a sink whose lookups are
		// indexed, as a database's would be.
		indexed := newSyncer(b, dir, newIndexedSink(sink), &dirsync.Options{Store: st})
		var full struct{ ns, mib float64 }
		for _, mode := range []string{"full", "incremental", "incremental-indexed"} {
			b.Run(size.name+"/"+mode, func(b *testing.B) {
				sy := inc
				switch mode {
				case "full":
					sy = newSyncer(b, fullOnly{dir}, sink, nil)
				case "incremental-indexed":
					sy = indexed
				}
				fixture := resetPeakRSS()
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					change(b)
					b.StartTimer()
					p, _ := syncOnce(b, sy)
					if p.Actionable() != 1 || p.Incremental != (mode != "full") {
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
			reportRetained(b, "sequential")
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
			reportRetained(b, "concurrent")
			if sequential > 0 {
				b.ReportMetric(nsPerOp(b)/sequential, "x-sequential")
			}
		})
	}
}

var _ connector.Connector = streamDir{}

// indexedSink is a MemorySink whose AccountLookup uses indexes instead of
// MemorySink's scan of every account: by join key (MemorySink.Get) and by
// normalised email (an index kept here, built at the start and extended on
// each applied change; stale entries are checked on use). It finds only
// accounts with a join key, which in BenchmarkIncrementalAtScale is every
// account.
type indexedSink struct {
	*dirsynctest.MemorySink
	mu      sync.Mutex
	byEmail map[string][]string // normalised email → external IDs
	source  map[string]string   // external ID → source
}

func newIndexedSink(s *dirsynctest.MemorySink) *indexedSink {
	x := &indexedSink{MemorySink: s, byEmail: map[string][]string{}, source: map[string]string{}}
	for _, a := range s.Snapshot() {
		x.index(&a)
	}
	return x
}

func (x *indexedSink) index(a *diff.Account) {
	if a.ExternalID == "" {
		return
	}
	x.source[a.ExternalID] = a.Source
	if e := diff.NormalizeEmail(a.Email); e != "" && !slices.Contains(x.byEmail[e], a.ExternalID) {
		x.byEmail[e] = append(x.byEmail[e], a.ExternalID)
	}
}

func (x *indexedSink) Apply(ctx context.Context, c diff.Change) error {
	if err := x.MemorySink.Apply(ctx, c); err != nil {
		return err
	}
	if c.After != nil {
		x.mu.Lock()
		x.index(c.After)
		x.mu.Unlock()
	}
	return nil
}

func (x *indexedSink) LookupAccounts(ctx context.Context, source string, externalIDs, emails []string) ([]diff.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	found := map[string]diff.Account{}
	for _, id := range externalIDs {
		if a, ok := x.Get(source, id); ok {
			found[a.ID] = a
		}
	}
	for _, e := range emails {
		n := diff.NormalizeEmail(e)
		for _, id := range x.byEmail[n] {
			if a, ok := x.Get(x.source[id], id); ok && n != "" && diff.NormalizeEmail(a.Email) == n {
				found[a.ID] = a
			}
		}
	}
	out := make([]diff.Account, 0, len(found))
	for _, id := range slices.Sorted(maps.Keys(found)) {
		out = append(out, found[id])
	}
	return out, nil
}

// reportRetained reports the live heap after a collection ("live-MiB"):
// what the Syncers keep once their plans are done. With
// DIRSYNC_BENCH_HEAPPROFILE set to a path prefix it also writes that heap's
// profile to prefix-name.pprof (go tool pprof -sample_index=inuse_space).
func reportRetained(b *testing.B, name string) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MiB")
	if prefix := os.Getenv("DIRSYNC_BENCH_HEAPPROFILE"); prefix != "" {
		f, err := os.Create(prefix + "-" + name + ".pprof")
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
	}
}
