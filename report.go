package dirsync

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dirsync-go/dirsync/diff"
)

// Status is the outcome of one change in a Report.
type Status string

// The outcomes.
const (
	StatusApplied      Status = "applied"
	StatusFailed       Status = "failed"
	StatusNotAttempted Status = "not-attempted"
)

// Result is one change and what became of it.
type Result struct {
	Change diff.Change
	Status Status
	Err    error
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
// outcome, and the error of each failure.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RESULT\tOPERATION\tACCOUNT\tDETAIL\n")
	for _, res := range r.Results {
		detail := res.Change.Status()
		if res.Err != nil {
			detail = res.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Status, res.Change.Op, res.Change.Label(), detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Applied %d, failed %d, not attempted %d\n",
		r.Count(StatusApplied), r.Count(StatusFailed), r.Count(StatusNotAttempted))
	return err
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
