package dirsync

import (
	"context"
	"iter"

	"github.com/dirsync-go/dirsync/diff"
)

// Sink is the host application's user store, as dirsync sees it. A host
// writes one Sink; it can check it with dirsynctest.TestSink.
//
// Accounts yields every account the app holds: managed ones (of any
// integration) and unmanaged ones, so that the first sync can adopt an
// existing account by email instead of creating a duplicate. A yielded
// error fails the plan.
//
// Apply carries out one change:
//
//   - OpCreateDepartment: create the department c.Department (its parent
//     exists already; the plan orders parents first).
//   - OpCreate: create c.After (invite the person). The sink assigns the
//     account's own ID.
//   - OpUpdate, OpUnblock, OpBlock: find the account by c.Before.ID (or by
//     Source and ExternalID) and set exactly the fields listed in c.Fields
//     to their values in c.After; leave every other field alone. On
//     OpBlock, end the account's sessions on every device. Blocked,
//     BlockedBySync, BlockedAt and BlockReason travel together under the
//     field "blocked": store all four, since BlockReason decides the
//     reason of a later unblock ("enabled again" or "back in the sync
//     scope").
//   - OpDelete: delete the account c.Before. Deleting an account that is
//     already gone is not an error.
//
// Apply must be idempotent: applying the same change twice leaves the same
// state as applying it once, because a run interrupted after a change
// applied but before its cursor was saved repeats it.
type Sink interface {
	Accounts(ctx context.Context) iter.Seq2[diff.Account, error]
	Apply(ctx context.Context, c diff.Change) error
}

// DepartmentLister is an optional Sink capability. A sink that lists its
// departments gets create-department changes for the department paths the
// mapping yields and the app lacks.
type DepartmentLister interface {
	Departments(ctx context.Context) ([][]string, error)
}

// AccountLookup is an optional Sink capability for incremental runs: the
// accounts managed under (source, externalID) for the given IDs, and every
// account (managed by any integration or by none) with one of the emails,
// so that a new entry can be adopted or reported as a conflict. Emails
// match as diff.NormalizeEmail compares them (case, surrounding spaces,
// Unicode NFC); return every account that holds one of the external IDs,
// duplicates included. Without it an incremental run lists all accounts
// and filters them.
type AccountLookup interface {
	LookupAccounts(ctx context.Context, source string, externalIDs, emails []string) ([]diff.Account, error)
}
