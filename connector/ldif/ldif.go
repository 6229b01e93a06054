package ldif

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
)

// Config configures an LDIF connector. The zero value of every field but
// Path is a sensible default.
type Config struct {
	// Path is the LDIF file, for Open. New uses it only to name the
	// input in errors.
	Path string `json:"path"`
	// IDAttribute names the attribute that holds the immutable ID. By
	// default the connector uses objectGUID (Active Directory, converted
	// to the canonical GUID text) and, for entries without one, entryUUID
	// (OpenLDAP and other RFC 4530 servers).
	IDAttribute string `json:"idAttribute,omitempty"`
	// BaseDN, if set, keeps only the entries at or below it.
	BaseDN string `json:"baseDN,omitempty"`
	// Logger receives debug messages (counts of skipped records and of
	// member DNs that name no entry of the file) with the attribute
	// connector=ldif. Nil discards them.
	Logger *slog.Logger `json:"-"`
}

// validate checks the configuration, except Path.
func (c *Config) validate() error {
	var errs []error
	if c.IDAttribute != "" {
		if err := checkAttrName(c.IDAttribute); err != nil {
			errs = append(errs, fmt.Errorf("ldif: IDAttribute: %w", err))
		}
	}
	if c.BaseDN != "" {
		if _, err := ldaputil.ParseDN(c.BaseDN); err != nil {
			errs = append(errs, fmt.Errorf("ldif: BaseDN %q: %w", c.BaseDN, err))
		}
	}
	return errors.Join(errs...)
}

// Connector reads users and groups from an LDIF export. It is safe for
// concurrent use; every read parses the input afresh.
type Connector struct {
	cfg  Config
	data []byte // the input read by New; nil to read cfg.Path
	log  *slog.Logger
}

// Compile-time checks of the capabilities Connector offers.
var (
	_ connector.Connector          = (*Connector)(nil)
	_ connector.Checker            = (*Connector)(nil)
	_ connector.GroupSearcher      = (*Connector)(nil)
	_ connector.GroupSearchMatcher = (*Connector)(nil)
)

// Open returns a connector that reads the file cfg.Path on every read, so
// that a newer export dropped in its place is picked up. It checks that the
// file exists and is a regular file; the content is checked by Read (or
// Check). ctx is only checked for cancellation; it is not kept: every read
// takes its own.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("ldif: Config.Path is empty")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("ldif: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("ldif: %s is not a regular file", cfg.Path)
	}
	return newConnector(cfg, nil), nil
}

// New reads all of r now and returns a connector over that data: an
// upload, standard input, or a file embedded with go:embed (through
// bytes.NewReader). The reading stops with ctx's cancellation (between two
// reads of r; a Read that blocks is not interrupted). cfg.Path is optional;
// it names the input in errors.
func New(ctx context.Context, r io.Reader, cfg Config) (*Connector, error) {
	if r == nil {
		return nil, errors.New("ldif: nil reader")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(ctxReader{ctx, r})
	if err != nil {
		return nil, fmt.Errorf("ldif: read input: %w", err)
	}
	return newConnector(cfg, data), nil
}

// ctxReader ends a read with ctx's error once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func newConnector(cfg Config, data []byte) *Connector {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Connector{cfg: cfg, data: data, log: log.With("connector", "ldif")}
}

// Read parses the whole input first and yields nothing if it is malformed:
// the single error is a *ParseError naming the line. Then it yields the
// users and groups in file order.
func (c *Connector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return connector.ReadAllThenYield(ctx, "ldif", c.load)
}

// Check implements connector.Checker: it reads and parses the input and
// reports the first problem.
func (c *Connector) Check(ctx context.Context) error {
	_, err := c.load(ctx)
	return err
}

// GroupSearchMatch implements connector.GroupSearchMatcher: the file is
// in memory, so SearchGroups finds the query anywhere in a group's name.
func (c *Connector) GroupSearchMatch() connector.GroupMatch { return connector.MatchSubstring }

// SearchGroups implements connector.GroupSearcher: the groups whose name
// (cn, else name, else sAMAccountName) contains query, ignoring case,
// sorted by name and then ID. A limit of zero or less means no limit.
func (c *Connector) SearchGroups(ctx context.Context, query string, limit int) ([]connector.Entry, error) {
	entries, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	type hit struct {
		name string
		e    connector.Entry
	}
	var hits []hit
	for _, e := range entries {
		if e.Kind != connector.KindGroup {
			continue
		}
		name := cmp.Or(e.Attr("cn"), e.Attr("name"), e.Attr("sAMAccountName"), e.DN)
		if connector.MatchSubstring.Matches(name, query) {
			hits = append(hits, hit{name, e})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.name), strings.ToLower(b.name)), cmp.Compare(a.e.ID, b.e.ID))
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]connector.Entry, len(hits))
	for i, h := range hits {
		out[i] = h.e
	}
	return out, nil
}

// load reads and interprets the whole input.
func (c *Connector) load(ctx context.Context) ([]connector.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ldif: read interrupted: %w", err)
	}
	data := c.data
	if data == nil {
		var err error
		if data, err = os.ReadFile(c.cfg.Path); err != nil {
			return nil, fmt.Errorf("ldif: %w", err)
		}
	}
	records, err := parse(ctx, data)
	if err == nil {
		var entries []connector.Entry
		entries, err = c.build(ctx, records)
		if err == nil {
			return entries, nil
		}
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.File = c.cfg.Path
	}
	return nil, err
}

// pending is an entry being built, with the DNs its membership attributes
// name.
type pending struct {
	entry    connector.Entry
	line     int
	memberOf []string // DNs from memberOf
	members  []string // DNs from member and uniqueMember
}

// build turns records into entries: users and groups, with IDs, paths and
// resolved membership.
func (c *Connector) build(ctx context.Context, records []record) ([]connector.Entry, error) {
	var base *ldap.DN
	if c.cfg.BaseDN != "" {
		base, _ = ldaputil.ParseDN(c.cfg.BaseDN) // validated by Open and New
	}
	var (
		items    []*pending
		byDN     = map[string]*pending{}
		firstUse = map[string]int{} // ID → line of the entry that has it
		skipped  int
	)
	for i := range records {
		if i%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("ldif: read interrupted: %w", err)
			}
		}
		r := &records[i]
		if r.get("objectClass") == nil {
			return nil, &ParseError{Line: r.line, DN: r.dn, Err: errors.New("no objectClass: export it, so that users and groups can be told apart")}
		}
		kind := classify(r)
		if kind == "" {
			skipped++
			continue
		}
		dn, err := ldaputil.ParseDN(r.dn)
		if err != nil {
			return nil, &ParseError{Line: r.line, DN: r.dn, Err: fmt.Errorf("invalid DN: %w", err)}
		}
		if base != nil && !base.EqualFold(dn) && !base.AncestorOfFold(dn) {
			skipped++
			continue
		}
		p, err := c.entry(r, kind)
		if err != nil {
			return nil, err
		}
		if prev, dup := firstUse[p.entry.ID]; dup {
			return nil, &ParseError{Line: r.line, DN: r.dn, Err: &duplicateError{id: p.entry.ID, first: prev}}
		}
		firstUse[p.entry.ID] = r.line
		key, err := ldaputil.NormalizeDN(r.dn)
		if err != nil {
			return nil, &ParseError{Line: r.line, DN: r.dn, Err: err}
		}
		if prev, dup := byDN[key]; dup {
			return nil, &ParseError{Line: r.line, DN: r.dn, Err: fmt.Errorf("the DN of the entry at line %d again", prev.line)}
		}
		byDN[key] = p
		items = append(items, p)
	}

	unresolved := 0
	resolve := func(dns []string) []*pending {
		var out []*pending
		for _, d := range dns {
			key, err := ldaputil.NormalizeDN(stripUID(d))
			if err != nil {
				unresolved++
				continue
			}
			if p, ok := byDN[key]; ok {
				out = append(out, p)
			} else {
				unresolved++
				c.log.Debug("member DN names no entry of the file", "dn", d)
			}
		}
		return out
	}
	memberOf := make(map[*pending][]string, len(items))
	members := make(map[*pending][]string, len(items))
	for _, p := range items {
		for _, g := range resolve(p.memberOf) {
			if g.entry.Kind == connector.KindGroup {
				memberOf[p] = append(memberOf[p], g.entry.ID)
				members[g] = append(members[g], p.entry.ID)
			}
		}
		if p.entry.Kind != connector.KindGroup {
			continue
		}
		for _, m := range resolve(p.members) {
			members[p] = append(members[p], m.entry.ID)
			memberOf[m] = append(memberOf[m], p.entry.ID)
		}
	}
	out := make([]connector.Entry, len(items))
	users := 0
	for i, p := range items {
		p.entry.MemberOf = sortedSet(memberOf[p])
		p.entry.Members = sortedSet(members[p])
		out[i] = p.entry
		if p.entry.Kind == connector.KindUser {
			users++
		}
	}
	c.log.Debug("parsed", "users", users, "groups", len(out)-users, "skipped", skipped, "unresolvedMembers", unresolved)
	return out, nil
}

// duplicateError reports an ID that two entries of the file share. It
// wraps a *connector.DuplicateIDError.
type duplicateError struct {
	id    string
	first int // line of the first entry with the ID
}

func (e *duplicateError) Error() string {
	return fmt.Sprintf("ID %q is also the ID of the entry at line %d", e.id, e.first)
}

func (e *duplicateError) Unwrap() error { return &connector.DuplicateIDError{ID: e.id} }

// classify returns the kind of entry a record is, or "" for records the
// connector does not yield (org units, computers, contacts, containers).
func classify(r *record) connector.Kind {
	var user, group bool
	for _, v := range r.get("objectClass").values {
		switch strings.ToLower(strings.TrimSpace(v.raw)) {
		case "computer", "contact":
			// A computer is also a user, and a contact also a person,
			// in AD's schema; neither is a person who signs in.
			return ""
		case "user", "person", "inetorgperson", "organizationalperson":
			user = true
		case "group", "groupofnames", "groupofuniquenames":
			group = true
		}
	}
	switch {
	case group:
		return connector.KindGroup
	case user:
		return connector.KindUser
	}
	return ""
}

// secretAttrs are never copied into Attrs: an export may carry password
// hashes, and nothing downstream needs them.
var secretAttrs = map[string]bool{
	"userpassword": true, "unicodepwd": true, "dbcspwd": true, "ntpwdhistory": true,
	"lmpwdhistory": true, "supplementalcredentials": true, "sambantpassword": true,
	"sambalmpassword": true, "authpassword": true,
}

// entry interprets one record.
func (c *Connector) entry(r *record, kind connector.Kind) (*pending, error) {
	fail := func(line int, format string, args ...any) error {
		return &ParseError{Line: line, DN: r.dn, Err: fmt.Errorf(format, args...)}
	}
	id, err := c.id(r)
	if err != nil {
		return nil, err
	}
	path, err := ldaputil.OUPath(r.dn)
	if err != nil {
		return nil, fail(r.line, "org-unit path: %w", err)
	}
	p := &pending{line: r.line, entry: connector.Entry{
		ID: id, Kind: kind, DN: r.dn, Path: path,
		Attrs: make(connector.Attrs, len(r.attrs)),
	}}
	for _, a := range r.attrs {
		name := a.name
		if base, opts, ok := strings.Cut(name, ";"); ok {
			full, err := rangeComplete(opts)
			if err != nil {
				return nil, fail(a.values[0].line, "%s: %w", name, err)
			}
			if full {
				name = base
			}
		}
		lower := strings.ToLower(name)
		if secretAttrs[lower] {
			continue
		}
		vals := make([]string, len(a.values))
		for i, v := range a.values {
			vals[i] = textValue(lower, v)
		}
		if prev, ok := p.entry.Attrs[lower]; ok {
			vals = append(prev, vals...) // "member" and "member;range=0-*"
		}
		p.entry.Attrs.Set(lower, vals...)
		switch lower {
		case "memberof":
			p.memberOf = append(p.memberOf, vals...)
		case "member", "uniquemember":
			p.members = append(p.members, vals...)
		}
	}
	if kind == connector.KindUser {
		if a := r.get("userAccountControl"); a != nil {
			uac, err := ldaputil.ParseUserAccountControl(a.values[0].raw)
			if err != nil {
				return nil, fail(a.values[0].line, "%w", err)
			}
			p.entry.Disabled = uac.Disabled()
		}
	}
	return p, nil
}

// rangeComplete inspects the options of an attribute description. AD
// returns the values of a large multi-valued attribute in ranges
// ("member;range=0-1499"); an export holding such a range but not the last
// one ("range=…-*") is missing values, and using it would drop people from
// groups. It reports whether the options name the last range of the values
// (so that the options can be dropped); other options are kept.
func rangeComplete(opts string) (bool, error) {
	for _, o := range strings.Split(opts, ";") {
		v, ok := strings.CutPrefix(strings.ToLower(o), "range=")
		if !ok {
			continue
		}
		if strings.HasSuffix(v, "-*") {
			if v != "0-*" {
				return false, errors.New("only the last range of the values is in the export; export with ldifde, which fetches every range, or fetch all ranges")
			}
			return true, nil
		}
		return false, fmt.Errorf("the export holds only the values in range %s; export with ldifde, which fetches every range, or fetch all ranges", v)
	}
	return false, nil
}

// id returns the entry's ID from the configured attribute, or objectGUID
// then entryUUID.
func (c *Connector) id(r *record) (string, error) {
	names := []string{"objectGUID", "entryUUID"}
	if c.cfg.IDAttribute != "" {
		names = []string{c.cfg.IDAttribute}
	}
	for _, name := range names {
		a := r.get(name)
		if a == nil {
			continue
		}
		v := a.values[0]
		if len(a.values) > 1 {
			return "", &ParseError{Line: a.values[1].line, DN: r.dn, Err: fmt.Errorf("%s has %d values; an ID has one", name, len(a.values))}
		}
		id := textValue(strings.ToLower(name), v)
		if strings.EqualFold(name, "objectGUID") && !isGUIDText(id) {
			return "", &ParseError{Line: v.line, DN: r.dn, Err: fmt.Errorf("objectGUID %q is neither 16 bytes nor a GUID", clip(id))}
		}
		if id == "" {
			return "", &ParseError{Line: v.line, DN: r.dn, Err: fmt.Errorf("%s is empty", name)}
		}
		return id, nil
	}
	return "", &ParseError{Line: r.line, DN: r.dn, Err: fmt.Errorf("no %s attribute: the entry has no ID (export it, or set Config.IDAttribute)", strings.Join(names, " or "))}
}

func isGUIDText(s string) bool {
	c, err := ldaputil.CanonicalGUID(s)
	return err == nil && c == s
}

// textValue turns a value into the text form Attrs holds. GUIDs become
// canonical GUID text and SIDs "S-1-…"; other values that are not
// printable UTF-8 (photos, certificates) are kept as standard base64.
func textValue(lowerName string, v value) string {
	switch {
	case strings.HasSuffix(lowerName, "guid"):
		if len(v.raw) == 16 {
			if g, err := ldaputil.GUIDFromBytes([]byte(v.raw)); err == nil {
				return g
			}
		}
		if g, err := ldaputil.CanonicalGUID(v.raw); err == nil {
			return g
		}
	case lowerName == "objectsid" || lowerName == "sidhistory" || lowerName == "securityidentifier":
		if s, err := ldaputil.SIDFromBytes([]byte(v.raw)); err == nil {
			return s
		}
	}
	if !v.base64 || printable(v.raw) {
		return v.raw
	}
	return base64.StdEncoding.EncodeToString([]byte(v.raw))
}

// printable reports whether s is UTF-8 text without control characters
// other than tab, CR and LF.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
	}
	return true
}

// stripUID removes the optional "#'0101'B" UID suffix of a uniqueMember
// value (RFC 4517 Name and Optional UID).
func stripUID(dn string) string {
	if i := strings.LastIndex(dn, "#'"); i > 0 && strings.HasSuffix(dn, "'B") && dn[i-1] != '\\' {
		return dn[:i]
	}
	return dn
}

// sortedSet returns ids sorted, without duplicates.
func sortedSet(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
