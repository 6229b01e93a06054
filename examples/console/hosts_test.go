package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// do sends a request to the test console with the Host header host, as a
// browser does that reached the console's port under that name: its
// Origin is the same host, so Go's cross-origin protection lets it pass.
func (tc *testConsole) do(method, path, host string, form url.Values) (*http.Response, string) {
	tc.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, tc.srv.URL+path, body)
	require.NoError(tc, err)
	req.Host = host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	res, err := tc.client.Do(req)
	require.NoError(tc, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(tc, err)
	return res, string(b)
}

// port is the test server's port.
func (tc *testConsole) port() string {
	u, err := url.Parse(tc.srv.URL)
	require.NoError(tc, err)
	return u.Port()
}

// A page that rebinds its DNS name to 127.0.0.1 (DNS rebinding) reaches
// the console under a foreign Host, as same-origin: it can neither read a
// page (with its CSRF token) nor press "Sync now". Loopback names work,
// with any port. (Like a browser, the test client keeps a session cookie
// per host name.)
func TestForeignHostRefused(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	port := tc.port()

	for _, host := range []string{"evil.example", "evil.example:" + port, "EVIL.example.:" + port,
		"localhost.evil.example:" + port, "127.0.0.1.nip.io:" + port, "10.0.0.1:" + port, "[fe80::1]:" + port} {
		res, body := tc.do(http.MethodGet, "/i/lab/preview", host, nil)
		assert.Equal(t, http.StatusMisdirectedRequest, res.StatusCode, "GET with Host %q", host)
		assert.True(t, strings.HasPrefix(body, "Refused: this console answers to localhost"), "GET with Host %q: not the refusal", host)
		assert.Empty(t, res.Cookies(), "a session cookie for Host %q", host)
		// The attacker's page posts the token it read, if it read one.
		stolen := tok
		if m := csrfRE.FindStringSubmatch(body); m != nil {
			stolen = m[1]
			t.Errorf("Host %q read the page's CSRF token", host)
		}
		res, body = tc.do(http.MethodPost, "/i/lab/syncnow", host, url.Values{"csrf": {stolen}})
		assert.Equal(t, http.StatusMisdirectedRequest, res.StatusCode, "POST with Host %q", host)
		assert.True(t, strings.HasPrefix(body, "Refused:"), "POST with Host %q: not the refusal", host)
	}

	// Nothing ran: no history, no account of lab.
	time.Sleep(200 * time.Millisecond)
	_, list := tc.get("/")
	assert.False(t, strings.Contains(list, `<a href="/i/lab/history">`), "a refused Sync now ran")
	all, err := tc.c.app.All(context.Background())
	require.NoError(t, err)
	for _, a := range all {
		require.NotEqual(t, "lab", a.Source, "a refused Sync now applied changes")
	}

	// The loopback names work, GET and POST.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "127.1.2.3:" + port, "LOCALHOST", "localhost.:" + port} {
		res, body := tc.do(http.MethodGet, "/i/lab/preview", host, nil)
		assert.Equal(t, http.StatusOK, res.StatusCode, "GET with Host %q", host)
		m := csrfRE.FindStringSubmatch(body)
		if !assert.Len(t, m, 2, "GET with Host %q: no CSRF token", host) {
			continue
		}
		res, body = tc.do(http.MethodPost, "/i/lab/syncnow", host, url.Values{"csrf": {m[1]}})
		assert.Equal(t, http.StatusSeeOther, res.StatusCode, "POST with Host %q: %s", host, regexp.MustCompile(`id="error"[^<]*`).FindString(body))
		// Review mode: Sync now shows the plan.
		assert.Equal(t, "/i/lab/preview?done=review", res.Header.Get("Location"), "POST with Host %q", host)
	}
}

// -allow-host and a host name in -addr add names the console answers to.
func TestAllowedHosts(t *testing.T) {
	tc := newTestConsole(t, "-allow-host", "Console.Internal", "-addr", "dirsync-console.test:0")
	port := tc.port()
	for _, host := range []string{"console.internal:" + port, "console.internal", "dirsync-console.test:" + port, "localhost:" + port} {
		res, body := tc.do(http.MethodGet, "/", host, nil)
		assert.Equal(t, http.StatusOK, res.StatusCode, "Host %q: %.200s", host, body)
	}
	res, _ := tc.do(http.MethodGet, "/", "evil.example:"+port, nil)
	assert.Equal(t, http.StatusMisdirectedRequest, res.StatusCode)

	_, err := parseFlags([]string{"-allow-host", "http://x/"}, io.Discard)
	assert.ErrorContains(t, err, "want a host name")
	o, err := parseFlags([]string{"-addr", "[::1]:8080"}, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, o.allowedHosts(), "an address is no host name to allow")
}

func TestHostAllowed(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:8080": true, "LocalHost.:1": true,
		"127.0.0.1": true, "127.0.0.1:8080": true, "127.255.0.9:80": true,
		"[::1]": true, "[::1]:8080": true, "[::ffff:127.0.0.1]:80": true,
		"console.internal:8080": true,

		"": false, "evil.example": false, "evil.example:8080": false,
		"localhost.evil.example": false, "127.0.0.1.evil.example": false,
		"0.0.0.0:8080": false, "192.168.1.10": false, "[::]:80": false,
		"[fe80::1]:80": false, "console.internal.evil.example": false,
	} {
		assert.Equal(t, want, hostAllowed(host, []string{"console.internal"}), host)
	}
}
