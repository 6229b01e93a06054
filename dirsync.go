// Package dirsync keeps a host application's user accounts in step with a
// customer's directory: Active Directory, Microsoft Entra ID, Google
// Workspace, or an LDIF export.
//
// The pipeline reads as the package tree:
//
//	Connector ──Entries──▶ policy (scope) ──▶ mapping ──Accounts──▶ diff ◀── Sink.Accounts
//	                                                                  │
//	                                                   Plan (changes with reasons)
//	                                                                  │ preview, search, approve
//	                                                   Syncer.Apply ──▶ Sink.Apply ──▶ Report
//
// A host picks a connector (package connector and its subpackages), writes
// a Sink for its own user store, and calls New. Syncer.Plan reads both sides
// and returns a Plan without changing anything; Syncer.Apply carries out
// that very plan. A dry run and a real run share one code path, so they
// cannot disagree.
//
// The types most hosts touch are re-exported here as aliases (Account,
// Change, Op, Reason, Entry, …), so importing this package and one connector
// is enough.
//
// # Safety
//
// A failed, partial or cancelled read aborts the plan: it never turns into
// "block everyone". A plan that blocks or deletes more accounts than the
// policy's limits, that would act on an empty directory read while the
// app holds managed accounts, or that would remove every account sync
// manages (from a full read or from the changes alone), is returned with
// an error wrapping ErrSafetyLimit and is applied only after Plan.Approve.
//
// Apply trusts nothing a host can change in a Plan value: it checks the
// limits again with the numbers the plan was made with, accepts a plan
// over them only when every change in it was approved (the approval is
// bound to the changes; Plan.Digest names a plan across processes), skips
// changes to accounts that became exceptions after the plan was shown, and
// saves the connector's cursor only when the whole plan as made applied —
// never for a subset such as Plan.Search's. A panic in the sink or in
// OnApplied fails that change, not the run, and a panic while planning
// fails that run, not Run's schedule.
//
// # Identity
//
// Accounts join the directory by (Source, ExternalID), in full and
// incremental runs alike. Emails are compared after diff.NormalizeEmail
// (case, surrounding spaces, Unicode NFC) wherever they are compared: two
// entries that want one email, or one external ID, are conflicts listed
// with a reason on both and create nothing; an update onto an email
// another account holds keeps the old email, with a reason; duplicate app
// accounts of one person are listed, and all of them are blocked when the
// person is.
//
// # Continuous sync
//
// Run syncs on a schedule (every two hours with jitter by default, or
// daily at a time) and when SyncNow is called; runs never overlap. In
// ModeApproval, and whenever a plan exceeds the safety limits, a run stops
// at "plan ready, waiting for approval" (Pending, ApprovePending with the
// digest of the plan the admin was shown). Every run is recorded in the
// Store (History). A connector with incremental reads
// (connector.Incremental) is read in full once, then from its cursor: the
// plan covers only what changed, and the cursor is saved only after every
// change of that plan applied, so a failed or interrupted apply is read
// again next time. A full read still happens daily (Options.FullEvery),
// when the cursor is missing or expired, when the last full read's time
// lies in the future, when the mapping, policy or exceptions change, and
// when the changes hold a changed group that roles or scope depend on (a
// revoked role must not wait a day); Options.AlwaysFull reads in full
// every time. What each connector sees incrementally is in its package
// documentation. Each integration (a directory feeding the app) is one
// Syncer with its own Source name, mapping, policy, schedule, cursor and
// history; several may feed one sink.
//
// A connector that implements connector.Projector (the AD connector does)
// is read through a projection: only the source attributes the mapping
// (mapping.AttributeLister), the scope rules and the Syncer itself read.
// The projection is computed for each read and passed as a new projected
// connector, so concurrent plans never share it; it is part of the
// configuration whose change forces a full read. A mapper that cannot
// name its attributes gets the connector's default read.
//
// # Memory
//
// A full plan of a large directory holds little more than what differs.
// Where the mapping implements mapping.TargetResolver (the rule mapper
// does) and neither the mapping nor the scope rules use groups, a read
// keeps no entry at all: each entry is mapped and its scope decided as it
// arrives, the account is written as a compact record (strings as bytes
// in shared 256 KiB chunks, reasons interned, the entry's ID not repeated),
// what its lookups still need is kept as bytes that name the entries
// already read by number (an AD manager is another entry's DN, shared by
// everyone that manager has), and of the entry itself only what lookups
// may read goes into a mapping.Targets index: its ID, its DN and the
// attributes lookups take, in the same chunks, without attribute maps.
// When the read ends, the records are completed in order and released as
// they are passed. Mappings or scopes that use groups keep slim copies of
// the entries in a connector.Snapshot instead, as they need its group
// index.
//
// The sink is then listed once. An account of the integration whose entry
// is alone under its join key and in step with it (diff.InStep: in
// scope, fields equal, blocked exactly when disabled, no exception) is
// kept as a compact record; every other account is kept whole. When the
// listing ends, the pairs in step leave the diff: only the entries and
// accounts that differ, are new, are gone, conflict or are duplicated go
// to diff.Compute, together with the accounts in step whose email another
// entry wants (they still hold it) and the departments of the rest. The
// plan is byte-for-byte the plan of the whole diff
// (TestJoinLeavesThePlanAlone, TestCompactReadPlansAsEveryPath), and the
// unchanged majority costs a few hundred bytes a person while the plan is
// made, nothing after. A failed or cancelled read or listing still plans
// nothing. BENCHMARKS.md has the figures.
//
// # Sinks
//
// Sink has two methods; optional capabilities (DepartmentLister,
// AccountLookup) are found
// by type assertion, as database/sql finds optional driver interfaces. The
// dirsynctest package holds an in-memory sink and the conformance suite a
// host runs against its own sink.
package dirsync

import (
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// Aliases of the types most hosts use, so that one import is enough.
type (
	// Connector reads a directory; see package connector.
	Connector = connector.Connector
	// Entry is a directory object; see package connector.
	Entry = connector.Entry
	// Account is an account in the app; see package diff.
	Account = diff.Account
	// Change is one step of a plan; see package diff.
	Change = diff.Change
	// Op is a change's operation; see package diff.
	Op = diff.Op
	// Reason says why a change is planned; see package diff.
	Reason = diff.Reason
	// FieldChange is one changed field; see package diff.
	FieldChange = diff.FieldChange
)

// The operations, re-exported from package diff.
const (
	OpCreateDepartment = diff.OpCreateDepartment
	OpCreate           = diff.OpCreate
	OpUpdate           = diff.OpUpdate
	OpUnblock          = diff.OpUnblock
	OpBlock            = diff.OpBlock
	OpDelete           = diff.OpDelete
	OpSkip             = diff.OpSkip
)
