package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
)

// attentionShown is how many accounts each kind of attention lists by
// name; the rest are counted.
const attentionShown = 10

// attention is one kind of change an admin should look at before
// applying, with the reason codes that mark it.
type attention struct {
	title string
	codes []string
}

var attentions = []attention{
	{"conflicts (two entries for one person, an email another account holds, another integration's account)",
		[]string{diff.ReasonJoinConflict, diff.ReasonDuplicateEmail, diff.ReasonConflictIntegration,
			diff.ReasonDuplicateAccount, dirsync.ReasonForeign}},
	{"invalid or unmappable entries", []string{diff.ReasonInvalid}},
}

// writeSummary prints what a first look needs: the counts by operation,
// then what needs attention (conflicts, invalid entries, the plan's
// warnings, a safety hold), each account on one line.
func writeSummary(w io.Writer, p *dirsync.Plan) error {
	var counts []string
	for _, op := range diff.Ops {
		if n := p.Count(op); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, op))
		}
	}
	if len(counts) == 0 {
		counts = []string{"no changes"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for %s: %s\n", p.Source, strings.Join(counts, ", "))

	var notes []string
	for _, a := range attentions {
		var lines []string
		for i := range p.Changes {
			c := &p.Changes[i]
			for _, code := range a.codes {
				if r, ok := reason(c, code); ok {
					lines = append(lines, fmt.Sprintf("      %s %s: %s", c.Op, oneLine(c.Label()), oneLine(r.Detail)))
					break
				}
			}
		}
		if len(lines) == 0 {
			continue
		}
		note := fmt.Sprintf("  %d %s:\n", len(lines), a.title)
		if len(lines) > attentionShown {
			lines = append(lines[:attentionShown], fmt.Sprintf("      … and %d more (see the list below)", len(lines)-attentionShown))
		}
		notes = append(notes, note+strings.Join(lines, "\n"))
	}
	for _, r := range p.Warnings {
		notes = append(notes, "  warning: "+oneLine(r.String()))
	}
	if p.Safety != nil {
		notes = append(notes, "  safety hold: "+oneLine(p.Safety.Error())+"; the plan is not applied until an admin approves it")
	}
	if len(notes) == 0 {
		b.WriteString("Needs attention: nothing (no conflicts, invalid entries, warnings or safety hold).\n")
	} else {
		b.WriteString("Needs attention:\n" + strings.Join(notes, "\n") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeChanges lists the changes of view (the plan, or its --search
// subset), one line each, or with verbose the fields each sets too.
func writeChanges(w io.Writer, plan, view *dirsync.Plan, verbose bool) error {
	fmt.Fprintln(w)
	if view != plan {
		fmt.Fprintf(w, "%d of %d changes match --search:\n", len(view.Changes), len(plan.Changes))
	}
	if verbose {
		return view.WriteText(w)
	}
	rows := view.Plan
	rows.Changes = make([]diff.Change, len(view.Changes))
	for i, c := range view.Changes {
		c.Fields = nil
		rows.Changes[i] = c
	}
	if err := rows.WriteText(w); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "(-v shows the fields each change sets)")
	return err
}

// writeReport prints the outcome counts, then the changes that were not
// applied (failures, skips) one line each; verbose lists every result.
func writeReport(w io.Writer, r *dirsync.Report, verbose bool) error {
	if verbose {
		return r.WriteText(w)
	}
	fmt.Fprintf(w, "Applied %d, failed %d, skipped %d, not attempted %d\n",
		r.Count(dirsync.StatusApplied), r.Count(dirsync.StatusFailed), r.Count(dirsync.StatusSkipped), r.Count(dirsync.StatusNotAttempted))
	for _, res := range r.Results {
		if res.Status == dirsync.StatusApplied {
			continue
		}
		detail := ""
		switch {
		case res.Err != nil:
			detail = res.Err.Error()
		case res.Status == dirsync.StatusSkipped:
			detail = res.Reason.Detail
		}
		fmt.Fprintf(w, "  %s %s %s: %s\n", res.Status, res.Change.Op, oneLine(res.Change.Label()), oneLine(detail))
	}
	return nil
}

func reason(c *diff.Change, code string) (diff.Reason, bool) {
	for _, r := range c.Reasons {
		if r.Code == code {
			return r, true
		}
	}
	return diff.Reason{}, false
}

// oneLine blanks control characters (from the directory), so that no
// value starts a line of its own.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
