package ad

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
)

// dirSyncFilter is the DirSync filter. Tombstones keep objectClass but
// lose objectCategory, so the filter cannot use it; computers changes are
// weeded out when the changed objects are re-read.
const dirSyncFilter = "(|(objectClass=user)(objectClass=group))"

// dirSyncAttributes: DirSync reports an object only when one of the
// requested attributes changed, so every attribute the connector reads is
// requested; name, parentGUID and distinguishedName make renames and moves
// show up, isDeleted and lastKnownParent describe tombstones.
func (c *Connector) dirSyncAttributes() []string {
	return appendAttrs(c.attributes(), "name", "distinguishedName", "parentGUID", "isDeleted", "lastKnownParent")
}

// reReadBatch is how many objects one re-read search names.
const reReadBatch = 100

// cursorVersion is the version of the cursor encoding. Version 2 added
// the remembered group memberships; a version 1 cursor is expired (one
// full read), since without them removed members cannot be found.
const cursorVersion = 2

// cursor is the decoded form of a connector.Cursor: a DirSync cookie, or a
// uSNChanged high-water mark when the bind account may not use DirSync.
// Both are meaningful only on the DC that issued them.
type cursor struct {
	V      int    `json:"v"`
	DC     string `json:"dc"`
	Base   string `json:"base"`
	Cookie []byte `json:"cookie,omitempty"`
	USN    int64  `json:"usn,omitempty"`
	// Groups maps each group in the view to its members' objectGUIDs
	// (see memberships), as of the read that issued the cursor.
	Groups map[string][]byte `json:"groups"`
	// NoMembers marks a cursor issued by a projection that reads no
	// memberships: its Groups is empty, and a connector that tracks
	// memberships treats it as expired.
	NoMembers bool `json:"noMembers,omitempty"`
}

func (c cursor) encode() connector.Cursor {
	b, _ := json.Marshal(c)
	return b
}

func decodeCursor(b connector.Cursor) (cursor, error) {
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("ad: cursor is not one of this connector's: %w", connector.ErrCursorExpired)
	}
	if c.V != cursorVersion || c.DC == "" || (len(c.Cookie) == 0 && c.USN <= 0) || c.Groups == nil {
		return c, fmt.Errorf("ad: cursor is not one of this connector's: %w", connector.ErrCursorExpired)
	}
	return c, nil
}

// members decodes the remembered memberships.
func (c cursor) members() (memberships, error) {
	m, err := unpackMemberships(c.Groups)
	if err != nil {
		return nil, fmt.Errorf("ad: cursor: %w: %w", err, connector.ErrCursorExpired)
	}
	return m, nil
}

// finish encodes c with mem as its remembered memberships.
func (c cursor) finish(mem memberships) (connector.Cursor, error) {
	p, err := mem.pack()
	if err != nil {
		return nil, err
	}
	c.Groups = p
	return c.encode(), nil
}

// errDirSyncRefused reports that the DC does not let the bind account use
// DirSync.
var errDirSyncRefused = errors.New("ad: DirSync refused")

// ReadChanges yields the users and groups changed since the cursor, each
// complete, and deleted ones as tombstones (Deleted set, with ID and
// Kind). A nil cursor yields a full read. See the package documentation
// for how changes are found.
func (c *Connector) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	var cur cursor
	var mem memberships
	if since != nil {
		var err error
		if cur, err = decodeCursor(since); err != nil {
			return nil, err
		}
		if mem, err = cur.members(); err != nil {
			return nil, err
		}
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if since != nil && (cur.DC != s.srv.url || !strings.EqualFold(cur.Base, c.cfg.BaseDN)) {
		return nil, fmt.Errorf("ad: cursor was issued by %s for %q, now reading %s for %q: %w",
			cur.DC, cur.Base, s.srv.url, c.cfg.BaseDN, connector.ErrCursorExpired)
	}
	if since != nil && cur.NoMembers && c.tracksMembers() {
		// The read that issued it remembered no memberships: the members
		// a group lost since cannot be found.
		return nil, fmt.Errorf("ad: cursor was issued by a read without group memberships: %w", connector.ErrCursorExpired)
	}
	if !c.tracksMembers() {
		// Memberships are neither read nor remembered from here on.
		mem, cur.Groups, cur.NoMembers = nil, nil, true
	}
	nc, err := s.namingContext(ctx)
	if err != nil {
		return nil, err
	}
	if since == nil {
		return s.fullWithCursor(ctx, nc, yield)
	}
	if len(cur.Cookie) > 0 {
		return s.dirSyncChanges(ctx, nc, cur, mem, yield)
	}
	return s.usnChanges(ctx, cur, mem, yield)
}

// cookieFilter matches no object: objectGUID is never all zeros. A
// DirSync search with it and no cookie returns no entries, only the cookie
// of the directory's current state (a cookie names a state, not a result:
// a later search with it and another filter returns what changed since).
// objectGUID is indexed on AD and Samba, so the DC answers without
// sweeping the naming context.
var cookieFilter = "(objectGUID=" + strings.Repeat(`\00`, 16) + ")"

// fullWithCursor takes a cursor first and then reads everything once, so
// a change made during the read is seen again next time rather than lost.
// The cursor comes from a DirSync search that matches nothing (see
// cookieFilter), or, where DirSync is refused, from the rootDSE's
// highestCommittedUSN; either is read before the paged search, and the
// remembered memberships come from the paged search itself.
func (s *session) fullWithCursor(ctx context.Context, nc string, yield func(connector.Entry) error) (connector.Cursor, error) {
	next := cursor{V: cursorVersion, DC: s.srv.url, Base: s.c.cfg.BaseDN, NoMembers: !s.c.tracksMembers()}
	cookie, err := s.dirSyncWith(ctx, nc, nil, cookieFilter, []string{"objectGUID"}, func(le *ldap.Entry) error {
		return s.wrap(ctx, "DirSync", fmt.Errorf("the cookie search matched %q, which has no all-zero objectGUID", le.DN))
	})
	switch {
	case errors.Is(err, errDirSyncRefused):
		s.c.log.WarnContext(ctx, "DirSync refused; falling back to uSNChanged, which cannot see deletions", "url", s.srv.url, "err", err)
		if next.USN, err = s.highestUSN(ctx); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		next.Cookie = cookie
	}
	mem, err := s.readFull(ctx, yield)
	if err != nil {
		return nil, err
	}
	return next.finish(mem)
}

// dirSync runs DirSync from cookie until the DC has no more changes, calls
// fn for each changed object and returns the new cookie. A fresh request
// (and control) is built for every call: go-ldap ignores the cookie
// argument when the request already carries a DirSync control.
func (s *session) dirSync(ctx context.Context, nc string, cookie []byte, fn func(*ldap.Entry) error) ([]byte, error) {
	return s.dirSyncWith(ctx, nc, cookie, dirSyncFilter, s.c.dirSyncAttributes(), fn)
}

// dirSyncWith is dirSync with the filter and attributes given.
func (s *session) dirSyncWith(ctx context.Context, nc string, cookie []byte, filter string, attrs []string, fn func(*ldap.Entry) error) ([]byte, error) {
	const op = "DirSync"
	hadCookie := len(cookie) > 0
	for range 1 << 20 {
		if err := ctx.Err(); err != nil {
			return nil, s.wrap(ctx, op, err)
		}
		req := ldap.NewSearchRequest(nc, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, nil)
		res, err := s.conn.DirSync(req, 0, 1000, cookie)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, s.wrap(ctx, op, err)
		case ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights),
			ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailableCriticalExtension):
			return nil, s.wrap(ctx, op, fmt.Errorf("%w: %w", errDirSyncRefused, err))
		case hadCookie && (ldap.IsErrorWithCode(err, ldap.LDAPResultProtocolError) ||
			ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) ||
			ldap.IsErrorWithCode(err, ldap.LDAPResultOther)):
			return nil, s.wrap(ctx, op, fmt.Errorf("DC rejected the cookie: %w (%w)", connector.ErrCursorExpired, err))
		default:
			return nil, s.wrap(ctx, op, err)
		}
		for _, le := range res.Entries {
			if err := fn(le); err != nil {
				return nil, err
			}
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypeDirSync).(*ldap.ControlDirSync)
		if !ok || len(ctrl.Cookie) == 0 {
			return nil, s.wrap(ctx, op, errors.New("the DC answered without a DirSync cookie"))
		}
		cookie = ctrl.Cookie
		if ctrl.Flags == 0 { // no more data
			return cookie, nil
		}
	}
	return nil, s.wrap(ctx, op, errors.New("the DC kept reporting more data"))
}

// change is one object DirSync reported.
type change struct {
	id      string
	guid    []byte
	kind    connector.Kind
	deleted bool
	dn      string
	skip    bool   // a computer: not a kind the connector reads
	parent  string // lastKnownParent of a tombstone
}

func (s *session) dirSyncChanges(ctx context.Context, nc string, cur cursor, mem memberships, yield func(connector.Entry) error) (connector.Cursor, error) {
	var changes []change
	seen := map[string]int{}
	cookie, err := s.dirSync(ctx, nc, cur.Cookie, func(le *ldap.Entry) error {
		raw := le.GetRawAttributeValue("objectGUID")
		id, err := ldaputil.GUIDFromBytes(raw)
		if err != nil {
			return s.wrap(ctx, "DirSync", fmt.Errorf("entry %q: objectGUID: %w", le.DN, err))
		}
		ch := change{id: id, guid: raw, dn: le.DN, kind: kindOf(le)}
		ch.deleted = strings.EqualFold(le.GetAttributeValue("isDeleted"), "TRUE")
		ch.parent = stripExtendedDN(le.GetAttributeValue("lastKnownParent"))
		if i, ok := seen[id]; ok {
			if ch.kind == "" {
				ch.kind = changes[i].kind
			}
			changes[i] = ch
			return nil
		}
		seen[id] = len(changes)
		changes = append(changes, ch)
		return nil
	})
	if errors.Is(err, errDirSyncRefused) {
		return nil, fmt.Errorf("ad: DirSync no longer permitted: %w (%w)", connector.ErrCursorExpired, err)
	}
	if err != nil {
		return nil, err
	}
	if err := s.tombstoneKinds(ctx, nc, changes); err != nil {
		return nil, err
	}
	var live []change
	for _, ch := range changes {
		if ch.deleted || ch.skip {
			continue
		}
		if in, _ := ldaputil.IsUnder(ch.dn, s.c.cfg.BaseDN); in {
			live = append(live, ch)
		}
	}
	entries, err := s.reRead(ctx, live)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, e := range entries {
		found[e.ID] = true
	}
	// Objects under BaseDN that the re-read did not return no longer match
	// the filter: users and groups among them left the connector's view.
	var gone []change
	for _, ch := range live {
		if !found[ch.id] {
			gone = append(gone, ch)
		}
	}
	left, err := s.leftView(ctx, gone)
	if err != nil {
		return nil, err
	}
	entries = append(entries, left...)
	for _, ch := range changes {
		if !ch.deleted || ch.skip {
			continue
		}
		if ch.parent != "" {
			if in, err := ldaputil.IsUnder(ch.parent, s.c.cfg.BaseDN); err == nil && !in {
				continue // deleted elsewhere in the domain
			}
		}
		kind := ch.kind
		if kind == "" {
			kind = connector.KindUser
		}
		entries = append(entries, connector.Entry{ID: ch.id, Kind: kind, DN: ch.dn, Deleted: true})
	}
	if s.c.tracksMembers() {
		if entries, err = s.withAffectedMembers(ctx, mem, entries); err != nil {
			return nil, err
		}
	}
	for _, e := range entries {
		if err := yield(e); err != nil {
			return nil, err
		}
	}
	next := cur
	next.Cookie = cookie
	return next.finish(mem)
}

// leftView returns Deleted entries for the changed objects that are users
// (objectCategory person) or groups, read by objectGUID without the
// connector's filter. Computers and other objects are left out.
func (s *session) leftView(ctx context.Context, gone []change) ([]connector.Entry, error) {
	var out []connector.Entry
	for chunk := range slices.Chunk(gone, reReadBatch) {
		guids := make([][]byte, len(chunk))
		for i, ch := range chunk {
			guids[i] = ch.guid
		}
		err := s.search(ctx, "read objects that left the filter", s.c.cfg.BaseDN, ldap.ScopeWholeSubtree,
			"(&"+baseFilter+guidFilter(guids)+")", []string{"objectGUID", "objectClass"}, nil,
			func(le *ldap.Entry) error {
				id, err := ldaputil.GUIDFromBytes(le.GetRawAttributeValue("objectGUID"))
				if err != nil {
					return s.wrap(ctx, "read objects that left the filter", fmt.Errorf("entry %q: %w", le.DN, err))
				}
				if k := kindOf(le); k != "" {
					out = append(out, connector.Entry{ID: id, Kind: k, DN: le.DN, Deleted: true})
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stripExtendedDN removes the "<GUID=…>;<SID=…>;" prefix of an extended
// DN, in which DirSync may return DN-valued attributes.
func stripExtendedDN(dn string) string {
	for strings.HasPrefix(dn, "<") {
		i := strings.Index(dn, ">;")
		if i < 0 {
			break
		}
		dn = dn[i+2:]
	}
	return dn
}

// showDeletedOID is the Show Deleted control: searches see tombstones.
const showDeletedOID = "1.2.840.113556.1.4.417"

// tombstoneKinds fills the kind of tombstones that DirSync reported
// without objectClass (it reports only changed attributes) by reading the
// tombstones with the Show Deleted control.
func (s *session) tombstoneKinds(ctx context.Context, nc string, changes []change) error {
	var unknown []int
	for i, ch := range changes {
		if ch.deleted && (ch.kind == "" || ch.parent == "") {
			unknown = append(unknown, i)
		}
	}
	for chunk := range slices.Chunk(unknown, reReadBatch) {
		guids := make([][]byte, len(chunk))
		byID := map[string]int{}
		for j, i := range chunk {
			guids[j] = changes[i].guid
			byID[changes[i].id] = i
		}
		err := s.search(ctx, "read tombstones", nc, ldap.ScopeWholeSubtree, "(&(isDeleted=TRUE)"+guidFilter(guids)+")",
			[]string{"objectGUID", "objectClass", "lastKnownParent"}, []ldap.Control{ldap.NewControlString(showDeletedOID, true, "")},
			func(le *ldap.Entry) error {
				id, err := ldaputil.GUIDFromBytes(le.GetRawAttributeValue("objectGUID"))
				if i, ok := byID[id]; err == nil && ok {
					if changes[i].kind == "" {
						changes[i].kind = kindOf(le)
					}
					if changes[i].parent == "" {
						changes[i].parent = stripExtendedDN(le.GetAttributeValue("lastKnownParent"))
					}
					changes[i].skip = slices.ContainsFunc(le.GetAttributeValues("objectClass"),
						func(oc string) bool { return strings.EqualFold(oc, "computer") })
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// kindOf tells a user from a group by objectClass; "" for computers and
// entries without objectClass.
func kindOf(le *ldap.Entry) connector.Kind {
	var k connector.Kind
	for _, oc := range le.GetAttributeValues("objectClass") {
		switch strings.ToLower(oc) {
		case "group":
			return connector.KindGroup
		case "computer":
			return ""
		case "user":
			k = connector.KindUser
		}
	}
	return k
}

// reRead reads the changed objects completely, in batches by objectGUID,
// with the read's filter, and resolves their memberships.
func (s *session) reRead(ctx context.Context, changes []change) ([]connector.Entry, error) {
	var entries []connector.Entry
	for chunk := range slices.Chunk(changes, reReadBatch) {
		guids := make([][]byte, len(chunk))
		for i, ch := range chunk {
			guids[i] = ch.guid
		}
		batch, err := s.searchEntries(ctx, "re-read changed objects", s.c.filter("(&"+baseFilter+guidFilter(guids)+")"))
		if err != nil {
			return nil, err
		}
		entries = append(entries, batch...)
	}
	if err := s.resolveByDN(ctx, entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// guidFilter returns (|(objectGUID=\xx…)…) matching the binary GUIDs.
func guidFilter(guids [][]byte) string {
	var b strings.Builder
	b.WriteString("(|")
	for _, g := range guids {
		b.WriteString("(objectGUID=")
		for _, c := range g {
			fmt.Fprintf(&b, "\\%02x", c)
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

// resolveByDN fills MemberOf and Members of entries read on their own,
// looking the referenced DNs up on the DC (in batches) with the read's
// filter, so that references outside the connector's view are dropped as
// in a full read.
func (s *session) resolveByDN(ctx context.Context, entries []connector.Entry) error {
	want := map[string]string{} // normalised DN → DN
	for _, e := range entries {
		for _, dn := range append(e.Attrs.Values("memberOf"), e.Attrs.Values("member")...) {
			if k, err := ldaputil.NormalizeDN(dn); err == nil {
				want[k] = dn
			}
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type ref struct {
		id   string
		kind connector.Kind
	}
	found := map[string]ref{}
	for chunk := range slices.Chunk(keys, reReadBatch) {
		var f strings.Builder
		f.WriteString("(|")
		for _, k := range chunk {
			f.WriteString("(distinguishedName=" + ldap.EscapeFilter(want[k]) + ")")
		}
		f.WriteString(")")
		err := s.search(ctx, "resolve members", s.c.cfg.BaseDN, ldap.ScopeWholeSubtree,
			s.c.filter("(&"+baseFilter+f.String()+")"), []string{"objectGUID", "objectClass"}, nil,
			func(le *ldap.Entry) error {
				id, err := ldaputil.GUIDFromBytes(le.GetRawAttributeValue("objectGUID"))
				if err != nil {
					return s.wrap(ctx, "resolve members", fmt.Errorf("entry %q: %w", le.DN, err))
				}
				if k, err := ldaputil.NormalizeDN(le.DN); err == nil {
					kind := kindOf(le)
					found[k] = ref{id, kind}
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	ids := func(dns []string, kind connector.Kind) []string {
		var out []string
		for _, dn := range dns {
			k, err := ldaputil.NormalizeDN(dn)
			if err != nil {
				continue
			}
			if r, ok := found[k]; ok && (kind == "" || r.kind == kind) {
				out = append(out, r.id)
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
	return nil
}

// namingContext returns the naming context holding BaseDN: DirSync must
// start at the root of a naming context.
func (s *session) namingContext(ctx context.Context) (string, error) {
	var best string
	err := s.search(ctx, "read rootDSE", "", ldap.ScopeBaseObject, "(objectClass=*)",
		[]string{"namingContexts"}, nil, func(le *ldap.Entry) error {
			for _, nc := range le.GetAttributeValues("namingContexts") {
				if in, _ := ldaputil.IsUnder(s.c.cfg.BaseDN, nc); in && len(nc) > len(best) {
					best = nc
				}
			}
			return nil
		})
	if err != nil {
		return "", err
	}
	if best == "" {
		return "", s.wrap(ctx, "read rootDSE", fmt.Errorf("no naming context holds base DN %q", s.c.cfg.BaseDN))
	}
	return best, nil
}

// highestUSN reads the DC's highestCommittedUSN.
func (s *session) highestUSN(ctx context.Context) (int64, error) {
	var usn int64
	err := s.search(ctx, "read rootDSE", "", ldap.ScopeBaseObject, "(objectClass=*)",
		[]string{"highestCommittedUSN"}, nil, func(le *ldap.Entry) error {
			n, err := strconv.ParseInt(le.GetAttributeValue("highestCommittedUSN"), 10, 64)
			if err != nil {
				return s.wrap(ctx, "read rootDSE", fmt.Errorf("highestCommittedUSN: %w", err))
			}
			usn = n
			return nil
		})
	if err == nil && usn <= 0 {
		err = s.wrap(ctx, "read rootDSE", errors.New("no highestCommittedUSN"))
	}
	return usn, err
}

// usnChanges is the fallback without DirSync: objects whose uSNChanged is
// above the high-water mark. It cannot see deletions.
func (s *session) usnChanges(ctx context.Context, cur cursor, mem memberships, yield func(connector.Entry) error) (connector.Cursor, error) {
	high, err := s.highestUSN(ctx)
	if err != nil {
		return nil, err
	}
	filter := s.c.filter("(&" + baseFilter + "(uSNChanged>=" + strconv.FormatInt(cur.USN+1, 10) + "))")
	entries, err := s.searchEntries(ctx, "search changes by uSNChanged", filter)
	if err != nil {
		return nil, err
	}
	if err := s.resolveByDN(ctx, entries); err != nil {
		return nil, err
	}
	if s.c.tracksMembers() {
		gone, err := s.goneGroups(ctx, mem)
		if err != nil {
			return nil, err
		}
		entries = append(entries, gone...)
		if entries, err = s.withAffectedMembers(ctx, mem, entries); err != nil {
			return nil, err
		}
	}
	for _, e := range entries {
		if err := yield(e); err != nil {
			return nil, err
		}
	}
	next := cur
	next.USN = high
	return next.finish(mem)
}
