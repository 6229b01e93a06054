package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/dirsync-go/dirsync/connector"
)

// Connector reads users and groups from Microsoft Entra ID through
// Microsoft Graph. It is safe for concurrent use.
type Connector struct {
	cfg    Config
	client *msgraphsdk.GraphServiceClient
	log    *slog.Logger
	// users and groups are the $select of user and group reads: the
	// defaults (userSelect, groupSelect), or a projection's (Project).
	users, groups []string
}

var (
	_ connector.Connector     = (*Connector)(nil)
	_ connector.Incremental   = (*Connector)(nil)
	_ connector.Checker       = (*Connector)(nil)
	_ connector.GroupSearcher = (*Connector)(nil)
	_ connector.Projector     = (*Connector)(nil)
)

// Open validates cfg and returns a Connector. It does not contact Entra ID
// or Graph (call Check for that), so ctx is only checked for cancellation;
// it is not kept: every later call takes its own ctx.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return open(cfg, nil)
}

// open is Open with the transport under the Graph middleware replaced, so
// tests can reach a TLS test server. A nil base means
// http.DefaultTransport.
func open(cfg Config, base http.RoundTripper) (*Connector, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	cred, err := cfg.credential()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	middleware, err := khttp.GetDefaultMiddlewaresWithOptions(&khttp.RetryHandlerOptions{
		MaxRetries:   cfg.MaxRetries,
		DelaySeconds: 1,
		ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool {
			return true
		},
	})
	if err != nil {
		return nil, fmt.Errorf("entra: middleware: %w", err)
	}
	hc := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(base, middleware...),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	auth := &tokenAuth{cred: cred, scope: scopeFor(cfg.GraphBaseURL)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("entra: request adapter: %w", err)
	}
	adapter.SetBaseUrl(cfg.GraphBaseURL)
	return &Connector{cfg: cfg, client: msgraphsdk.NewGraphServiceClient(adapter),
		log: logger.With("connector", "entra"), users: userSelect, groups: groupSelect}, nil
}

// Config returns the validated configuration with defaults filled in.
func (c *Connector) Config() Config { return c.cfg }

// String describes the connector by its configuration, the secret and
// the certificate redacted (Config.String).
//
// The formatting methods have value receivers so that they cover a
// Connector and a *Connector alike: without them fmt would print the
// unexported fields by reflection, the configuration's secret among them.
func (c Connector) String() string { return "entra.Connector{" + c.cfg.String() + "}" }

// GoString is String, so that %#v does not print the secret either.
func (c Connector) GoString() string { return c.String() }

// Format prints String for every verb, including %v, %+v, %#v and %s.
func (c Connector) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the connector's configuration without the secret.
func (c Connector) LogValue() slog.Value {
	return slog.GroupValue(slog.String("connector", "entra"), slog.Any("config", c.cfg))
}

// tokenAuth authenticates Graph requests with a bearer token from an
// azcore.TokenCredential (azidentity caches and refreshes it).
type tokenAuth struct {
	cred  azcore.TokenCredential
	scope string
}

func (a *tokenAuth) AuthenticateRequest(ctx context.Context, req *abs.RequestInformation, _ map[string]any) error {
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.scope}})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("entra: cannot get a token for %s (check the tenant, the client ID and the secret or certificate): %w: %w",
			a.scope, connector.ErrAuth, err)
	}
	req.Headers.Add("Authorization", "Bearer "+tok.Token)
	return nil
}

// errNotFound marks a 404 from Graph; callers decide what a missing
// object means.
var errNotFound = errors.New("not found")

// expiredDeltaCodes are the error codes with which Graph refuses a delta
// link it no longer holds state for (on a 400, or a 410 Gone). Graph
// spells them inconsistently (SyncStateNotFound, syncStateNotFound), so
// they are compared ignoring case.
var expiredDeltaCodes = []string{"syncStateNotFound", "syncStateInvalid", "resyncRequired"}

func expiredDeltaCode(code string) bool {
	for _, c := range expiredDeltaCodes {
		if strings.EqualFold(code, c) {
			return true
		}
	}
	return false
}

// graphError turns an error from the Graph client into one that names the
// operation; authentication and permission failures wrap
// connector.ErrAuth, an expired delta link connector.ErrCursorExpired, a
// cancelled ctx ctx.Err().
func graphError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("entra: %s: %w", op, ctx.Err())
	}
	if errors.Is(err, connector.ErrAuth) {
		return err
	}
	status, code, msg := 0, "", err.Error()
	var oe *odataerrors.ODataError
	var ae *abs.ApiError
	switch {
	case errors.As(err, &oe):
		status = oe.ResponseStatusCode
		if m := oe.GetErrorEscaped(); m != nil {
			if p := m.GetCode(); p != nil {
				code = *p
			}
			if p := m.GetMessage(); p != nil {
				msg = *p
			}
		}
	case errors.As(err, &ae):
		status = ae.ResponseStatusCode
	}
	switch {
	case status == http.StatusUnauthorized:
		return fmt.Errorf("entra: %s: Graph refused the access token (%s: %s): it is invalid, expired or revoked, or issued for another tenant: %w", op, code, msg, connector.ErrAuth)
	case status == http.StatusForbidden:
		return fmt.Errorf("entra: %s: Graph denied access (%s: %s): grant the app the application permissions User.Read.All and GroupMember.Read.All (or Directory.Read.All) and an admin's consent: %w", op, code, msg, connector.ErrAuth)
	case status == http.StatusGone || (status == http.StatusBadRequest && expiredDeltaCode(code)):
		return fmt.Errorf("entra: %s: the delta link is no longer valid (%d %s): %w", op, status, code, connector.ErrCursorExpired)
	case status == http.StatusNotFound:
		return fmt.Errorf("entra: %s: Graph answered 404 %s: %s: %w", op, code, msg, errNotFound)
	case status != 0:
		return fmt.Errorf("entra: %s: Graph answered %d %s: %s", op, status, code, msg)
	}
	return fmt.Errorf("entra: %s: %w", op, err)
}
