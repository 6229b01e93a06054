package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/diff"
)

// formatCounts renders a run's planned changes per op (RunRecord.Counts)
// as "3 create, 1 block", in apply order; ops it does not know come last,
// sorted. No changes is "no changes".
func formatCounts(counts map[string]int) string {
	var parts []string
	known := map[string]bool{}
	for _, op := range diff.Ops {
		known[op.String()] = true
		if n := counts[op.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, op))
		}
	}
	var other []string
	for op, n := range counts {
		if !known[op] && n > 0 {
			other = append(other, op)
		}
	}
	slices.Sort(other)
	for _, op := range other {
		parts = append(parts, fmt.Sprintf("%d %s", counts[op], op))
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}
