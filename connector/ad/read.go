package ad

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
)

// baseFilter selects the users and groups a read returns. Computers are
// objectClass=user too, but their objectCategory is computer.
const baseFilter = "(|(&(objectCategory=person)(objectClass=user))(objectClass=group))"

// readAttributes are fetched for every entry: the default AD mapping's
// attributes and the ones the connector itself needs.
var readAttributes = []string{
	"objectGUID", "objectClass", "distinguishedName", "cn", "name",
	"sAMAccountName", "userPrincipalName", "mail", "givenName", "sn", "displayName",
	"title", "department", "company", "telephoneNumber", "mobile", "manager",
	"employeeID", "description", "userAccountControl", "msDS-User-Account-Control-Computed",
	"lockoutTime", "accountExpires", "memberOf", "member", "groupType",
	"whenChanged", "uSNChanged",
}

// uacLockoutComputed is the LOCKOUT bit of
// msDS-User-Account-Control-Computed, where AD reports lockout (the stored
// userAccountControl does not carry it).
const uacLockoutComputed = 0x10

// accountExpiresNever are the two values of accountExpires that mean the
// account never expires.
const accountExpiresNever = 0x7FFFFFFFFFFFFFFF

// filter returns the search filter: base ANDed with the configured Filter.
func (c *Connector) filter(base string) string {
	f := c.cfg.Filter
	if f == "" {
		return base
	}
	if !strings.HasPrefix(f, "(") {
		f = "(" + f + ")"
	}
	return "(&" + base + f + ")"
}

// ownAttributes are what the connector itself needs in a projection:
// identity and kind, and the disabled state (userAccountControl,
// accountExpires).
var ownAttributes = []string{"objectGUID", "objectClass", "userAccountControl", "accountExpires"}

// membershipAttributes carry group memberships: memberOf on members, member
// on groups (the cursor's remembered memberships are built from it). A
// projection reads them, and tracks membership changes, only when it names
// either of them: member of a large group and memberOf on every user are
// much of what a DC serves for a full read.
var membershipAttributes = []string{"memberOf", "member"}

// tracksMembers reports whether the connector reads memberships: always
// unprojected, and projected when the projection names memberOf or member.
func (c *Connector) tracksMembers() bool {
	if c.project == nil {
		return true
	}
	return slices.ContainsFunc(c.project, func(a string) bool {
		return slices.ContainsFunc(membershipAttributes, func(m string) bool { return strings.EqualFold(a, m) })
	})
}

// derivedAttributes are the attributes the connector computes, by the
// directory attributes they are computed from. The constructed
// msDS-User-Account-Control-Computed costs the DC work for every entry, so
// it is requested only when lockedout is.
var derivedAttributes = map[string][]string{
	"lockedout":      {"msDS-User-Account-Control-Computed", "lockoutTime"},
	"accountexpired": {"accountExpires"},
	"objectguid":     {"objectGUID"},
}

// attributes returns the attribute list of a read: the default list, or
// the projection's, plus Config.Attributes either way.
func (c *Connector) attributes() []string {
	if c.project == nil {
		return appendAttrs(slices.Clone(readAttributes), c.cfg.Attributes...)
	}
	out := slices.Clone(ownAttributes)
	if c.tracksMembers() {
		out = appendAttrs(out, membershipAttributes...)
	}
	for _, a := range c.project {
		if d, ok := derivedAttributes[strings.ToLower(a)]; ok {
			out = appendAttrs(out, d...)
		} else if ldapAttrName.MatchString(a) {
			out = appendAttrs(out, a)
		}
	}
	return appendAttrs(out, c.cfg.Attributes...)
}

// ldapAttrName matches an LDAP attribute description (RFC 4512 descr with
// options); other names (Graph or Google field paths in a shared spec)
// cannot be AD attributes and are not sent.
var ldapAttrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*$`)

// Project implements connector.Projector: the returned connector reads
// only attrs (names of AD attributes, or lockedout and accountexpired,
// which the connector derives), plus Config.Attributes and what the
// connector needs itself: objectGUID, objectClass, userAccountControl and
// accountExpires. Memberships (memberOf and member) are read only when
// attrs names either; a projection without them yields entries without
// MemberOf and Members, and its cursors remember no memberships (see
// ReadChanges). c is not changed; the projection holds its own copy of
// attrs.
func (c *Connector) Project(attrs []string) connector.Connector {
	p := *c
	p.project = append([]string{}, attrs...)
	return &p
}

// appendAttrs appends to list the names not in it yet, ignoring case.
func appendAttrs(list []string, names ...string) []string {
	for _, a := range names {
		if !slices.ContainsFunc(list, func(b string) bool { return strings.EqualFold(a, b) }) {
			list = append(list, a)
		}
	}
	return list
}

// Read yields every user and group under BaseDN that matches Filter. The
// whole directory is read (page by page) before the first entry is yielded,
// because group memberships are resolved from DNs to IDs across entries.
func (c *Connector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return connector.ReadAllThenYield(ctx, "ad", c.readAll)
}

func (c *Connector) readAll(ctx context.Context) ([]connector.Entry, error) {
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.readAll(ctx)
}

// searchEntries runs a paged search under BaseDN for filter and converts
// every result; memberships are left as DNs for resolveByDN.
func (s *session) searchEntries(ctx context.Context, op, filter string) ([]connector.Entry, error) {
	var entries []connector.Entry
	err := s.search(ctx, op, s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, filter, s.c.attributes(), nil,
		func(le *ldap.Entry) error {
			e, err := s.entry(ctx, le)
			if err != nil {
				return err
			}
			entries = append(entries, e)
			return nil
		})
	return entries, err
}

func (s *session) readAll(ctx context.Context) ([]connector.Entry, error) {
	start := time.Now()
	entries, err := s.searchFull(ctx, "search users and groups", s.c.filter(baseFilter))
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ad: read from %s: %w", s.srv.url, err)
	}
	resolveMembers(entries)
	s.c.log.DebugContext(ctx, "read directory", "url", s.srv.url, "entries", len(entries), "took", time.Since(start))
	return entries, nil
}

// pagedDCs is the set of DCs (by URL) that cut an unpaged full read.
type pagedDCs struct {
	mu   sync.Mutex
	urls map[string]bool
}

func (p *pagedDCs) has(url string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[url]
}

func (p *pagedDCs) add(url string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.urls == nil {
		p.urls = map[string]bool{}
	}
	p.urls[url] = true
}

// searchFull is searchEntries for a full read. It first asks for every
// entry in one unpaged search of at most Config.UnpagedLimit entries, which
// a DC without a result cap (Samba) answers at much less cost than pages;
// when the DC cuts that answer it pages from the start, and pages on that
// DC from then on.
//
// Windows AD caps any search at its MaxPageSize policy (1,000 by default);
// only the paged results control gets more: "DCs limit the number of
// objects that can be returned in a single search operation to the value
// specified by the MaxPageSize policy"
// (https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/1b4a637c-c682-4b5e-9397-fe9142a38887;
// default 1,000, and MaxQueryDuration 120 s:
// https://learn.microsoft.com/en-us/troubleshoot/windows-server/active-directory/view-set-ldap-policy-using-ntdsutil).
// A cut answer ends in sizeLimitExceeded, timeLimitExceeded or
// adminLimitExceeded after some entries; those entries are thrown away,
// never used as the directory. Only a search that ends in success is
// complete (RFC 4511, 4.5.2). The request carries a server time limit of
// half Config.Timeout, so a slow DC ends it with timeLimitExceeded (and the
// read pages) before the client's own timeout fails the read.
func (s *session) searchFull(ctx context.Context, op, filter string) ([]connector.Entry, error) {
	if s.c.cfg.UnpagedLimit < 0 || s.c.paged.has(s.srv.url) {
		return s.searchEntries(ctx, op, filter)
	}
	entries, cut, err := s.searchUnpaged(ctx, op, filter)
	if err != nil || !cut {
		return entries, err
	}
	s.c.paged.add(s.srv.url)
	s.c.log.DebugContext(ctx, "the DC cut an unpaged search; paging from here on", "url", s.srv.url)
	return s.searchEntries(ctx, op, filter)
}

// searchUnpaged runs one search without the paged results control, limited
// to Config.UnpagedLimit entries. It reports cut when the DC ended it with
// a size, time or administrative limit: its entries are then dropped.
func (s *session) searchUnpaged(ctx context.Context, op, filter string) (entries []connector.Entry, cut bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, s.wrap(ctx, op, err)
	}
	timeLimit := max(1, int(s.c.cfg.Timeout/2/time.Second))
	req := ldap.NewSearchRequest(s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		s.c.cfg.UnpagedLimit, timeLimit, false, filter, s.c.attributes(), nil)
	res, err := s.conn.Search(req)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, false, s.wrap(ctx, op, err)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded),
		ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded),
		ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded):
		return nil, true, nil
	default:
		return nil, false, s.wrap(ctx, op, err)
	}
	entries = make([]connector.Entry, 0, len(res.Entries))
	for i, le := range res.Entries {
		e, err := s.entry(ctx, le)
		if err != nil {
			return nil, false, err
		}
		entries = append(entries, e)
		res.Entries[i] = nil // converted: let it go
	}
	return entries, false, nil
}

// search runs a paged search and calls fn for each entry. Every failure,
// including a connection dropped between pages, is an error: a search
// never ends short and quiet.
func (s *session) search(ctx context.Context, op, base string, scope int, filter string, attrs []string, controls []ldap.Control, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(s.c.cfg.PageSize))
	for {
		if err := ctx.Err(); err != nil {
			return s.wrap(ctx, op, err)
		}
		req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, append(slices.Clone(controls), paging))
		res, err := s.conn.Search(req)
		if err != nil {
			return s.wrap(ctx, op, err)
		}
		for _, le := range res.Entries {
			if err := fn(le); err != nil {
				return err
			}
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// entry converts an LDAP entry, completing ranged attributes.
func (s *session) entry(ctx context.Context, le *ldap.Entry) (connector.Entry, error) {
	if err := s.completeRanges(ctx, le); err != nil {
		return connector.Entry{}, err
	}
	return convert(le, time.Now())
}

// convert builds an Entry from a complete LDAP entry. MemberOf and Members
// are left for resolveMembers.
func convert(le *ldap.Entry, now time.Time) (connector.Entry, error) {
	raw := le.GetRawAttributeValue("objectGUID")
	id, err := ldaputil.GUIDFromBytes(raw)
	if err != nil {
		return connector.Entry{}, fmt.Errorf("ad: entry %q: objectGUID: %w", le.DN, err)
	}
	e := connector.Entry{ID: id, Kind: connector.KindUser, DN: le.DN, Attrs: connector.Attrs{}}
	for _, oc := range le.GetAttributeValues("objectClass") {
		if strings.EqualFold(oc, "group") {
			e.Kind = connector.KindGroup
		}
	}
	if e.Path, err = ldaputil.OUPath(le.DN); err != nil {
		return connector.Entry{}, fmt.Errorf("ad: entry %q: %w", le.DN, err)
	}
	for _, a := range le.Attributes {
		name := a.Name
		if strings.EqualFold(name, "objectGUID") || len(a.Values) == 0 {
			continue
		}
		e.Attrs.Set(name, slices.Clone(a.Values)...)
	}
	e.Attrs.Set("objectGUID", id)
	if e.Kind == connector.KindUser {
		if v := le.GetAttributeValue("userAccountControl"); v != "" {
			uac, err := ldaputil.ParseUserAccountControl(v)
			if err != nil {
				return connector.Entry{}, fmt.Errorf("ad: entry %q: %w", le.DN, err)
			}
			e.Disabled = uac.Disabled()
		}
		if expired(le.GetAttributeValue("accountExpires"), now) {
			e.Disabled = true
			e.Attrs.Set("accountexpired", "true")
		}
		if lockedOut(le) {
			e.Attrs.Set("lockedout", "true")
		}
	}
	return e, nil
}

// expired reports whether an accountExpires value (100-nanosecond
// intervals since 1601-01-01 UTC) lies in the past. 0 and
// 0x7FFFFFFFFFFFFFFF mean "never"; an unparsable value is treated as never
// expiring (the bit that disables accounts is userAccountControl's).
func expired(v string, now time.Time) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 || n == accountExpiresNever {
		return false
	}
	return fileTime(n).Before(now)
}

// fileTime converts a Windows FILETIME count to a time.
func fileTime(n int64) time.Time {
	const epochDiff = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	return time.Unix(0, 0).Add(time.Duration(n-epochDiff) * 100).UTC()
}

// lockedOut reads msDS-User-Account-Control-Computed, or lockoutTime where
// the DC did not return the computed attribute.
func lockedOut(le *ldap.Entry) bool {
	if v := le.GetAttributeValue("msDS-User-Account-Control-Computed"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && n&uacLockoutComputed != 0
	}
	n, err := strconv.ParseInt(le.GetAttributeValue("lockoutTime"), 10, 64)
	return err == nil && n > 0
}

// rangeOption parses the "range=low-high" option of an attribute
// description such as "member;range=0-1499". It reports ok false for an
// attribute without range. high is -1 for "*" (the last range).
func rangeOption(desc string) (base string, low, high int, ok bool, err error) {
	parts := strings.Split(desc, ";")
	base = parts[0]
	for _, p := range parts[1:] {
		v, found := strings.CutPrefix(strings.ToLower(p), "range=")
		if !found {
			continue
		}
		lo, hi, found := strings.Cut(v, "-")
		if !found {
			return base, 0, 0, false, fmt.Errorf("attribute %q: malformed range", desc)
		}
		if low, err = strconv.Atoi(lo); err != nil || low < 0 {
			return base, 0, 0, false, fmt.Errorf("attribute %q: malformed range", desc)
		}
		if hi == "*" {
			return base, low, -1, true, nil
		}
		if high, err = strconv.Atoi(hi); err != nil || high < low {
			return base, 0, 0, false, fmt.Errorf("attribute %q: malformed range", desc)
		}
		return base, low, high, true, nil
	}
	return base, 0, 0, false, nil
}

// completeRanges replaces every ranged attribute of le ("member;range=0-1499",
// as AD returns a multi-valued attribute with more than MaxValRange values)
// by the complete attribute, fetching the remaining ranges from the DC.
func (s *session) completeRanges(ctx context.Context, le *ldap.Entry) error {
	for i, a := range le.Attributes {
		base, _, high, ok, err := rangeOption(a.Name)
		if err != nil {
			return s.wrap(ctx, "read "+le.DN, err)
		}
		if !ok {
			continue
		}
		values := slices.Clone(a.Values)
		if high >= 0 {
			rest, err := s.rangedValues(ctx, le.DN, base, high+1, 0)
			if err != nil {
				return err
			}
			values = append(values, rest...)
		}
		le.Attributes[i] = &ldap.EntryAttribute{Name: base, Values: values}
	}
	return nil
}

// rangedValues reads attr of the entry at dn with ranged retrieval, from
// value index low to the end. step 0 asks for "low-*" and lets the DC
// choose the range size (AD's MaxValRange); a positive step asks for
// explicit ranges of that size.
func (s *session) rangedValues(ctx context.Context, dn, attr string, low, step int) ([]string, error) {
	var out []string
	for range 1 << 20 { // bounded: a buggy DC must not make this spin forever
		want := fmt.Sprintf("%s;range=%d-*", attr, low)
		if step > 0 {
			want = fmt.Sprintf("%s;range=%d-%d", attr, low, low+step-1)
		}
		var got *ldap.EntryAttribute
		err := s.search(ctx, "ranged read of "+attr+" of "+dn, dn, ldap.ScopeBaseObject,
			"(objectClass=*)", []string{want}, nil, func(le *ldap.Entry) error {
				for _, a := range le.Attributes {
					if b, _, _, _, _ := rangeOption(a.Name); strings.EqualFold(b, attr) {
						got = a
					}
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
		if got == nil {
			return out, nil // no values at or past low
		}
		_, lo, hi, ok, err := rangeOption(got.Name)
		if err != nil {
			return nil, s.wrap(ctx, "ranged read of "+dn, err)
		}
		out = append(out, got.Values...)
		if !ok || hi < 0 {
			return out, nil
		}
		if lo != low || hi < lo {
			return nil, s.wrap(ctx, "ranged read of "+dn, fmt.Errorf("asked for values from %d, got range %d-%d", low, lo, hi))
		}
		low = hi + 1
	}
	return nil, s.wrap(ctx, "ranged read of "+dn, errors.New("too many ranges"))
}

// resolveMembers turns the DNs in memberOf and member into IDs of entries
// in the same read. DNs outside the read are dropped.
func resolveMembers(entries []connector.Entry) {
	byDN := make(map[string]int, len(entries))
	for i := range entries {
		if k, err := ldaputil.NormalizeDN(entries[i].DN); err == nil {
			byDN[k] = i
		}
	}
	ids := func(dns []string, kind connector.Kind) []string {
		var out []string
		for _, dn := range dns {
			k, err := ldaputil.NormalizeDN(dn)
			if err != nil {
				continue
			}
			if i, ok := byDN[k]; ok && (kind == "" || entries[i].Kind == kind) {
				out = append(out, entries[i].ID)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for i := range entries {
		e := &entries[i]
		e.MemberOf = ids(e.Attrs.Values("memberOf"), connector.KindGroup)
		if e.Kind == connector.KindGroup {
			e.Members = ids(e.Attrs.Values("member"), "")
		}
	}
}
