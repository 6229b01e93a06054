package ad

import (
	"context"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/dirsynctest"
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
	c, err := Open(f.config(f.base), nil)
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
	c, err := Open(f.config(f.base), nil)
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
	c, err := Open(f.config(f.base), nil)
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
	c, err := Open(f.config(f.base), nil)
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
