package telemetry_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/telemetry"
)

// A host sets its providers up once (here in memory; in production an
// OTLP or Prometheus exporter) and wires the Observer into each Syncer in
// one line. A run then shows as a trace and as metrics.
func Example() {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	obs := telemetry.New(&telemetry.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
	})

	dir := fake.New(fake.Company(5, 1)...)
	sy, err := dirsync.New(dir, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "acme-ad", Observer: obs})
	if err != nil {
		panic(err)
	}
	rec, err := sy.RunOnce(context.Background(), dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	if err != nil {
		panic(err)
	}
	fmt.Println("run:", rec.Outcome)

	for _, s := range spans.Ended() {
		fmt.Println("span:", s.Name())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "dirsync.changes" {
			for _, p := range sum.DataPoints {
				op, _ := p.Attributes.Value("dirsync.operation")
				status, _ := p.Attributes.Value("dirsync.status")
				fmt.Printf("%s{%s %s} = %d\n", m.Name, op.AsString(), status.AsString(), p.Value)
			}
		}
	}
	// Unordered output:
	// run: applied
	// span: dirsync.read
	// span: dirsync.plan
	// span: dirsync.apply
	// span: dirsync.run
	// dirsync.changes{create-department applied} = 4
	// dirsync.changes{create applied} = 4
}
