// Package policy decides which directory users sync manages and what it may
// do to their accounts: scope rules, exceptions, the lifecycle of accounts
// that are disabled or gone, and the safety limits that stop a plan from
// removing too many people at once.
//
// A Config is plain JSON-tagged data that an admin UI edits; New validates
// it (every regular expression, every enumerated string) and returns a
// compiled, immutable Policy. The Syncer asks the Policy four questions:
//
//   - Decide: is this user entry in scope, and why? (a Decision with a
//     reason an admin can read, naming the rule)
//   - Options: the diff.Options for this run: lifecycle choices and the
//     Except function built from the exceptions.
//   - CheckSafety: may this plan be applied without an admin's approval?
//   - Config: the configuration, for display and storage.
//
// # Scope
//
// ScopeConfig.Rules are tried in order; the first rule that matches decides
// (include or exclude). When none matches, ScopeConfig.Default decides; when
// Default is empty, entries are included if there is no include rule and
// excluded otherwise. Each rule has one matcher:
//
//   - ouEndsWithUsers: an org unit whose name ends with "user" or "users",
//     ignoring case ("IT Users", "Sales department users", "user"; also
//     "Superusers", as the words say; not "Contractors" or "Service
//     Accounts");
//   - ou: an org-unit subtree such as "Europe/Sales";
//   - ouRegex: a regular expression over each org-unit name;
//   - group: membership, direct or through nested groups, in a group named
//     by ID, DN or name;
//   - attr with equals or regex: an attribute value.
//
// An org unit includes its sub-OUs: an OU matcher matches when any org unit
// on the entry's Path matches. All comparisons ignore case; regular
// expressions are RE2, case-insensitive unless they start with "(?-i)", and
// unanchored.
//
// # Exceptions
//
// An Exception names accounts that sync never touches, by directory ID, by
// email or by a pattern over name, email and username. They come from the
// Config and, per run, from the host (Options' extra argument). Plans list
// excepted accounts as skipped with the code diff.ReasonException.
//
// Exceptions compare emails as the whole engine does, after
// diff.NormalizeEmail (case, surrounding spaces, Unicode NFC), and a pattern
// also sees the email in that form and the names in NFC: an exception typed
// on a system that writes "é" as e and a combining accent protects the
// account whose directory writes it as one character. Every user of the
// exceptions (full and incremental plans, Apply's check at apply time,
// sign-in) matches through Exceptions.Match, so all of them agree.
//
// # Lifecycle
//
// Disabled in the directory: block and end all sessions. Enabled again:
// unblock, only when sync set the block. Missing from the directory or out
// of scope: Lifecycle.Missing, "block" by default, or "delete" after the
// DeleteAfter grace period (the account is blocked meanwhile), or "leave".
// Blocked by an admin in the app while active in the directory:
// Lifecycle.AppBlock, "keep" by default, or "directory" to lift the block.
//
// # Safety
//
// A plan that blocks or deletes more managed accounts than a limit is
// refused with a *SafetyError wrapping ErrSafetyLimit, until an admin
// approves that plan. A plan that removes managed accounts while the
// directory returned no users is always refused without approval, even
// with the limits disabled: an empty read is far more often a broken
// connector, a wrong base DN or a revoked permission than a company whose
// staff all left.
//
// # Defaults
//
// The zero Config means:
//
//   - scope: every user entry is in scope;
//   - exceptions: none;
//   - lifecycle: missing accounts are blocked, never deleted; an admin's
//     block in the app is kept;
//   - safety: at most 500 removals (MaxRemovals) and at most 20% of the
//     managed accounts (MaxPercent), the percentage applying from 10
//     managed accounts on (MinManagedForPercent); an empty source always
//     needs approval.
package policy
