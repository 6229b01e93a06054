package ad

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/go-ldap/ldap/v3"
)

// The benchmarks read the integration fixture (about 1,600 users) from the
// DC named by DIRSYNC_AD_*:
//
//	eval "$(bash scripts/samba.sh start)"
//	go test -run '^$' -bench . -benchtime 5x ./connector/ad

// BenchmarkBareSearch is the baseline: a bare go-ldap paged search of the
// same attributes, without conversion.
func BenchmarkBareSearch(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	s, err := c.dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	b.ResetTimer()
	for b.Loop() {
		req := ldap.NewSearchRequest(f.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			baseFilter, c.attributes(), nil)
		res, err := s.conn.SearchWithPaging(req, uint32(c.cfg.PageSize))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res.Entries)), "entries")
	}
}

// BenchmarkRead is a full read through the connector (dial, bind, paged
// search, conversion, membership resolution).
func BenchmarkRead(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := connector.ReadAll(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan is a full Plan through dirsync into an empty in-memory
// sink.
func BenchmarkPlan(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	sy, err := dirsync.New(c, dirsynctest.NewMemorySink(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := sy.Plan(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadChangesNone is an incremental read with nothing changed.
func BenchmarkReadChangesNone(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if cur, err = c.ReadChanges(ctx, cur, func(connector.Entry) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// fullOnly hides the connector's incremental capability.
type fullOnly struct{ c *Connector }

func (f fullOnly) Read(ctx context.Context) iter.Seq2[connector.Entry, error] { return f.c.Read(ctx) }

// BenchmarkRunAfterOneChange is a sync run (plan and apply) after one
// change on the DC: with full reads, and with DirSync incremental reads.
func BenchmarkRunAfterOneChange(b *testing.B) {
	f := needDC(b)
	admin, err := f.admin()
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	for _, mode := range []string{"full", "incremental"} {
		b.Run(mode, func(b *testing.B) {
			c, err := Open(b.Context(), f.config(f.base))
			if err != nil {
				b.Fatal(err)
			}
			var conn connector.Connector = c
			if mode == "full" {
				conn = fullOnly{c}
			}
			sy, err := dirsync.New(conn, dirsynctest.NewMemorySink(), nil)
			if err != nil {
				b.Fatal(err)
			}
			run := func() *dirsync.Plan {
				p, err := sy.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sy.Apply(context.Background(), p); err != nil {
					b.Fatal(err)
				}
				return p
			}
			run()
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				req := ldap.NewModifyRequest(f.dn["carol"], nil)
				req.Replace("title", []string{fmt.Sprintf("Admin %s %d", mode, i)})
				if err := admin.Modify(req); err != nil {
					b.Fatal(err)
				}
				if p := run(); p.Actionable() != 1 || p.Incremental != (mode == "incremental") {
					b.Fatalf("incremental=%v, %d changes:\n%s", p.Incremental, p.Actionable(), p)
				}
			}
		})
	}
}

// BenchmarkBareSearchProjected is BenchmarkBareSearch with the attributes
// a Syncer with the default AD mapping asks for (see dirsync's
// projection.go): the floor of BenchmarkPlan.
func BenchmarkBareSearchProjected(b *testing.B) { benchProjected(b) }

// BenchmarkBareSearchProjectedMembers is BenchmarkBareSearchProjected
// with memberOf and member, which a projection reads only when role
// links or group scope rules use groups: what memberships cost the DC.
func BenchmarkBareSearchProjectedMembers(b *testing.B) { benchProjected(b, membershipAttributes...) }

func benchProjected(b *testing.B, extra ...string) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	m, err := mapping.New(mapping.ADSpec())
	if err != nil {
		b.Fatal(err)
	}
	attrs := c.Project(append(append(m.Attributes(), "cn", "displayname"), extra...)).(*Connector).attributes()
	b.Logf("%d attributes: %s; base %s", len(attrs), strings.Join(attrs, ","), f.base)
	s, err := c.dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	b.ResetTimer()
	for b.Loop() {
		req := ldap.NewSearchRequest(f.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			baseFilter, attrs, nil)
		res, err := s.conn.SearchWithPaging(req, uint32(c.cfg.PageSize))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res.Entries)), "entries")
	}
}

// projectedAttributes are the attributes a Syncer with the default AD
// mapping (mapping.ADSpec) makes the connector ask for.
func projectedAttributes(b *testing.B, c *Connector, extra ...string) []string {
	m, err := mapping.New(mapping.ADSpec())
	if err != nil {
		b.Fatal(err)
	}
	return c.Project(append(append(m.Attributes(), "cn", "displayname"), extra...)).(*Connector).attributes()
}

// BenchmarkBareSearchUnpaged is BenchmarkBareSearch without the paged
// results control: one search request, one result (Samba returns every
// entry; Windows AD cuts the result at MaxPageSize, see searchFull).
func BenchmarkBareSearchUnpaged(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	benchUnpaged(b, c, c.attributes())
}

// BenchmarkBareSearchUnpagedProjected is BenchmarkBareSearchProjected
// without the paged results control: the floor of an unpaged full read.
func BenchmarkBareSearchUnpagedProjected(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	benchUnpaged(b, c, projectedAttributes(b, c))
}

func benchUnpaged(b *testing.B, c *Connector, attrs []string) {
	s, err := c.dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	b.ResetTimer()
	for b.Loop() {
		req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			baseFilter, attrs, nil)
		res, err := s.conn.Search(req)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res.Entries)), "entries")
	}
}

// BenchmarkBareDirSyncProjected is the DirSync search as a full read:
// a DirSync from no cookie with the projected attributes, over the whole
// naming context (DirSync's base must be its root), the entries under
// BaseDN counted on the client. It yields the entries and the cookie in
// one pass, where the DC allows the bind account DirSync.
func BenchmarkBareDirSyncProjected(b *testing.B) {
	f := needDC(b)
	c, err := Open(b.Context(), f.config(f.base))
	if err != nil {
		b.Fatal(err)
	}
	attrs := projectedAttributes(b, c)
	s, err := c.dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	ctx := context.Background()
	nc, err := s.namingContext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		in, all := 0, 0
		_, err := s.dirSyncWith(ctx, nc, nil, dirSyncFilter, attrs, func(le *ldap.Entry) error {
			all++
			if ok, _ := ldaputil.IsUnder(le.DN, f.base); ok {
				in++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(in), "entries")
		b.ReportMetric(float64(all), "domain-entries")
	}
}
