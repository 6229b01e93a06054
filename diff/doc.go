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
// # Accounts sync creates
//
// A created account must let the host reach the person, so it has an email
// or a username: the address the invitation goes to, or the name the
// person signs in with where the app provisions for single sign-on. A name
// is not required: Account.Name labels an account by its username or email
// when it has no name, and directories and providers send people without
// one (SCIM requires only userName; Active Directory accounts need no
// displayName). A mapping that reads attribute names the directory does
// not use (the Active Directory default over another directory's entries)
// fills neither field, and the account would be an invitation to nobody.
// So:
//
//   - A create whose account has no email and no username is skipped with
//     ReasonInvalid, the sentence saying what is missing.
//   - An update is judged on the account as it would be after the change:
//     the fields the mapping owns (Input.Fields) from the entry, the others
//     as the app holds them, so a mapping that owns only the title never
//     empties an email. An update that would leave an account that has an
//     email or a username with neither keeps the account's profile, with
//     ReasonInvalid: a mapping that empties the way to reach the person is
//     as likely to be wrong about the rest. Blocks, unblocks and role
//     changes still happen (the directory's enabled flag and group
//     memberships do not come from the attribute mapping). An account
//     that already had neither is not held back by this rule.
//   - When more than half of the users in scope, and at least five, map
//     to no email and no username while the mapping owns one of those
//     fields, Plan.Warnings (and so Summary, the text and the JSON) says so
//     once, with the numbers.
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
