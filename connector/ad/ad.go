package ad

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/go-ldap/ldap/v3"
)

// Connector reads users and groups from Active Directory. It holds no open
// connection between calls: each Read, ReadChanges or Check dials (with
// fail-over) and closes. It is safe for concurrent use.
type Connector struct {
	cfg     Config
	servers []server
	tls     *tls.Config
	log     *slog.Logger
	// project is the attribute list of a projection (see Project), or
	// nil for the default attributes.
	project []string
	// paged remembers the DCs that cut an unpaged full read; it is shared
	// by the connector's projections.
	paged *pagedDCs
}

var (
	_ connector.Connector     = (*Connector)(nil)
	_ connector.Incremental   = (*Connector)(nil)
	_ connector.Checker       = (*Connector)(nil)
	_ connector.GroupSearcher = (*Connector)(nil)
	_ connector.Projector     = (*Connector)(nil)
)

// Open validates cfg and returns a Connector. It does not contact a DC
// (call Check for that), so ctx is only checked for cancellation; it is not
// kept: every later call takes its own ctx.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, servers, tc, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Connector{cfg: cfg, servers: servers, tls: tc,
		log: logger.With("connector", "ad"), paged: &pagedDCs{}}, nil
}

// String describes the connector by its configuration, with the password
// redacted.
func (c Connector) String() string { return "ad.Connector{" + c.cfg.String() + "}" }

// GoString is String, so that %#v does not print the password either.
func (c Connector) GoString() string { return c.String() }

// Format prints String for every verb, including %+v, %#v, %x and %q.
// Without it fmt would print the unexported fields one by one, the
// password among them (a Config's own String is not called for an
// unexported field).
func (c Connector) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue logs the connector's configuration without the password.
func (c Connector) LogValue() slog.Value { return c.cfg.LogValue() }

// Config returns the validated configuration with defaults filled in.
func (c *Connector) Config() Config { return c.cfg }

// Check binds, reads the base DN and searches for one user. The error
// names what is wrong: no DC reachable, bad credentials (wrapping
// connector.ErrAuth), a base DN that does not exist, or a bind account that
// cannot read users.
func (c *Connector) Check(ctx context.Context) error {
	s, err := c.dial(ctx)
	if err != nil {
		return fmt.Errorf("ad: check: %w", err)
	}
	defer s.close()
	req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"objectClass"}, nil)
	res, err := s.conn.Search(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("ad: check: base DN %q does not exist on %s (or the bind account cannot see it)", c.cfg.BaseDN, s.srv.url)
	case err != nil:
		return fmt.Errorf("ad: check: %w", s.wrap(ctx, "read base DN "+c.cfg.BaseDN, err))
	case len(res.Entries) == 0:
		return fmt.Errorf("ad: check: base DN %q is not readable by %s on %s", c.cfg.BaseDN, c.cfg.BindDN, s.srv.url)
	}
	req = ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		1, 0, false, c.filter("(&(objectCategory=person)(objectClass=user))"), []string{"objectGUID"}, nil)
	res, err = s.conn.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return fmt.Errorf("ad: check: cannot read users: %w", s.wrap(ctx, "search users under "+c.cfg.BaseDN, err))
	}
	if res == nil || len(res.Entries) == 0 {
		return fmt.Errorf("ad: check: %s sees no users under %q on %s: check the base DN, the filter and the account's read permission", c.cfg.BindDN, c.cfg.BaseDN, s.srv.url)
	}
	return nil
}

var _ connector.GroupSearchMatcher = (*Connector)(nil)

// GroupSearchMatch reports that SearchGroups matches substrings.
func (c *Connector) GroupSearchMatch() connector.GroupMatch { return connector.MatchSubstring }

// SearchGroups returns the groups under BaseDN one of whose names (cn,
// name, sAMAccountName or displayName) contains query, ignoring case, sorted
// by name; limit <= 0 means no limit. Members and MemberOf are resolved on
// the DC as in ReadChanges.
//
// The search is an LDAP substring filter, (cn=*query*) and so on, with
// query escaped by ldap.EscapeFilter: '*', '(', ')', '\', NUL and every
// byte above 0x7F are sent as \XX, so what the admin typed is only ever
// matched, never read as filter syntax. Active Directory and Samba
// evaluate a substring anywhere in these attributes; a DC without a
// medial (tuple) index on them scans the groups under BaseDN to answer,
// which for the few thousand groups of a domain is quick. A query that
// holds NUL finds nothing without asking the DC: no name holds one, and
// Samba reads an escaped NUL as the end of the value ("adm\x00" would
// find what "adm" finds).
func (c *Connector) SearchGroups(ctx context.Context, query string, limit int) ([]connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.ContainsRune(query, 0) {
		return nil, nil
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var groups []connector.Entry
	err = s.search(ctx, "search groups", c.cfg.BaseDN, ldap.ScopeWholeSubtree, c.filter(groupSearchFilter(query)),
		appendAttrs(c.attributes(), "displayName", "name", "cn", "sAMAccountName"), nil, func(le *ldap.Entry) error {
			e, err := s.entry(ctx, le)
			if err != nil {
				return err
			}
			groups = append(groups, e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	name := func(e connector.Entry) string {
		for _, a := range []string{"displayName", "name", "cn", "sAMAccountName"} {
			if v := e.Attr(a); v != "" {
				return strings.ToLower(v)
			}
		}
		return e.ID
	}
	slices.SortFunc(groups, func(a, b connector.Entry) int {
		return cmp.Or(cmp.Compare(name(a), name(b)), cmp.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(groups) > limit {
		groups = groups[:limit]
	}
	if err := s.resolveByDN(ctx, groups); err != nil {
		return nil, err
	}
	return groups, nil
}

// groupSearchFilter is the LDAP filter of SearchGroups: groups one of whose
// names contains query, escaped.
func groupSearchFilter(query string) string {
	if query == "" {
		return "(objectClass=group)"
	}
	q := ldap.EscapeFilter(query)
	return "(&(objectClass=group)(|(cn=*" + q + "*)(name=*" + q + "*)(sAMAccountName=*" + q + "*)(displayName=*" + q + "*)))"
}
