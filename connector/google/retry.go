package google

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// retryTransport retries what Google asks clients to retry: 403 with the
// reasons rateLimitExceeded, userRateLimitExceeded and quotaExceeded, 429,
// 5xx, and connections that fail or drop before the whole body arrived. It
// reads each response body fully, so a page cut short is retried rather
// than half decoded. Delays grow exponentially with full jitter, honour
// Retry-After, and end when the request's context does. Only idempotent
// requests are retried: the API calls are GETs, and the token endpoint's
// POST (a JWT-bearer grant) has no side effect.
type retryTransport struct {
	base  http.RoundTripper
	max   int
	delay time.Duration
	log   *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// A request with a body (the token endpoint's POST) can be resent
	// only when its body can be recreated.
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = b
		}
		resp, body, err := t.once(req)
		retry, after := false, time.Duration(0)
		switch {
		case !replayable:
		case err != nil:
			retry = ctx.Err() == nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			retry = true
			after = retryAfter(resp.Header.Get("Retry-After"))
		case resp.StatusCode == http.StatusForbidden:
			retry = rateLimited(body)
			after = retryAfter(resp.Header.Get("Retry-After"))
		}
		if !retry || attempt >= t.max {
			if err != nil {
				return nil, err
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return resp, nil
		}
		wait := t.backoff(attempt)
		if after > wait {
			wait = min(after, 64*t.delay+time.Minute)
		}
		status := "error"
		if resp != nil {
			status = resp.Status
		}
		t.log.DebugContext(ctx, "retrying request", "url", req.URL.Path, "attempt", attempt, "status", status, "err", err, "wait", wait)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%w (while waiting to retry after %s)", ctx.Err(), status)
		case <-timer.C:
		}
	}
}

// once sends req and reads the whole body.
func (t *retryTransport) once(req *http.Request) (*http.Response, []byte, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("reading response: %w", err)
	}
	return resp, body, nil
}

// backoff is full jitter over delay·2^(attempt-1), capped at 64·delay.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.delay << min(attempt-1, 6)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// rateLimited reports whether a 403 body in Google's error format carries
// one of the retryable reasons.
func rateLimited(body []byte) bool {
	var e struct {
		Error struct {
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	for _, x := range e.Error.Errors {
		switch x.Reason {
		case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded":
			return true
		}
	}
	return false
}
