package dirsync_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// sleepySink is a MemorySink behind a network: every call takes delay.
type sleepySink struct {
	*dirsynctest.MemorySink
	delay time.Duration
}

func (s sleepySink) Apply(ctx context.Context, c dirsync.Change) error {
	time.Sleep(s.delay)
	return s.MemorySink.Apply(ctx, c)
}

// BenchmarkApplySlowSink is a first import (every account a create) into
// a sink that takes 20 ms per call, one change at a time and with
// concurrent apply. Sizes and modes come from DIRSYNC_BENCH_APPLY, e.g.
// "10k/64,100k/64,10k/1" (size/concurrency; 1 is one at a time, about
// 200 s for 10k); the default, "1k/64", keeps it short in scripts/test.sh.
//
//	DIRSYNC_BENCH_APPLY=10k/64,100k/64,10k/1 go test -run '^$' -bench ApplySlowSink -benchtime 1x -timeout 30m .
func BenchmarkApplySlowSink(b *testing.B) {
	spec := os.Getenv("DIRSYNC_BENCH_APPLY")
	if spec == "" {
		spec = "1k/64"
	}
	for _, run := range strings.Split(spec, ",") {
		size, conc, _ := strings.Cut(run, "/")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(size, "k"), "K"))
		if strings.HasSuffix(strings.ToLower(size), "k") {
			n *= 1000
		}
		c, _ := strconv.Atoi(conc)
		b.Run(size+"/concurrency-"+conc, func(b *testing.B) {
			entries := users(n) // n people, no departments: n creates
			for b.Loop() {
				b.StopTimer()
				sink := sleepySink{MemorySink: dirsynctest.NewMemorySink(), delay: 20 * time.Millisecond}
				sy := newSyncer(b, fake.New(entries...), sink, &dirsync.Options{ApplyConcurrency: c})
				p, err := sy.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				r, err := sy.Apply(context.Background(), p)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := r.Count(dirsync.StatusApplied); got != p.Actionable() {
					b.Fatalf("applied %d of %d", got, p.Actionable())
				}
				b.ReportMetric(float64(p.Actionable()), "changes")
				b.StartTimer()
			}
		})
	}
}
