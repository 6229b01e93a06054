package dirsync_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// streamDir is a generated directory that holds nothing: Read makes user i
// on the fly, as a connector decoding LDAP pages would. Every hundredth
// user has a new title. With streamApp, it measures the memory a Plan
// itself needs, without gigabytes of fixture in the heap that would set the
// garbage collector's pace.
type streamDir struct{ n int }

var (
	streamGiven = []string{"Ann", "Bob", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jana", "Юлия", "Пётр"}
	streamSN    = []string{"Lee", "Ray", "Wu", "Novak", "Berg", "Haddad", "Ilic", "Sato", "Petrov", "Kral", "Щербакова", "Хрущёв"}
	streamTitle = []string{"Engineer", "Analyst", "Account Executive", "Designer", "Support Specialist", "Recruiter", "Controller"}
	streamDept  = []string{"Engineering", "Sales", "Marketing", "Support", "Finance"}
	streamOU    = []string{"Europe", "North America", "Asia Pacific"}
)

func streamID(i int) string  { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7919) }
func streamSam(i int) string { return "u" + strconv.Itoa(1000000+i) }
func streamDN(i int) string {
	return "CN=" + streamSam(i) + ",OU=" + streamDept[i%5] + " users,OU=" + streamOU[i%3] + ",DC=example,DC=test"
}
func streamTitleOf(i int, changed bool) string {
	if changed && i%100 == 0 {
		return "Principal " + streamTitle[i%7]
	}
	return streamTitle[i%7]
}

func (d streamDir) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		for i := range d.n {
			if i%1024 == 0 && ctx.Err() != nil {
				yield(connector.Entry{}, ctx.Err())
				return
			}
			sam := streamSam(i)
			e := connector.Entry{ID: streamID(i), Kind: connector.KindUser, DN: streamDN(i),
				Path: []string{streamOU[i%3], streamDept[i%5] + " users"}, Attrs: make(connector.Attrs, 10)}
			e.Attrs["samaccountname"] = []string{sam}
			e.Attrs["userprincipalname"] = []string{sam + "@corp.example.test"}
			e.Attrs["mail"] = []string{sam + "@example.test"}
			e.Attrs["givenname"] = []string{streamGiven[i%12]}
			e.Attrs["sn"] = []string{streamSN[i%12]}
			e.Attrs["displayname"] = []string{streamGiven[i%12] + " " + streamSN[i%12]}
			e.Attrs["title"] = []string{streamTitleOf(i, true)}
			e.Attrs["department"] = []string{streamDept[i%5]}
			e.Attrs["telephonenumber"] = []string{"+1 555 " + strconv.Itoa(1000000+i)}
			if i > 0 {
				e.Attrs["manager"] = []string{streamDN(i / 8)}
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// streamApp is the app side of streamDir: every user already synced, with
// the titles from before the change.
type streamApp struct{ n int }

func (a streamApp) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		for i := range a.n {
			sam := streamSam(i)
			acc := diff.Account{ID: "app-" + strconv.Itoa(i), Source: "ad", ExternalID: streamID(i), Managed: true,
				Username: sam, Email: sam + "@example.test", GivenName: streamGiven[i%12], FamilyName: streamSN[i%12],
				DisplayName: streamGiven[i%12] + " " + streamSN[i%12], Title: streamTitleOf(i, false),
				Phone: "+1 555 " + strconv.Itoa(1000000+i), Department: []string{streamDept[i%5]}}
			if i > 0 {
				acc.Manager = streamSam(i/8) + "@example.test"
			}
			if !yield(acc, nil) {
				return
			}
		}
	}
}

func (streamApp) Apply(context.Context, diff.Change) error { return nil }

// BenchmarkPlanStreaming is BenchmarkPlan over the generated, storage-free
// directory and app: its peak RSS is what a Plan needs, since nothing else
// of size lives in the process. Its fixture sub-benchmark reads the same
// streams and keeps nothing, so that Plan's and the baseline's own time
// (own-ns/op) can be told from the cost of generating the fixture. Run one
// size per process for a clean peak:
//
//	go test -run '^$' -bench 'PlanStreaming/1M' -benchtime 2x .
func BenchmarkPlanStreaming(b *testing.B) {
	only := os.Getenv("DIRSYNC_BENCH_SIZES")
	for _, size := range benchSizes {
		if only != "" && !slices.Contains(strings.Split(only, ","), size.name) {
			continue
		}
		dir, app := streamDir{size.n}, streamApp{size.n}
		b.Run(size.name+"/fixture", func(b *testing.B) {
			benchFixture(b, "stream/"+size.name, size.n, dir, app)
		})
		b.Run(size.name+"/baseline", func(b *testing.B) {
			fixture := resetPeakRSS()
			b.ReportAllocs()
			for b.Loop() {
				_, updates, _, err := baseline(context.Background(), dir, app)
				if err != nil {
					b.Fatal(err)
				}
				if want := (size.n + 99) / 100; updates != want {
					b.Fatalf("%d updates, want %d", updates, want)
				}
			}
			reportPeakRSS(b, fixture)
			reportOwnTime(b, "stream/"+size.name, true)
		})
		b.Run(size.name+"/dirsync", func(b *testing.B) {
			sy := newSyncer(b, dir, app, nil)
			fixture := resetPeakRSS()
			b.ReportAllocs()
			for b.Loop() {
				p, err := sy.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if got, want := p.Count(diff.OpUpdate), (size.n+99)/100; got != want {
					b.Fatalf("%d updates, want %d:\n%s", got, want, first(p.Changes, 3))
				}
			}
			reportPeakRSS(b, fixture)
			reportOwnTime(b, "stream/"+size.name, false)
		})
	}
}

func first(cs []diff.Change, n int) string {
	var b strings.Builder
	for _, c := range cs[:min(n, len(cs))] {
		fmt.Fprintf(&b, "%s %s %v\n", c.Op, c.Status(), c.Fields)
	}
	return b.String()
}
