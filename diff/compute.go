package diff

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
	// EntryID is the ID of the directory entry the account was mapped
	// from. It is optional; when set, it names the entry in conflict
	// reasons and in the keys of entries that share a join key.
	EntryID string
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
	// Unchanged lists accounts of this integration that are not part of
	// the diff: in an incremental plan, those whose entries did not
	// change. They are never changed, listed or counted as missing; they
	// only hold their emails, so that no change gives one of them to a
	// second account.
	Unchanged []Account
	// Fields lists the fields the mapping owns; only these are compared
	// and updated. Nil means the well-known Fields.
	Fields []string
	// ManageDepartments asks for create-department changes for paths
	// that are not among Departments.
	ManageDepartments bool
	Departments       [][]string
	// WantDepartments lists the department paths of accounts in step that
	// a caller left out of Desired and Current (see InStep): with
	// ManageDepartments they are wanted like the paths of the desired
	// accounts. Order and repetition do not matter.
	WantDepartments [][]string
	// InStepEntries is how many entries a caller left out of Desired
	// because they were in step with their accounts (see InStep). They
	// change nothing but the count of users in Plan.Warnings.
	InStepEntries int
	Options       Options
}

// Compute returns the plan that makes Current match Desired under the
// options. It is a pure function: the same input, in any order, yields the
// same plan.
//
// One join key is one person, and one email is one account:
//
//   - Entries that map to the same join key are a conflict: each is
//     skipped with ReasonJoinConflict naming the others, nothing is
//     created, and the app account under that key is left as it is. An
//     entry that is out of scope or cannot be mapped claims no key, so it
//     conflicts with nobody.
//   - Several app accounts under one join key (a host's create that ran
//     twice) are all listed with ReasonDuplicateAccount, and each gets the
//     changes the entry asks for: a disabled or departed person is blocked
//     in every one of them.
//   - Emails are compared in the form NormalizeEmail gives. A change never
//     gives an account an email that another app account holds (managed
//     by this or another integration, or by none) or that another entry
//     of the plan is given too: such a create is skipped with
//     ReasonDuplicateEmail (or ReasonConflictIntegration), and such an
//     update applies its other fields and keeps the old email, with
//     ReasonDuplicateEmail. Blocks and role changes are security actions
//     and never wait on an email clash. Two accounts that swap emails wait
//     for an admin: each holds the email the other wants.
//
// An account sync creates can be reached (see "Accounts sync creates" in
// the package documentation): a create whose account would have no email
// and no username is skipped with ReasonInvalid, and an update that would
// leave an account with neither keeps the account's profile, with
// ReasonInvalid. When most users in scope map to neither, Plan.Warnings
// says so once.
func Compute(in Input) *Plan {
	c := computer{in: in, fields: in.Fields}
	if c.fields == nil {
		c.fields = Fields
	}
	c.fields = slices.Clone(c.fields)
	slices.Sort(c.fields)
	c.fields = slices.Compact(c.fields)
	_, c.ownsEmail = slices.BinarySearch(c.fields, FieldEmail)
	return c.run()
}

type computer struct {
	in        Input
	fields    []string
	ownsEmail bool
	changes   []Change

	// managed holds this integration's accounts by external ID, sorted by
	// app ID; holders holds every account by normalised email.
	managed map[string][]*Account
	holders emailIndex
	pool    []item // backing store of the items, one per entry
	// acquirers lists, by normalised email, the entries the plan would
	// give that email to an account that does not have it.
	acquirers map[string][]*item
}

// item is one entry on its way through Compute.
type item struct {
	d     *Desired
	n     int    // position among the entries with its join key
	key   string // the change key when it is not the plain join key
	want  Account
	accts []*Account // the accounts under its join key, sorted by ID
	email string     // want's normalised email
	// except is set when an exception covers the entry or an account.
	except *Reason
	// acquires is set when the plan would give email to an account that
	// does not hold it: a create, an adoption or an email update.
	acquires bool
	// unreachable is set for a new entry whose account has no email and
	// no username: it is not created.
	unreachable bool
}

func (it *item) cur() *Account {
	if len(it.accts) == 0 {
		return nil
	}
	return it.accts[0]
}

func (c *computer) add(ch Change) { c.changes = append(c.changes, ch) }

func byAppID(a, b *Account) int {
	return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Source, b.Source),
		cmp.Compare(a.ExternalID, b.ExternalID), cmp.Compare(a.Email, b.Email))
}

func (c *computer) run() *Plan {
	in := c.in
	src := in.Source
	c.managed = map[string][]*Account{}
	c.holders = emailIndex{one: map[string]*Account{}, more: map[string][]*Account{}}
	c.acquirers = map[string][]*item{}
	unmanagedByEmail := map[string][]*Account{}
	var unmanaged []*Account
	cells := make([]*Account, 0, len(in.Current))
	for i := range in.Current {
		a := &in.Current[i]
		e := NormalizeEmail(a.Email)
		c.holders.add(e, a)
		switch {
		case a.Managed && a.ExternalID != "" && a.Source == src:
			if list, ok := c.managed[a.ExternalID]; ok {
				c.managed[a.ExternalID] = append(list, a) // a duplicate: rare
			} else {
				// One-element lists cut from one array: one allocation
				// for all of them, not one per account.
				cells = append(cells, a)
				n := len(cells)
				c.managed[a.ExternalID] = cells[n-1 : n : n]
			}
		case a.Managed:
			// Another integration's account: not ours to touch or list,
			// but the same person must not be created twice.
		default:
			unmanaged = append(unmanaged, a)
			if e != "" {
				unmanagedByEmail[e] = append(unmanagedByEmail[e], a)
			}
		}
	}
	for i := range in.Unchanged {
		a := &in.Unchanged[i]
		c.holders.add(NormalizeEmail(a.Email), a)
	}
	for _, m := range []map[string][]*Account{c.managed, c.holders.more, unmanagedByEmail} {
		for _, list := range m {
			slices.SortFunc(list, byAppID)
		}
	}

	desired := make([]*Desired, len(in.Desired))
	for i := range in.Desired {
		desired[i] = &in.Desired[i]
	}
	slices.SortFunc(desired, compareDesired)
	c.pool = make([]item, len(desired))

	// Entries by join key: a key claimed by several entries is a conflict.
	seen := map[string]bool{}
	var items []*item
	for i := 0; i < len(desired); {
		j := i + 1
		for j < len(desired) && desired[j].Account.ExternalID == desired[i].Account.ExternalID {
			j++
		}
		seen[desired[i].Account.ExternalID] = true
		if it := c.claim(desired[i:j]); it != nil {
			items = append(items, it)
		}
		i = j
	}

	// Who would acquire which email, before anything is decided.
	for _, it := range items {
		cur := it.cur()
		if r, ok := c.excepted(&it.want, it.accts); ok {
			it.except = &r
			continue
		}
		d := it.d
		if d.Invalid || d.OutOfScope {
			continue
		}
		if cur == nil {
			it.unreachable = unreachable(&it.want)
		}
		if it.email == "" {
			continue // no email, nothing to acquire
		}
		if cur == nil {
			it.acquires = !d.Disabled
		} else {
			it.acquires = c.ownsEmail && it.email != NormalizeEmail(cur.Email)
		}
		if it.acquires {
			c.acquirers[it.email] = append(c.acquirers[it.email], it)
		}
	}

	adopted := map[*Account]bool{}
	var wantDepts [][]string
	for _, it := range items {
		d, want, cur := it.d, &it.want, it.cur()
		id := want.ExternalID
		// The key is built only for a change: most accounts need none.
		key := func() string {
			if it.key != "" {
				return it.key
			}
			return keyOf(src, want.ExternalID)
		}
		mark := len(c.changes)
		switch {
		case it.except != nil:
			c.add(Change{Op: OpSkip, Key: key(), Before: cloneP(cur), After: want, Reasons: []Reason{*it.except}})
		case d.Invalid:
			c.add(Change{Op: OpSkip, Key: key(), Before: cloneP(cur), After: want, Reasons: []Reason{d.Reason}})
		case d.OutOfScope && cur == nil:
			c.add(Change{Op: OpSkip, Key: key(), After: want, Reasons: []Reason{d.Reason}})
		case d.OutOfScope:
			r := Reason{Code: ReasonScopeLeft, Detail: "Left the sync scope: " + lowerFirst(d.Reason.Detail)}
			for i, a := range it.accts {
				c.missing(a, r, c.accountKey(id, it.accts, i))
			}
		case cur == nil && d.Disabled:
			// A disabled entry adopts nothing: blocking an account sync did
			// not manage a moment ago is not sync's call.
			c.add(Change{Op: OpSkip, Key: key(), After: want, Reasons: []Reason{{
				Code: ReasonDisabledNew, Detail: "Disabled in the directory; not invited"}}})
		case cur == nil && it.unreachable:
			// An invitation to nobody. (With no email, it adopts nothing
			// either.)
			c.add(Change{Op: OpSkip, Key: key(), After: want, Reasons: []Reason{unreachableCreate}})
		case cur == nil:
			if c.create(it, key(), unmanagedByEmail, adopted) {
				wantDepts = append(wantDepts, want.Department)
			}
		default:
			var taken *Reason
			if it.acquires {
				taken = c.emailTaken(it, cur)
			}
			for i, a := range it.accts {
				if i > 0 {
					// Duplicates follow the entry, but one email is one
					// account: only the first may take a new one.
					taken = &Reason{Code: ReasonDuplicateEmail, Detail: fmt.Sprintf(
						"The email %s goes to app account %s only, not to its duplicates", want.Email, cur.ID)}
				}
				c.existing(d, a, want, accountKey{src, id, it.accts, i}, taken)
			}
			wantDepts = append(wantDepts, want.Department)
		}
		c.markDuplicates(id, it.accts, mark)
	}

	var gone []string
	for id := range c.managed {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		accts := c.managed[id]
		mark := len(c.changes)
		for i, a := range accts {
			key := c.accountKey(id, accts, i)
			if r, ok := c.excepted(nil, []*Account{a}); ok {
				c.add(Change{Op: OpSkip, Key: key, Before: cloneP(a), Reasons: []Reason{r}})
				continue
			}
			c.missing(a, Reason{Code: ReasonDeleted, Detail: "No longer in the directory"}, key)
		}
		c.markDuplicates(id, accts, mark)
	}

	for _, a := range unmanaged {
		if adopted[a] {
			continue
		}
		key := "app/" + a.ID
		if r, ok := c.excepted(nil, []*Account{a}); ok {
			c.add(Change{Op: OpSkip, Key: key, Before: cloneP(a), Reasons: []Reason{r}})
			continue
		}
		c.add(Change{Op: OpSkip, Key: key, Before: cloneP(a), Reasons: []Reason{{
			Code: ReasonUnmanaged, Detail: "Not managed by directory sync; left alone"}}})
	}

	if in.ManageDepartments {
		c.departments(append(wantDepts, in.WantDepartments...))
	}
	p := &Plan{Source: src, Changes: c.changes}
	if w := c.unfilledWarning(); w != nil {
		p.Warnings = []Reason{*w}
	}
	p.sort()
	return p
}

// emailIndex holds accounts by normalised email: the one with the lowest
// app ID in one, all of them, sorted, in more when several share it.
type emailIndex struct {
	one  map[string]*Account
	more map[string][]*Account
}

func (x emailIndex) add(email string, a *Account) {
	if email == "" {
		return
	}
	first, ok := x.one[email]
	switch {
	case !ok:
		x.one[email] = a
		return
	case x.more[email] == nil:
		x.more[email] = []*Account{first}
	}
	x.more[email] = append(x.more[email], a)
	if byAppID(a, first) < 0 {
		x.one[email] = a
	}
}

// of returns the accounts with the email, sorted by app ID.
func (x emailIndex) of(email string) []*Account {
	if list, ok := x.more[email]; ok {
		return list
	}
	if a, ok := x.one[email]; ok {
		return []*Account{a}
	}
	return nil
}

// compareDesired orders entries by join key, then entry ID, then content,
// so that entries sharing a join key come out in the same order whatever
// the input order.
func compareDesired(a, b *Desired) int {
	if c := cmp.Or(cmp.Compare(a.Account.ExternalID, b.Account.ExternalID), cmp.Compare(a.EntryID, b.EntryID)); c != 0 {
		return c
	}
	// Rare: only entries sharing a join key and an entry ID get here.
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Compare(ja, jb)
}

// claim decides which of the entries sharing a join key (sorted) is
// synced, and lists the others. It returns nil when none is.
func (c *computer) claim(group []*Desired) *item {
	id := group[0].Account.ExternalID
	accts := c.managed[id]
	var items []*item
	for i, d := range group {
		it := &c.pool[0]
		c.pool = c.pool[1:]
		*it = item{d: d, n: i, want: d.Account, accts: accts}
		it.want.Source, it.want.Managed = c.in.Source, true
		if !slices.IsSorted(it.want.Roles) {
			it.want.Roles = slices.Sorted(slices.Values(it.want.Roles))
		}
		it.email = NormalizeEmail(it.want.Email)
		if len(group) == 1 {
			return it // the common case
		}
		if items == nil {
			items = make([]*item, 0, len(group))
		}
		items = append(items, it)
	}
	var claimants []*item
	invalid := false
	for _, it := range items {
		switch {
		case it.d.Invalid:
			invalid = true
		case !it.d.OutOfScope:
			claimants = append(claimants, it)
		}
	}
	var winner *item
	switch {
	case len(claimants) == 1:
		winner = claimants[0]
	case len(claimants) == 0 && !invalid:
		winner = items[0] // all out of scope: they agree
	}
	// The winner keeps the plain key; the rest are told apart by entry ID,
	// or by position when the entry IDs do not tell them apart.
	byEntry := map[string]int{}
	for _, d := range group {
		byEntry[d.EntryID]++
	}
	for _, it := range items {
		if it == winner {
			continue
		}
		it.key = keyOf(c.in.Source, id)
		if eid := it.d.EntryID; eid != "" && byEntry[eid] == 1 {
			it.key += "#entry=" + eid
		} else {
			it.key += "#" + strconv.Itoa(it.n+1)
		}
	}
	for _, it := range items {
		if it == winner {
			continue
		}
		r := it.d.Reason
		if len(claimants) > 1 && slices.Contains(claimants, it) {
			var others []string
			for _, o := range claimants {
				if o != it {
					others = append(others, entryLabel(o))
				}
			}
			r = Reason{Code: ReasonJoinConflict, Detail: fmt.Sprintf(
				"External ID %q is also the mapped ID of %s; none of them is synced and the app account is left as it is until the directory gives each person their own",
				id, strings.Join(others, ", "))}
		}
		c.add(Change{Op: OpSkip, Key: it.key, Before: cloneP(it.cur()), After: &it.want, Reasons: []Reason{r}})
	}
	if winner == nil && len(accts) > 1 {
		mark := len(c.changes)
		for i := 1; i < len(accts); i++ {
			c.add(Change{Op: OpSkip, Key: c.accountKey(id, accts, i), Before: cloneP(accts[i]), Reasons: []Reason{{
				Code: ReasonJoinConflict, Detail: fmt.Sprintf("Several directory entries map to external ID %q; left as it is", id)}}})
		}
		c.markDuplicates(id, accts, mark)
	}
	return winner
}

// entryLabel names an entry in a reason.
func entryLabel(it *item) string {
	name := it.want.Name()
	switch {
	case it.d.EntryID != "" && name != "":
		return fmt.Sprintf("%q (entry %s)", name, it.d.EntryID)
	case it.d.EntryID != "":
		return "entry " + it.d.EntryID
	case name != "":
		return strconv.Quote(name)
	}
	return fmt.Sprintf("entry #%d", it.n+1)
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

// excepted reports whether an exception covers want or one of the
// accounts.
func (c *computer) excepted(want *Account, accts []*Account) (Reason, bool) {
	f := c.in.Options.Except
	if f == nil {
		return Reason{}, false
	}
	for i := -1; i < len(accts); i++ {
		a := want
		if i >= 0 {
			a = accts[i]
		}
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

// accountKey names the i-th account under a join key; its String is the
// plan key: the join key for the first, with the app ID for the extra
// ones. It is a value, built into a string only when a change needs it.
type accountKey struct {
	src, id string
	accts   []*Account
	i       int
}

func (k accountKey) String() string {
	key := keyOf(k.src, k.id)
	if k.i == 0 {
		return key
	}
	if a := k.accts[k.i]; a.ID != "" {
		return key + "#app=" + a.ID
	}
	return key + "#" + strconv.Itoa(k.i+1)
}

func (c *computer) accountKey(id string, accts []*Account, i int) string {
	return accountKey{c.in.Source, id, accts, i}.String()
}

// markDuplicates lists every account of a join key that several app
// accounts share: the changes added since mark get the duplicate reason,
// and an account without a change is listed as skipped.
func (c *computer) markDuplicates(id string, accts []*Account, mark int) {
	if len(accts) < 2 {
		return
	}
	ids := make([]string, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	r := Reason{Code: ReasonDuplicateAccount, Detail: fmt.Sprintf(
		"%d app accounts (%s) are managed under the same external ID %q; each gets the directory's changes — remove the extra ones in the app",
		len(accts), strings.Join(ids, ", "), id)}
	listed := map[string]bool{}
	for i := mark; i < len(c.changes); i++ {
		ch := &c.changes[i]
		listed[ch.Key] = true
		if !ch.HasReason(ReasonDuplicateAccount) {
			ch.Reasons = append(ch.Reasons, r)
		}
	}
	for i, a := range accts {
		if key := c.accountKey(id, accts, i); !listed[key] {
			c.add(Change{Op: OpSkip, Key: key, Before: cloneP(a), Reasons: []Reason{r}})
		}
	}
}

// create plans the account of a new entry: an adoption, a create, or a
// skip when that would give a second account one email. It reports
// whether an account is created or adopted.
func (c *computer) create(it *item, key string, unmanagedByEmail map[string][]*Account, adopted map[*Account]bool) bool {
	want := &it.want
	skip := func(r Reason) bool {
		c.add(Change{Op: OpSkip, Key: key, After: want, Reasons: []Reason{r}})
		return false
	}
	if r := c.sharedEmail(it); r != nil {
		return skip(*r)
	}
	cand, conflict := c.adoptable(unmanagedByEmail[it.email], adopted)
	if conflict != nil {
		return skip(*conflict)
	}
	if cand != nil {
		adopted[cand] = true
		c.adopt(cand, want)
		return true
	}
	for _, h := range c.holders.of(it.email) {
		if h.Managed && h.Source != c.in.Source {
			return skip(Reason{Code: ReasonConflictIntegration, Detail: fmt.Sprintf(
				"The same person (email %s) is managed by integration %q; not created twice", want.Email, h.Source)})
		}
	}
	if r := c.emailTaken(it, nil); r != nil {
		return skip(*r)
	}
	want.Blocked, want.BlockedBySync = false, false
	c.add(Change{Op: OpCreate, Key: key, After: want, Fields: c.createFields(want), Reasons: []Reason{newReason(it.d)}})
	return true
}

// sharedEmail returns a conflict when other entries of the plan would
// acquire the email it acquires.
func (c *computer) sharedEmail(it *item) *Reason {
	if !it.acquires {
		return nil
	}
	var others []string
	for _, o := range c.acquirers[it.email] {
		if o != it {
			others = append(others, entryLabel(o))
		}
	}
	if len(others) == 0 {
		return nil
	}
	return &Reason{Code: ReasonDuplicateEmail, Detail: fmt.Sprintf(
		"The email %s is also the mapped email of %s; none of them gets it, so that no two accounts share it — resolve the duplicate in the directory",
		it.want.Email, strings.Join(others, ", "))}
}

// emailTaken returns a conflict when the email it acquires is wanted by
// another entry of the plan or held by an app account other than self (a
// duplicate of self under the same join key counts as another).
func (c *computer) emailTaken(it *item, self *Account) *Reason {
	if r := c.sharedEmail(it); r != nil {
		return r
	}
	for _, h := range c.holders.of(it.email) {
		if h == self {
			continue
		}
		var who string
		switch {
		case h.Managed && h.Source == c.in.Source:
			who = fmt.Sprintf("app account %s (%q), which this integration manages for external ID %q", h.ID, h.Name(), h.ExternalID)
		case h.Managed:
			who = fmt.Sprintf("app account %s, which integration %q manages", h.ID, h.Source)
		default:
			who = fmt.Sprintf("app account %s, which no directory manages", h.ID)
		}
		return &Reason{Code: ReasonDuplicateEmail, Detail: fmt.Sprintf("The email %s is held by %s; not given to a second account", it.want.Email, who)}
	}
	return nil
}

// adoptable returns the unmanaged account among those with the email
// when exactly one is free to adopt. conflict is set when creating the
// account would duplicate one that cannot be adopted: several share the
// email, or the one that has it is an exception.
func (c *computer) adoptable(withEmail []*Account, adopted map[*Account]bool) (cand *Account, conflict *Reason) {
	var free []*Account
	for _, a := range withEmail {
		if adopted[a] {
			continue
		}
		if _, ex := c.excepted(nil, []*Account{a}); ex {
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

// existing plans the changes of one account under the entry's join key.
// taken, when set, is why the entry's new email cannot be given to it: the
// other fields are still updated, and the account keeps its email.
func (c *computer) existing(d *Desired, cur, want *Account, ak accountKey, taken *Reason) {
	fields := c.profileChanges(cur, want)
	var reasons []Reason
	if taken != nil {
		if i := slices.IndexFunc(fields, func(f FieldChange) bool { return f.Name == FieldEmail }); i >= 0 {
			fields = slices.Delete(fields, i, i+1)
			r := *taken
			r.Detail += "; the account keeps " + cur.Email
			reasons = append(reasons, r)
		}
	}
	if takesAway(cur, fields) {
		// A mapping that empties the way to reach the person empties the
		// rest as likely: the profile is kept whole. Roles come from
		// group membership, not from attributes, and, like blocks, are
		// security actions that never wait on the profile.
		fields = slices.DeleteFunc(fields, func(f FieldChange) bool { return f.Name != FieldRoles })
		reasons = []Reason{unreachableUpdate}
	}
	blockChange := d.Disabled != cur.Blocked
	if len(fields) == 0 && !blockChange {
		if len(reasons) > 0 {
			c.add(Change{Op: OpSkip, Key: ak.String(), Before: cloneP(cur), After: cloneP(cur), Reasons: reasons})
		}
		return // the common case: nothing to do, nothing allocated
	}
	after := c.target(cur, want, fields)
	if len(fields) > 0 {
		reasons = append([]Reason{{Code: ReasonChanged, Detail: "Changed in the directory: " + fieldNames(fields)}}, reasons...)
	}
	op := OpUpdate
	switch {
	case d.Disabled && !cur.Blocked:
		op = OpBlock
		c.block(after, ReasonDisabled)
		reasons = append(reasons, Reason{Code: ReasonDisabled, Detail: "Disabled in the directory; block and end all sessions"})
	case !d.Disabled && cur.Blocked && cur.BlockedBySync:
		op = OpUnblock
		c.unblock(after)
		reasons = append(reasons, unblockReason(d, cur))
	case !d.Disabled && cur.Blocked && c.in.Options.AppBlock == DirectoryWins:
		op = OpUnblock
		c.unblock(after)
		reasons = append(reasons, Reason{Code: ReasonDrift, Detail: "Blocked in the app but active in the directory, which is authoritative; unblock"})
	case !d.Disabled && cur.Blocked && len(fields) == 0:
		reasons = append([]Reason{{Code: ReasonAppBlockKept, Detail: "Blocked in the app by an admin; the block is kept although the directory account is active"}}, reasons...)
		c.add(Change{Op: OpSkip, Key: ak.String(), Before: cloneP(cur), After: after, Reasons: reasons})
		return
	}
	if op == OpBlock || op == OpUnblock {
		fields = append(fields, FieldChange{Name: FieldBlocked, Old: cur.Get(FieldBlocked), New: after.Get(FieldBlocked)})
		sortFields(fields)
	}
	if len(fields) == 0 {
		if len(reasons) > 0 {
			c.add(Change{Op: OpSkip, Key: ak.String(), Before: cloneP(cur), After: after, Reasons: reasons})
		}
		return
	}
	c.add(Change{Op: op, Key: ak.String(), Before: cloneP(cur), After: after, Fields: fields, Reasons: reasons})
}

// InStep tells the pairs of an entry and an account for which Compute
// plans nothing, so that a caller holding a large directory and a large app
// can leave them out of the diff: in a sync where 1% of the people changed,
// the other 99% then cost only what it takes to recognise them.
//
// An entry d and an account a are in step when a is managed by the
// integration under d's join key, d is valid and in scope, no exception
// covers either, a is blocked exactly when d is disabled, every field the
// mapping owns is equal, and the mapping filled d's account (it has an
// email or a username, where the mapping owns either: an entry the
// mapping could not fill stays in the diff, which counts it for
// Plan.Warnings). If d is the only entry and a the only account under
// that join key, Compute plans nothing for them, and leaving both out of
// Input changes the plan in nothing, provided that:
//
//   - a is passed in Input.Unchanged when another entry of the diff may
//     want a's email (it still holds it),
//   - Input.InStepEntries counts the entries left out, and
//   - with ManageDepartments, d's department is passed in
//     Input.WantDepartments, and Plan's Managed count, if the caller keeps
//     one, still counts a.
type InStep struct {
	c computer
}

// NewInStep returns the InStep of a diff with in's Source, Fields and
// Options (the other fields of in are not used).
func NewInStep(in *Input) *InStep {
	s := &InStep{c: computer{in: Input{Source: in.Source, Fields: in.Fields, Options: in.Options}, fields: in.Fields}}
	if s.c.fields == nil {
		s.c.fields = Fields
	}
	s.c.fields = slices.Compact(slices.Sorted(slices.Values(s.c.fields)))
	return s
}

// Pair reports whether d and a are in step (see InStep). It does not
// modify them.
func (s *InStep) Pair(d *Desired, a *Account) bool {
	c := &s.c
	if d.Invalid || d.OutOfScope || d.Disabled != a.Blocked || !a.Managed || a.Source != c.in.Source ||
		a.ExternalID == "" || a.ExternalID != d.Account.ExternalID {
		return false
	}
	want := d.Account // as claim makes it
	want.Source, want.Managed = c.in.Source, true
	if !slices.IsSorted(want.Roles) {
		want.Roles = slices.Sorted(slices.Values(want.Roles))
	}
	if c.unfilled(&want) {
		return false // the diff counts it in Plan.Warnings
	}
	if f := c.in.Options.Except; f != nil {
		if _, ok := f(&want); ok {
			return false
		}
		if _, ok := f(a); ok {
			return false
		}
	}
	for _, f := range c.fields {
		if !sameField(a, &want, f) {
			return false
		}
	}
	if c.in.Fields == nil { // every extra key is owned too
		for _, x := range []map[string]string{a.Extra, want.Extra} {
			for k := range x {
				if a.Extra[k] != want.Extra[k] {
					return false
				}
			}
		}
	}
	return true
}

// unblockReason says why an account sync blocked is unblocked, by the
// reason sync recorded when it blocked it.
func unblockReason(d *Desired, cur *Account) Reason {
	switch cur.BlockReason {
	case ReasonDisabled:
		return Reason{Code: ReasonEnabled, Detail: "Enabled again in the directory"}
	case ReasonScopeLeft:
		detail := "Back in the sync scope"
		if d.Reason.Detail != "" {
			detail += ": " + d.Reason.Detail
		}
		return Reason{Code: ReasonScopeReturned, Detail: detail}
	case ReasonDeleted:
		return Reason{Code: ReasonRestored, Detail: "Back in the directory"}
	}
	return Reason{Code: ReasonActive, Detail: "Active in the directory and in the sync scope; the block sync set is lifted"}
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

// block blocks a for the reason code.
func (c *computer) block(a *Account, code string) {
	a.Blocked, a.BlockedBySync, a.BlockedAt, a.BlockReason = true, true, c.in.Options.Now, code
}

func (c *computer) unblock(a *Account) {
	a.Blocked, a.BlockedBySync, a.BlockedAt, a.BlockReason = false, false, time.Time{}, ""
}

// missing handles a managed account whose entry is gone or out of scope.
func (c *computer) missing(cur *Account, why Reason, key string) {
	o := c.in.Options
	blockChange := func(extra string) {
		after := cloneP(cur)
		c.block(after, why.Code)
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
		have[departmentKey(p)] = true
	}
	want := map[string][]string{}
	for _, p := range paths {
		for i := 1; i <= len(p); i++ {
			k := departmentKey(p[:i])
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

// departmentKey is a map key for a department path that no other path
// shares: each part is preceded by its length, so that ["a\x00b"] and
// ["a", "b"] stay two departments whatever bytes their names hold.
func departmentKey(p []string) string {
	var b []byte
	for _, s := range p {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return string(b)
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

// lowerFirst lowers the first letter of a sentence that continues another.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	next, _ := utf8.DecodeRuneInString(s[n:])
	if n == 0 || !unicode.IsUpper(r) || !unicode.IsLower(next) {
		return s // "OU …" stays as it is
	}
	return string(unicode.ToLower(r)) + s[n:]
}
