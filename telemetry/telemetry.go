package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/dirsync-go/dirsync"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/dirsync-go/dirsync/telemetry"

// Config says where the telemetry goes. A nil *Config, and every nil
// field, means the global providers (otel.GetMeterProvider,
// otel.GetTracerProvider), as OpenTelemetry instrumentation does.
type Config struct {
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Observer turns what a Syncer does into OpenTelemetry metrics and spans.
// It implements dirsync.Observer; set it as dirsync.Options.Observer. One
// Observer may serve every Syncer of a host (each integration is an
// attribute) and is safe for concurrent use.
type Observer struct {
	tracer      trace.Tracer
	changes     metric.Int64Counter
	runDuration metric.Float64Histogram
	holds       metric.Int64Counter
	budgetUsed  metric.Int64Gauge
	budgetLimit metric.Int64Gauge
	scim        metric.Int64Counter
}

var _ dirsync.Observer = (*Observer)(nil)

// The attribute keys.
const (
	keyIntegration = attribute.Key("dirsync.integration")
	keyOperation   = attribute.Key("dirsync.operation")
	keyStatus      = attribute.Key("dirsync.status")
	keyTrigger     = attribute.Key("dirsync.trigger")
	keyOutcome     = attribute.Key("dirsync.outcome")
	keyHold        = attribute.Key("dirsync.hold")
	keyIncremental = attribute.Key("dirsync.incremental")
	keyEntries     = attribute.Key("dirsync.read.entries")
	keyChanges     = attribute.Key("dirsync.plan.changes")
	keyOverLimit   = attribute.Key("dirsync.plan.over_limit")
	keyApplied     = attribute.Key("dirsync.apply.applied")
	keyFailed      = attribute.Key("dirsync.apply.failed")
	keySkipped     = attribute.Key("dirsync.apply.skipped")
	keyNotTried    = attribute.Key("dirsync.apply.not_attempted")
	keyHeld        = attribute.Key("dirsync.run.held")
	keyChangeKey   = attribute.Key("dirsync.change.key")
	keyStatusClass = attribute.Key("dirsync.scim.status_class")
	keyMethod      = attribute.Key("http.request.method")
	keyErrorType   = attribute.Key("error.type")
	keyExceptMsg   = attribute.Key("exception.message")
)

// maxFailureEvents bounds the failed changes an apply span lists as
// events; dirsync.apply.failed has the total.
const maxFailureEvents = 10

// New returns an Observer that records on cfg's providers. An instrument
// that cannot be made is reported to otel.Handle and left out.
func New(cfg *Config) *Observer {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	mp := c.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	tp := c.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(ScopeName)
	o := &Observer{tracer: tp.Tracer(ScopeName)}
	var errs []error
	must := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	o.changes, err = m.Int64Counter("dirsync.changes", metric.WithUnit("{change}"),
		metric.WithDescription("Changes a Syncer carried out or attempted, by integration, operation and status."))
	must(err)
	o.runDuration, err = m.Float64Histogram("dirsync.run.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of sync runs, by integration, trigger and outcome."),
		metric.WithExplicitBucketBoundaries(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
	must(err)
	o.holds, err = m.Int64Counter("dirsync.safety.holds", metric.WithUnit("{hold}"),
		metric.WithDescription("Runs whose plan, or whose removals, the safety limits held for approval."))
	must(err)
	o.budgetUsed, err = m.Int64Gauge("dirsync.removal_budget.used", metric.WithUnit("{removal}"),
		metric.WithDescription("Removals (blocks and deletes) applied within the safety window, as of the last run or apply."))
	must(err)
	o.budgetLimit, err = m.Int64Gauge("dirsync.removal_budget.limit", metric.WithUnit("{removal}"),
		metric.WithDescription("Removals the safety limits allow within the window."))
	must(err)
	o.scim, err = m.Int64Counter("dirsync.scim.requests", metric.WithUnit("{request}"),
		metric.WithDescription("SCIM requests an integration answered, by method and status class."))
	must(err)
	if len(errs) > 0 {
		otel.Handle(fmt.Errorf("dirsync telemetry: %w", errors.Join(errs...)))
	}
	return o
}

// Start implements dirsync.Observer: it starts the stage's span, and, as
// the stage ends, records its metrics and ends the span.
func (o *Observer) Start(ctx context.Context, s dirsync.StageStart) (context.Context, func(dirsync.StageEnd)) {
	began := time.Now()
	integration := keyIntegration.String(s.Source)
	attrs := []attribute.KeyValue{integration}
	switch s.Stage {
	case dirsync.StageRun, dirsync.StageApply:
		attrs = append(attrs, keyTrigger.String(string(s.Trigger)))
	case dirsync.StageRead:
		attrs = append(attrs, keyIncremental.Bool(s.Incremental))
	}
	ctx, span := o.tracer.Start(ctx, "dirsync."+string(s.Stage), trace.WithAttributes(attrs...))
	return ctx, func(e dirsync.StageEnd) {
		failed := e.Err != nil && !errors.Is(e.Err, dirsync.ErrSafetyLimit)
		switch s.Stage {
		case dirsync.StageRead:
			span.SetAttributes(keyEntries.Int(e.Entries))
		case dirsync.StagePlan:
			if e.Plan != nil {
				span.SetAttributes(keyChanges.Int(e.Plan.Actionable()), keyIncremental.Bool(e.Plan.Incremental),
					keyOverLimit.Bool(e.Plan.Safety != nil))
			}
		case dirsync.StageApply:
			if e.Report != nil {
				o.applied(ctx, span, integration, e.Report)
				if n := e.Report.Count(dirsync.StatusFailed); n > 0 {
					// The joined error names every change: the
					// status says how many, the events which.
					span.SetStatus(codes.Error, fmt.Sprintf("%d changes failed", n))
					failed = false
				}
			}
		case dirsync.StageRun:
			if e.Run != nil {
				o.run(ctx, span, integration, time.Since(began), e.Run)
				if e.Run.Outcome == dirsync.OutcomeFailed || e.Run.Outcome == dirsync.OutcomePlanError {
					failed = true
				}
			}
		}
		if e.Budget != nil {
			o.budgetUsed.Record(ctx, int64(e.Budget.Used), metric.WithAttributes(integration))
			if e.Budget.MaxRemovals >= 0 {
				o.budgetLimit.Record(ctx, int64(e.Budget.MaxRemovals), metric.WithAttributes(integration))
			}
		}
		if failed {
			msg := "failed"
			if e.Err != nil {
				msg = clean(e.Err.Error())
				span.SetAttributes(keyErrorType.String(errorType(e.Err)))
			}
			if s.Stage == dirsync.StageRun && e.Run != nil && e.Run.Outcome == dirsync.OutcomeFailed && e.Run.Failed > 0 {
				msg = fmt.Sprintf("%d changes failed", e.Run.Failed)
			}
			span.SetStatus(codes.Error, msg)
		}
		span.End()
	}
}

// applied counts a report's changes by operation and status, and lists
// the first failures on the span.
func (o *Observer) applied(ctx context.Context, span trace.Span, integration attribute.KeyValue, r *dirsync.Report) {
	type key struct {
		op     dirsync.Op
		status dirsync.Status
	}
	var order []key
	counts := map[key]int64{}
	events := 0
	for i := range r.Results {
		res := &r.Results[i]
		k := key{res.Change.Op, res.Status}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
		if res.Status == dirsync.StatusFailed && events < maxFailureEvents {
			events++
			msg := ""
			if res.Err != nil {
				msg = clean(res.Err.Error())
			}
			span.AddEvent("dirsync.change.failed", trace.WithAttributes(keyOperation.String(res.Change.Op.String()),
				keyChangeKey.String(clean(res.Change.Key)), keyExceptMsg.String(msg)))
		}
	}
	for _, k := range order {
		o.changes.Add(ctx, counts[k], metric.WithAttributes(integration,
			keyOperation.String(k.op.String()), keyStatus.String(string(k.status))))
	}
	span.SetAttributes(keyApplied.Int(r.Count(dirsync.StatusApplied)), keyFailed.Int(r.Count(dirsync.StatusFailed)),
		keySkipped.Int(r.Count(dirsync.StatusSkipped)), keyNotTried.Int(r.Count(dirsync.StatusNotAttempted)))
}

// run records a run's duration and outcome, and its safety hold.
func (o *Observer) run(ctx context.Context, span trace.Span, integration attribute.KeyValue, took time.Duration, r *dirsync.RunRecord) {
	outcome := keyOutcome.String(string(r.Outcome))
	o.runDuration.Record(ctx, took.Seconds(), metric.WithAttributes(integration,
		keyTrigger.String(string(r.Trigger)), outcome))
	span.SetAttributes(outcome, keyHeld.Int(r.Held))
	if hold := holdOf(r); hold != "" {
		o.holds.Add(ctx, 1, metric.WithAttributes(integration, keyHold.String(hold)))
		span.AddEvent("dirsync.safety.hold", trace.WithAttributes(keyHold.String(hold), keyHeld.Int(r.Held)))
	}
}

// holdOf names a run's safety hold: "removals" when the removals wait and
// the rest applied, "plan" when the whole plan waits (an empty or suspect
// read, or a plan waiting for approval anyway that is over the limits
// too), "" when the safety limits held nothing.
func holdOf(r *dirsync.RunRecord) string {
	switch {
	case r.Safety == "":
		return ""
	case r.Held > 0:
		return "removals"
	case r.Outcome == dirsync.OutcomeWaiting:
		return "plan"
	}
	return ""
}

// errorType is the low-cardinality kind of a stage's error.
func errorType(err error) string {
	var ce *dirsync.ChangeError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, dirsync.ErrPanic):
		return "panic"
	case errors.Is(err, dirsync.ErrPlanChanged):
		return "plan_changed"
	case errors.As(err, &ce):
		return "change_failed"
	}
	return "_OTHER"
}

// maxMessage bounds a message recorded on a span, in bytes.
const maxMessage = 512

// clean blanks control characters (a value from the directory or the
// sink cannot forge a line of its own in a trace viewer's text) and cuts
// the message to maxMessage bytes, on a character boundary.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
