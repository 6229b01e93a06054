package ad

import (
	"testing"

	"github.com/dirsync-go/dirsync/mapping"
)

// BenchmarkReadFakeDC is a full read of 10,000 users through the
// connector, projected as a Syncer with the default AD mapping projects
// it, from the in-process countingDC: the client's CPU and allocations
// without a real DC's noise (the fake's own encoding is in the same
// process, so compare runs, not absolute figures).
//
//	go test -run '^$' -bench ReadFakeDC -benchmem -cpuprofile /tmp/cpu.out ./connector/ad
func BenchmarkReadFakeDC(b *testing.B) {
	dc := newCountingDC(b, 10000)
	cfg := dc.config(dc.start())
	cfg.PageSize = 1000
	c, err := Open(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	m, err := mapping.New(mapping.ADSpec())
	if err != nil {
		b.Fatal(err)
	}
	p := c.Project(append(m.Attributes(), "cn", "displayname"))
	for b.Loop() {
		n := 0
		for _, err := range p.Read(b.Context()) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n), "entries")
	}
}
