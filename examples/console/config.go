package main

// config.go builds the integrations: the bundled sample company, LDIF
// files given with -ldif, and real directories from a JSON config file
// (-config). Connectors are constructed through their own Config and Open,
// which validate them. Secrets never sit in the config file: each
// integration names the environment variable that holds its secret.

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/dirsync-go/dirsync/connector/ad"
	"github.com/dirsync-go/dirsync/connector/entra"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/connector/ldif"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// companyLDIF is "Northwind Example", the sample company of the
// quickstart (internal/sampledata writes it; its test keeps this copy
// equal to the generator's output).
//
//go:embed company.ldif
var companyLDIF []byte

// sampleName is the name of the bundled sample integration.
const sampleName = "northwind-ad"

// fileConfig is the JSON file read with -config:
//
//	{"integrations": [
//	  {"name": "corp-ad", "kind": "ad", "secretEnv": "CORP_AD_PASSWORD",
//	   "ad": {"urls": ["ldaps://dc1.corp.example"], "bindDN": "svc-dirsync@corp.example", "baseDN": "DC=corp,DC=example"}},
//	  {"name": "entra", "kind": "entra", "secretEnv": "ENTRA_CLIENT_SECRET",
//	   "entra": {"tenantID": "contoso.onmicrosoft.com", "clientID": "…"}},
//	  {"name": "workspace", "kind": "google",
//	   "google": {"serviceAccountFile": "/etc/dirsync/key.json", "subject": "admin@example.com"}}
//	]}
type fileConfig struct {
	Integrations []integrationConfig `json:"integrations"`
}

// integrationConfig is one integration of the config file.
type integrationConfig struct {
	Name string `json:"name"`
	// Kind is "ad", "entra", "google" or "ldif".
	Kind   string         `json:"kind"`
	AD     *ad.Config     `json:"ad,omitempty"`
	Entra  *entra.Config  `json:"entra,omitempty"`
	Google *google.Config `json:"google,omitempty"`
	LDIF   *ldif.Config   `json:"ldif,omitempty"`
	// SecretEnv names the environment variable holding the secret: the AD
	// bind password, the Entra client secret, or the Google service
	// account's JSON key.
	SecretEnv string `json:"secretEnv,omitempty"`
	// Settings, when set, are the initial settings (an admin's changes in
	// the console win over them).
	Settings *Settings `json:"settings,omitempty"`
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// readConfig reads and decodes the config file strictly.
func readConfig(path string) (fileConfig, error) {
	var fc fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return fc, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fc, fmt.Errorf("%s: %w", path, err)
	}
	return fc, nil
}

// open builds the integration and its default settings. The secret is
// read from the environment here and lives only in the connector.
func (ic integrationConfig) open(ctx context.Context, log *slog.Logger) (*integration, Settings, error) {
	if !validName.MatchString(ic.Name) {
		return nil, Settings{}, fmt.Errorf("integration name %q: use 1 to 63 lower-case letters, digits, '.', '_' or '-'", ic.Name)
	}
	secret := ""
	if ic.SecretEnv != "" {
		secret = os.Getenv(ic.SecretEnv)
		if secret == "" {
			return nil, Settings{}, fmt.Errorf("integration %q: the environment variable %s (its secret) is empty", ic.Name, ic.SecretEnv)
		}
	}
	log = log.With("integration", ic.Name)
	in := &integration{Name: ic.Name, Kind: ic.Kind}
	st := defaultSettings(ic.Kind)
	var err error
	switch ic.Kind {
	case "ad":
		if ic.AD == nil {
			return nil, st, fmt.Errorf("integration %q: kind ad needs an \"ad\" object", ic.Name)
		}
		cfg := *ic.AD
		if secret != "" {
			cfg.Password = secret
		}
		cfg.Logger = log
		in.conn, err = ad.Open(ctx, cfg)
		in.Summary = []kv{{"Domain controllers", strings.Join(cfg.URLs, ", ")}, {"Bind account", cfg.BindDN}, {"Base DN", cfg.BaseDN}}
	case "entra":
		if ic.Entra == nil {
			return nil, st, fmt.Errorf("integration %q: kind entra needs an \"entra\" object", ic.Name)
		}
		cfg := *ic.Entra
		if secret != "" {
			cfg.ClientSecret = secret
		}
		cfg.Logger = log
		in.conn, err = entra.Open(ctx, cfg)
		in.Summary = []kv{{"Tenant", cfg.TenantID}, {"Application (client) ID", cfg.ClientID}}
	case "google":
		if ic.Google == nil {
			return nil, st, fmt.Errorf("integration %q: kind google needs a \"google\" object", ic.Name)
		}
		cfg := *ic.Google
		if secret != "" {
			cfg.ServiceAccountJSON = secret
		}
		cfg.Logger = log
		in.conn, err = google.Open(ctx, cfg)
		in.Summary = []kv{{"Admin", cfg.Subject}, {"Customer", cfg.Customer}, {"Domain", cfg.Domain}}
	case "ldif":
		if ic.LDIF == nil {
			return nil, st, fmt.Errorf("integration %q: kind ldif needs an \"ldif\" object", ic.Name)
		}
		cfg := *ic.LDIF
		cfg.Logger = log
		in.conn, err = ldif.Open(ctx, cfg)
		in.Summary = []kv{{"File", cfg.Path}}
		in.fingerprint = fileFingerprint(cfg.Path)
	default:
		return nil, st, fmt.Errorf("integration %q: unknown kind %q (want ad, entra, google or ldif)", ic.Name, ic.Kind)
	}
	if err != nil {
		return nil, st, fmt.Errorf("integration %q: %w", ic.Name, err)
	}
	if ic.Settings != nil {
		st = *ic.Settings
	}
	return in, st, nil
}

// sampleIntegration is the bundled sample company, read from memory.
func sampleIntegration(ctx context.Context) (*integration, Settings, error) {
	conn, err := ldif.New(ctx, bytes.NewReader(companyLDIF), ldif.Config{Path: "company.ldif"})
	if err != nil {
		return nil, Settings{}, err
	}
	in := &integration{Name: sampleName, Kind: "ldif", conn: conn,
		Summary: []kv{{"File", "company.ldif (the bundled sample company, Northwind Example)"}}}
	return in, defaultSettings("ad"), nil
}

// defaultSettings are the settings of a new integration of the kind: the
// bundled mapping for its directory, a sync every two hours in review mode
// (each run's plan waits for an admin's approval); for Active Directory (and LDIF exports of it) only OUs
// whose name ends in "user" or "users".
func defaultSettings(kind string) Settings {
	st := Settings{Every: "2h", Mode: modeApproval}
	switch kind {
	case "entra":
		st.Mapping = mapping.EntraSpec()
	case "google":
		st.Mapping = mapping.GoogleSpec()
	default:
		st.Mapping = mapping.ADSpec()
		st.Mapping.Roles = append(st.Mapping.Roles, mapping.RoleLink{Group: "App Admins", Role: "admin"})
		st.Policy.Scope.Rules = []policy.ScopeRule{{Action: policy.ActionInclude, OUEndsWithUsers: true}}
	}
	return st
}

// ldifFlag is -ldif name=path, repeatable.
type ldifFlag []integrationConfig

func (f *ldifFlag) String() string { return "" }

func (f *ldifFlag) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return errors.New("want name=path")
	}
	*f = append(*f, integrationConfig{Name: name, Kind: "ldif", LDIF: &ldif.Config{Path: path}})
	return nil
}
