package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// DefaultGraphBaseURL is the Microsoft Graph endpoint of the global cloud.
const DefaultGraphBaseURL = "https://graph.microsoft.com/v1.0"

// DefaultPageSize is the page size asked for with Prefer: odata.maxpagesize
// when Config.PageSize is 0. 999 is the largest Graph allows for users.
const DefaultPageSize = 999

// DefaultOrgPathAttribute is the user property that becomes Entry.Path when
// Config.OrgPathAttribute is empty.
const DefaultOrgPathAttribute = "department"

// DefaultMaxRetries is how often a throttled (429) or unavailable (503)
// request is retried when Config.MaxRetries is 0.
const DefaultMaxRetries = 5

// Config configures a Connector. Open validates it.
type Config struct {
	// TenantID is the directory (tenant) ID or a verified domain of the
	// tenant, e.g. "contoso.onmicrosoft.com".
	TenantID string `json:"tenantID"`
	// ClientID is the application (client) ID of the app registration.
	ClientID string `json:"clientID"`
	// ClientSecret is a client secret of the app registration. It never
	// appears in logs, errors, any fmt verb or JSON output (MarshalJSON
	// leaves it out).
	ClientSecret string `json:"clientSecret,omitempty"`
	// CertificatePath names a PEM file holding the app's certificate and
	// its unencrypted private key, used instead of a client secret.
	CertificatePath string `json:"certificatePath,omitempty"`
	// CertificatePEM holds the certificate and key inline, as
	// CertificatePath. Redacted and left out of JSON like ClientSecret.
	CertificatePEM string `json:"certificatePEM,omitempty"`
	// Credential, when set, is used instead of TenantID/ClientID and a
	// secret or certificate: any azcore.TokenCredential (a managed
	// identity, a workload identity, a host's own token cache).
	Credential azcore.TokenCredential `json:"-"`
	// GraphBaseURL is the Graph endpoint including the version, for
	// national clouds: https://graph.microsoft.us/v1.0 (US Government L4),
	// https://dod-graph.microsoft.us/v1.0 (L5),
	// https://microsoftgraph.chinacloudapi.cn/v1.0 (China, 21Vianet).
	// Default DefaultGraphBaseURL.
	GraphBaseURL string `json:"graphBaseURL,omitempty"`
	// PageSize is the page size asked for (Prefer: odata.maxpagesize).
	// Default 999.
	PageSize int `json:"pageSize,omitempty"`
	// OrgPathAttribute names the user property whose value becomes the
	// one-element Entry.Path (Entra has no organizational units). Default
	// "department"; "companyName" and "officeLocation" are the other
	// useful choices. An empty value leaves Path empty.
	OrgPathAttribute string `json:"orgPathAttribute,omitempty"`
	// MaxRetries bounds the retries of a throttled (429) or unavailable
	// (503) request; each waits as long as Retry-After says. Default 5,
	// at most 10.
	MaxRetries int `json:"maxRetries,omitempty"`
	// Logger receives the connector's messages (what each read fetched
	// and how long it took, at Debug) with the attribute
	// connector=entra. Nil discards them. It is not part of the JSON
	// form, String or LogValue.
	Logger *slog.Logger `json:"-"`
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// String describes the configuration with the secret and the certificate
// redacted.
func (c Config) String() string {
	return fmt.Sprintf("entra.Config{TenantID:%q ClientID:%q ClientSecret:%s CertificatePath:%q CertificatePEM:%s Credential:%t GraphBaseURL:%q PageSize:%d OrgPathAttribute:%q MaxRetries:%d}",
		c.TenantID, c.ClientID, redacted(c.ClientSecret), c.CertificatePath, redacted(c.CertificatePEM),
		c.Credential != nil, c.GraphBaseURL, c.PageSize, c.OrgPathAttribute, c.MaxRetries)
}

// GoString is String, so that %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, including %+v and %#v.
func (c Config) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue logs the configuration without the secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tenantID", c.TenantID),
		slog.String("clientID", c.ClientID),
		slog.Bool("clientSecretSet", c.ClientSecret != ""),
		slog.String("certificatePath", c.CertificatePath),
		slog.Bool("certificatePEMSet", c.CertificatePEM != ""),
		slog.Bool("credentialSet", c.Credential != nil),
		slog.String("graphBaseURL", c.GraphBaseURL),
		slog.Int("pageSize", c.PageSize),
		slog.String("orgPathAttribute", c.OrgPathAttribute),
	)
}

// MarshalJSON writes the configuration without ClientSecret and
// CertificatePEM, so that a Config never carries a secret into a log
// line, an API response or a file by way of encoding/json (slog's
// JSONHandler encodes a Config nested in a struct this way). Keep the
// secret in a secret store and set it after reading the rest of the
// configuration; UnmarshalJSON still reads both fields.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // without the methods: no recursion
	p := plain(c)
	p.ClientSecret, p.CertificatePEM = "", ""
	return json.Marshal(p)
}

// validate checks c and fills defaults into a copy.
func (c Config) validate() (Config, error) {
	var errs []error
	if c.GraphBaseURL == "" {
		c.GraphBaseURL = DefaultGraphBaseURL
	}
	c.GraphBaseURL = strings.TrimRight(c.GraphBaseURL, "/")
	if u, err := url.Parse(c.GraphBaseURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, fmt.Errorf("entra: config: GraphBaseURL %q: want https://host/v1.0", c.GraphBaseURL))
	}
	if c.Credential == nil {
		if c.TenantID == "" {
			errs = append(errs, errors.New("entra: config: TenantID is empty"))
		}
		if c.ClientID == "" {
			errs = append(errs, errors.New("entra: config: ClientID is empty"))
		}
		n := 0
		for _, s := range []string{c.ClientSecret, c.CertificatePath, c.CertificatePEM} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, errors.New("entra: config: set exactly one of ClientSecret, CertificatePath, CertificatePEM (or pass a Credential)"))
		}
	}
	if c.PageSize < 0 || c.PageSize > 999 {
		errs = append(errs, fmt.Errorf("entra: config: PageSize %d: want 1 to 999 (0 for the default)", c.PageSize))
	} else if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		errs = append(errs, fmt.Errorf("entra: config: MaxRetries %d: want 0 to 10", c.MaxRetries))
	} else if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.OrgPathAttribute == "" {
		c.OrgPathAttribute = DefaultOrgPathAttribute
	}
	return c, errors.Join(errs...)
}

// cloudFor picks the Entra authority that issues tokens for the Graph host.
func cloudFor(graphBase string) cloud.Configuration {
	u, _ := url.Parse(graphBase)
	host := ""
	if u != nil {
		host = strings.ToLower(u.Hostname())
	}
	switch {
	case strings.HasSuffix(host, ".microsoft.us"):
		return cloud.AzureGovernment
	case strings.HasSuffix(host, ".chinacloudapi.cn"):
		return cloud.AzureChina
	}
	return cloud.AzurePublic
}

// scopeFor is the .default scope of the Graph host: the app's granted
// application permissions.
func scopeFor(graphBase string) string {
	u, _ := url.Parse(graphBase)
	return u.Scheme + "://" + u.Host + "/.default"
}

// credential builds the token credential from the configuration.
func (c Config) credential() (azcore.TokenCredential, error) {
	if c.Credential != nil {
		return c.Credential, nil
	}
	opts := azcore.ClientOptions{Cloud: cloudFor(c.GraphBaseURL)}
	if c.ClientSecret != "" {
		cred, err := azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
		if err != nil {
			// The azidentity error names the tenant or client ID, never the secret.
			return nil, fmt.Errorf("entra: config: client secret credential: %w", err)
		}
		return cred, nil
	}
	pemData := []byte(c.CertificatePEM)
	if c.CertificatePath != "" {
		b, err := os.ReadFile(c.CertificatePath)
		if err != nil {
			return nil, fmt.Errorf("entra: config: CertificatePath: %w", err)
		}
		pemData = b
	}
	certs, key, err := azidentity.ParseCertificates(pemData, nil)
	if err != nil {
		return nil, errors.New("entra: config: the certificate PEM holds no usable certificate and unencrypted private key")
	}
	cred, err := azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("entra: config: certificate credential: %w", err)
	}
	return cred, nil
}
