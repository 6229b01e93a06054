package scim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// Each request is logged as one line at Info (Warn when answered with an
// error) with method, endpoint, status and duration, through a logger at
// the default level: an operator sees the provider's traffic without
// turning on Debug. No line holds the bearer token or a resource's
// content.
func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	srv, c := open(t, scim.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	id := newUser(t, c, "ada.secretname@example.com")
	c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	c.do(http.MethodGet, "/Users/no-such-id", nil).mustStatus(t, http.StatusNotFound)
	c.doToken(http.MethodGet, "/Users", nil, "wrong-token-"+c.token[:4]).mustStatus(t, http.StatusUnauthorized)
	srv.Wait()

	type line struct {
		Level     string  `json:"level"`
		Msg       string  `json:"msg"`
		Connector string  `json:"connector"`
		Method    string  `json:"method"`
		Endpoint  string  `json:"endpoint"`
		ID        string  `json:"id"`
		Status    int     `json:"status"`
		Duration  float64 `json:"duration"`
	}
	var got []line
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var l line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		if l.Msg == "scim request" {
			got = append(got, l)
		}
	}
	type want struct {
		level, method, endpoint, id string
		status                      int
	}
	var summary []want
	for _, l := range got {
		assert.Equal(t, "scim", l.Connector)
		assert.Positive(t, l.Duration, "duration logged")
		summary = append(summary, want{l.Level, l.Method, l.Endpoint, l.ID, l.Status})
	}
	// newUser's POST, then the three requests above; the token was
	// issued without a request.
	assert.Equal(t, []want{
		{"INFO", "POST", "Users", "", http.StatusCreated},
		{"INFO", "GET", "Users", id, http.StatusOK},
		{"WARN", "GET", "Users", "no-such-id", http.StatusNotFound},
		{"WARN", "GET", "Users", "", http.StatusUnauthorized},
	}, summary)

	logs := buf.String()
	assert.NotContains(t, logs, c.token, "the bearer token")
	assert.NotContains(t, logs, c.token[:8], "part of the bearer token")
	assert.NotContains(t, logs, "wrong-token", "a refused token")
	assert.NotContains(t, logs, "Bearer")
	assert.NotContains(t, logs, "secretname", "a resource's content")
}
