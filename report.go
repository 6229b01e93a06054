package dirsync

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/diff"
)

// Status is the outcome of one change in a Report.
type Status string

// The outcomes.
const (
	StatusApplied      Status = "applied"
	StatusFailed       Status = "failed"
	StatusNotAttempted Status = "not-attempted"
	// StatusSkipped marks a change Apply did not carry out on purpose;
	// Result.Reason says why (an exception added after the plan was made,
	// say). It is not a failure.
	StatusSkipped Status = "skipped"
)

// Result is one change and what became of it.
type Result struct {
	Change diff.Change
	Status Status
	Err    error
	// Reason says why a change was skipped (StatusSkipped).
	Reason diff.Reason
}

// Report is what Apply did, change by change, in plan order.
type Report struct {
	Source   string
	Started  time.Time
	Finished time.Time
	Results  []Result
}

// Count returns the number of results with the status.
func (r *Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// WriteText renders the report as a table: one row per change with its
// outcome, and the error of each failure or the reason of each skip.
// Control characters in names and errors (from the directory or the sink)
// are blanked, so that no value can start a row of its own.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RESULT\tOPERATION\tACCOUNT\tDETAIL\n")
	for _, res := range r.Results {
		detail := res.Change.Status()
		switch {
		case res.Err != nil:
			detail = res.Err.Error()
		case res.Status == StatusSkipped:
			detail = res.Reason.Detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(string(res.Status)), res.Change.Op, clean(res.Change.Label()), clean(detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Applied %d, failed %d, skipped %d, not attempted %d\n",
		r.Count(StatusApplied), r.Count(StatusFailed), r.Count(StatusSkipped), r.Count(StatusNotAttempted))
	return err
}

// clean blanks control characters (C0, DEL, C1 and the Unicode line and
// paragraph separators), and tabs, which would shift the table's columns.
func clean(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// ChangeError is the failure of one change. Apply joins one per failed
// change; find them with errors.As.
type ChangeError struct {
	Change diff.Change
	Err    error
}

func (e *ChangeError) Error() string {
	return fmt.Sprintf("dirsync: %s %s (%s): %v", e.Change.Op, e.Change.Label(), e.Change.Key, e.Err)
}

// Unwrap returns the sink's error.
func (e *ChangeError) Unwrap() error { return e.Err }
