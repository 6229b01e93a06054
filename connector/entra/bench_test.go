package entra

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/fakegraph"
	"github.com/dirsync-go/dirsync/mapping"
)

// benchUsers is the tenant size of the benchmarks: DIRSYNC_ENTRA_BENCH_USERS,
// default 100,000.
func benchUsers(b *testing.B) int {
	if v := os.Getenv("DIRSYNC_ENTRA_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("DIRSYNC_ENTRA_BENCH_USERS=%q", v)
		}
		return n
	}
	return 100_000
}

func benchConnector(b *testing.B, s *fakegraph.Server) *Connector {
	c, err := open(Config{Credential: staticCred{token: fakegraph.Token}, GraphBaseURL: s.BaseURL()}, s.Client().Transport)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkRead is a full read of a generated tenant (every user but the
// first has a manager; one group holds every user) through the real Graph
// client and the fake Graph server, which enforces Graph's page caps (999
// a page, 100 with $expand), with the default page size of 999. It
// reports the user page requests per read (/users and /users/delta) and
// the allocations per user (client and connector; the fake server runs
// in the same process, so its allocations count too).
//
//	go test -run '^$' -bench Read -benchtime 3x -benchmem ./connector/entra
func BenchmarkRead(b *testing.B) {
	n := benchUsers(b)
	s := fakegraph.New()
	defer s.Close()
	ids := s.AddUsers(n)
	for i := 1; i < n; i++ {
		s.SetManager(ids[i], ids[(i-1)/2])
	}
	s.AddGroup("Everyone", ids...)
	c := benchConnector(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.ResetCounts()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		entries, err := connector.ReadAll(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/user")
		if len(entries) != n+1 {
			b.Fatalf("read %d entries, want %d", len(entries), n+1)
		}
		if n > 1 && entries[n-1].Attr("manager") == "" {
			b.Fatal("manager not resolved")
		}
		b.ReportMetric(float64(s.RequestsTo("users")+s.RequestsTo("users/delta")), "user-pages/op")
		b.ReportMetric(float64(s.Requests()), "requests/op")
	}
}

// BenchmarkOneChange is an incremental read after one user changed: the
// requests it costs.
func BenchmarkOneChange(b *testing.B) {
	n := min(benchUsers(b), 10_000)
	s := fakegraph.New()
	defer s.Close()
	ids := s.AddUsers(n)
	c := benchConnector(b, s)
	ctx := context.Background()
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		s.UpdateUser(ids[i%n], map[string]any{"jobTitle": "Title " + strconv.Itoa(i)})
		s.ResetCounts()
		got := 0
		cur, err = c.ReadChanges(ctx, cur, func(connector.Entry) error { got++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if got != 1 {
			b.Fatalf("%d changes, want 1", got)
		}
		b.ReportMetric(float64(s.Requests()), "requests/op")
	}
}

// BenchmarkGroupChange is an incremental read after one user left a group
// of a nested pair (Team inside Everyone): the requests it costs to yield
// both groups complete and the user with a current MemberOf.
func BenchmarkGroupChange(b *testing.B) {
	n := min(benchUsers(b), 10_000)
	s := fakegraph.New()
	defer s.Close()
	ids := s.AddUsers(n)
	team := s.AddGroup("Team", ids[:n/2]...)
	s.AddGroup("Everyone", append([]string{team}, ids[n/2:]...)...)
	c := benchConnector(b, s)
	ctx := context.Background()
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		id := ids[i%(n/2)]
		i++
		s.RemoveMember(team, id)
		s.ResetCounts()
		got := 0
		cur, err = c.ReadChanges(ctx, cur, func(connector.Entry) error { got++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if got != 3 {
			b.Fatalf("%d entries, want 3 (the user, Team, Everyone)", got)
		}
		b.ReportMetric(float64(s.Requests()), "requests/op")
		b.StopTimer()
		s.AddMember(team, id)
		if cur, err = c.ReadChanges(ctx, cur, func(connector.Entry) error { return nil }); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkReadBytes is a full read of 10,000 generated users (with
// managers, one group of everyone) as the Syncer does it: unprojected
// (the connector's default $select), and projected to mapping.EntraSpec
// and to mapping.ADSpec (of whose names Graph has mail,
// userPrincipalName, givenName, displayName, department and manager), each
// with the attributes the Syncer shows (cn, displayName). It reports the
// response bytes the fake Graph served per read.
//
//	go test -run '^$' -bench ReadBytes -benchtime 3x ./connector/entra
func BenchmarkReadBytes(b *testing.B) {
	const n = 10_000
	s := fakegraph.New()
	defer s.Close()
	ids := s.AddUsers(n)
	for i := 1; i < n; i++ {
		s.SetManager(ids[i], ids[(i-1)/2])
	}
	s.AddGroup("Everyone", ids...)
	c := benchConnector(b, s)
	attrs := func(spec mapping.Spec) []string {
		m, err := mapping.New(spec)
		if err != nil {
			b.Fatal(err)
		}
		return append(m.Attributes(), "cn", "displayname")
	}
	for _, bc := range []struct {
		name string
		conn connector.Connector
	}{
		{"default", c},
		{"EntraSpec", c.Project(attrs(mapping.EntraSpec()))},
		{"ADSpec", c.Project(attrs(mapping.ADSpec()))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s.ResetCounts()
				entries, err := connector.ReadAll(context.Background(), bc.conn)
				if err != nil {
					b.Fatal(err)
				}
				if len(entries) != n+1 {
					b.Fatalf("read %d entries, want %d", len(entries), n+1)
				}
				b.ReportMetric(float64(s.BytesServed()), "bytes/read")
				b.ReportMetric(float64(s.BytesServed())/n, "bytes/user")
			}
		})
	}
}
