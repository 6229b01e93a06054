package dirsync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// countingStore counts the bytes its Gets return.
type countingStore struct {
	dirsync.Store
	read atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.Get(ctx, key)
	s.read.Add(int64(len(b)))
	return b, err
}

// logBenchSize is the first import's size: DIRSYNC_BENCH_LOG_SIZE, e.g.
// "100k"; 10k by default, to keep scripts/test.sh short.
func logBenchSize() int {
	spec := strings.ToLower(os.Getenv("DIRSYNC_BENCH_LOG_SIZE"))
	if spec == "" {
		spec = "10k"
	}
	mult := 1
	if strings.HasSuffix(spec, "k") {
		spec, mult = strings.TrimSuffix(spec, "k"), 1000
	}
	n, _ := strconv.Atoi(spec)
	return n * mult
}

// logBenchStores are the stores the log benchmarks run on; PostgreSQL too
// when DIRSYNC_PG_URL is set.
var logBenchStores = []struct {
	name string
	open func(b *testing.B) (dirsync.Store, string)
}{
	{"memory", func(*testing.B) (dirsync.Store, string) { return store.NewMemory(), "" }},
	{"file", func(b *testing.B) (dirsync.Store, string) {
		path := filepath.Join(b.TempDir(), "state.json")
		st, err := filestore.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		return st, path
	}},
}

func init() {
	if os.Getenv("DIRSYNC_PG_URL") == "" {
		return
	}
	logBenchStores = append(logBenchStores, struct {
		name string
		open func(b *testing.B) (dirsync.Store, string)
	}{"postgres", func(b *testing.B) (dirsync.Store, string) {
		pool := pgtest.Pool(b, 4)
		st, err := pgstore.New(pool, &pgstore.Options{Schema: pgtest.Schema(b, pool)})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		return st, ""
	}})
}

// importInto runs a first import of n people (n creates) into st, with
// the log on or off, and returns the Syncer.
func importInto(b *testing.B, st dirsync.Store, n int, log bool) *dirsync.Syncer {
	sy := newSyncer(b, fake.New(users(n)...), dirsynctest.NewMemorySink(), &dirsync.Options{Store: st,
		ApplyConcurrency: 1, Log: dirsync.LogOptions{Disabled: !log}})
	p, err := sy.Plan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	r, err := sy.Apply(context.Background(), p)
	if err != nil {
		b.Fatal(err)
	}
	if got := r.Count(dirsync.StatusApplied); got != n {
		b.Fatalf("applied %d of %d", got, n)
	}
	return sy
}

// BenchmarkLogHistoryAfterImport reads History after a first import of
// DIRSYNC_BENCH_LOG_SIZE creates, with the provisioning log on and off:
// the log must not make History read more. history-B/op is what History's
// Gets return; file-B is the size of the store file, which the file store
// reads whole on every Get.
//
//	DIRSYNC_BENCH_LOG_SIZE=100k go test -run '^$' -bench LogHistoryAfterImport -benchtime 200x -timeout 30m .
func BenchmarkLogHistoryAfterImport(b *testing.B) {
	n := logBenchSize()
	for _, s := range logBenchStores {
		for _, log := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/log=%v", s.name, log), func(b *testing.B) {
				st, path := s.open(b)
				cs := &countingStore{Store: st}
				sy := importInto(b, cs, n, log)
				cs.read.Store(0)
				for b.Loop() {
					runs, err := sy.History(context.Background())
					if err != nil || len(runs) != 1 {
						b.Fatal(runs, err)
					}
				}
				b.ReportMetric(float64(cs.read.Load())/float64(b.N), "history-B/op")
				if path != "" {
					info, err := os.Stat(path)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(info.Size()), "file-B")
				}
			})
		}
	}
}

// BenchmarkLogQueryAfterImport reads the log after a first import of
// DIRSYNC_BENCH_LOG_SIZE creates: the first page (100 entries) of the
// run, and one person's entries by email.
//
//	DIRSYNC_BENCH_LOG_SIZE=100k go test -run '^$' -bench LogQueryAfterImport -benchtime 200x -timeout 30m .
func BenchmarkLogQueryAfterImport(b *testing.B) {
	n := logBenchSize()
	for _, s := range logBenchStores {
		st, _ := s.open(b)
		cs := &countingStore{Store: st}
		sy := importInto(b, cs, n, true)
		queries := []struct {
			name string
			q    dirsync.LogQuery
			want int
		}{
			{"run-first-page", dirsync.LogQuery{}, 100},
			{"account-by-email", dirsync.LogQuery{Account: fmt.Sprintf("USER%d@example.test", n/2)}, 1},
		}
		for _, q := range queries {
			b.Run(s.name+"/"+q.name, func(b *testing.B) {
				cs.read.Store(0)
				for b.Loop() {
					page, err := sy.Log(context.Background(), q.q)
					if err != nil || len(page.Entries) != q.want {
						b.Fatal(len(page.Entries), err)
					}
				}
				b.ReportMetric(float64(cs.read.Load())/float64(b.N), "read-B/op")
			})
		}
	}
}

// BenchmarkLogApplyOverhead is a first import of DIRSYNC_BENCH_LOG_SIZE
// creates into an in-memory sink, with the log on and off: what writing
// the log adds to Apply.
//
//	DIRSYNC_BENCH_LOG_SIZE=100k go test -run '^$' -bench LogApplyOverhead -benchtime 3x -timeout 30m .
func BenchmarkLogApplyOverhead(b *testing.B) {
	n := logBenchSize()
	entries := users(n)
	for _, s := range logBenchStores {
		for _, log := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/log=%v", s.name, log), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					st, _ := s.open(b)
					sy := newSyncer(b, fake.New(entries...), dirsynctest.NewMemorySink(), &dirsync.Options{Store: st,
						ApplyConcurrency: 1, Log: dirsync.LogOptions{Disabled: !log}})
					p, err := sy.Plan(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if _, err := sy.Apply(context.Background(), p); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
			})
		}
	}
}
