package dirsync_test

import (
	"context"
	"iter"
	"strconv"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// fullOnly hides a connector's incremental capability.
type fullOnly struct{ c connector.Connector }

func (f fullOnly) Read(ctx context.Context) iter.Seq2[connector.Entry, error] { return f.c.Read(ctx) }

// BenchmarkRunAfterOneChange compares a sync run (plan and apply) after one
// change in a directory of 10,000 users whose reads cost 50µs an entry (a
// stand-in for LDAP or HTTP paging): full reads against incremental ones.
//
//	go test -run '^$' -bench RunAfterOneChange -benchtime 20x .
func BenchmarkRunAfterOneChange(b *testing.B) {
	const n = 10_000
	for _, mode := range []string{"full", "incremental"} {
		b.Run(mode, func(b *testing.B) {
			entries := fake.Company(n, 21)
			dir := fake.New(entries...)
			sink := dirsynctest.NewMemorySink()
			var conn connector.Connector = dir
			if mode == "full" {
				conn = fullOnly{dir}
			}
			sy := newSyncer(b, conn, sink, &dirsync.Options{Clock: systemClock{}})
			syncOnce(b, sy) // the first run reads everything either way
			dir.SetDelay(50 * time.Microsecond)
			target := sink.Snapshot()[0].ExternalID
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				if err := dir.Set(target, "title", "Title "+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
				p, _ := syncOnce(b, sy)
				if p.Actionable() != 1 || p.Incremental != (mode == "incremental") {
					b.Fatalf("plan: incremental=%v\n%s", p.Incremental, p)
				}
			}
		})
	}
}
