package ldif

// The parser is this package's own. github.com/go-ldap/ldif (checked at
// v0.0.0-20250910174327) was the first choice, but on real exports it
// reports the line where a record ends rather than the offending line,
// fails on ldapsearch's "search:/result:" trailer, on an empty value and on
// a byte-order mark, and reads "attr:< file:///…" values from the local
// disk, which an uploaded file must not be able to make it do. Working
// around all of that needed a pre-scan that did most of the parsing anyway.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/internal/ldaputil"
)

// ParseError reports input that is not a valid LDIF export, or an entry
// that cannot become a connector.Entry (no ID, a DN that does not parse, a
// duplicate ID). Line is the 1-based line of the offending attribute, or of
// the entry's dn: line.
type ParseError struct {
	File string // Config.Path; empty for data given to New
	Line int
	DN   string // the entry, when known
	Err  error
}

func (e *ParseError) Error() string {
	var sb strings.Builder
	sb.WriteString("ldif: ")
	if e.File != "" {
		sb.WriteString(e.File)
		sb.WriteString(": ")
	}
	sb.WriteString("line ")
	sb.WriteString(strconv.Itoa(e.Line))
	sb.WriteString(": ")
	if e.DN != "" {
		sb.WriteString("entry ")
		sb.WriteString(strconv.Quote(clipN(e.DN, 200)))
		sb.WriteString(": ")
	}
	sb.WriteString(e.Err.Error())
	return sb.String()
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// value is one attribute value as the file holds it.
type value struct {
	raw    string // decoded bytes (base64 values decoded)
	base64 bool   // the file gave it with "::"
	line   int
}

// attr is one attribute of a record, values in file order.
type attr struct {
	name   string // as written, options included
	values []value
}

// record is one entry of the file before interpretation.
type record struct {
	dn     string
	line   int // line of the dn: line
	attrs  []attr
	byName map[string]int // lower-case name → index in attrs
}

func (r *record) add(name string, v value) {
	key := strings.ToLower(name)
	if i, ok := r.byName[key]; ok {
		r.attrs[i].values = append(r.attrs[i].values, v)
		return
	}
	r.byName[key] = len(r.attrs)
	r.attrs = append(r.attrs, attr{name: name, values: []value{v}})
}

// get returns the attribute with the name (case-insensitive), or nil.
func (r *record) get(name string) *attr {
	if i, ok := r.byName[strings.ToLower(name)]; ok {
		return &r.attrs[i]
	}
	return nil
}

// physLine is one logical line (folded lines joined) and the number of
// its first physical line.
type physLine struct {
	text string
	line int
}

// parse splits an LDIF file into records. It accepts the content form of
// RFC 2849 as ldapsearch and ldifde write it: an optional version line,
// comments, folded lines, base64 values, CRLF line ends, a UTF-8 or UTF-16
// byte-order mark, "changetype: add" (ldifde), ldapsearch's "search:" /
// "result:" trailer and search references. It rejects change records
// other than add, URL values (a file must not make the connector read
// other files), base64 values that are not exactly what an encoder writes,
// DNs deeper than ldaputil.MaxDNDepth, and an ldapsearch export that is
// incomplete (see framing).
//
// Its cost is linear in the size of the input: a folded line is joined in
// one buffer, not by repeated concatenation.
func parse(ctx context.Context, data []byte) ([]record, error) {
	data, err := toUTF8(data)
	if err != nil {
		return nil, &ParseError{Line: 1, Err: err}
	}
	fr := newFraming(data)
	if err := fr.checkEnd(data); err != nil {
		return nil, err
	}
	var records []record
	var cur []physLine
	first := true
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		lines := cur
		cur = cur[:0]
		if first {
			first = false
			if name, val, _, ok := splitLine(lines[0].text); ok && strings.EqualFold(name, "version") {
				if strings.TrimSpace(val) != "1" {
					return &ParseError{Line: lines[0].line, Err: fmt.Errorf("unsupported LDIF version %q", val)}
				}
				lines = lines[1:]
				if len(lines) == 0 {
					return nil
				}
			}
		}
		rec, kind, err := buildRecord(lines)
		if err != nil {
			return err
		}
		if err := fr.record(kind, lines[0].line); err != nil {
			return err
		}
		if kind != entryRecord {
			return nil
		}
		records = append(records, rec)
		if len(records)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("ldif: parse interrupted: %w", err)
			}
		}
		return nil
	}

	// The logical line being read: its text so far (folded lines are
	// appended to it) and the number of its first physical line.
	var logical []byte
	logicalLine := 0
	endLogical := func() {
		if logicalLine > 0 {
			cur = append(cur, physLine{text: string(logical), line: logicalLine})
			logical, logicalLine = logical[:0], 0
		}
	}

	inComment := false
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var text []byte
		text, data = cutLine(data)
		switch {
		case len(text) == 0:
			inComment = false
			endLogical()
			if err := flush(); err != nil {
				return nil, err
			}
		case text[0] == '#':
			inComment = true
			if fr.header && fr.isCounts(text) {
				// ldapsearch writes the counts after an empty line;
				// end the record before them all the same.
				endLogical()
				if err := flush(); err != nil {
					return nil, err
				}
			}
			if err := fr.comment(text, lineNo); err != nil {
				return nil, err
			}
		case text[0] == ' ':
			if inComment {
				continue // a folded comment
			}
			if logicalLine == 0 {
				return nil, &ParseError{Line: lineNo, Err: errors.New("continuation line (starting with a space) with no line to continue")}
			}
			logical = append(logical, text[1:]...)
		default:
			inComment = false
			endLogical()
			logical, logicalLine = append(logical, text...), lineNo
		}
	}
	endLogical()
	if err := flush(); err != nil {
		return nil, err
	}
	if err := fr.end(lineNo); err != nil {
		return nil, err
	}
	return records, nil
}

// toUTF8 removes a UTF-8 byte-order mark and converts UTF-16 (as "ldifde
// -u" writes) to UTF-8.
func toUTF8(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		le := data[0] == 0xFF
		data = data[2:]
		if len(data)%2 != 0 {
			return nil, errors.New("UTF-16 file with an odd number of bytes")
		}
		u := make([]uint16, len(data)/2)
		for i := range u {
			if le {
				u[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
			} else {
				u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			}
		}
		return []byte(string(utf16.Decode(u))), nil
	}
	return data, nil
}

// Kinds of values, by their separator.
const (
	plainValue  = ':' // "name: value"
	base64Value = 'b' // "name:: base64"
	urlValue    = '<' // "name:< url"
)

// splitLine splits "name: value", "name:: base64" and "name:< url"; kind
// tells which.
func splitLine(s string) (name, val string, kind byte, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", 0, false
	}
	name, rest := s[:i], s[i+1:]
	kind = plainValue
	if rest != "" {
		switch rest[0] {
		case ':':
			kind, rest = base64Value, rest[1:]
		case '<':
			kind, rest = urlValue, rest[1:]
		}
	}
	return name, strings.TrimLeft(rest, " "), kind, true
}

// Kinds of records.
const (
	entryRecord  = iota // "dn:"
	searchRecord        // ldapsearch's "search:" / "result:" trailer
	refRecord           // a search reference, "ref:"
)

// buildRecord turns the logical lines of one record into a record. Only an
// entryRecord has a record; the trailer and search references are not
// entries.
func buildRecord(lines []physLine) (rec record, recKind int, err error) {
	name, val, kind, ok := splitLine(lines[0].text)
	if !ok {
		return rec, 0, &ParseError{Line: lines[0].line, Err: fmt.Errorf("expected \"dn:\", found %q", clip(lines[0].text))}
	}
	switch strings.ToLower(name) {
	case "dn":
	case "search":
		return rec, searchRecord, checkSearchResult(lines)
	case "ref":
		return rec, refRecord, nil
	default:
		return rec, 0, &ParseError{Line: lines[0].line, Err: fmt.Errorf("expected \"dn:\" at the start of an entry, found %q", clip(lines[0].text))}
	}
	dn, err := decodeValue(val, kind)
	if err != nil {
		return rec, 0, &ParseError{Line: lines[0].line, Err: fmt.Errorf("dn: %w", err)}
	}
	if !utf8.ValidString(dn) {
		return rec, 0, &ParseError{Line: lines[0].line, Err: errors.New("dn is not valid UTF-8")}
	}
	// Refuse a DN of thousands of levels before anything parses it.
	if err := ldaputil.CheckDNDepth(dn); err != nil {
		return rec, 0, &ParseError{Line: lines[0].line, DN: dn, Err: err}
	}
	rec = record{dn: dn, line: lines[0].line, byName: make(map[string]int, len(lines))}
	for i, l := range lines[1:] {
		name, val, kind, ok := splitLine(l.text)
		if !ok {
			if l.text == "-" {
				return rec, 0, &ParseError{Line: l.line, DN: dn, Err: errors.New(`"-" belongs to a modify change record; an export holds entries`)}
			}
			return rec, 0, &ParseError{Line: l.line, DN: dn, Err: fmt.Errorf("expected \"attribute: value\", found %q", clip(l.text))}
		}
		if err := checkAttrName(name); err != nil {
			return rec, 0, &ParseError{Line: l.line, DN: dn, Err: err}
		}
		switch lower := strings.ToLower(name); {
		case lower == "dn":
			return rec, 0, &ParseError{Line: l.line, DN: dn, Err: errors.New("a second dn: line; separate entries with an empty line")}
		case lower == "changetype" && i == 0:
			if !strings.EqualFold(strings.TrimSpace(val), "add") {
				return rec, 0, &ParseError{Line: l.line, DN: dn, Err: fmt.Errorf("changetype %q: this is a change file, not an export", val)}
			}
			continue
		case lower == "control" && i == 0:
			return rec, 0, &ParseError{Line: l.line, DN: dn, Err: errors.New("controls belong to change records; an export holds entries")}
		}
		v, err := decodeValue(val, kind)
		if err != nil {
			return rec, 0, &ParseError{Line: l.line, DN: dn, Err: fmt.Errorf("%s: %w", name, err)}
		}
		rec.add(name, value{raw: v, base64: kind == base64Value, line: l.line})
	}
	return rec, 0, nil
}

// checkSearchResult checks ldapsearch's trailer ("search: 2", "result: 0
// Success"). A result other than 0 means the server stopped early (a size
// or time limit, for instance): the export is incomplete. So is a trailer
// without a result.
func checkSearchResult(lines []physLine) error {
	for _, l := range lines[1:] {
		name, val, _, ok := splitLine(l.text)
		if !ok || !strings.EqualFold(name, "result") {
			continue
		}
		code, _, _ := strings.Cut(strings.TrimSpace(val), " ")
		if code != "0" {
			return &ParseError{Line: l.line, Err: fmt.Errorf("ldapsearch reported %q: %w", clip(strings.TrimSpace(val)), ErrIncomplete)}
		}
		return nil
	}
	return &ParseError{Line: lines[0].line, Err: fmt.Errorf("ldapsearch's search result has no result code: %w", ErrIncomplete)}
}

// strictBase64 decodes exactly what RFC 2849 (by RFC 4648) allows: the
// standard alphabet, the padding, and zero bits after the last byte. A
// value with characters missing or added is an error rather than a
// different value.
var strictBase64 = base64.StdEncoding.Strict()

func decodeValue(val string, kind byte) (string, error) {
	switch kind {
	case base64Value:
		// encoding/base64 skips CR and LF; a value holds neither once
		// its lines are joined, so that leniency does not apply here.
		b, err := strictBase64.DecodeString(val)
		if err != nil || strings.ContainsAny(val, "\r\n") {
			return "", fmt.Errorf("invalid base64 value %q: %s", clip(val), base64Problem(val, err))
		}
		return string(b), nil
	case urlValue:
		return "", fmt.Errorf("URL value %q: values that refer to files are not accepted", clip(val))
	}
	return val, nil
}

// base64Problem describes what is wrong with a base64 value.
func base64Problem(val string, err error) string {
	var ce base64.CorruptInputError
	switch {
	case len(val)%4 != 0:
		return fmt.Sprintf("%d characters, not a multiple of 4: characters are missing", len(val))
	case errors.As(err, &ce) && int(ce) < len(val):
		return fmt.Sprintf("%q at offset %d is not base64", val[ce], int64(ce))
	}
	return "bad padding or stray bits: characters are missing"
}

// clip shortens s for an error message.
func clip(s string) string { return clipN(s, 60) }

// clipN shortens s to about n bytes, at a character boundary.
func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkAttrName accepts an attribute description: a name (letter, then
// letters, digits and hyphens) or a numeric OID, then options after ';'.
func checkAttrName(name string) error {
	base, opts, _ := strings.Cut(name, ";")
	if base == "" {
		return fmt.Errorf("empty attribute name in %q", name)
	}
	if c := base[0]; c >= '0' && c <= '9' {
		for _, part := range strings.Split(base, ".") {
			if part == "" || strings.Trim(part, "0123456789") != "" {
				return fmt.Errorf("invalid attribute name %q", name)
			}
		}
	} else {
		for i := 0; i < len(base); i++ {
			c := base[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
				return fmt.Errorf("invalid attribute name %q", name)
			}
		}
	}
	if opts != "" {
		for _, o := range strings.Split(opts, ";") {
			if o == "" || strings.Trim(o, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-=*") != "" {
				return fmt.Errorf("invalid option %q in attribute %q", o, name)
			}
		}
	}
	return nil
}

// cutLine returns the first line of data without its line ending (LF or
// CRLF), and the rest.
func cutLine(data []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(data, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}
