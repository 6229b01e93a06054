// Package fake provides an in-memory directory for tests, examples and
// benchmarks, in the way testing/fstest.MapFS stands in for a file system.
//
// A Directory implements connector.Connector and every optional capability
// (connector.Incremental, connector.Checker, connector.GroupSearcher with
// connector.GroupSearchMatcher), so a host can exercise a full sync without
// a network:
//
//	dir := fake.New(fake.Company(500, 1)...)
//	syncer, err := dirsync.New(dir, sink, opts)
//
// A test then scripts what happens at the source (Add, Set, Move, Disable,
// Enable, Delete, AddMember, RemoveMember) and injects faults: FailAfter (a
// read that breaks after n entries, as a dropped connection does),
// SetDelay (a slow directory, to test cancellation and progress),
// FailCheck, and ExpireCursors (an aged-out DirSync cookie or delta link).
// Its group search matches substrings, as an LDAP directory's does;
// SetGroupMatch makes it match by prefix only, as Google's does, or by word
// prefix, as Microsoft Graph's does, so a host can show its admin UI
// against each.
// Shuffle makes reads come back in another order, to show that nothing
// downstream depends on it.
//
// The bundled connectors that reach a directory are opened with
// Open(ctx, Config); a Directory is made with New(entries...), as
// fstest.MapFS is a literal and gocloud's memblob.OpenBucket takes no
// context. It does no I/O, so a ctx would have nothing to bound and New
// nothing to report but a mistake in the test (an entry without an ID,
// which panics); its one piece of configuration is its content, which a
// Config would only wrap; and it logs nothing. Faults and delays are
// scripted on the Directory, as above, rather than configured.
//
// There is deliberately no way to make a read stop early without an error:
// a connector must never do that, and the Syncer treats a quiet short read
// as complete. The conformance suite (connectortest) checks that real
// connectors report every failure.
//
// Every mutation is one step of a change sequence. Incremental reads use
// it: the cursor records the sequence number, and ReadChanges(cursor)
// yields the entries changed after it, with deletions as tombstones.
//
// Company generates a deterministic, realistic directory of any size, from
// a handful of users for an example to a million for a benchmark.
//
// A Directory is safe for concurrent use. Reads work on a snapshot taken
// when iteration starts and yield copies, so a consumer may modify what it
// receives, and a test may mutate the directory while a read is running.
package fake
