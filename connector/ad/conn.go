package ad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/go-ldap/ldap/v3"
)

// OpError is an error from one domain controller: the operation, the DC's
// URL and the underlying error (an *ldap.Error for an LDAP result). It
// wraps connector.ErrAuth for invalid credentials or missing rights, and
// the context's error when the operation was cancelled.
type OpError struct {
	Op  string // "dial", "bind", "search users", …
	URL string
	Err error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("ad: %s on %s: %v", e.Op, e.URL, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// authError marks an LDAP error as connector.ErrAuth while keeping it.
type authError struct{ err error }

func (e *authError) Error() string {
	return e.err.Error() + " (check the bind DN, password and the account's rights)"
}
func (e *authError) Unwrap() []error { return []error{connector.ErrAuth, e.err} }

// session is one bound connection to one DC.
type session struct {
	c    *Connector
	srv  server
	conn *ldap.Conn
	stop func() bool // stops the ctx watcher
	conv *converter  // see entry
}

// wrap turns err from operation op into an *OpError. When ctx is done the
// error wraps ctx.Err() too: the watcher closed the connection, so the raw
// error is only a "connection closed".
func (s *session) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	} else if isTimeout(err) {
		err = fmt.Errorf("%w: no answer within %v (%w)", ErrTimeout, s.c.cfg.Timeout, err)
	} else if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) ||
		ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		err = &authError{err}
	}
	return &OpError{Op: op, URL: s.srv.url, Err: err}
}

func (s *session) close() {
	if s.stop != nil {
		s.stop()
	}
	s.conn.Close()
}

// dial connects and binds to the first DC that answers. A bind refused for
// bad credentials is not retried on the next DC (every DC would refuse it).
func (c *Connector) dial(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ad: connect: %w", err)
	}
	var errs []error
	for _, srv := range c.servers {
		s, err := c.dialOne(ctx, srv)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if errors.Is(err, connector.ErrAuth) || ctx.Err() != nil {
			return nil, err
		}
		c.log.WarnContext(ctx, "domain controller unavailable, trying the next", "url", srv.url, "err", err)
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, fmt.Errorf("ad: no domain controller reachable: %w", errors.Join(errs...))
}

// dialOne connects and binds to one DC. Every step is bounded by
// Config.Timeout and by ctx: the TCP connect (net.Dialer), the LDAPS
// handshake (a deadline on the socket, and HandshakeContext for ctx), the
// StartTLS request and the handshake that follows it (go-ldap runs that
// handshake without a deadline of its own, so the socket's deadline is set
// around the call; ctx cancellation closes the connection), and each LDAP
// request (go-ldap's request timeout).
func (c *Connector) dialOne(ctx context.Context, srv server) (*session, error) {
	s := &session{c: c, srv: srv}
	d := &net.Dialer{Timeout: c.cfg.Timeout}
	raw, err := d.DialContext(ctx, "tcp", srv.host)
	if err != nil {
		return nil, s.wrap(ctx, "dial", err)
	}
	tc := c.tls.Clone()
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(srv.host)
		tc.ServerName = host
	}
	if srv.scheme == "ldaps" {
		tconn := tls.Client(raw, tc)
		_ = raw.SetDeadline(time.Now().Add(c.cfg.Timeout))
		err := tconn.HandshakeContext(ctx)
		if err == nil {
			err = raw.SetDeadline(time.Time{})
		}
		if err != nil {
			raw.Close()
			return nil, s.wrap(ctx, "TLS handshake", err)
		}
		raw = tconn
	}
	s.conn = ldap.NewConn(raw, srv.scheme == "ldaps")
	s.conn.Start()
	s.conn.SetTimeout(c.cfg.Timeout)
	// Closing the connection is what unblocks a request in flight when
	// ctx is cancelled.
	s.stop = context.AfterFunc(ctx, func() { s.conn.Close() })
	if srv.scheme == "ldap" && c.cfg.StartTLS {
		// The deadline bounds the TLS handshake inside StartTLS, and
		// is lifted (for the reader already waiting, too) once done.
		_ = raw.SetDeadline(time.Now().Add(c.cfg.Timeout))
		err := s.conn.StartTLS(tc)
		if err == nil {
			err = raw.SetDeadline(time.Time{})
		}
		if err != nil {
			s.close()
			return nil, s.wrap(ctx, "StartTLS", err)
		}
	}
	if srv.scheme == "ldap" && !c.cfg.StartTLS && !c.cfg.InsecurePlaintext {
		// validate refuses this; never send a password in clear text.
		s.close()
		return nil, &OpError{Op: "bind", URL: srv.url, Err: ErrPlaintext}
	}
	if err := s.conn.Bind(c.cfg.BindDN, c.cfg.Password); err != nil {
		s.close()
		return nil, s.wrap(ctx, "bind as "+c.cfg.BindDN, scrub(err, c.cfg.Password))
	}
	return s, nil
}

// isTimeout reports whether err says that the DC did not answer in time:
// a network deadline (connect, TLS handshake) or go-ldap's request
// timeout. go-ldap reports the latter, a read that hit the socket's
// deadline and a handshake failure inside StartTLS only as text ("ldap:
// connection timed out", "… i/o timeout"), so the text is checked too.
func isTimeout(err error) bool {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "ldap: connection timed out") || strings.Contains(msg, "i/o timeout")
}

// scrub removes the password from an error text, should a server or a
// library ever echo it.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[redacted]"))
}

// ErrTimeout reports a domain controller that did not complete the TCP
// connect, the TLS handshake (LDAPS or StartTLS) or an LDAP request within
// Config.Timeout. It comes wrapped in an *OpError naming the DC.
var ErrTimeout = errors.New("timed out")
