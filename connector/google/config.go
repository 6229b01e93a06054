package google

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// DefaultPageSize is the users.list page size when Config.PageSize is 0;
// it is also the largest Google accepts.
const DefaultPageSize = 500

// membersPageSize is members.list's maxResults: Google's maximum.
const membersPageSize = 200

// groupsPageSize is groups.list's maxResults: Google's maximum.
const groupsPageSize = 200

// DefaultMaxAttempts is how many times a request is tried when
// Config.MaxAttempts is 0.
const DefaultMaxAttempts = 8

// DefaultRetryDelay is the first backoff delay when Config.RetryDelay is 0.
const DefaultRetryDelay = time.Second

// The OAuth scopes the connector asks for: read-only, one per API it calls.
const (
	ScopeUser        = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeGroup       = "https://www.googleapis.com/auth/admin.directory.group.readonly"
	ScopeGroupMember = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
	ScopeOrgUnit     = "https://www.googleapis.com/auth/admin.directory.orgunit.readonly"
)

// Scopes lists the scopes to grant in domain-wide delegation, comma
// separated as the Admin console wants them pasted.
const Scopes = ScopeUser + "," + ScopeGroup + "," + ScopeGroupMember + "," + ScopeOrgUnit

var scopes = []string{ScopeUser, ScopeGroup, ScopeGroupMember, ScopeOrgUnit}

// Config configures a Connector. Open validates it.
type Config struct {
	// ServiceAccountJSON is the service account's JSON key, inline. It
	// never appears in logs, errors, String, any fmt verb, slog, or the
	// JSON form: encoding/json writes "[redacted]" in its place, so a
	// Config logged or stored as JSON never carries the key. Keep the key
	// in a secret store and set this field from it when building the
	// Config, or use ServiceAccountFile. Open refuses the placeholder.
	ServiceAccountJSON string `json:"serviceAccountJSON,omitempty"`
	// ServiceAccountFile names a file holding the JSON key instead.
	ServiceAccountFile string `json:"serviceAccountFile,omitempty"`
	// Subject is the super admin (or delegated admin with read rights on
	// users and groups) the service account impersonates, e.g.
	// "admin@example.com". Required with a key.
	Subject string `json:"subject,omitempty"`
	// TokenSource, when set, supplies access tokens instead of a key (for
	// a host that runs its own OAuth flow). It must carry the scopes in
	// Scopes.
	TokenSource oauth2.TokenSource `json:"-"`
	// Customer is the customer ID ("C01abc23d"). Default "my_customer",
	// the customer of Subject. Set Customer or Domain, not both.
	Customer string `json:"customer,omitempty"`
	// Domain restricts the read to one domain of the customer.
	Domain string `json:"domain,omitempty"`
	// Query is a users.list search query, e.g. "orgUnitPath='/Sales'"
	// (which also matches the org units below /Sales). Groups are not
	// filtered by it; members outside the query are dropped.
	Query string `json:"query,omitempty"`
	// CustomSchemas, when set, limits the custom schemas read to these
	// (projection=custom); by default all are read (projection=full).
	CustomSchemas []string `json:"customSchemas,omitempty"`
	// Endpoint replaces https://admin.googleapis.com/, for tests.
	Endpoint string `json:"endpoint,omitempty"`
	// PageSize is users.list's maxResults, 1 to 500. Default 500.
	PageSize int `json:"pageSize,omitempty"`
	// MaxAttempts caps the tries of one request on rate limits, 5xx and
	// dropped connections. Default 8.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// RetryDelay is the first backoff delay; it doubles on every retry
	// (with full jitter) up to 64 times its value. Default 1s. In JSON a
	// number of nanoseconds.
	RetryDelay time.Duration `json:"retryDelay,omitempty"`
	// Logger receives the connector's messages (retried requests, at
	// Debug) with the attribute connector=google. Nil discards them. It
	// is not part of the JSON form, String or LogValue.
	Logger *slog.Logger `json:"-"`
}

func (c Config) keySet() bool { return c.ServiceAccountJSON != "" }

// Redacted is what String, every fmt verb, LogValue and the JSON form show
// in place of the service-account key.
const Redacted = "[redacted]"

// String describes the configuration with the key redacted.
func (c Config) String() string {
	key := ""
	if c.keySet() {
		key = Redacted
	}
	return fmt.Sprintf("google.Config{ServiceAccountJSON:%s ServiceAccountFile:%q Subject:%q TokenSource:%t Customer:%q Domain:%q Query:%q CustomSchemas:%v Endpoint:%q PageSize:%d MaxAttempts:%d RetryDelay:%v}",
		key, c.ServiceAccountFile, c.Subject, c.TokenSource != nil, c.Customer, c.Domain, c.Query, c.CustomSchemas, c.Endpoint, c.PageSize, c.MaxAttempts, c.RetryDelay)
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, including %+v and %#v.
func (c Config) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }

// MarshalJSON writes the configuration with Redacted in place of the key,
// so that no JSON form of a Config (a stored configuration, a log line of
// slog's JSON handler holding a Config in a struct) carries it. (Before,
// encoding/json wrote the key.)
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // no methods: no recursion
	p := plain(c)
	if p.ServiceAccountJSON != "" {
		p.ServiceAccountJSON = Redacted
	}
	return json.Marshal(p)
}

// LogValue logs the configuration without the key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("serviceAccountJSONSet", c.keySet()),
		slog.String("serviceAccountFile", c.ServiceAccountFile),
		slog.String("subject", c.Subject),
		slog.Bool("tokenSource", c.TokenSource != nil),
		slog.String("customer", c.Customer),
		slog.String("domain", c.Domain),
		slog.String("query", c.Query),
		slog.String("endpoint", c.Endpoint),
		slog.Int("pageSize", c.PageSize),
	)
}

// validate checks c and fills defaults into a copy.
func (c Config) validate() (Config, error) {
	var errs []error
	n := 0
	if c.ServiceAccountJSON != "" {
		n++
	}
	if c.ServiceAccountFile != "" {
		n++
	}
	if c.TokenSource != nil {
		n++
	}
	if c.ServiceAccountJSON == Redacted {
		errs = append(errs, errors.New("google: config: ServiceAccountJSON is the redaction placeholder (a Config's JSON form never carries the key): set it from your secret store, or use ServiceAccountFile"))
	}
	switch {
	case n == 0:
		errs = append(errs, errors.New("google: config: set ServiceAccountJSON, ServiceAccountFile or TokenSource"))
	case n > 1:
		errs = append(errs, errors.New("google: config: set only one of ServiceAccountJSON, ServiceAccountFile and TokenSource"))
	}
	if c.TokenSource == nil && c.Subject == "" {
		errs = append(errs, errors.New("google: config: Subject is empty: domain-wide delegation needs the admin to impersonate"))
	}
	if c.Customer != "" && c.Domain != "" {
		errs = append(errs, errors.New("google: config: set Customer or Domain, not both"))
	}
	if c.Customer == "" && c.Domain == "" {
		c.Customer = "my_customer"
	}
	if c.PageSize < 0 || c.PageSize > 500 {
		errs = append(errs, fmt.Errorf("google: config: PageSize %d: want 1 to 500", c.PageSize))
	} else if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("google: config: MaxAttempts %d is negative", c.MaxAttempts))
	} else if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryDelay < 0 {
		errs = append(errs, fmt.Errorf("google: config: RetryDelay %v is negative", c.RetryDelay))
	} else if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("google: config: Endpoint %q is not an http(s) URL", c.Endpoint))
		}
	}
	for _, s := range c.CustomSchemas {
		if s == "" {
			errs = append(errs, errors.New("google: config: CustomSchemas holds an empty name"))
		}
	}
	return c, errors.Join(errs...)
}
