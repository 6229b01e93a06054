package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/diff"
)

// Lifecycle says what sync does to a managed account whose entry is missing
// from the directory or out of scope, and who wins when an admin blocked an
// account in the app that the directory still reports as active.
//
// Accounts disabled in the directory are always blocked (and their sessions
// ended); accounts enabled again are unblocked only when sync itself blocked
// them, unless AppBlock is "directory".
type Lifecycle struct {
	// Missing is "block" (the default when empty), "delete" or "leave".
	// With "delete" the account is blocked first and deleted once it has
	// been blocked by sync for DeleteAfter; with a zero DeleteAfter it is
	// deleted at once.
	Missing string `json:"missing,omitempty"`
	// DeleteAfter is the grace period of Missing "delete". It is ignored
	// for the other actions.
	DeleteAfter Duration `json:"deleteAfter,omitzero"`
	// AppBlock is "keep" (the default when empty): a block an admin set in
	// the app stays although the directory account is active; or
	// "directory": the directory is authoritative and such blocks are
	// lifted.
	AppBlock string `json:"appBlock,omitempty"`
}

// The values of Lifecycle.Missing and Lifecycle.AppBlock.
const (
	MissingBlock  = "block"
	MissingDelete = "delete"
	MissingLeave  = "leave"

	AppBlockKeep      = "keep"
	AppBlockDirectory = "directory"
)

func (l Lifecycle) compile() (diff.MissingAction, diff.AppBlockPolicy, error) {
	var errs []error
	var missing diff.MissingAction
	switch l.Missing {
	case "", MissingBlock:
		missing = diff.MissingBlock
	case MissingDelete:
		missing = diff.MissingDelete
	case MissingLeave:
		missing = diff.MissingLeave
	default:
		errs = append(errs, fmt.Errorf("lifecycle.missing: unknown value %q (want %q, %q or %q)",
			l.Missing, MissingBlock, MissingDelete, MissingLeave))
	}
	if l.DeleteAfter.Duration < 0 {
		errs = append(errs, fmt.Errorf("lifecycle.deleteAfter: negative grace period %s", l.DeleteAfter))
	}
	var appBlock diff.AppBlockPolicy
	switch l.AppBlock {
	case "", AppBlockKeep:
		appBlock = diff.AppBlockKeep
	case AppBlockDirectory:
		appBlock = diff.DirectoryWins
	default:
		errs = append(errs, fmt.Errorf("lifecycle.appBlock: unknown value %q (want %q or %q)",
			l.AppBlock, AppBlockKeep, AppBlockDirectory))
	}
	return missing, appBlock, errors.Join(errs...)
}

// Duration is a time.Duration that reads and writes as a string in JSON and
// other text encodings. Besides the units of time.ParseDuration it accepts
// whole days with the suffix "d", alone or before other units: "30d",
// "1d12h", "720h". A duration of whole days is written as "30d", any other
// as time.Duration.String writes it ("36h0m0s").
type Duration struct{ time.Duration }

// Days returns a Duration of n days.
func Days(n int) Duration { return Duration{time.Duration(n) * 24 * time.Hour} }

// ParseDuration parses a duration in the format Duration reads. The empty
// string is zero.
func ParseDuration(s string) (time.Duration, error) {
	const (
		day     = 24 * time.Hour
		maxDays = int64(math.MaxInt64 / day)
	)
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	neg := false
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		neg, s = true, rest
	} else if rest, ok := strings.CutPrefix(s, "+"); ok {
		s = rest
	}
	bad := func(why string) error {
		return fmt.Errorf("policy: invalid duration %q: %s", in, why)
	}
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > maxDays:
			return 0, bad("too long")
		case err != nil || n < 0 || days[0] == '+':
			return 0, bad(`days must be a whole number, as in "30d"`)
		}
		d, s = time.Duration(n)*day, rest
	}
	if s != "" {
		rest, err := time.ParseDuration(s)
		if err != nil || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			return 0, bad(`use a form such as "30d", "12h" or "1d12h"`)
		}
		if rest > math.MaxInt64-d {
			return 0, bad("too long")
		}
		d += rest
	}
	if neg {
		d = -d
	}
	return d, nil
}

// String formats whole days as "30d" and anything else as time.Duration
// does.
func (d Duration) String() string {
	const day = 24 * time.Hour
	if d.Duration != 0 && d.Duration%day == 0 {
		return strconv.FormatInt(int64(d.Duration/day), 10) + "d"
	}
	return d.Duration.String()
}

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration in the format ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
