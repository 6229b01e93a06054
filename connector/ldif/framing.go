package ldif

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrIncomplete is wrapped by the *ParseError for an ldapsearch export that
// does not hold the whole result of its search: the file ends before
// ldapsearch's closing counts, a search result reports an error (a size or
// time limit), no search result was written, or the number of entries
// ldapsearch counted differs from the number in the file.
var ErrIncomplete = errors.New("the export is incomplete")

// framing checks the frame ldapsearch (OpenLDAP's clients/tools) puts
// around an export when run without -LL or -LLL. It starts with a header
// of comments:
//
//	# extended LDIF            (only without -L; with -L "version: 1" instead)
//	#
//	# LDAPv3
//	# base <dc=example,dc=org> with scope subtree
//	# filter: (objectClass=*)
//	# requesting: ALL
//	#
//
// and, after the entries of each search (each page, with paged results),
// a search result: the comment "# search result", then, without -L, the
// record "search: 2" / "result: 0 Success". At the very end come the
// counts of the whole search:
//
//	# numResponses: 10
//	# numEntries: 8           (left out when 0)
//
// A file with that header is an ldapsearch export and must end with the
// counts; every search must have a result, and numEntries must equal the
// number of entries since the previous counts (ldapsearch -f writes counts
// per search). A file without the header (ldifde, ldapsearch -LL) promises
// nothing, and none of this is checked.
type framing struct {
	header     bool // the file starts with ldapsearch's header
	extended   bool // "# extended LDIF": results are "search:" records
	headerLine int

	entries      int  // entries since the last counts
	resultRecord bool // a "search:" record since the last counts
	resultNote   bool // a "# search result" comment since the last counts

	counts      bool // inside a block of counts
	countsLine  int  // its "# numResponses" line
	numEntries  int  // its numEntries, -1 until seen
	entriesLine int  // the line of numEntries
	ended       bool // nothing but counts since the last records
}

// newFraming looks for ldapsearch's header among the comments before the
// first record (a "version:" line may come before them).
func newFraming(data []byte) *framing {
	fr := &framing{numEntries: -1}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var text []byte
		text, data = cutLine(data)
		line := string(text)
		switch {
		case line == "", line == "#":
		case line == "# extended LDIF":
			fr.extended = true
			fr.header = true
			fr.headerLine = lineNo
		case strings.HasPrefix(line, "# base <") && strings.Contains(line, " with scope "):
			if !fr.header {
				fr.headerLine = lineNo
			}
			fr.header = true
		case strings.HasPrefix(line, "#"):
		case lineNo == 1 && strings.HasPrefix(strings.ToLower(line), "version:"):
		default:
			return fr
		}
	}
	return fr
}

// countName returns the name of a count comment ("numEntries" for
// "# numEntries: 8") and its value, or ok false for other comments.
func countName(text []byte) (name, val string, ok bool) {
	rest, found := bytes.CutPrefix(text, []byte("# num"))
	if !found {
		return "", "", false
	}
	n, v, found := strings.Cut(string(bytes.TrimRight(rest, "\r")), ":")
	if !found || n == "" || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", "", false
	}
	return "num" + n, strings.TrimSpace(v), true
}

// isCounts reports whether a comment is one of the closing counts.
func (fr *framing) isCounts(text []byte) bool {
	_, _, ok := countName(text)
	return ok
}

// checkEnd fails early, before any record is read, when an ldapsearch
// export does not end with its counts: the file was cut short, and that is
// what the error should say rather than whatever the cut broke.
func (fr *framing) checkEnd(data []byte) error {
	if !fr.header {
		return nil
	}
	trimmed := bytes.TrimRight(data, "\r\n\t ")
	last := trimmed
	if i := bytes.LastIndexByte(trimmed, '\n'); i >= 0 {
		last = trimmed[i+1:]
	}
	if name, val, ok := countName(last); ok {
		if _, err := strconv.Atoi(val); err == nil && (name == "numResponses" || name == "numEntries" || name == "numReferences" || name == "numExtended" || name == "numPartial") {
			return nil
		}
	}
	return fr.truncated(bytes.Count(trimmed, []byte{'\n'}) + 1)
}

func (fr *framing) truncated(line int) error {
	return &ParseError{Line: max(line, 1), Err: fmt.Errorf(
		"the file ends without the \"# numResponses\" count that ldapsearch writes last (its header is at line %d): it was cut short: %w",
		fr.headerLine, ErrIncomplete)}
}

// comment takes a comment line.
func (fr *framing) comment(text []byte, line int) error {
	if !fr.header {
		return nil
	}
	if string(bytes.TrimRight(text, "\r")) == "# search result" {
		if err := fr.closeCounts(); err != nil {
			return err
		}
		fr.ended = false
		fr.resultNote = true
		return nil
	}
	name, val, ok := countName(text)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 {
		return &ParseError{Line: line, Err: fmt.Errorf("ldapsearch count %q is not a number: %w", clip(val), ErrIncomplete)}
	}
	switch name {
	case "numResponses":
		if err := fr.closeCounts(); err != nil {
			return err
		}
		if fr.extended && !fr.resultRecord || !fr.extended && !fr.resultNote {
			return &ParseError{Line: line, Err: fmt.Errorf("no search result before ldapsearch's counts: the search did not finish: %w", ErrIncomplete)}
		}
		fr.counts, fr.countsLine = true, line
		fr.numEntries = -1
	case "numEntries":
		if !fr.counts || fr.numEntries >= 0 {
			return &ParseError{Line: line, Err: fmt.Errorf("\"# numEntries\" out of place: %w", ErrIncomplete)}
		}
		fr.numEntries, fr.entriesLine = n, line
	}
	fr.ended = true
	return nil
}

// record takes a record of the given kind.
func (fr *framing) record(kind, line int) error {
	if !fr.header {
		return nil
	}
	if err := fr.closeCounts(); err != nil {
		return err
	}
	fr.ended = false
	switch kind {
	case entryRecord:
		fr.entries++
	case searchRecord:
		fr.resultRecord = true
	}
	return nil
}

// closeCounts checks a block of counts against the records before it.
func (fr *framing) closeCounts() error {
	if !fr.counts {
		return nil
	}
	fr.counts = false
	want, line := fr.numEntries, fr.entriesLine
	if want < 0 {
		want, line = 0, fr.countsLine // ldapsearch leaves out "numEntries: 0"
	}
	if want != fr.entries {
		return &ParseError{Line: line, Err: fmt.Errorf("ldapsearch counted %d entries, the file holds %d entries: %w", want, fr.entries, ErrIncomplete)}
	}
	fr.entries, fr.resultRecord, fr.resultNote = 0, false, false
	return nil
}

// end checks the end of the file.
func (fr *framing) end(lastLine int) error {
	if !fr.header {
		return nil
	}
	if err := fr.closeCounts(); err != nil {
		return err
	}
	if !fr.ended {
		return fr.truncated(lastLine)
	}
	return nil
}
