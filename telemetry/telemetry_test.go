package telemetry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/telemetry"
)

// world is an Observer on in-memory providers: what it records is read
// back with collect and spans.
type world struct {
	obs    *telemetry.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
}

func newWorld(t *testing.T) *world {
	w := &world{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(w.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(w.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	w.obs = telemetry.New(&telemetry.Config{MeterProvider: mp, TracerProvider: tp})
	return w
}

// points returns a metric's data points as "attr=value,…" → value, with
// the attributes sorted (as an attribute.Set keeps them).
func (w *world) points(t *testing.T, name string) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, w.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			out := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[label(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[label(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[label(p.Attributes)] = float64(p.Count)
					assert.Positive(t, p.Sum, "%s took some time", name)
				}
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
			return out
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func label(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func user(id, sam string) connector.Entry {
	e := connector.Entry{ID: id, Kind: connector.KindUser, Path: []string{"Users"}, Attrs: connector.Attrs{},
		DN: "CN=" + sam + ",OU=Users,DC=example,DC=test"}
	e.Attrs.Set("sAMAccountName", sam)
	e.Attrs.Set("mail", sam+"@example.test")
	e.Attrs.Set("givenName", sam)
	e.Attrs.Set("sn", "Example")
	return e
}

// Two real runs of a Syncer (fake directory, in-memory sink), read back
// from the SDK's in-memory reader and recorder: the first creates four
// people, one of whose creates the app refuses; the second finds two of
// them gone, over a limit of one removal, so the removals are held while
// the retried create applies.
func TestRunsAsMetricsAndSpans(t *testing.T) {
	w := newWorld(t)
	dir := fake.New(user("1", "alice"), user("2", "bob"), user("3", "carol"), user("4", "dave"))
	sink := dirsynctest.NewMemorySink()
	sink.Fail = func(c diff.Change) error {
		if c.Op == diff.OpCreate && c.After.ExternalID == "2" {
			return errors.New("app refused bob\nnext line")
		}
		return nil
	}
	pol, err := policy.New(policy.Config{Safety: policy.Safety{MaxRemovals: 1}})
	require.NoError(t, err)
	sy, err := dirsync.New(dir, sink, &dirsync.Options{Source: "hr-ad", Policy: pol, Observer: w.obs})
	require.NoError(t, err)
	ctx := context.Background()

	rec, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	require.Error(t, err)
	require.Equal(t, dirsync.OutcomeFailed, rec.Outcome)
	sink.Fail = nil
	require.NoError(t, dir.Delete("1"))
	require.NoError(t, dir.Delete("3"))
	rec, err = sy.RunOnce(ctx, dirsync.TriggerSyncNow, dirsync.ModeAutomatic)
	require.NoError(t, err)
	require.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	require.Equal(t, 2, rec.Held)

	assert.Equal(t, map[string]float64{
		"dirsync.integration=hr-ad,dirsync.operation=create,dirsync.status=applied": 4,
		"dirsync.integration=hr-ad,dirsync.operation=create,dirsync.status=failed":  1,
	}, w.points(t, "dirsync.changes"))
	assert.Equal(t, map[string]float64{
		"dirsync.integration=hr-ad,dirsync.outcome=failed,dirsync.trigger=schedule":               1,
		"dirsync.integration=hr-ad,dirsync.outcome=waiting-for-approval,dirsync.trigger=sync-now": 1,
	}, w.points(t, "dirsync.run.duration"))
	assert.Equal(t, map[string]float64{"dirsync.hold=removals,dirsync.integration=hr-ad": 1},
		w.points(t, "dirsync.safety.holds"))
	assert.Equal(t, map[string]float64{"dirsync.integration=hr-ad": 0}, w.points(t, "dirsync.removal_budget.used"))
	assert.Equal(t, map[string]float64{"dirsync.integration=hr-ad": 1}, w.points(t, "dirsync.removal_budget.limit"))

	// Approving the held removals uses up the budget.
	pending, err := sy.PendingPlan(ctx)
	require.NoError(t, err)
	_, err = sy.ApprovePending(ctx, pending.Digest())
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"dirsync.integration=hr-ad": 2}, w.points(t, "dirsync.removal_budget.used"))
	assert.Equal(t, float64(2), w.points(t, "dirsync.changes")["dirsync.integration=hr-ad,dirsync.operation=block,dirsync.status=applied"])

	ended := w.spans.Ended()
	var runs []sdktrace.ReadOnlySpan
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range ended {
		byID[s.SpanContext().SpanID().String()] = s
		if s.Name() == "dirsync.run" {
			runs = append(runs, s)
		}
	}
	require.Len(t, runs, 2)
	for _, run := range runs {
		assert.False(t, run.Parent().IsValid(), "a run starts its trace")
		var children []string
		for _, s := range ended {
			if s.Parent().SpanID() == run.SpanContext().SpanID() {
				children = append(children, s.Name())
				if s.Name() == "dirsync.plan" {
					var reads []string
					for _, r := range ended {
						if r.Parent().SpanID() == s.SpanContext().SpanID() {
							reads = append(reads, r.Name())
						}
					}
					assert.Equal(t, []string{"dirsync.read"}, reads)
				}
			}
		}
		assert.ElementsMatch(t, []string{"dirsync.plan", "dirsync.apply"}, children)
		assert.Equal(t, "hr-ad", attr(run, "dirsync.integration"))
	}

	first, second := runs[0], runs[1]
	assert.Equal(t, "failed", attr(first, "dirsync.outcome"))
	assert.Equal(t, codes.Error, first.Status().Code)
	assert.Equal(t, "1 changes failed", first.Status().Description)
	assert.Equal(t, "waiting-for-approval", attr(second, "dirsync.outcome"))
	assert.Equal(t, "2", attr(second, "dirsync.run.held"))
	assert.Equal(t, codes.Unset, second.Status().Code, "a safety hold is a decision, not an error")
	require.Len(t, second.Events(), 1)
	assert.Equal(t, "dirsync.safety.hold", second.Events()[0].Name)

	for _, s := range ended {
		if s.Parent().SpanID() != first.SpanContext().SpanID() {
			continue
		}
		switch s.Name() {
		case "dirsync.apply":
			assert.Equal(t, "3", attr(s, "dirsync.apply.applied"))
			assert.Equal(t, "1", attr(s, "dirsync.apply.failed"))
			assert.Equal(t, codes.Error, s.Status().Code)
			require.Len(t, s.Events(), 1)
			ev := s.Events()[0]
			assert.Equal(t, "dirsync.change.failed", ev.Name)
			msg := ""
			for _, kv := range ev.Attributes {
				if kv.Key == "exception.message" {
					msg = kv.Value.AsString()
				}
			}
			assert.Equal(t, "app refused bob next line", msg, "control characters blanked")
		case "dirsync.plan":
			assert.Equal(t, "4", attr(s, "dirsync.plan.changes"))
			assert.Equal(t, codes.Unset, s.Status().Code)
		}
	}
	for _, s := range ended {
		if s.Name() == "dirsync.plan" && s.Parent().SpanID() == second.SpanContext().SpanID() {
			assert.Equal(t, "true", attr(s, "dirsync.plan.over_limit"))
			assert.Equal(t, codes.Unset, s.Status().Code)
		}
		if s.Name() == "dirsync.read" {
			assert.NotEmpty(t, attr(s, "dirsync.read.entries"))
		}
	}
}

// A read that fails ends the read, plan and run spans in error, and the
// run is counted as plan-failed.
func TestFailedReadIsAnError(t *testing.T) {
	w := newWorld(t)
	dir := fake.New(user("1", "alice"), user("2", "bob"))
	dir.FailAfter(1, errors.New("connection reset"))
	sy, err := dirsync.New(dir, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "hr-ad", Observer: w.obs})
	require.NoError(t, err)
	_, err = sy.RunOnce(context.Background(), dirsync.TriggerSchedule, dirsync.ModeAutomatic)
	require.Error(t, err)
	names := map[string]codes.Code{}
	for _, s := range w.spans.Ended() {
		names[s.Name()] = s.Status().Code
		if s.Name() == "dirsync.read" {
			assert.Contains(t, s.Status().Description, "connection reset")
			assert.Equal(t, "_OTHER", attr(s, "error.type"))
		}
	}
	assert.Equal(t, map[string]codes.Code{"dirsync.run": codes.Error, "dirsync.plan": codes.Error, "dirsync.read": codes.Error}, names)
	assert.Equal(t, map[string]float64{"dirsync.integration=hr-ad,dirsync.outcome=plan-failed,dirsync.trigger=schedule": 1},
		w.points(t, "dirsync.run.duration"))
}

// SCIMHandler counts the requests of a real SCIM endpoint by status
// class, and a handler that panicked as a 5xx.
func TestSCIMRequestsByStatus(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	srv, err := scim.Open(ctx, scim.Config{})
	require.NoError(t, err)
	token, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	ts := httptest.NewServer(w.obs.SCIMHandler("acme-scim", http.StripPrefix("/scim/v2", srv)))
	defer ts.Close()
	do := func(method, path, body string, auth bool) int {
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/scim+json")
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, 201, do("POST", "/scim/v2/Users",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann@example.test","externalId":"a1"}`, true))
	assert.Equal(t, 200, do("GET", "/scim/v2/Users", "", true))
	assert.Equal(t, 401, do("GET", "/scim/v2/Users", "", false))
	assert.Equal(t, 404, do("GET", "/scim/v2/Users/nobody", "", true))
	assert.Equal(t, 501, do("POST", "/scim/v2/Bulk", "{}", true))
	assert.Equal(t, 401, do("PROPFIND", "/scim/v2/Users", "", false))

	panicky := httptest.NewServer(w.obs.SCIMHandler("acme-scim", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	defer panicky.Close()
	_, err = http.Get(panicky.URL)
	require.Error(t, err, "the connection is dropped")

	assert.Equal(t, map[string]float64{
		"dirsync.integration=acme-scim,dirsync.scim.status_class=2xx,http.request.method=POST":   1,
		"dirsync.integration=acme-scim,dirsync.scim.status_class=2xx,http.request.method=GET":    1,
		"dirsync.integration=acme-scim,dirsync.scim.status_class=4xx,http.request.method=GET":    2,
		"dirsync.integration=acme-scim,dirsync.scim.status_class=5xx,http.request.method=POST":   1,
		"dirsync.integration=acme-scim,dirsync.scim.status_class=4xx,http.request.method=_OTHER": 1,
		"dirsync.integration=acme-scim,dirsync.scim.status_class=5xx,http.request.method=GET":    1,
	}, w.points(t, "dirsync.scim.requests"))
}

func newObserver(mp *sdkmetric.MeterProvider, tp *sdktrace.TracerProvider) *telemetry.Observer {
	return telemetry.New(&telemetry.Config{MeterProvider: mp, TracerProvider: tp})
}
