package ad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

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
		if err := tconn.HandshakeContext(ctx); err != nil {
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
		if err := s.conn.StartTLS(tc); err != nil {
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

// scrub removes the password from an error text, should a server or a
// library ever echo it.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[redacted]"))
}
