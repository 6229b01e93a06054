package main

// hosts.go refuses requests addressed to a host name that is not the
// console's. The console listens on loopback only, but a browser on this
// machine can still be turned against it: a web page the admin visits can
// point its own DNS name at 127.0.0.1 (DNS rebinding), and its scripts are
// then same-origin with the console under that name. They could read a
// page, with its CSRF token, and press "Sync now". The Host header gives
// such a request away: it names the attacker's domain. So every request
// whose Host is not a loopback name, nor a name the admin allowed, is
// answered 421 Misdirected Request before any handler runs.

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostFlag is -allow-host name, repeatable.
type hostFlag []string

func (f *hostFlag) String() string { return strings.Join(*f, ",") }

func (f *hostFlag) Set(v string) error {
	h := canonicalHost(v)
	if h == "" || strings.ContainsAny(v, "/@?# ") {
		return fmt.Errorf("want a host name, such as console.internal; got %q", v)
	}
	*f = append(*f, h)
	return nil
}

// allowedHosts are the host names the console answers to besides the
// loopback ones: those given with -allow-host, and the host of -addr when
// it is a name rather than an address.
func (o options) allowedHosts() []string {
	out := append([]string(nil), o.allowHosts...)
	if h, _, err := net.SplitHostPort(o.addr); err == nil {
		if _, err := netip.ParseAddr(h); err != nil && h != "" {
			out = append(out, canonicalHost(h))
		}
	}
	return out
}

// canonicalHost returns the host of a Host header or flag value (without
// its port and IPv6 brackets), lower case, without a trailing dot.
func canonicalHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostAllowed reports whether a request with this Host header is meant
// for the console: localhost, an address in 127.0.0.0/8 or ::1 (any port),
// or one of the allowed names.
func hostAllowed(hostport string, allowed []string) bool {
	h := canonicalHost(hostport)
	if h == "localhost" {
		return true
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().IsLoopback()
	}
	for _, a := range allowed {
		if h == a {
			return true
		}
	}
	return false
}

// checkHost wraps the whole console: a request for another host is
// refused before any handler, cookie or token is involved.
func checkHost(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, allowed) {
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprintf(w, "Refused: this console answers to localhost, 127.0.0.1 and [::1] only, not to the host %q. "+
				"Open it by one of those, or start it with -allow-host for a name of your own.\n", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}
