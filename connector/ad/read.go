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

// Read yields every user and group under BaseDN that matches Filter, as
// the pages arrive (see "What is read" in the package documentation): with
// memberships, users stream and groups follow at the end.
func (c *Connector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		stopped := false
		err := c.readFull(ctx, func(e connector.Entry) error {
			if !yield(e, nil) {
				stopped = true
				return errStopped
			}
			return nil
		})
		if err != nil && !stopped {
			yield(connector.Entry{}, err)
		}
	}
}

// errStopped ends a read whose consumer stopped.
var errStopped = errors.New("ad: read stopped by its consumer")

func (c *Connector) readFull(ctx context.Context, yield func(connector.Entry) error) error {
	s, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	_, err = s.readFull(ctx, yield)
	return err
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

// readFull reads every user and group, passing each to yield as soon as
// it is complete, and returns the groups' memberships for a cursor (nil
// when the connector does not read memberships). Nothing of the directory
// is held: without memberships each entry is converted and yielded as its
// page arrives; with them, a narrow search of the groups comes first (see
// memberIndex), users are yielded as they arrive with MemberOf resolved,
// and the groups, whose Members can name entries read after them, are
// yielded at the end.
func (s *session) readFull(ctx context.Context, yield func(connector.Entry) error) (memberships, error) {
	const op = "search users and groups"
	start := time.Now()
	n := 0
	var idx *memberIndex
	if s.c.tracksMembers() {
		var err error
		if idx, err = s.groupIndex(ctx); err != nil {
			return nil, err
		}
	}
	err := s.searchFull(ctx, op, s.c.filter(baseFilter), func(le *ldap.Entry) error {
		e, err := s.entry(ctx, le)
		if err != nil {
			return err
		}
		if idx != nil && !idx.add(&e) {
			return nil // a group: held until the end
		}
		if err := ctx.Err(); err != nil {
			return s.wrap(ctx, op, err)
		}
		n++
		return yield(e)
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ad: read from %s: %w", s.srv.url, err)
	}
	var mem memberships
	if idx != nil {
		groups, m := idx.finish()
		for _, g := range groups {
			if err := ctx.Err(); err != nil {
				return nil, s.wrap(ctx, op, err)
			}
			n++
			if err := yield(g); err != nil {
				return nil, err
			}
		}
		mem = m
	}
	s.c.log.DebugContext(ctx, "read directory", "url", s.srv.url, "entries", n, "took", time.Since(start))
	return mem, nil
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

// searchFull is the search of a full read: it calls fn for every entry
// under BaseDN that matches filter. When Config.UnpagedLimit is
// positive it first asks for every entry in one unpaged search of at most
// that many entries, which a DC without a result cap (Samba) answers at
// much less cost than pages for a small directory;
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
// adminLimitExceeded after some entries (or operationsError: Samba's end
// of an over-long search; or the client's own size limit, which Samba
// ignores for administrators); those entries are thrown away,
// never used as the directory: fn sees none of them. Only a search that
// ends in success is complete (RFC 4511, 4.5.2). The request carries a
// server time limit of half Config.Timeout, so a slow DC ends it with
// timeLimitExceeded (and the read pages) before the client's own timeout
// fails the read.
func (s *session) searchFull(ctx context.Context, op, filter string, fn func(*ldap.Entry) error) error {
	if s.c.cfg.UnpagedLimit <= 0 || s.c.paged.has(s.srv.url) {
		return s.search(ctx, op, s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, filter, s.c.attributes(), nil, fn)
	}
	cut, err := s.searchUnpaged(ctx, op, filter, fn)
	if err != nil || cut == notCut {
		return err
	}
	if cut == cutByClient {
		// The DC goes on sending the rest of its answer: a new connection
		// to the same DC (the cursor taken before the read is that DC's)
		// leaves it behind instead of reading it off the wire first.
		fresh, err := s.c.dialOne(ctx, s.srv)
		if err != nil {
			return err
		}
		s.close()
		*s = *fresh
	}
	s.c.paged.add(s.srv.url)
	s.c.log.DebugContext(ctx, "the DC cut an unpaged search; paging from here on", "url", s.srv.url)
	return s.search(ctx, op, s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, filter, s.c.attributes(), nil, fn)
}

// searchUnpaged runs one search without the paged results control, limited
// to Config.UnpagedLimit entries, and calls fn for each entry once the
// answer is complete. It reports cut, and calls fn for none, when the DC
// ended it with a size, time or administrative limit.
func (s *session) searchUnpaged(ctx context.Context, op, filter string, fn func(*ldap.Entry) error) (cut cutBy, err error) {
	if err := ctx.Err(); err != nil {
		return notCut, s.wrap(ctx, op, err)
	}
	timeLimit := max(1, int(s.c.cfg.Timeout/2/time.Second))
	req := ldap.NewSearchRequest(s.c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		s.c.cfg.UnpagedLimit, timeLimit, false, filter, s.c.attributes(), nil)
	// Samba ignores the size limit of an administrator's search: the
	// client stops reading after the limit itself.
	req.EnforceSizeLimit = true
	res, err := s.conn.Search(req)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return notCut, s.wrap(ctx, op, err)
	case errors.Is(err, ldap.ErrSizeLimitExceeded): // the client's own limit
		return cutByClient, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded),
		ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded),
		ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded),
		// Samba 4.17 ends a search that outlives its time limit with
		// operationsError ("ldb_wait ... LDB_WAIT_ALL"), not
		// timeLimitExceeded. Paging after it is safe: the paged read
		// either completes or fails.
		ldap.IsErrorWithCode(err, ldap.LDAPResultOperationsError):
		return cutByDC, nil
	default:
		return notCut, s.wrap(ctx, op, err)
	}
	for i, le := range res.Entries {
		res.Entries[i] = nil // passed on: let it go
		if err := fn(le); err != nil {
			return notCut, err
		}
	}
	return notCut, nil
}

// cutBy says who cut an unpaged search short, if anyone.
type cutBy int

const (
	notCut      cutBy = iota
	cutByDC           // a size, time or administrative limit of the DC
	cutByClient       // Config.UnpagedLimit, on a DC that ignored it
)

// search runs a paged search and calls fn for each entry. Every failure,
// including a connection dropped between pages, is an error: a search
// never ends short and quiet.
//
// The request for the next page goes out as soon as a page has arrived,
// before fn sees its entries, so the DC works on the next page while the
// client converts this one (a page's cookie is all the next request
// needs). At most two pages are held: the one fn is given and the one
// arriving.
func (s *session) search(ctx context.Context, op, base string, scope int, filter string, attrs []string, controls []ldap.Control, fn func(*ldap.Entry) error) error {
	if err := ctx.Err(); err != nil {
		return s.wrap(ctx, op, err)
	}
	type page struct {
		res *ldap.SearchResult
		err error
	}
	pages := make(chan page)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(pages)
		paging := ldap.NewControlPaging(uint32(s.c.cfg.PageSize))
		for {
			req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false,
				filter, attrs, append(slices.Clone(controls), paging))
			res, err := s.conn.Search(req)
			select {
			case pages <- page{res, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
			ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if !ok || len(ctrl.Cookie) == 0 {
				return
			}
			paging.SetCookie(ctrl.Cookie)
			if ctx.Err() != nil {
				return
			}
		}
	}()
	for p := range pages {
		if p.err != nil {
			return s.wrap(ctx, op, p.err)
		}
		for i, le := range p.res.Entries {
			p.res.Entries[i] = nil // passed on: let it go
			if err := fn(le); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return s.wrap(ctx, op, err)
		}
	}
	if err := ctx.Err(); err != nil { // the pages ended early only then
		return s.wrap(ctx, op, err)
	}
	return nil
}

// entry converts an LDAP entry, completing ranged attributes.
func (s *session) entry(ctx context.Context, le *ldap.Entry) (connector.Entry, error) {
	if err := s.completeRanges(ctx, le); err != nil {
		return connector.Entry{}, err
	}
	if s.conv == nil {
		s.conv = newConverter()
	}
	return s.conv.convert(le, time.Now())
}

// converter converts the entries of a session. It keeps what entries
// share, so that each entry costs only its own values: the lower-case
// attribute names, and the OU path of each parent DN. It is not safe for
// concurrent use (a session converts in one goroutine).
type converter struct {
	names map[string]string   // attribute name as the DC spells it → lower case
	paths map[string][]string // parent DN → OU path
}

// maxConverterPaths bounds the OU paths a converter keeps: a directory has
// far fewer parents than entries, and one with more only converts slower.
const maxConverterPaths = 1 << 14

func newConverter() *converter {
	return &converter{names: map[string]string{}, paths: map[string][]string{}}
}

// lower returns name in lower case, allocating once per spelling.
func (c *converter) lower(name string) string {
	if l, ok := c.names[name]; ok {
		return l
	}
	l := strings.ToLower(name)
	if len(c.names) < 1024 {
		c.names[name] = l
	}
	return l
}

// ouPath is ldaputil.OUPath, parsed once per parent: when the first RDN
// of dn has a single attribute other than OU, the path is the parent's.
// Each entry gets its own copy of the slice (the strings are shared).
func (c *converter) ouPath(dn string) ([]string, error) {
	parent, ok := leafParent(dn)
	if !ok {
		return ldaputil.OUPath(dn)
	}
	if p, ok := c.paths[parent]; ok {
		return slices.Clone(p), nil
	}
	p, err := ldaputil.OUPath(dn)
	if err != nil {
		return nil, err
	}
	if len(c.paths) < maxConverterPaths {
		c.paths[parent] = slices.Clone(p)
	}
	return p, nil
}

// leafParent splits dn after its first RDN when that RDN is a plain
// "type=value" whose type is not OU (so the RDN adds nothing to the OU
// path) and holds no '+' (a multi-valued RDN could hold an OU): it returns
// the rest, the parent's DN, as written. ok is false for every other DN,
// which is then parsed whole.
func leafParent(dn string) (parent string, ok bool) {
	eq := strings.IndexByte(dn, '=')
	if eq <= 0 || strings.EqualFold(strings.TrimSpace(dn[:eq]), "ou") ||
		strings.ContainsAny(dn[:eq], ",;+\\\"") {
		return "", false
	}
	for i := eq + 1; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++ // the escaped character, or the first of two hex digits
		case '+', '"':
			return "", false
		case ',', ';':
			return dn[i+1:], true
		}
	}
	return "", false // no parent: parse it whole
}

// convert builds an Entry from a complete LDAP entry. MemberOf and Members
// are left for the caller. The attribute values are the ldap.Entry's own
// (not copied): le must not be used afterwards.
func (c *converter) convert(le *ldap.Entry, now time.Time) (connector.Entry, error) {
	var guid, class, uac, expires, computed, lockout *ldap.EntryAttribute
	e := connector.Entry{Kind: connector.KindUser, DN: le.DN, Attrs: make(connector.Attrs, len(le.Attributes)+2)}
	for _, a := range le.Attributes {
		name := c.lower(a.Name)
		switch name {
		case "objectguid":
			guid = first(guid, a)
			continue
		case "objectclass":
			class = first(class, a)
		case "useraccountcontrol":
			uac = first(uac, a)
		case "accountexpires":
			expires = first(expires, a)
		case "msds-user-account-control-computed":
			computed = first(computed, a)
		case "lockouttime":
			lockout = first(lockout, a)
		}
		if len(a.Values) == 0 {
			continue
		}
		// Names differing in case only: the last one wins, as with
		// Attrs.Set (every key is lower case).
		e.Attrs[name] = a.Values
	}
	if class != nil && slices.ContainsFunc(class.Values, func(oc string) bool { return strings.EqualFold(oc, "group") }) {
		e.Kind = connector.KindGroup
	}
	var raw []byte
	if guid != nil && len(guid.ByteValues) > 0 {
		raw = guid.ByteValues[0]
	}
	id, err := ldaputil.GUIDFromBytes(raw)
	if err != nil {
		return connector.Entry{}, fmt.Errorf("ad: entry %q: objectGUID: %w", le.DN, err)
	}
	e.ID = id
	if e.Path, err = c.ouPath(le.DN); err != nil {
		return connector.Entry{}, fmt.Errorf("ad: entry %q: %w", le.DN, err)
	}
	e.Attrs["objectguid"] = []string{id}
	if e.Kind == connector.KindUser {
		if v := value(uac); v != "" {
			uac, err := ldaputil.ParseUserAccountControl(v)
			if err != nil {
				return connector.Entry{}, fmt.Errorf("ad: entry %q: %w", le.DN, err)
			}
			e.Disabled = uac.Disabled()
		}
		if expired(value(expires), now) {
			e.Disabled = true
			e.Attrs["accountexpired"] = []string{"true"}
		}
		if lockedOut(value(computed), value(lockout)) {
			e.Attrs["lockedout"] = []string{"true"}
		}
	}
	return e, nil
}

// first returns a, unless an attribute is already found: go-ldap's
// GetAttributeValue returns the first attribute of a name.
func first(found, a *ldap.EntryAttribute) *ldap.EntryAttribute {
	if found != nil {
		return found
	}
	return a
}

// value returns the first value of a, or "".
func value(a *ldap.EntryAttribute) string {
	if a == nil || len(a.Values) == 0 {
		return ""
	}
	return a.Values[0]
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

// lockedOut reads msDS-User-Account-Control-Computed (computed), or
// lockoutTime where the DC did not return the computed attribute.
func lockedOut(computed, lockoutTime string) bool {
	if computed != "" {
		n, err := strconv.ParseInt(computed, 10, 64)
		return err == nil && n&uacLockoutComputed != 0
	}
	n, err := strconv.ParseInt(lockoutTime, 10, 64)
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
		if strings.IndexByte(a.Name, ';') < 0 {
			continue // no option, so no range: the common case, without the split
		}
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
