package fake

import (
	"context"
	"fmt"
	"testing"
)

// go test -run '^$' -bench . -benchmem ./connector/fake/
func BenchmarkCompany(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Company(n, 1)
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := New(Company(n, 1)...)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, err := range d.Read(context.Background()) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
