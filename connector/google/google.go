package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/dirsync-go/dirsync/connector"
)

// Connector reads users and groups from Google Workspace. Create it with
// Open. It is safe for concurrent use.
//
// A Connector never shows its key nor the access tokens it holds: String,
// every fmt verb (Format), GoString, LogValue and MarshalJSON print the
// redacted configuration. The key, the token sources and the host's
// TokenSource are sealed in funcs, so that even fmt's reflection over a
// Connector value held in an unexported field of a host's struct (which
// calls none of these methods) prints an address, never a secret.
type Connector struct {
	// cfg is the validated configuration without its secrets
	// (ServiceAccountJSON and TokenSource cleared); full has them.
	cfg  Config
	full sealed[Config]
	svc  *admin.Service
	log  *slog.Logger
	// jwt, with a key, is the JWT-bearer grant of every scope, so that
	// Check can ask for one token per scope and name a scope delegation
	// does not grant.
	jwt sealed[*jwt.Config]
	// tokenClient sends token requests: an oauth2.HTTPClient found in
	// Open's ctx, or the retrying client.
	tokenClient *http.Client
	// userFields is the fields selector of users.list: userFields by
	// default, a projection's (Project) otherwise.
	userFields string
}

// sealed holds a value fmt must never print: its reflection shows a func
// as an address, whatever the verb and at any depth, where a pointer to a
// struct is expanded again by a bad verb such as %s.
type sealed[T any] func() T

func seal[T any](v T) sealed[T] { return func() T { return v } }

var (
	_ connector.Connector     = (*Connector)(nil)
	_ connector.Incremental   = (*Connector)(nil)
	_ connector.Checker       = (*Connector)(nil)
	_ connector.GroupSearcher = (*Connector)(nil)
	_ connector.Projector     = (*Connector)(nil)
)

// Open validates cfg and returns a Connector. It contacts nothing: Check
// does. Open keeps no ctx: every token request, like every API request,
// is made with the ctx of the call that needs it (Read, ReadChanges,
// Check, SearchGroups), and ends with it. Of ctx's values only an
// oauth2.HTTPClient is kept, to send the token requests; without one they
// go through the connector's own retrying client.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	scrubbed := cfg
	scrubbed.ServiceAccountJSON, scrubbed.TokenSource = "", nil
	c := &Connector{cfg: scrubbed, full: seal(cfg), log: logger.With("connector", "google"), userFields: userFields}
	rt := &retryTransport{base: http.DefaultTransport, max: cfg.MaxAttempts, delay: cfg.RetryDelay, log: c.log}
	if hc, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && hc != nil {
		c.tokenClient = hc
	} else {
		// Token requests are retried too, but briefly.
		trt := *rt
		trt.max = min(rt.max, 3)
		c.tokenClient = &http.Client{Transport: &trt}
	}
	var fetch func(context.Context) (*oauth2.Token, error)
	if ts := cfg.TokenSource; ts != nil {
		fetch = func(context.Context) (*oauth2.Token, error) { return ts.Token() }
	} else {
		key := []byte(cfg.ServiceAccountJSON)
		if cfg.ServiceAccountFile != "" {
			if key, err = os.ReadFile(cfg.ServiceAccountFile); err != nil {
				return nil, fmt.Errorf("google: config: ServiceAccountFile: %w", err)
			}
		}
		jc, err := googleoauth.JWTConfigFromJSON(key, scopes...)
		if err != nil {
			// The parser's message may quote the key; do not pass it on.
			return nil, errors.New("google: config: the key is not a service-account JSON key (download one under IAM → Service accounts → Keys)")
		}
		jc.Subject = cfg.Subject
		c.jwt = seal(jc)
		fetch = func(ctx context.Context) (*oauth2.Token, error) { return c.grant(ctx, jc) }
	}
	hc := &http.Client{Transport: &authTransport{tokens: &tokenCache{fetch: fetch}, base: rt}}
	opts := []option.ClientOption{option.WithHTTPClient(hc)}
	if cfg.Endpoint != "" {
		ep := cfg.Endpoint
		if !strings.HasSuffix(ep, "/") {
			ep += "/"
		}
		opts = append(opts, option.WithEndpoint(ep))
	}
	if c.svc, err = admin.NewService(ctx, opts...); err != nil {
		return nil, fmt.Errorf("google: admin service: %w", err)
	}
	return c, nil
}

// grant asks the token endpoint for an access token of jc's scopes, with
// ctx: its cancellation ends the request and the waits between retries.
func (c *Connector) grant(ctx context.Context, jc *jwt.Config) (*oauth2.Token, error) {
	hc := *c.tokenClient
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// The JWT flow sends its request without a ctx; this transport gives
	// it the caller's.
	hc.Transport = ctxTransport{ctx: ctx, base: base}
	return jc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, &hc)).Token()
}

// ctxTransport sends every request with ctx. It lives for one token
// request.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

// tokenCache holds the current access token and fetches a new one when it
// expires, with the ctx of the request that needs it.
type tokenCache struct {
	mu    sync.Mutex
	tok   *oauth2.Token
	fetch func(context.Context) (*oauth2.Token, error)
}

func (t *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Valid() {
		return t.tok, nil
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		return nil, err
	}
	t.tok = tok
	return tok, nil
}

// authTransport sets the bearer token on each request, as oauth2.Transport
// does, but asks for the token with the request's ctx.
type authTransport struct {
	tokens *tokenCache
	base   http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.tokens.token(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	tok.SetAuthHeader(r)
	return t.base.RoundTrip(r)
}

// Config returns the validated configuration, defaults filled in.
func (c *Connector) Config() Config { return c.full() }

// String describes the connector by its configuration, key redacted.
func (c Connector) String() string {
	if c.full == nil {
		return "google.Connector{}"
	}
	return "google.Connector{" + c.full().String() + "}"
}

// GoString is String, so that %#v shows no key either.
func (c Connector) GoString() string { return c.String() }

// Format prints String for every verb (%v, %+v, %#v, %s, %q, %x, …).
func (c Connector) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue logs the configuration without the key.
func (c Connector) LogValue() slog.Value {
	if c.full == nil {
		return slog.GroupValue()
	}
	return c.full().LogValue()
}

// MarshalJSON writes the redacted configuration.
func (c Connector) MarshalJSON() ([]byte, error) {
	if c.full == nil {
		return []byte("{}"), nil
	}
	return c.full().MarshalJSON()
}

// authError wraps connector.ErrAuth and the cause with an explanation.
type authError struct {
	msg string
	err error
}

func (e *authError) Error() string   { return "google: " + e.msg + ": " + e.err.Error() }
func (e *authError) Unwrap() []error { return []error{connector.ErrAuth, e.err} }

// classify turns an API or token error into an error for the caller: auth
// failures wrap connector.ErrAuth with an explanation; others name op.
func (c *Connector) classify(ctx context.Context, op, scope string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return c.tokenError(re, err)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch {
		case ge.Code == http.StatusUnauthorized:
			return &authError{op + ": the access token was refused", err}
		case ge.Code == http.StatusForbidden && !retryableReason(ge):
			msg := op + ": permission denied"
			if scope != "" {
				msg += fmt.Sprintf(" (needs scope %s, and the subject must be an admin allowed to read it)", scope)
			}
			return &authError{msg, err}
		}
	}
	return fmt.Errorf("google: %s: %w", op, err)
}

// ErrTokenUnavailable is wrapped by the error of a read or Check whose
// token request kept failing with 5xx or 429 after the retries: an outage
// of Google's token endpoint (or of a proxy before it), not a credential
// problem, so it does not wrap connector.ErrAuth. Try again later.
var ErrTokenUnavailable = errors.New("google: the OAuth token endpoint is unavailable")

// tokenError classifies a failed token request by its HTTP status and the
// OAuth 2.0 error code of its JSON body (RFC 6749 §5.2; Google's list for
// service accounts is at
// https://developers.google.com/identity/protocols/oauth2/service-account#error-codes).
// A 5xx or 429 that outlived the retries is an outage (ErrTokenUnavailable,
// never ErrAuth). Any other non-2xx answer is the endpoint refusing the
// grant: ErrAuth, with a sentence for the codes that have a known fix.
func (c *Connector) tokenError(re *oauth2.RetrieveError, err error) error {
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		return fmt.Errorf("%w (HTTP %d after retries; try again later): %w", ErrTokenUnavailable, status, err)
	}
	code := re.ErrorCode
	if code == "" {
		// The JWT flow leaves the body unparsed.
		var body struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(re.Body, &body)
		code = body.Error
	}
	switch code {
	case "unauthorized_client":
		return &authError{"token request refused: domain-wide delegation is missing for the service account's client ID, or does not grant all of the scopes " + Scopes, err}
	case "invalid_grant":
		return &authError{fmt.Sprintf("token request refused: the key is revoked or invalid, or the subject %q is not an existing admin", c.cfg.Subject), err}
	case "access_denied", "admin_policy_enforced", "org_internal":
		return &authError{fmt.Sprintf("token request refused: access denied for the subject %q (check the Workspace's API access controls for the service account)", c.cfg.Subject), err}
	case "invalid_client", "disabled_client":
		return &authError{"token request refused: the service account or its key is disabled or unknown", err}
	}
	return &authError{"token request refused", err}
}

func retryableReason(ge *googleapi.Error) bool {
	for _, e := range ge.Errors {
		switch e.Reason {
		case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded":
			return true
		}
	}
	return false
}

// Check verifies the key, the delegation of each scope and one cheap call
// to each API (users, groups, members, org units). The error names every
// scope or API that fails.
func (c *Connector) Check(ctx context.Context) error {
	var errs []error
	if c.jwt != nil {
		for _, s := range scopes {
			one := *c.jwt()
			one.Scopes = []string{s}
			if _, err := c.grant(ctx, &one); err != nil {
				errs = append(errs, fmt.Errorf("scope %s: %w", s, c.classify(ctx, "token", s, err)))
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
	uc := c.svc.Users.List().MaxResults(1).Fields("users(id)").Context(ctx)
	c.scopeFilter(uc)
	if _, err := uc.Do(); err != nil {
		errs = append(errs, c.classify(ctx, "users.list", ScopeUser, err))
	}
	gc := c.svc.Groups.List().MaxResults(1).Fields("groups(id)").Context(ctx)
	if c.cfg.Domain != "" {
		gc.Domain(c.cfg.Domain)
	} else {
		gc.Customer(c.cfg.Customer)
	}
	gs, err := gc.Do()
	if err != nil {
		errs = append(errs, c.classify(ctx, "groups.list", ScopeGroup, err))
	} else if len(gs.Groups) > 0 {
		if _, err := c.svc.Members.List(gs.Groups[0].Id).MaxResults(1).Fields("members(id)").Context(ctx).Do(); err != nil {
			errs = append(errs, c.classify(ctx, "members.list", ScopeGroupMember, err))
		}
	}
	if _, err := c.svc.Orgunits.List(c.customerID()).Type("children").Fields("organizationUnits(orgUnitPath)").Context(ctx).Do(); err != nil {
		errs = append(errs, c.classify(ctx, "orgunits.list", ScopeOrgUnit, err))
	}
	return errors.Join(errs...)
}

// customerID is the customer for the APIs that take no domain.
func (c *Connector) customerID() string {
	if c.cfg.Customer == "" {
		return "my_customer"
	}
	return c.cfg.Customer
}

func (c *Connector) scopeFilter(uc *admin.UsersListCall) {
	if c.cfg.Domain != "" {
		uc.Domain(c.cfg.Domain)
	} else {
		uc.Customer(c.cfg.Customer)
	}
	if c.cfg.Query != "" {
		uc.Query(c.cfg.Query)
	}
}

var _ connector.GroupSearchMatcher = (*Connector)(nil)

// GroupSearchMatch reports that SearchGroups matches names from the start
// only: groups.list can search no other way.
func (c *Connector) GroupSearchMatch() connector.GroupMatch { return connector.MatchPrefix }

// SearchGroups returns the groups whose name starts with query, ignoring
// case (connector.MatchPrefix), sorted by name. Members are not read: the
// entries carry ID, Kind and the name and email attributes.
//
// groups.list's query has no substring or word search for groups: name
// takes = (exact) and :{PREFIX}* (starts with) only
// (https://developers.google.com/workspace/admin/directory/v1/guides/search-groups).
// SearchGroups sends name:<p>*, where p is the longest run of letters and
// digits query starts with, and keeps the groups whose name starts with
// the whole query: what the admin typed never reaches the query as
// syntax (no quote, backslash, '*', ':' or space is sent), so no quoting
// is needed, and "O'Brien's t" searches name:O* and filters here. A query
// that starts with anything else lists every group (all pages) and
// filters here. The documentation does not say whether the prefix
// operator ignores case; the filter here does. Google documents that new
// or renamed groups can take up to
// 36 hours to reach search results (usually within an hour); the full
// read has no such delay.
func (c *Connector) SearchGroups(ctx context.Context, query string, limit int) ([]connector.Entry, error) {
	if strings.ContainsRune(query, 0) {
		return nil, ctx.Err()
	}
	var search string
	if p := searchPrefix(query); p != "" {
		search = "name:" + p + "*"
	}
	groups, err := c.listGroupsQuery(ctx, search)
	if err != nil {
		return nil, err
	}
	var out []connector.Entry
	for _, g := range groups {
		if connector.MatchPrefix.Matches(g.Name, query) {
			out = append(out, groupEntry(g))
		}
	}
	slices.SortFunc(out, func(a, b connector.Entry) int {
		if r := strings.Compare(strings.ToLower(a.Attr("name")), strings.ToLower(b.Attr("name"))); r != 0 {
			return r
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// searchPrefix is the longest run of letters and digits query starts
// with: the part of it that goes into a groups.list query unquoted.
func searchPrefix(query string) string {
	for i, r := range query {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return query[:i]
		}
	}
	return query
}
