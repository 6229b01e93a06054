package diff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MissingAction is what happens to a managed account whose entry left the
// directory or the sync scope.
type MissingAction int

// The actions for missing accounts. The zero value blocks.
const (
	MissingBlock MissingAction = iota
	MissingDelete
	MissingLeave
)

func (m MissingAction) String() string {
	switch m {
	case MissingBlock:
		return "block"
	case MissingDelete:
		return "delete"
	case MissingLeave:
		return "leave"
	}
	return fmt.Sprintf("MissingAction(%d)", int(m))
}

// AppBlockPolicy decides who wins when an admin blocked, in the app, an
// account the directory still reports as active.
type AppBlockPolicy int

// The app-block policies. The zero value keeps the app's block.
const (
	// AppBlockKeep keeps the block: blocking in the app is a security
	// action and sticks until an admin lifts it.
	AppBlockKeep AppBlockPolicy = iota
	// DirectoryWins treats the directory as authoritative and plans an
	// unblock with a drift reason.
	DirectoryWins
)

// Options are the lifecycle choices of a diff. The policy package builds
// them from its configuration; the zero value is the safe default.
type Options struct {
	Missing MissingAction
	// DeleteAfter is the grace period for MissingDelete: a missing account
	// is blocked first and deleted once it has been blocked by sync this
	// long. Zero deletes at once.
	DeleteAfter time.Duration
	AppBlock    AppBlockPolicy
	// Now stamps BlockedAt on blocks and measures grace periods.
	Now time.Time
	// Except reports accounts that sync must never touch. It is called
	// with the desired and with the current account; either match skips.
	Except func(*Account) (Reason, bool)
}

// Desired is an account as the directory says it should be.
type Desired struct {
	// Account is the mapped account; Source and ExternalID must be set.
	Account Account
	// Disabled is set when the directory disabled the entry.
	Disabled bool
	// OutOfScope is set when scope rules exclude the entry; Reason says
	// which rule.
	OutOfScope bool
	// Invalid is set when the entry could not be mapped; Reason says why.
	// Its account, if one exists, is left alone.
	Invalid bool
	// Reason is the scope decision (in or out) or the mapping failure.
	Reason Reason
}

// Input is everything Compute needs. Compute does not modify it.
type Input struct {
	// Source is the integration whose accounts this diff manages.
	Source string
	// Desired lists the directory's entries, mapped. Order does not matter.
	Desired []Desired
	// Current lists the sink's accounts. Order does not matter.
	Current []Account
	// Fields lists the fields the mapping owns; only these are compared
	// and updated. Nil means the well-known Fields.
	Fields []string
	// ManageDepartments asks for create-department changes for paths
	// that are not among Departments.
	ManageDepartments bool
	Departments       [][]string
	Options           Options
}

// Compute returns the plan that makes Current match Desired under the
// options. It is a pure function: the same input, in any order, yields the
// same plan.
func Compute(in Input) *Plan {
	c := computer{in: in, fields: in.Fields}
	if c.fields == nil {
		c.fields = Fields
	}
	c.fields = slices.Clone(c.fields)
	slices.Sort(c.fields)
	c.fields = slices.Compact(c.fields)
	return c.run()
}

type computer struct {
	in      Input
	fields  []string
	changes []Change
}

func (c *computer) add(ch Change) { c.changes = append(c.changes, ch) }

func (c *computer) run() *Plan {
	in := c.in
	src := in.Source
	managed := map[string]*Account{}
	unmanagedByEmail := map[string][]*Account{}
	otherByEmail := map[string]*Account{} // managed by another integration
	var unmanaged []*Account
	for i := range in.Current {
		a := &in.Current[i]
		switch {
		case a.Managed && a.ExternalID != "" && a.Source == src:
			managed[a.ExternalID] = a
		case a.Managed:
			// Another integration's account: not ours to touch or list,
			// but the same person must not be created twice.
			if a.Email != "" {
				otherByEmail[strings.ToLower(a.Email)] = a
			}
		default:
			unmanaged = append(unmanaged, a)
			if a.Email != "" {
				k := strings.ToLower(a.Email)
				unmanagedByEmail[k] = append(unmanagedByEmail[k], a)
			}
		}
	}
	for _, list := range unmanagedByEmail {
		slices.SortFunc(list, func(a, b *Account) int { return cmp.Compare(a.ID, b.ID) })
	}

	desired := make([]*Desired, len(in.Desired))
	for i := range in.Desired {
		desired[i] = &in.Desired[i]
	}
	slices.SortStableFunc(desired, func(a, b *Desired) int {
		return cmp.Compare(a.Account.ExternalID, b.Account.ExternalID)
	})

	seen := map[string]bool{}
	adopted := map[*Account]bool{}
	var wantDepts [][]string
	for _, d := range desired {
		id := d.Account.ExternalID
		seen[id] = true
		// A shallow copy: want shares slices with the input, which Compute
		// never modifies.
		want := d.Account
		want.Source, want.Managed = src, true
		if !slices.IsSorted(want.Roles) {
			want.Roles = slices.Sorted(slices.Values(want.Roles))
		}
		cur := managed[id]
		if r, ok := c.excepted(&want, cur); ok {
			c.add(Change{Op: OpSkip, Key: keyOf(src, id), Before: cloneP(cur), After: &want, Reasons: []Reason{r}})
			continue
		}
		if d.Invalid {
			c.add(Change{Op: OpSkip, Key: keyOf(src, id), Before: cloneP(cur), After: &want, Reasons: []Reason{d.Reason}})
			continue
		}
		// A disabled entry adopts nothing: blocking an account sync did not
		// manage a moment ago is not sync's call.
		if cur == nil && !d.OutOfScope && !d.Disabled {
			cand, conflict := c.adoptable(unmanagedByEmail, adopted, &want)
			if conflict != nil {
				c.add(Change{Op: OpSkip, Key: keyOf(src, id), After: &want, Reasons: []Reason{*conflict}})
				continue
			}
			if cand != nil {
				adopted[cand] = true
				c.adopt(cand, &want)
				wantDepts = append(wantDepts, want.Department)
				continue
			}
		}
		switch {
		case d.OutOfScope && cur == nil:
			c.add(Change{Op: OpSkip, Key: keyOf(src, id), After: &want, Reasons: []Reason{d.Reason}})
		case d.OutOfScope:
			r := Reason{Code: ReasonScopeLeft, Detail: "Left the sync scope: " + d.Reason.Detail}
			c.missing(cur, r)
		case cur == nil && otherByEmail[strings.ToLower(want.Email)] != nil && want.Email != "":
			other := otherByEmail[strings.ToLower(want.Email)]
			c.add(Change{Op: OpSkip, Key: keyOf(src, id), After: &want, Reasons: []Reason{{Code: ReasonConflictIntegration,
				Detail: fmt.Sprintf("The same person (email %s) is managed by integration %q; not created twice", want.Email, other.Source)}}})
		case cur == nil && d.Disabled:
			c.add(Change{Op: OpSkip, Key: keyOf(src, id), After: &want, Reasons: []Reason{{
				Code: ReasonDisabledNew, Detail: "Disabled in the directory; not invited"}}})
		case cur == nil:
			want.Blocked, want.BlockedBySync = false, false
			c.add(Change{Op: OpCreate, Key: keyOf(src, id), After: &want, Fields: c.createFields(&want),
				Reasons: []Reason{newReason(d)}})
			wantDepts = append(wantDepts, want.Department)
		default:
			c.existing(d, cur, &want)
			wantDepts = append(wantDepts, want.Department)
		}
	}

	var gone []*Account
	for id, a := range managed {
		if !seen[id] {
			gone = append(gone, a)
		}
	}
	slices.SortFunc(gone, func(a, b *Account) int { return cmp.Compare(a.ExternalID, b.ExternalID) })
	for _, a := range gone {
		if r, ok := c.excepted(nil, a); ok {
			c.add(Change{Op: OpSkip, Key: keyOf(src, a.ExternalID), Before: cloneP(a), Reasons: []Reason{r}})
			continue
		}
		c.missing(a, Reason{Code: ReasonDeleted, Detail: "No longer in the directory"})
	}

	for _, a := range unmanaged {
		if adopted[a] {
			continue
		}
		key := "app/" + a.ID
		if r, ok := c.excepted(nil, a); ok {
			c.add(Change{Op: OpSkip, Key: key, Before: cloneP(a), Reasons: []Reason{r}})
			continue
		}
		c.add(Change{Op: OpSkip, Key: key, Before: cloneP(a), Reasons: []Reason{{
			Code: ReasonUnmanaged, Detail: "Not managed by directory sync; left alone"}}})
	}

	if in.ManageDepartments {
		c.departments(wantDepts)
	}
	p := &Plan{Source: src, Changes: c.changes}
	p.sort()
	return p
}

func keyOf(src, id string) string { return src + "/" + id }

func cloneP(a *Account) *Account {
	if a == nil {
		return nil
	}
	c := a.Clone()
	return &c
}

func newReason(d *Desired) Reason {
	detail := "New in the directory"
	if d.Reason.Detail != "" {
		detail += ": " + d.Reason.Detail
	}
	return Reason{Code: ReasonNew, Detail: detail}
}

func (c *computer) excepted(want, cur *Account) (Reason, bool) {
	f := c.in.Options.Except
	if f == nil {
		return Reason{}, false
	}
	for _, a := range []*Account{want, cur} {
		if a == nil {
			continue
		}
		if r, ok := f(a); ok {
			if r.Code == "" {
				r.Code = ReasonException
			}
			if r.Detail == "" {
				r.Detail = "Exception: never touched by sync"
			}
			return r, true
		}
	}
	return Reason{}, false
}

// adoptable returns the unmanaged account with want's email when exactly
// one is free to adopt. conflict is set when creating want would duplicate
// an account that cannot be adopted: several share the email, or the one
// that has it is an exception.
func (c *computer) adoptable(byEmail map[string][]*Account, adopted map[*Account]bool, want *Account) (cand *Account, conflict *Reason) {
	if want.Email == "" {
		return nil, nil
	}
	var free []*Account
	for _, a := range byEmail[strings.ToLower(want.Email)] {
		if adopted[a] {
			continue
		}
		if _, ex := c.excepted(nil, a); ex {
			return nil, &Reason{Code: ReasonDuplicateEmail, Detail: "An app account with the same email is an exception; not created, to avoid a duplicate"}
		}
		free = append(free, a)
	}
	switch len(free) {
	case 0:
		return nil, nil
	case 1:
		return free[0], nil
	}
	return nil, &Reason{Code: ReasonDuplicateEmail, Detail: fmt.Sprintf("%d app accounts share this email; none adopted, nothing created — resolve the duplicate in the app", len(free))}
}

// profileChanges lists the owned fields where want differs from cur.
func (c *computer) profileChanges(cur, want *Account) []FieldChange {
	var out []FieldChange
	for _, f := range c.ownedFields(cur, want) {
		if sameField(cur, want, f) {
			continue
		}
		out = append(out, FieldChange{Name: f, Old: cur.Get(f), New: want.Get(f)})
	}
	return out
}

// sameField compares one field without building its string form.
func sameField(a, b *Account, f string) bool {
	switch f {
	case FieldDepartment:
		return slices.Equal(a.Department, b.Department)
	case FieldRoles:
		return slices.Equal(a.Roles, b.Roles)
	}
	return a.Get(f) == b.Get(f)
}

// ownedFields returns the owned field names; with no explicit list, every
// extra key of either account is owned too.
func (c *computer) ownedFields(accts ...*Account) []string {
	if c.in.Fields != nil {
		return c.fields
	}
	out := slices.Clone(c.fields)
	for _, a := range accts {
		for k := range a.Extra {
			out = append(out, ExtraPrefix+k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *computer) createFields(want *Account) []FieldChange {
	var out []FieldChange
	for _, f := range c.ownedFields(want) {
		if v := want.Get(f); v != "" {
			out = append(out, FieldChange{Name: f, New: v})
		}
	}
	return out
}

// target returns cur with the owned fields taken from want.
func (c *computer) target(cur, want *Account, changed []FieldChange) *Account {
	t := cur.Clone()
	for _, f := range changed {
		t.CopyField(f.Name, want)
	}
	return &t
}

func (c *computer) existing(d *Desired, cur, want *Account) {
	fields := c.profileChanges(cur, want)
	blockChange := d.Disabled != cur.Blocked
	if len(fields) == 0 && !blockChange {
		return // the common case: nothing to do, nothing allocated
	}
	key := keyOf(c.in.Source, cur.ExternalID)
	after := c.target(cur, want, fields)
	var reasons []Reason
	if len(fields) > 0 {
		reasons = append(reasons, Reason{Code: ReasonChanged, Detail: "Changed in the directory: " + fieldNames(fields)})
	}
	op := OpUpdate
	switch {
	case d.Disabled && !cur.Blocked:
		op = OpBlock
		c.block(after)
		reasons = append(reasons, Reason{Code: ReasonDisabled, Detail: "Disabled in the directory; block and end all sessions"})
	case !d.Disabled && cur.Blocked && cur.BlockedBySync:
		op = OpUnblock
		c.unblock(after)
		reasons = append(reasons, Reason{Code: ReasonEnabled, Detail: "Enabled again in the directory"})
	case !d.Disabled && cur.Blocked && c.in.Options.AppBlock == DirectoryWins:
		op = OpUnblock
		c.unblock(after)
		reasons = append(reasons, Reason{Code: ReasonDrift, Detail: "Blocked in the app but active in the directory, which is authoritative; unblock"})
	case !d.Disabled && cur.Blocked && len(fields) == 0:
		c.add(Change{Op: OpSkip, Key: key, Before: cloneP(cur), After: after, Reasons: []Reason{{
			Code: ReasonAppBlockKept, Detail: "Blocked in the app by an admin; the block is kept although the directory account is active"}}})
		return
	}
	if op == OpBlock || op == OpUnblock {
		fields = append(fields, FieldChange{Name: FieldBlocked, Old: cur.Get(FieldBlocked), New: after.Get(FieldBlocked)})
		sortFields(fields)
	}
	if len(fields) == 0 {
		return
	}
	c.add(Change{Op: op, Key: key, Before: cloneP(cur), After: after, Fields: fields, Reasons: reasons})
}

func (c *computer) adopt(cand, want *Account) {
	fields := c.profileChanges(cand, want)
	after := c.target(cand, want, fields)
	after.Source, after.ExternalID, after.Managed = want.Source, want.ExternalID, true
	fields = append(fields,
		FieldChange{Name: FieldSource, Old: cand.Source, New: after.Source},
		FieldChange{Name: FieldExternalID, Old: cand.ExternalID, New: after.ExternalID},
		FieldChange{Name: FieldManaged, Old: cand.Get(FieldManaged), New: "true"},
	)
	reasons := []Reason{{Code: ReasonAdopted, Detail: "An app account with the same email exists; adopt it instead of creating a duplicate"}}
	sortFields(fields)
	c.add(Change{Op: OpUpdate, Key: keyOf(c.in.Source, want.ExternalID), Before: cloneP(cand), After: after, Fields: fields, Reasons: reasons})
}

func (c *computer) block(a *Account) {
	a.Blocked, a.BlockedBySync, a.BlockedAt = true, true, c.in.Options.Now
}

func (c *computer) unblock(a *Account) {
	a.Blocked, a.BlockedBySync, a.BlockedAt = false, false, time.Time{}
}

// missing handles a managed account whose entry is gone or out of scope.
func (c *computer) missing(cur *Account, why Reason) {
	key := keyOf(c.in.Source, cur.ExternalID)
	o := c.in.Options
	blockChange := func(extra string) {
		after := cloneP(cur)
		c.block(after)
		r := why
		r.Detail += extra
		c.add(Change{Op: OpBlock, Key: key, Before: cloneP(cur), After: after,
			Fields:  []FieldChange{{Name: FieldBlocked, Old: "false", New: "true"}},
			Reasons: []Reason{r}})
	}
	switch o.Missing {
	case MissingLeave:
		r := why
		r.Detail += "; left alone by policy"
		c.add(Change{Op: OpSkip, Key: key, Before: cloneP(cur), Reasons: []Reason{r, {Code: ReasonLeave, Detail: "Policy leaves such accounts alone"}}})
	case MissingDelete:
		switch {
		case o.DeleteAfter <= 0:
			c.add(Change{Op: OpDelete, Key: key, Before: cloneP(cur), Reasons: []Reason{why}})
		case !cur.Blocked:
			blockChange(fmt.Sprintf("; block now, delete after %s", humanDuration(o.DeleteAfter)))
		case cur.BlockedBySync && !cur.BlockedAt.IsZero() && !o.Now.Before(cur.BlockedAt.Add(o.DeleteAfter)):
			c.add(Change{Op: OpDelete, Key: key, Before: cloneP(cur), Reasons: []Reason{why, {
				Code: ReasonGraceDelete, Detail: fmt.Sprintf("Blocked by sync for more than %s", humanDuration(o.DeleteAfter))}}})
		}
	default:
		if !cur.Blocked {
			blockChange("; block and end all sessions")
		}
	}
}

func (c *computer) departments(paths [][]string) {
	have := map[string]bool{}
	for _, p := range c.in.Departments {
		have[strings.Join(p, "\x00")] = true
	}
	want := map[string][]string{}
	for _, p := range paths {
		for i := 1; i <= len(p); i++ {
			k := strings.Join(p[:i], "\x00")
			if !have[k] {
				want[k] = slices.Clone(p[:i])
			}
		}
	}
	for _, p := range want {
		label := strings.Join(p, DepartmentSeparator)
		c.add(Change{Op: OpCreateDepartment, Key: "department/" + label, Department: p,
			Reasons: []Reason{{Code: ReasonDepartment, Detail: "Department " + label + " does not exist in the app yet"}}})
	}
}

func fieldNames(fs []FieldChange) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func sortFields(fs []FieldChange) {
	slices.SortFunc(fs, func(a, b FieldChange) int { return cmp.Compare(a.Name, b.Name) })
}

func humanDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return d.String()
}
