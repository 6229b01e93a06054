package diff

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
)

// Plan is the ordered list of changes that makes the app match the
// directory. Changes are sorted by Op (the apply order), then by the
// account's name and key, so a plan renders byte-identically for the same
// inputs.
type Plan struct {
	Source  string   `json:"source"`
	Changes []Change `json:"changes"`
	// Warnings are about the plan as a whole rather than one account,
	// e.g. that most users map to no email and no username (code
	// ReasonInvalid). Summary, WriteText and the JSON show them.
	Warnings []Reason `json:"warnings,omitempty"`
}

func (p *Plan) sort() {
	type sortKey struct {
		op    Op
		label string
		key   string
		i     int
	}
	keys := make([]sortKey, len(p.Changes))
	for i := range p.Changes {
		c := &p.Changes[i]
		keys[i] = sortKey{c.Op, strings.ToLower(c.Label()), c.Key, i}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if c := cmp.Compare(a.op, b.op); c != 0 {
			return c
		}
		if c := strings.Compare(a.label, b.label); c != 0 {
			return c
		}
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	sorted := make([]Change, len(p.Changes))
	for i, k := range keys {
		sorted[i] = p.Changes[k.i]
	}
	p.Changes = sorted
}

// Count returns the number of changes with the op.
func (p *Plan) Count(op Op) int {
	n := 0
	for i := range p.Changes {
		if p.Changes[i].Op == op {
			n++
		}
	}
	return n
}

// Actionable returns the number of changes that would modify the sink.
func (p *Plan) Actionable() int {
	n := 0
	for i := range p.Changes {
		if p.Changes[i].Op.Actionable() {
			n++
		}
	}
	return n
}

// Empty reports whether the plan changes nothing. Skipped accounts do not
// count.
func (p *Plan) Empty() bool { return p.Actionable() == 0 }

// Summary renders the counts per op, e.g. "3 create, 1 block, 12 skip",
// followed by the warnings, each after "; ".
func (p *Plan) Summary() string {
	var parts []string
	for _, op := range Ops {
		if n := p.Count(op); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, op))
		}
	}
	s := "no changes"
	if len(parts) > 0 {
		s = strings.Join(parts, ", ")
	}
	for _, w := range p.Warnings {
		s += "; " + w.String()
	}
	return s
}

// Search returns a plan with the changes that match the regular expression
// (see Change.Matches for the texts it is matched against). An invalid
// expression is an error.
func (p *Plan) Search(pattern string) (*Plan, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("diff: search pattern %q: %w", pattern, err)
	}
	out := &Plan{Source: p.Source, Warnings: p.Warnings}
	for _, c := range p.Changes {
		if c.Matches(re) {
			out.Changes = append(out.Changes, c)
		}
	}
	return out, nil
}

// Matches reports whether re matches one of the change's texts an admin
// sees: for an account, before or after the change, its name (Name: the
// display name, else given and family name), display name, email,
// username, and department path joined with DepartmentSeparator ("Sales /
// EMEA"); for a create-department change, the department path. Each text
// is matched on its own, so "^[0-9]" finds names that start with a digit.
func (c *Change) Matches(re *regexp.Regexp) bool {
	if c.Op == OpCreateDepartment {
		return re.MatchString(c.Label())
	}
	for _, a := range []*Account{c.After, c.Before} {
		if a == nil {
			continue
		}
		for _, s := range []string{a.Name(), a.DisplayName, a.Email, a.Username, a.Get(FieldDepartment)} {
			if s != "" && re.MatchString(s) {
				return true
			}
		}
	}
	return false
}

// WriteText renders the plan as the table an admin reads: one row per
// change with the operation, the account, its email and the Status
// sentence, followed by the field changes old → new, indented under the
// Status column.
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "OPERATION\tACCOUNT\tEMAIL\tSTATUS\n")
	for i := range p.Changes {
		c := &p.Changes[i]
		email := ""
		if a := c.Account(); a != nil {
			email = a.Email
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Op, clean(c.Label()), clean(email), clean(c.Status()))
		for _, f := range c.Fields {
			old := f.Old
			if old == "" {
				old = "∅"
			}
			// In the last column, which does not widen the table.
			fmt.Fprintf(tw, "\t\t\t  %s: %s → %s\n", f.Name, clean(old), clean(f.New))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Plan for %s: %s\n", p.Source, p.Summary())
	return err
}

// String renders the plan as text.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}

// clean keeps control characters from a directory value out of the table:
// C0 (tabs and newlines among them), DEL, C1, and the Unicode line and
// paragraph separators become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// MarshalJSON renders the plan with its summary counts. The output is
// deterministic.
func (p *Plan) MarshalJSON() ([]byte, error) {
	counts := map[string]int{}
	for _, op := range Ops {
		if n := p.Count(op); n > 0 {
			counts[op.String()] = n
		}
	}
	changes := p.Changes
	if changes == nil {
		changes = []Change{}
	}
	return json.Marshal(struct {
		Source   string         `json:"source"`
		Counts   map[string]int `json:"counts"`
		Changes  []Change       `json:"changes"`
		Warnings []Reason       `json:"warnings,omitempty"`
	}{p.Source, counts, changes, p.Warnings})
}
