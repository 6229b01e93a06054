package diff

import (
	"fmt"
	"strings"
)

// The rule of "Accounts sync creates" in the package documentation: an
// account can be reached when it has an email or a username.

// unreachable reports whether a has neither an email nor a username. A
// value of white space only counts as empty.
func unreachable(a *Account) bool { return blank(a.Email) && blank(a.Username) }

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// unreachableCreate is why a new entry with no email and no username is
// not created.
var unreachableCreate = Reason{Code: ReasonInvalid, Detail: "Not created: the mapping gives this entry " +
	"no email and no username, so an invitation would reach nobody — check the attributes the mapping reads"}

// unreachableUpdate is why the profile changes of an account are withheld.
var unreachableUpdate = Reason{Code: ReasonInvalid, Detail: "Profile not updated: the directory's changes " +
	"would leave the account with no email and no username, so nobody could reach the person; " +
	"it keeps its fields — check the attributes the mapping reads"}

// takesAway reports whether the field changes would leave cur, which has
// an email or a username, with neither: what an update must not do. The
// account after the change has the owned fields from want and the others
// as cur has them.
func takesAway(cur *Account, fields []FieldChange) bool {
	if unreachable(cur) {
		return false // nothing to take away
	}
	email, username := cur.Email, cur.Username
	for _, f := range fields {
		switch f.Name {
		case FieldEmail:
			email = f.New
		case FieldUsername:
			username = f.New
		}
	}
	return blank(email) && blank(username)
}

// unfilled reports whether the mapping failed to fill a's email and
// username. A mapping that owns neither field (a host mapping that sets
// only a few fields) is not expected to fill them.
func (c *computer) unfilled(a *Account) bool {
	return unreachable(a) && (c.owns(FieldEmail) || c.owns(FieldUsername))
}

func (c *computer) owns(f string) bool {
	for _, g := range c.fields { // sorted, but short: a scan is as fast
		if g == f {
			return true
		}
	}
	return false
}

// The plan's warning that most users map to nothing is given for more
// than half of the users in scope, and at least unfilledMin of them, so
// that a few new hires without a mailbox yet do not trigger it.
const unfilledMin = 5

// unfilledWarning returns the plan's warning when most users in scope map
// to no email and no username, or nil. Out-of-scope entries and those the
// mapping failed on (Desired.Invalid, listed with their own reason) are
// not counted; entries left out as in step (Input.InStepEntries) count as
// filled, which they are (see InStep).
func (c *computer) unfilledWarning() *Reason {
	users, unfilled := c.in.InStepEntries, 0
	for i := range c.in.Desired {
		d := &c.in.Desired[i]
		if d.Invalid || d.OutOfScope {
			continue
		}
		users++
		if c.unfilled(&d.Account) {
			unfilled++
		}
	}
	if unfilled < unfilledMin || 2*unfilled <= users {
		return nil
	}
	return &Reason{Code: ReasonInvalid, Detail: fmt.Sprintf(
		"%d of %d directory users map to no email and no username: they are not created, and no account is updated to have neither; "+
			"check the mapping, which may read attribute names this directory does not use "+
			"(the default mapping is for Active Directory)",
		unfilled, users)}
}
