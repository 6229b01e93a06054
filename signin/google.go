package signin

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
)

// Google's issuer and key set: the defaults of Config.Issuer and
// Config.JWKSURL for sign-in with Google.
const (
	GoogleIssuer  = "https://accounts.google.com"
	GoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
)

// Google is the Google-specific part of a sign-in with Google: which
// Google Workspace domains may join.
type Google struct {
	// HostedDomains are the Google Workspace domains whose people may
	// join: the token's hd (hosted domain) claim must be one of them
	// (compared in lower case). Required: a sign-in open to every Google
	// account is not an organization's sign-in.
	HostedDomains []string `json:"hostedDomains"`
}

// domains validates HostedDomains and returns them trimmed, in lower case.
func (g *Google) domains() ([]string, error) {
	if g == nil || len(g.HostedDomains) == 0 {
		return nil, errors.New("google.hostedDomains is required: name the Google Workspace domains whose people may join")
	}
	var out []string
	var errs []error
	for _, d := range g.HostedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "@/ ") {
			errs = append(errs, fmt.Errorf("google.hostedDomains: %q is not a domain", d))
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// googleAdmit checks the hd claim against the allowed domains. It returns
// the lower-case hd, or a refusal.
func googleAdmit(domains []string, c *claims) (string, error) {
	hd := strings.ToLower(c.HostedDomain)
	if hd == "" || !slices.Contains(domains, hd) {
		shown := hd
		if shown == "" {
			shown = "a personal Google account"
		}
		return "", refuse(ReasonDomain, fmt.Sprintf("Sign-in with %s is not allowed for this organization", shown), c.Email, nil)
	}
	return hd, nil
}

// googleEntry is the directory entry the claims stand for, with the
// attribute names of mapping.GoogleSpec. Its ID is sub: for Google the
// Google user id, as connector/google yields it.
func googleEntry(sub, hd string, c *claims) connector.Entry {
	e := connector.Entry{ID: sub, Kind: connector.KindUser, Attrs: connector.Attrs{}}
	e.Attrs.Set("primaryEmail", c.Email)
	e.Attrs.Set("name.givenName", c.GivenName)
	e.Attrs.Set("name.familyName", c.FamilyName)
	e.Attrs.Set("name.fullName", c.Name)
	e.Attrs.Set("hd", hd)
	return e
}
