package telemetry

import (
	"net/http"

	"go.opentelemetry.io/otel/metric"
)

// SCIMHandler wraps an integration's SCIM endpoint (the http.Handler of
// connector/scim's Server, or any other) and counts each request it
// answers in dirsync.scim.requests, by integration, method and status
// class ("2xx", "4xx", "5xx"; a handler that panicked counts as "5xx").
// It adds nothing to the response.
func (o *Observer) SCIMHandler(integration string, h http.Handler) http.Handler {
	in := keyIntegration.String(integration)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		done := false
		defer func() {
			status := sw.status
			switch {
			case !done: // panicked: net/http answers 500 or drops the connection
				status = http.StatusInternalServerError
			case status == 0:
				status = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			o.scim.Add(r.Context(), 1, metric.WithAttributes(in, keyMethod.String(method(r.Method)),
				keyStatusClass.String(statusClass(status))))
		}()
		h.ServeHTTP(sw, r)
		done = true
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (to
// flush, or to set deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// method is the request method as OpenTelemetry's HTTP conventions
// record it: a known method, or "_OTHER", so that a client cannot grow
// the attribute's values.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions:
		return m
	}
	return "_OTHER"
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "_OTHER"
	}
	return string(rune('0'+code/100)) + "xx"
}
