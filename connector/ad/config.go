package ad

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// DefaultPageSize is the paged-results page size when Config.PageSize is
// 0: Windows AD's default MaxPageSize, the most entries a DC returns per
// page (a larger request is cut to it).
const DefaultPageSize = 1000

// DefaultTimeout is the connect, handshake and per-request timeout when
// Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Config configures a Connector. Open validates it.
type Config struct {
	// URLs lists domain controllers, tried in order: when one cannot be
	// dialled or bound, the next is tried. Each is ldaps://host[:port],
	// or ldap://host[:port] with StartTLS (or InsecurePlaintext).
	URLs []string `json:"urls"`
	// BindDN is the account the connector binds as: a DN
	// ("CN=svc-dirsync,OU=Service,DC=example,DC=com") or a UPN
	// ("svc-dirsync@example.com").
	BindDN string `json:"bindDN"`
	// Password of BindDN. It never appears in logs, errors, String or
	// any fmt verb, nor in json.Marshal's output (see MarshalJSON).
	Password string `json:"password,omitempty"`
	// BaseDN is where the search starts, e.g. "DC=example,DC=com" or an
	// OU to sync only part of the domain.
	BaseDN string `json:"baseDN"`
	// Filter is an optional LDAP filter ANDed with the connector's own
	// user and group filters, e.g. "(!(description=service account))".
	Filter string `json:"filter,omitempty"`
	// PageSize is the paged-results page size. Default 1000, Windows
	// AD's default MaxPageSize (the DC cuts a larger page to its
	// MaxPageSize). Before this release the default was 500.
	PageSize int `json:"pageSize,omitempty"`
	// UnpagedLimit, when positive, lets a full read first ask for every
	// entry in one search without the paged results control, of at most
	// UnpagedLimit entries; 0 (the default) or negative: every read
	// pages. A DC that returns a small directory in one answer spends much
	// less on it than on pages (Samba 4.17 at 10,000 users: about half,
	// see BENCHMARKS.md), at the price of holding the answer whole before
	// it is converted. Set it only for a directory known to be smaller
	// than the limit, on a DC you have measured (20,000 suits Samba
	// domains up to that size). The limit is enforced by the connector
	// too, since Samba ignores a request's size limit for administrators.
	// A cut answer (a size, time or administrative limit, or the
	// operationsError Samba ends an over-long search with) is thrown away,
	// never taken for the directory: the read runs again in pages, and
	// pages on that DC from then on (for the life of the Connector and its
	// projections). Windows AD answers an unpaged search with at most its
	// MaxPageSize (1,000) entries, so there it only adds a cut answer.
	UnpagedLimit int `json:"unpagedLimit,omitempty"`
	// StartTLS upgrades ldap:// connections with the StartTLS operation.
	StartTLS bool `json:"startTLS,omitempty"`
	// InsecurePlaintext allows a simple bind over an unencrypted ldap://
	// connection, which sends the password in clear text. Without it such
	// a configuration is refused.
	InsecurePlaintext bool `json:"insecurePlaintext,omitempty"`
	// CAFile names a PEM file of the CA certificates that sign the DCs'
	// certificates. When CAFile or CAPEM is set, only those CAs are
	// trusted, not the system pool.
	CAFile string `json:"caFile,omitempty"`
	// CAPEM holds PEM CA certificates inline, as CAFile.
	CAPEM string `json:"caPEM,omitempty"`
	// InsecureSkipVerify turns off certificate verification. It exists for
	// tests against a throwaway DC; never set it in production.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Attributes lists extra attributes to fetch for users and groups, for
	// a custom mapping.
	Attributes []string `json:"attributes,omitempty"`
	// Timeout bounds each step of talking to a DC: the TCP connect, the
	// TLS handshake (LDAPS, and the StartTLS request and the handshake
	// after it), and each LDAP request (bind, every page of a search).
	// A DC that accepts the connection but never answers fails with
	// ErrTimeout after Timeout, and the next URL is tried. Set it above
	// the DC's slowest answer to one page or one DirSync request. The
	// unpaged attempt of a full read (see UnpagedLimit) is one request
	// too; it asks the DC to stop after half Timeout, and the read then
	// pages. Default 30s.
	// In JSON it is a number of nanoseconds, as encoding/json writes a
	// Duration.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Logger receives the connector's messages (a DC skipped for the
	// next, DirSync refused, the size and duration of each read) with the
	// attribute connector=ad. Nil discards them. It is not part of the
	// JSON form, String or LogValue.
	Logger *slog.Logger `json:"-"`
}

// String describes the configuration with the password redacted.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("ad.Config{URLs:%v BindDN:%q Password:%s BaseDN:%q Filter:%q PageSize:%d UnpagedLimit:%d StartTLS:%t InsecurePlaintext:%t CAFile:%q CAPEM:%d bytes InsecureSkipVerify:%t Attributes:%v Timeout:%v}",
		c.URLs, c.BindDN, pw, c.BaseDN, c.Filter, c.PageSize, c.UnpagedLimit, c.StartTLS, c.InsecurePlaintext, c.CAFile, len(c.CAPEM), c.InsecureSkipVerify, c.Attributes, c.Timeout)
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, including %+v and %#v.
func (c Config) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }

// MarshalJSON writes the configuration without the password, so that a
// Config nested in a JSON log line (slog's JSON handler marshals struct
// fields with encoding/json, without LogValue), an API answer or a dump
// never carries it. UnmarshalJSON (the default) still reads "password":
// keep the password in a secret store and set Password after loading a
// stored Config, or store the Config and the password apart.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // the same fields and tags, without this method
	p := plain(c)
	p.Password = ""
	return json.Marshal(p)
}

// LogValue logs the configuration without the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("urls", c.URLs),
		slog.String("bindDN", c.BindDN),
		slog.Bool("passwordSet", c.Password != ""),
		slog.String("baseDN", c.BaseDN),
		slog.String("filter", c.Filter),
		slog.Int("pageSize", c.PageSize),
		slog.Int("unpagedLimit", c.UnpagedLimit),
		slog.Bool("startTLS", c.StartTLS),
		slog.Bool("insecurePlaintext", c.InsecurePlaintext),
		slog.Bool("insecureSkipVerify", c.InsecureSkipVerify),
	)
}

// ErrPlaintext reports a configuration that would send the password over an
// unencrypted connection.
var ErrPlaintext = errors.New("ad: refusing a simple bind over plaintext ldap://: use ldaps://, set StartTLS, or opt in with InsecurePlaintext")

// server is one parsed entry of URLs.
type server struct {
	url    string // as configured, for messages
	scheme string
	host   string // host:port
}

// validate checks cfg and fills defaults into a copy.
func (c Config) validate() (Config, []server, *tls.Config, error) {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("ad: config: URLs is empty: name at least one domain controller"))
	}
	var servers []server
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("ad: config: URL %q: want ldaps://host[:port] or ldap://host[:port]", raw))
			continue
		}
		s := server{url: raw, scheme: strings.ToLower(u.Scheme), host: u.Host}
		switch s.scheme {
		case "ldaps":
			if u.Port() == "" {
				s.host += ":636"
			}
		case "ldap":
			if u.Port() == "" {
				s.host += ":389"
			}
			if !c.StartTLS && !c.InsecurePlaintext {
				errs = append(errs, fmt.Errorf("ad: config: URL %q: %w", raw, ErrPlaintext))
			}
		default:
			errs = append(errs, fmt.Errorf("ad: config: URL %q: scheme must be ldaps or ldap", raw))
			continue
		}
		servers = append(servers, s)
	}
	if c.BindDN == "" {
		errs = append(errs, errors.New("ad: config: BindDN is empty (anonymous reads are not supported)"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("ad: config: Password is empty"))
	}
	if c.BaseDN == "" {
		errs = append(errs, errors.New("ad: config: BaseDN is empty"))
	} else if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		errs = append(errs, fmt.Errorf("ad: config: BaseDN %q is not a DN: %v", c.BaseDN, err))
	}
	if c.Filter != "" {
		f := c.Filter
		if !strings.HasPrefix(f, "(") {
			f = "(" + f + ")"
		}
		if _, err := ldap.CompileFilter(f); err != nil {
			errs = append(errs, fmt.Errorf("ad: config: Filter %q: %v", c.Filter, err))
		}
	}
	if c.PageSize < 0 {
		errs = append(errs, fmt.Errorf("ad: config: PageSize %d is negative", c.PageSize))
	} else if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("ad: config: Timeout %v is negative", c.Timeout))
	} else if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	for _, a := range c.Attributes {
		if a == "" || strings.ContainsAny(a, " ()=*") {
			errs = append(errs, fmt.Errorf("ad: config: attribute name %q is not valid", a))
		}
	}
	tc, err := c.tlsConfig()
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, nil, nil, err
	}
	return c, servers, tc, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile == "" && c.CAPEM == "" {
		return tc, nil
	}
	pool := x509.NewCertPool()
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ad: config: CAFile: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ad: config: CAFile %q holds no PEM certificate", c.CAFile)
		}
	}
	if c.CAPEM != "" && !pool.AppendCertsFromPEM([]byte(c.CAPEM)) {
		return nil, errors.New("ad: config: CAPEM holds no PEM certificate")
	}
	tc.RootCAs = pool
	return tc, nil
}
