package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
)

// benchUsers returns n, or DIRSYNC_SCIM_BENCH_USERS when set (scripts/test.sh
// runs the benchmarks once at a small size to check they work).
func benchUsers(n int) int {
	if v, err := strconv.Atoi(os.Getenv("DIRSYNC_SCIM_BENCH_USERS")); err == nil && v > 0 {
		return v
	}
	return n
}

func pushBody(i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"schemas":  []string{scim.URNUser, scim.URNEnterprise},
		"userName": fmt.Sprintf("user%05d@bench.example", i), "active": true, "title": "Engineer",
		"externalId":       fmt.Sprintf("ext-%05d", i),
		"name":             map[string]any{"givenName": "User", "familyName": fmt.Sprint(i)},
		"emails":           []any{map[string]any{"primary": true, "type": "work", "value": fmt.Sprintf("user%05d@bench.example", i)}},
		scim.URNEnterprise: map[string]any{"department": fmt.Sprint("Dept ", i%50)},
	})
	return b
}

// pushAll POSTs n users one at a time, as an identity provider does,
// through the mounted handler (in process: no network).
func pushAll(b *testing.B, h http.Handler, token string, bodies [][]byte) {
	for _, body := range bodies {
		req := httptest.NewRequest(http.MethodPost, "https://app.example.com"+mountPath+"/Users", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("POST: %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkPush10k: 10,000 users pushed one POST at a time through the
// handler into MemoryResources and into a Journal (each write
// synced to disk before the answer). Reports requests per second.
func BenchmarkPush10k(b *testing.B) {
	benchPushUsers := benchUsers(10_000)
	bodies := make([][]byte, benchPushUsers)
	for i := range bodies {
		bodies[i] = pushBody(i)
	}
	for _, kind := range []string{"memory", "file"} {
		b.Run(kind, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				ctx := context.Background()
				var st scim.Resources = scim.NewMemoryResources()
				if kind == "file" {
					fs, err := scim.OpenJournal(filepath.Join(b.TempDir(), "bench.scim"))
					if err != nil {
						b.Fatal(err)
					}
					defer fs.Close()
					st = fs
				}
				srv, err := scim.Open(ctx, scim.Config{Resources: st})
				if err != nil {
					b.Fatal(err)
				}
				tok, err := srv.RotateToken(ctx)
				if err != nil {
					b.Fatal(err)
				}
				c := newClient(b, srv, tok)
				b.StartTimer()
				start := time.Now()
				pushAll(b, c.h, tok, bodies)
				total += time.Since(start)
			}
			b.ReportMetric(float64(benchPushUsers*b.N)/total.Seconds(), "req/s")
		})
	}
}

// BenchmarkPush10kUntilAppMatches: the same 10,000 POSTs with the
// integration's Syncer running (OnChange → SyncNow, Run applying into the
// in-memory sink as pushes arrive). Reports the push rate under that load
// and the time from the first POST until the app holds every user
// (until-match-s), and after the last POST (after-last-s).
func BenchmarkPush10kUntilAppMatches(b *testing.B) {
	benchPushUsers := benchUsers(10_000)
	bodies := make([][]byte, benchPushUsers)
	for i := range bodies {
		bodies[i] = pushBody(i)
	}
	var push, match, after time.Duration
	for b.Loop() {
		b.StopTimer()
		ctx, cancel := context.WithCancel(context.Background())
		var sy *dirsync.Syncer
		srv, err := scim.Open(ctx, scim.Config{OnChange: func(context.Context) { sy.SyncNow() }})
		if err != nil {
			b.Fatal(err)
		}
		tok, err := srv.RotateToken(ctx)
		if err != nil {
			b.Fatal(err)
		}
		m, err := mapping.New(mapping.SCIMSpec())
		if err != nil {
			b.Fatal(err)
		}
		sink := dirsynctest.NewMemorySink()
		sy, err = dirsync.New(srv, sink, &dirsync.Options{Source: source, Mapper: m})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = sy.Run(ctx, &dirsync.RunOptions{SkipInitial: true}); close(done) }()
		c := newClient(b, srv, tok)
		b.StartTimer()
		start := time.Now()
		pushAll(b, c.h, tok, bodies)
		pushed := time.Now()
		for {
			n := 0
			for _, a := range sink.Snapshot() {
				if a.Source == source && !a.Blocked {
					n++
				}
			}
			if n == benchPushUsers {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		end := time.Now()
		push += pushed.Sub(start)
		match += end.Sub(start)
		after += end.Sub(pushed)
		b.StopTimer()
		cancel()
		<-done
		srv.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchPushUsers*b.N)/push.Seconds(), "req/s")
	b.ReportMetric(match.Seconds()/float64(b.N), "until-match-s")
	b.ReportMetric(after.Seconds()/float64(b.N), "after-last-s")
}

// planWorld is a SCIM store of n users already synced into the sink, after
// which 1% of them got a new title from the provider.
type planWorld struct {
	srv  *scim.Server
	sink *dirsynctest.MemorySink
}

var planWorlds = map[int]*planWorld{}

func newPlanWorld(b *testing.B, n int) *planWorld {
	if w, ok := planWorlds[n]; ok {
		return w
	}
	clear(planWorlds)
	ctx := context.Background()
	st := scim.NewMemoryResources()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		title := "Engineer"
		if i%100 == 0 {
			title = "Changed"
		}
		attrs, _ := json.Marshal(map[string]any{
			"userName": fmt.Sprintf("user%06d@bench.example", i), "active": true, "title": title,
			"name":             map[string]any{"givenName": "User", "familyName": fmt.Sprint(i)},
			"displayName":      fmt.Sprint("User ", i),
			"emails":           []any{map[string]any{"primary": true, "type": "work", "value": fmt.Sprintf("user%06d@bench.example", i)}},
			scim.URNEnterprise: map[string]any{"department": fmt.Sprint("Dept ", i%50)},
		})
		r := scim.Record{ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), Type: "User", Seq: uint64(i + 1), CreatedSeq: uint64(i + 1),
			Created: t0.Add(time.Duration(i) * time.Millisecond), Modified: t0.Add(time.Duration(i) * time.Millisecond), Attrs: attrs}
		if err := st.Put(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := scim.Open(ctx, scim.Config{Resources: st})
	if err != nil {
		b.Fatal(err)
	}
	entries, err := connector.ReadAll(ctx, srv)
	if err != nil {
		b.Fatal(err)
	}
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		b.Fatal(err)
	}
	m, err := mapping.New(mapping.SCIMSpec())
	if err != nil {
		b.Fatal(err)
	}
	accounts := make([]diff.Account, 0, n)
	for _, e := range snap.Users() {
		a, err := m.Map(e, snap)
		if err != nil {
			b.Fatal(err)
		}
		if a.Title == "Changed" {
			a.Title = "Engineer" // the app has the title from before the change
		}
		a.Source, a.Managed = source, true
		accounts = append(accounts, a)
	}
	w := &planWorld{srv: srv, sink: dirsynctest.NewMemorySink(accounts...)}
	planWorlds[n] = w
	return w
}

// scimBaseline is the core's bare map diff (bench_test.go in the root)
// over the SCIM connector: read, map the SCIM attributes by hand, compare
// two maps. No scope, no reasons, no ordering, no safety.
func scimBaseline(ctx context.Context, c connector.Connector, s dirsync.Sink) (updates int, err error) {
	want := map[string]diff.Account{}
	for e, err := range c.Read(ctx) {
		if err != nil {
			return 0, err
		}
		if e.Kind != connector.KindUser {
			continue
		}
		email := e.Attr("emails.primary")
		if email == "" {
			email = e.Attr("emails")
		}
		a := diff.Account{ExternalID: e.ID, Username: strings.ToLower(e.Attr("userName")), Email: strings.ToLower(email),
			GivenName: e.Attr("name.givenName"), FamilyName: e.Attr("name.familyName"), DisplayName: e.Attr("displayName"),
			Title: e.Attr("title"), Department: e.Attrs.Values("department")}
		want[e.ID] = a
	}
	for h, err := range s.Accounts(ctx) {
		if err != nil {
			return 0, err
		}
		w, ok := want[h.ExternalID]
		if ok && (h.Username != w.Username || h.Email != w.Email || h.GivenName != w.GivenName || h.FamilyName != w.FamilyName ||
			h.DisplayName != w.DisplayName || h.Title != w.Title || !slices.Equal(h.Department, w.Department)) {
			updates++
		}
	}
	return updates, nil
}

// BenchmarkPlanFromSCIMStore100k: a full Syncer.Plan over a SCIM store of
// 100,000 users (1% changed) beside the bare map diff over the same
// connector and sink.
func BenchmarkPlanFromSCIMStore100k(b *testing.B) {
	n := benchUsers(100_000)
	b.Run("baseline", func(b *testing.B) {
		w := newPlanWorld(b, n)
		b.ReportAllocs()
		for b.Loop() {
			updates, err := scimBaseline(context.Background(), w.srv, w.sink)
			if err != nil {
				b.Fatal(err)
			}
			if updates != (n+99)/100 {
				b.Fatalf("%d updates, want %d", updates, n/100)
			}
		}
	})
	b.Run("dirsync", func(b *testing.B) {
		w := newPlanWorld(b, n)
		m, err := mapping.New(mapping.SCIMSpec())
		if err != nil {
			b.Fatal(err)
		}
		sy, err := dirsync.New(w.srv, w.sink, &dirsync.Options{Source: source, Mapper: m})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			p, err := sy.Plan(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if got := p.Count(diff.OpUpdate); got != (n+99)/100 {
				b.Fatalf("%d updates, want %d", got, n/100)
			}
		}
	})
}

// benchClients is the number of concurrent clients of the concurrent
// push benchmarks.
const benchClients = 16

// openBenchResources returns new MemoryResources ("memory") or a new
// Journal in a temporary directory ("journal"), closed at the end of b.
func openBenchResources(b *testing.B, kind string) scim.Resources {
	if kind == "memory" {
		return scim.NewMemoryResources()
	}
	j, err := scim.OpenJournal(filepath.Join(b.TempDir(), "bench.scim"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = j.Close() })
	return j
}

// runClients runs fn(c, i) for i in [0, n) on benchClients goroutines,
// client c taking every benchClients-th i, and returns the wall time.
func runClients(n int, fn func(c, i int)) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for c := range benchClients {
		wg.Go(func() {
			for i := c; i < n; i += benchClients {
				fn(c, i)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkPushConcurrent: 2,000 users POSTed by 16 concurrent clients
// through the handler into MemoryResources, into a Journal (each write
// durable before its answer), and, with DIRSYNC_PG_URL, into scimpg on
// PostgreSQL: one replica, and two replicas (two Servers on two pools,
// the clients alternating between them). Reports requests per second.
func BenchmarkPushConcurrent(b *testing.B) {
	n := benchUsers(2_000)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = pushBody(i)
	}
	for _, kind := range []string{"memory", "journal", "postgresql", "postgresql-2replicas"} {
		b.Run(kind, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				ctx := context.Background()
				var hs []http.Handler
				var tok string
				for _, res := range openBenchReplicas(b, kind) {
					srv, err := scim.Open(ctx, scim.Config{Resources: res})
					if err != nil {
						b.Fatal(err)
					}
					if tok == "" {
						if tok, err = srv.RotateToken(ctx); err != nil {
							b.Fatal(err)
						}
					}
					hs = append(hs, newClient(b, srv, tok).h)
				}
				b.StartTimer()
				total += runClients(n, func(c, i int) {
					req := httptest.NewRequest(http.MethodPost, "https://app.example.com"+mountPath+"/Users", strings.NewReader(string(bodies[i])))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/scim+json")
					w := httptest.NewRecorder()
					hs[c%len(hs)].ServeHTTP(w, req)
					if w.Code != http.StatusCreated {
						b.Errorf("POST: %d %s", w.Code, w.Body)
					}
				})
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "req/s")
		})
	}
}

// openBenchReplicas returns the resources of one new integration, one
// handle per replica.
func openBenchReplicas(b *testing.B, kind string) []scim.Resources {
	switch kind {
	case "postgresql", "postgresql-2replicas":
		stores, _ := pgReplicas(b, 1+strings.Count(kind, "-2"))
		var out []scim.Resources
		for _, st := range stores {
			out = append(out, st.Resources("bench"))
		}
		return out
	}
	return []scim.Resources{openBenchResources(b, kind)}
}

// BenchmarkPutConcurrent: 2,000 records Put by 16 concurrent goroutines
// straight into MemoryResources and into a Journal, without the Server
// (which makes one Put at a time). Reports writes per second.
func BenchmarkPutConcurrent(b *testing.B) {
	n := benchUsers(2_000)
	recs := make([]scim.Record, n)
	for i := range recs {
		recs[i] = scim.Record{ID: fmt.Sprintf("id-%05d", i), Type: "User", Seq: uint64(i + 1), Attrs: pushBody(i)}
	}
	for _, kind := range []string{"memory", "journal"} {
		b.Run(kind, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				res := openBenchResources(b, kind)
				b.StartTimer()
				total += runClients(n, func(_, i int) {
					if err := res.Put(context.Background(), recs[i]); err != nil {
						b.Error(err)
					}
				})
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "writes/s")
		})
	}
}
