// Package dirsync keeps a host application's user accounts in step with a
// customer's directory: Active Directory, Microsoft Entra ID, Google
// Workspace, or an LDIF export.
//
// The pipeline reads as the package tree:
//
//	Connector ──Entries──▶ mapping (Entry → Account) ─┐
//	                       policy  (scope: OU, groups) ├─▶ diff ◀── Sink.Accounts
//	                                                  ─┘    │  lifecycle, exceptions, safety
//	                                           Plan (changes with reasons)
//	                                                        │  preview, search, approve
//	                                           Syncer.Apply ──▶ Sink.Apply ──▶ Report
//	                                                        │
//	                                           cursor saved only after every change applied
//
// Mapping and scope are decided side by side for each entry: the mapping
// makes the account, the scope rules say whether it is synced.
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
// The limits hold over time: the removals applied within the policy's
// window (24 hours by default) count with the plan's own, from a ledger
// the Syncer keeps in its Store, so a flood that arrives one push or one
// run at a time stops where a burst would, across restarts and replicas
// (RemovalBudget says how much is used and when it frees up). When a run
// finds a plan over the limits, only its removals wait for approval and
// the rest applies: people pushed or added meanwhile are invited, updates
// flow. A read that is itself suspect — empty, or a full read that finds
// none of the managed accounts — holds everything.
//
// Every path that applies (a run, Apply, ApplyShown, ApprovePending) takes
// the integration's lock: the Syncer's own, and, when the Store can lock
// across processes (store.Locker, as the PostgreSQL store does), the
// integration's lock there, so replicas never apply at once. A run that
// loses that lock stops and writes neither cursor nor record; a pending
// plan is claimed atomically, so an approval applies once.
//
// Apply trusts nothing a host can change in a Plan value: it checks the
// limits again with the numbers the plan was made with (what a change it
// did not make removes is read from the sink's account; a view of a plan
// over the limits carries that plan's decision), accepts a plan
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
// at "plan ready, waiting for approval" (PendingPlan, ApprovePending with the
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
// (mapping.Description), the scope rules and the Syncer itself read. A
// mapper that cannot name its attributes gets the connector's default
// read. A host's own mapper runs incrementally when it describes itself
// (mapping.Describer) with a fingerprint of its rules.
//
// A full plan of a large directory holds little more than what differs:
// entries are mapped as they arrive and kept compactly, and the accounts in
// step with their entries leave the diff. BENCHMARKS.md has the figures.
//
// # Stores
//
// A Syncer keeps each integration's cursor, exceptions, pending plan and
// run history in a Store (package store: in memory by default, a file with
// store/filestore, PostgreSQL with store/pgstore).
//
// # Provisioning log
//
// Every apply (a run, Apply, ApplyShown, ApprovePending) records one
// LogEntry per change it applied, failed or skipped on purpose: the run
// (RunRecord.ID), when, the account (external ID, email, name), the
// operation, the reasons (code and sentence), the field changes old → new,
// the status with why a skip was skipped, and the sink's error, cleaned as
// a Report cleans it (control characters blanked, cut to 2,000 bytes).
// Nothing else of the account is kept. Syncer.Log reads it by run, by
// account (external ID or email), by operation or status and by a search
// on name, email or external ID (LogQuery.Search), the newest run first
// and each run in plan order, a page at a time with a cursor
// (LogQuery.After) that stays valid while runs are added. Changes that
// were not attempted are not logged: the next run plans them again.
//
// The log lives in the Store beside the history but apart from it: each
// run's entries in segments of 500 under keys of their own, an account
// index per run, and a small index of runs, so that History reads no more
// after a 100,000-change import than before (BENCHMARKS.md), and the file
// store keeps the segments in side files. Options.Log bounds it by age
// (30 days by default) and by count (100,000 entries by default, dropped
// oldest first), applied at the end of every run and apply, and switches it
// off.
//
// The log is an audit aid, not the source of truth (the sink is). Its
// entries are written in plan order, also with concurrent apply, each
// change once: a segment as soon as every change of it has its outcome,
// the rest and the account index before Apply returns. A crash loses at
// most the entries of the changes after the last full segment; a run
// whose process died keeps its segments, found by run and by account
// (its segments are scanned, having no index). A failure to write the log
// fails the run's bookkeeping (RunRecord.Error), not its changes.
//
// # Sinks
//
// Sink has two methods; optional capabilities (DepartmentLister,
// AccountLookup) are found by type assertion, as database/sql finds optional driver interfaces. The
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
