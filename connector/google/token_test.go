package google_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
)

// A token endpoint that keeps failing with 5xx or 429 is an outage: the
// error says the endpoint is unavailable and does not wrap ErrAuth, so no
// admin is asked to re-authenticate a key that is fine. Only a refusal
// (an OAuth 2.0 error code in a 4xx body) wraps ErrAuth.
func TestTokenEndpointOutageIsNotAuth(t *testing.T) {
	outages := map[string]fakegoogle.TokenFault{
		"503 with Google's JSON body": {Status: http.StatusServiceUnavailable, Error: "internal_failure", Description: "Backend Error"},
		"500 with an HTML page":       {Status: http.StatusInternalServerError, Body: "<html><body>Server Error</body></html>"},
		"502 with no body":            {Status: http.StatusBadGateway},
		"504 with an OAuth-ish body":  {Status: http.StatusGatewayTimeout, Error: "temporarily_unavailable"},
		"429 rate limit":              {Status: http.StatusTooManyRequests, Error: "rate_limit_exceeded", RetryAfter: "0"},
		"429 with no body":            {Status: http.StatusTooManyRequests},
	}
	for name, f := range outages {
		t.Run(name, func(t *testing.T) {
			fk := newFake(t)
			c := open(t, fk)
			fk.FailTokenNextWith(1000, f)
			_, err := connector.ReadAll(testCtx(t), c)
			require.Error(t, err)
			assert.NotErrorIs(t, err, connector.ErrAuth, err.Error())
			assert.ErrorIs(t, err, google.ErrTokenUnavailable)
			assert.Contains(t, err.Error(), "token endpoint")
			assert.Contains(t, err.Error(), "unavailable")
			assert.Less(t, 1000-fk.TokenFaultsLeft(), 10, "retried a few times, not forever")
			assert.Greater(t, 1000-fk.TokenFaultsLeft(), 1, "retried")

			// Check, which asks for one token per scope, says the same.
			err = c.Check(testCtx(t))
			require.Error(t, err)
			assert.NotErrorIs(t, err, connector.ErrAuth, err.Error())
			assert.Contains(t, err.Error(), "unavailable")
		})
	}
}

func TestTokenEndpointRefusalIsAuth(t *testing.T) {
	// Google's service-account token errors
	// (https://developers.google.com/identity/protocols/oauth2/service-account#error-codes)
	// and the RFC 6749 §5.2 codes.
	refusals := map[string]int{
		"invalid_grant":         http.StatusBadRequest,
		"unauthorized_client":   http.StatusUnauthorized,
		"access_denied":         http.StatusForbidden,
		"admin_policy_enforced": http.StatusBadRequest,
		"invalid_client":        http.StatusUnauthorized,
		"invalid_scope":         http.StatusBadRequest,
		"disabled_client":       http.StatusUnauthorized,
		"org_internal":          http.StatusForbidden,
		"invalid_request":       http.StatusBadRequest,
	}
	for code, status := range refusals {
		t.Run(code, func(t *testing.T) {
			fk := newFake(t)
			c := open(t, fk)
			fk.FailTokenNextWith(1000, fakegoogle.TokenFault{Status: status, Error: code, Description: "refused"})
			_, err := connector.ReadAll(testCtx(t), c)
			require.Error(t, err)
			assert.ErrorIs(t, err, connector.ErrAuth, err.Error())
			assert.NotContains(t, err.Error(), "unavailable")
			assert.NotErrorIs(t, err, google.ErrTokenUnavailable)
			assert.Equal(t, 999, fk.TokenFaultsLeft(), "a refusal is not retried")
		})
	}
}

// A brief outage of the token endpoint is retried through.
func TestTokenEndpointBriefOutage(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	fk.FailTokenNextWith(1, fakegoogle.TokenFault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
	fk.FailTokenNextWith(1, fakegoogle.TokenFault{Status: http.StatusBadGateway})
	_, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
}

// Open keeps no ctx: a token request is made with the ctx of the call
// that needs the token, so an endpoint that asks to retry in an hour does
// not hold a read past its deadline, and a ctx cancelled after Open
// changes nothing.
func TestTokenRequestEndsWithCallersCtx(t *testing.T) {
	fk := newFake(t)
	openCtx, cancel := context.WithCancel(t.Context())
	var logs bytes.Buffer
	c, err := google.Open(openCtx, google.Config{
		ServiceAccountJSON: string(fk.ServiceAccountJSON(key())),
		Subject:            adminEmail,
		Endpoint:           fk.URL,
		RetryDelay:         time.Millisecond,
		Logger:             slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	cancel()
	// One 503 whose Retry-After asks for an hour: the retry would wait
	// the longest the connector waits, a minute.
	fk.FailTokenNextWith(1, fakegoogle.TokenFault{Status: http.StatusServiceUnavailable, RetryAfter: "3600"})
	ctx, stop := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer stop()
	start := time.Now()
	_, err = connector.ReadAll(ctx, c)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 20*time.Second, "the wait before the retry of the token request ends with the read's ctx")
	assert.Contains(t, logs.String(), "connector=google", "Config.Logger gets the retries")
	assert.NotContains(t, logs.String(), "PRIVATE KEY")

	// The endpoint is back: the same connector reads and checks, Open's
	// ctx long cancelled.
	require.NoError(t, c.Check(testCtx(t)))
	_, err = connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
}
