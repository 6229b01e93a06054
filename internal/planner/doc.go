// Package planner turns a connector read into the diff's input and
// computes the plan: the stage between the directory and package diff.
// The root package's Syncer loads the integration's state once, calls
// Planner.Plan, and finishes the result (seals it, decides its safety);
// the planner never imports the root package and keeps no state between
// plans.
//
// # Reads
//
// Planner.Plan reads the connector incrementally (connector.Incremental)
// from the saved cursor when nothing calls for a full read, and in full
// otherwise. A full read happens when the cursor is missing or expired,
// when the last full read is older than Config.FullEvery or stamped in the
// future, when the fingerprint of the mapping, the policy, the exceptions
// and the projection changed, when the scope rules use groups, and when
// the changes hold what only a full read can plan: a changed group that
// roles or scope depend on, a deletion the mapping cannot key, an external
// ID several entries claim, or a reference outside the change set.
//
// A mapper that does not describe itself (mapping.Describer) is always
// read in full. One that does is read incrementally when it fingerprints
// its rules and either resolves what the changed entries allow and names
// the rest (the rule mapper) or reads no other entry and no group.
//
// A connector that implements connector.Projector is read through a
// projection: only the attributes the mapping, the scope rules and the
// Syncer read (see projection.go).
//
// # Memory
//
// A full plan of a large directory holds little more than what differs.
// Where the mapper can resolve against a compact index (the rule mapper
// can: see "Large reads" in package mapping) and neither the mapping nor
// the scope rules use groups, a read keeps no entry at all: each entry is
// mapped and its scope decided as it arrives, the account is written as a
// compact record (strings as bytes in shared 256 KiB chunks, reasons
// interned, the entry's ID not repeated), what its lookups still need is
// kept as bytes that name the entries already read by number (an AD
// manager is another entry's DN, shared by everyone that manager has), and
// of the entry itself only what lookups may read goes into a
// mapping.Targets index: its ID, its DN and the attributes lookups take, in
// the same chunks, without attribute maps. When the read ends, the records
// are completed in order and released as they are passed. Mappings or
// scopes that use groups keep slim copies of the entries in a
// connector.Snapshot instead, as they need its group index; a mapper that
// can do neither gets the whole read.
//
// The sink is then listed once. An account of the integration whose entry
// is alone under its join key and in step with it (diff.InStep: in scope,
// fields equal, blocked exactly when disabled, no exception) is kept as a
// compact record; every other account is kept whole. When the listing
// ends, the pairs in step leave the diff: only the entries and accounts
// that differ, are new, are gone, conflict or are duplicated go to
// diff.Compute, together with the accounts in step whose email another
// entry wants (they still hold it) and the departments of the rest. The
// plan is byte for byte the plan of the whole diff, and the unchanged
// majority costs a few hundred bytes a person while the plan is made,
// nothing after. A failed or cancelled read or listing still plans
// nothing. BENCHMARKS.md has the figures.
package planner
