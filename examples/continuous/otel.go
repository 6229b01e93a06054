package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// setupOTel installs the global OpenTelemetry providers the way a host
// does at start-up, with exporters that stay offline: spans and metrics
// are written as JSON to path ("-" for stdout). A host points OTLP or
// Prometheus exporters at its collector instead; telemetry.New(nil)
// takes whatever providers are installed. With path "" nothing is
// installed and the Observer records into OpenTelemetry's no-op
// providers. The returned function flushes and stops the exporters.
func setupOTel(path string, every time.Duration) (func(context.Context) error, error) {
	if path == "" {
		return func(context.Context) error { return nil }, nil
	}
	var out io.Writer = os.Stdout
	closeOut := func() error { return nil }
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		out, closeOut = f, f.Close
	}
	spans, err := stdouttrace.New(stdouttrace.WithWriter(out))
	if err != nil {
		return nil, errors.Join(err, closeOut())
	}
	metrics, err := stdoutmetric.New(stdoutmetric.WithWriter(out))
	if err != nil {
		return nil, errors.Join(err, closeOut())
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics, sdkmetric.WithInterval(every))))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	return func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx), closeOut())
	}, nil
}
