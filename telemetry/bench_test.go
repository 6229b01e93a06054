package telemetry_test

import (
	"context"
	"strconv"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// BenchmarkRunObserved is the cost of the Observer on a small run (one
// changed user of 1,000, read incrementally, planned and applied): with
// no Observer, and with this package's on the SDK (a batching span
// processor over an exporter that drops the spans, a manual metric
// reader).
//
//	go test -run '^$' -bench RunObserved -benchmem ./telemetry
func BenchmarkRunObserved(b *testing.B) {
	for _, mode := range []string{"none", "telemetry"} {
		b.Run(mode, func(b *testing.B) {
			var obs dirsync.Observer
			if mode == "telemetry" {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() {
					_ = mp.Shutdown(context.Background())
					_ = tp.Shutdown(context.Background())
				})
				obs = newObserver(mp, tp)
			}
			entries := fake.Company(1000, 7)
			dir := fake.New(entries...)
			sy, err := dirsync.New(dir, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "bench", Observer: obs})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := sy.RunOnce(ctx, dirsync.TriggerStart, dirsync.ModeAutomatic); err != nil {
				b.Fatal(err)
			}
			var target string
			for _, e := range entries {
				if e.Kind == connector.KindUser {
					target = e.ID
					break
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if err := dir.Set(target, "title", "Title "+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
				rec, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
				if err != nil || rec.Applied != 1 {
					b.Fatalf("run: %+v, %v", rec, err)
				}
			}
		})
	}
}
