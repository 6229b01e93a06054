package google_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/oauth2"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
	"github.com/dirsync-go/dirsync/mapping"
)

// benchUsers is the directory size; DIRSYNC_GOOGLE_BENCH_USERS overrides
// the default of 50,000.
func benchUsers(b *testing.B) int {
	n := 50000
	if v := os.Getenv("DIRSYNC_GOOGLE_BENCH_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("DIRSYNC_GOOGLE_BENCH_USERS=%q", v)
		}
	}
	return n
}

// benchFake holds n users in 20 org units and n/1000 groups of 1,000.
func benchFake(b *testing.B, n int) (*fakegoogle.Server, *google.Connector) {
	fk := fakegoogle.New(adminEmail)
	b.Cleanup(fk.Close)
	for i := range n {
		id := fmt.Sprintf("1%011d", i)
		fk.AddUser(fakegoogle.User{ID: id, PrimaryEmail: fmt.Sprintf("user%d@example.com", i),
			GivenName: "Given" + strconv.Itoa(i), FamilyName: "Family", OrgUnitPath: fmt.Sprintf("/Region %d/Users", i%20),
			Title: "Engineer", Department: "R&D", WorkPhone: "+1 555 0100", Manager: "boss@example.com",
			Suspended: i%50 == 0})
		g := fmt.Sprintf("g%d", i/1000)
		if i%1000 == 0 {
			fk.AddGroup(fakegoogle.Group{ID: g, Email: g + "@example.com", Name: "Group " + g})
		}
		fk.AddMember(g, fakegoogle.Member{ID: id, Type: "USER"})
	}
	c, err := google.Open(b.Context(), google.Config{
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: fk.StaticToken()}),
		Endpoint:    fk.URL,
	})
	if err != nil {
		b.Fatal(err)
	}
	return fk, c
}

// BenchmarkRead is a full read of the directory through the real client
// and the fake server in the same process (the fake's own work, encoding
// JSON, is part of the time and allocations).
func BenchmarkRead(b *testing.B) {
	n := benchUsers(b)
	fk, c := benchFake(b, n)
	ctx := context.Background()
	// A first read outside the timing fills the fake's JSON cache, as in
	// BenchmarkReadChangesNone.
	if _, err := connector.ReadAll(ctx, c); err != nil {
		b.Fatal(err)
	}
	before := fk.Requests("users")
	ops := 0
	b.ReportAllocs()
	for b.Loop() {
		es, err := connector.ReadAll(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		if len(es) < n {
			b.Fatalf("read %d entries, want %d users", len(es), n)
		}
		ops++
	}
	b.ReportMetric(float64(fk.Requests("users")-before)/float64(ops), "userpages/op")
	if pages := (fk.Requests("users") - before) / ops; pages > (n+499)/500 {
		b.Errorf("%d user pages for %d users", pages, n)
	}
}

// BenchmarkReadChangesNone is an incremental read when nothing changed:
// still a full read, plus hashing, yielding nothing.
func BenchmarkReadChangesNone(b *testing.B) {
	n := benchUsers(b)
	_, c := benchFake(b, n)
	ctx := context.Background()
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		yielded := 0
		if _, err := c.ReadChanges(ctx, cur, func(connector.Entry) error { yielded++; return nil }); err != nil {
			b.Fatal(err)
		}
		if yielded != 0 {
			b.Fatalf("%d entries yielded after no change", yielded)
		}
	}
	b.ReportMetric(float64(len(cur))/float64(n), "cursorbytes/user")
}

// BenchmarkReadBytes is a full read of 10,000 users (benchFake) as the
// Syncer does it: unprojected (the default fields), and projected to
// mapping.GoogleSpec and to mapping.ADSpec (none of whose names is a
// Google field: only the connector's own fields are asked for), each with
// the attributes the Syncer shows (cn, displayName). It reports the
// response bytes the fake served per read: users, groups, members and org
// units (only users.list changes with the projection).
//
//	go test -run '^$' -bench ReadBytes -benchtime 3x ./connector/google
func BenchmarkReadBytes(b *testing.B) {
	const n = 10_000
	fk, c := benchFake(b, n)
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
		{"GoogleSpec", c.Project(attrs(mapping.GoogleSpec()))},
		{"ADSpec", c.Project(attrs(mapping.ADSpec()))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				fk.ResetCounts()
				entries, err := connector.ReadAll(context.Background(), bc.conn)
				if err != nil {
					b.Fatal(err)
				}
				if len(entries) < n {
					b.Fatalf("read %d entries, want at least %d", len(entries), n)
				}
				b.ReportMetric(float64(fk.BytesServed()), "bytes/read")
				b.ReportMetric(float64(fk.BytesServed())/n, "bytes/user")
			}
		})
	}
}
