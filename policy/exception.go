package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/dirsync-go/dirsync/diff"
)

// Exception names accounts that sync never touches: they are not created,
// updated, blocked, unblocked, deleted or adopted, and plans list them as
// skipped with the reason code diff.ReasonException.
//
// Set at least one of ID, Email and Pattern. When several are set, an
// account matching any of them is excepted: they are alternative ways of
// naming the same person, and "never touch" should survive a rename.
//
// Exception is a comparable value, so a host can persist a list of them
// and find one with ==.
type Exception struct {
	// ID is the directory's ID of the account (Entry.ID, the account's
	// ExternalID), compared without regard to case. To protect an app
	// account that no directory manages, use its email.
	ID string `json:"id,omitempty"`
	// Email is compared as every email is (diff.NormalizeEmail): without
	// regard to case, surrounding spaces or Unicode normalisation form, so
	// "José@X.test" typed with a combining accent protects the account
	// whose email holds a precomposed é.
	Email string `json:"email,omitempty"`
	// Pattern is a regular expression (RE2 syntax, see regexp/syntax)
	// matched against the account's name, display name, email and
	// username. It is case-insensitive unless it starts with "(?-i)", and
	// unanchored: "^svc-" finds names that start with "svc-".
	//
	// The pattern sees each text as written and in its normal form: the
	// email as diff.NormalizeEmail gives it (trimmed, lower case, NFC),
	// the names and username in Unicode NFC. The pattern itself is tried
	// as written and in NFC. A match of any form with any form counts, so
	// no spelling of one person escapes the exception.
	Pattern string `json:"pattern,omitempty"`
	// Note is free text for the admin, e.g. "Break-glass admin"; it is
	// shown in the plan's reason.
	Note string `json:"note,omitempty"`
}

// Exceptions is a compiled list of exceptions. It is immutable and safe for
// concurrent use; a nil *Exceptions matches nothing.
type Exceptions struct {
	list []exception
}

type exception struct {
	cfg Exception
	// email is cfg.Email as diff.NormalizeEmail gives it.
	email string
	// re is the pattern as written; reNFC its NFC form when that differs.
	re, reNFC *regexp.Regexp
	// broken is set for an extra exception passed to Policy.Options that
	// failed validation; it matches every account (see Options).
	broken error
}

// NewExceptions compiles a list of exceptions. It fails, naming each
// offending entry by its index, when an exception names no account or has
// an invalid pattern.
func NewExceptions(list []Exception) (*Exceptions, error) {
	x, err := compileExceptions("exceptions", list)
	if err != nil {
		return nil, err
	}
	return x, nil
}

func compileExceptions(field string, list []Exception) (*Exceptions, error) {
	x := &Exceptions{list: make([]exception, 0, len(list))}
	var errs []error
	for i, c := range list {
		ex, err := compileException(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			continue
		}
		x.list = append(x.list, ex)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return x, nil
}

func compileException(c Exception) (exception, error) {
	ex := exception{cfg: c, email: diff.NormalizeEmail(c.Email)}
	if strings.TrimSpace(c.ID) == "" && ex.email == "" && c.Pattern == "" {
		return ex, errors.New("names no account: set id, email or pattern")
	}
	if c.Pattern != "" {
		re, err := compileRegex(c.Pattern)
		if err != nil {
			return ex, fmt.Errorf("pattern: %w", err)
		}
		ex.re = re
		if n := norm.NFC.String(c.Pattern); n != c.Pattern {
			// Composing can, rarely, turn valid syntax into invalid
			// ("<" and a combining stroke make "≮"): the pattern as
			// written is the one that must compile.
			ex.reNFC, _ = compileRegex(n)
		}
	}
	return ex, nil
}

// compileRegex checks the expression as written, so that an error message
// quotes the admin's text, then compiles it case-insensitively.
func compileRegex(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile("(?i)" + expr)
}

// Len returns the number of exceptions.
func (x *Exceptions) Len() int {
	if x == nil {
		return 0
	}
	return len(x.list)
}

// List returns the exceptions as configured.
func (x *Exceptions) List() []Exception {
	if x == nil {
		return nil
	}
	out := make([]Exception, len(x.list))
	for i, e := range x.list {
		out[i] = e.cfg
	}
	return out
}

// Match reports whether an exception names the account. The first matching
// exception, in list order, gives the reason: code diff.ReasonException
// and a sentence saying which exception matched, with its note.
func (x *Exceptions) Match(a *diff.Account) (diff.Reason, bool) {
	if x == nil || a == nil {
		return diff.Reason{}, false
	}
	s := subject{a: a}
	for i := range x.list {
		if why, ok := x.list[i].match(&s); ok {
			return diff.Reason{Code: diff.ReasonException, Detail: why}, true
		}
	}
	return diff.Reason{}, false
}

// subject is an account being matched, with the normal forms of its
// texts, computed once per Match and only when an exception needs them.
type subject struct {
	a     *diff.Account
	email string // diff.NormalizeEmail(a.Email)
	done  bool   // email is set
	texts []string
}

// normalEmail returns the account's email as diff.NormalizeEmail gives it.
func (s *subject) normalEmail() string {
	if !s.done {
		s.email, s.done = diff.NormalizeEmail(s.a.Email), true
	}
	return s.email
}

// patternTexts returns what a pattern is matched against: the name,
// display name, email and username as written, then those whose normal
// form differs in that form (names in NFC, the email normalised).
func (s *subject) patternTexts() []string {
	if s.texts != nil {
		return s.texts
	}
	a := s.a
	raw := [...]string{a.Name(), a.DisplayName, a.Email, a.Username}
	s.texts = make([]string, 0, 2*len(raw))
	for _, t := range raw {
		if t != "" {
			s.texts = append(s.texts, t)
		}
	}
	for i, t := range raw {
		n := norm.NFC.String(t)
		if i == 2 {
			n = s.normalEmail()
		}
		if n != "" && n != t {
			s.texts = append(s.texts, n)
		}
	}
	return s.texts
}

// match returns the reason's sentence when the exception names the
// subject's account.
func (e *exception) match(s *subject) (string, bool) {
	if e.broken != nil {
		return fmt.Sprintf("An exception stored for this integration is invalid (%v); "+
			"sync touches no account until it is fixed or removed", e.broken), true
	}
	a := s.a
	var by string
	switch {
	case e.cfg.ID != "" && a.ExternalID != "" && strings.EqualFold(strings.TrimSpace(e.cfg.ID), a.ExternalID):
		by = "ID " + quote(a.ExternalID)
	case e.email != "" && a.Email != "" && e.email == s.normalEmail():
		by = "email " + quote(strings.TrimSpace(e.cfg.Email))
	case e.re != nil && e.matchPattern(s):
		by = "pattern " + quote(e.cfg.Pattern)
	default:
		return "", false
	}
	out := "Exception by " + by
	if n := strings.TrimSpace(e.cfg.Note); n != "" {
		out += " (" + n + ")"
	}
	return out + ": never touched by sync", true
}

func (e *exception) matchPattern(s *subject) bool {
	for _, t := range s.patternTexts() {
		if e.re.MatchString(t) || (e.reNFC != nil && e.reNFC.MatchString(t)) {
			return true
		}
	}
	return false
}

// with returns x followed by the extra exceptions. An extra exception that
// names no account is dropped; one that fails to compile matches every
// account, so that a corrupt stored exception stops sync from touching
// anyone instead of exposing the account it was meant to protect.
func (x *Exceptions) with(extra []Exception) *Exceptions {
	if len(extra) == 0 {
		return x
	}
	out := &Exceptions{}
	if x != nil {
		out.list = append(out.list, x.list...)
	}
	for i, c := range extra {
		ex, err := compileException(c)
		switch {
		case err == nil:
		case strings.TrimSpace(c.ID) == "" && strings.TrimSpace(c.Email) == "" && c.Pattern == "":
			continue
		default:
			ex = exception{cfg: c, broken: fmt.Errorf("extra exception %d: %w", i, err)}
		}
		out.list = append(out.list, ex)
	}
	return out
}
