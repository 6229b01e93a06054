// Package diff computes what must change in the application for it to match
// the directory. It owns the target model (Account), the plan (Plan, Change,
// Op, Reason, FieldChange) and Compute, a pure and deterministic function of
// three sets, in the way ldap2pg works: what the directory wants (Desired),
// what the app has (Current), and which of those accounts sync manages.
//
// Compute creates what is missing, updates what differs in the fields the
// mapping owns, blocks and unblocks as the directory and the lifecycle
// options say, and deletes only managed accounts. The join key is (Source,
// ExternalID), never the email; on the first sync an unmanaged app account
// with the same email is adopted rather than duplicated. Accounts left alone
// on purpose are listed as OpSkip with their reason, so an admin sees why.
//
// One join key is one person and one email one account: entries that map to
// one join key are a conflict (ReasonJoinConflict) and none is synced; app
// accounts that share a join key are all listed (ReasonDuplicateAccount) and
// all follow the entry, so a leaver is blocked in every one; emails are
// compared as NormalizeEmail gives them (case, surrounding white space,
// Unicode NFC), and no change gives an email another account holds or
// another entry gets (ReasonDuplicateEmail). Blocks record their reason in
// Account.BlockReason, so the unblock says why the person is back
// (ReasonEnabled, ReasonScopeReturned, ReasonRestored).
//
// Every change carries Reasons: stable codes for programs and sentences for
// the Status column. Changes are sorted in apply order (departments,
// creates, updates, unblocks, blocks, deletes), then by name and key, so the
// same input in any order renders a byte-identical plan.
//
// A caller diffing a large directory against a large app need not pass the
// majority that is already in step: InStep names the pairs of an entry and
// an account for which Compute plans nothing, and the caller passes the
// account in Input.Unchanged only when another entry wants its email, and
// the entry's department in Input.WantDepartments. The plan is the same.
package diff
