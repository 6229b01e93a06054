// Package connector defines the source side of a sync: the Entry a directory
// yields, the small Connector interface every directory implements, and the
// optional capabilities that its consumers discover by type assertion, in
// the way database/sql discovers optional driver interfaces:
//
//   - Incremental: read only what changed since a cursor;
//   - Checker: verify credentials and permissions in one call;
//   - Projector: read fewer attributes;
//   - GroupSearcher: find groups by name, for an admin UI, and
//     GroupSearchMatcher: say whether it matches names by prefix, word
//     prefix or substring;
//   - StatusChecker: ask whether one user exists and may sign in, for
//     sign-in (package signin).
//
// A connector only reads. It never decides what is in scope, how attributes
// map to accounts, or what happens to an account: those are the jobs of the
// policy, mapping and diff packages, which sit above this one; no connector
// imports them, nor the root package or sign-in. Bundled connectors live in
// the subpackages (ad, entra, google, ldif, scim, fake); a host may write its
// own and check it with connectortest.Test.
package connector

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// Kind is the kind of a directory object.
type Kind string

// The kinds of entries a connector yields.
const (
	KindUser    Kind = "user"
	KindGroup   Kind = "group"
	KindOrgUnit Kind = "orgunit"
)

// Connector reads a directory.
//
// Read yields every user and group the connector is configured to see
// (connectors may also yield KindOrgUnit entries; the Syncer ignores them,
// since a user's Path already names its OUs). A
// connector reports a failure by yielding a non-nil error, after which the
// sequence ends; the consumer must then treat the whole read as failed.
// Ending the sequence early (break) is always safe and releases the
// connector's resources. When ctx is cancelled Read yields an error that
// wraps ctx.Err().
type Connector interface {
	Read(ctx context.Context) iter.Seq2[Entry, error]
}

// Cursor is an opaque position in a directory's change stream: a DirSync
// cookie, a Graph delta link, a hash table of etags. Only the connector that
// produced it can interpret it.
type Cursor []byte

// Incremental is an optional capability: a connector that can read only what
// changed since an earlier read.
//
// ReadChanges calls yield for each entry that changed since the cursor
// (deleted objects come back with Deleted set) and returns the cursor to pass
// next time. A nil since cursor asks for a full read that also establishes a
// cursor. Entries passed to yield are complete (all attributes, not only the
// changed ones). A tombstone (Deleted set) carries at least ID and Kind. If yield returns an error, ReadChanges stops and returns it.
// A cursor the directory no longer accepts yields an error wrapping
// ErrCursorExpired; the caller then performs a full read.
type Incremental interface {
	ReadChanges(ctx context.Context, since Cursor, yield func(Entry) error) (Cursor, error)
}

// Checker is an optional capability: a connector that can verify its
// configuration (credentials, permissions, base DN) in one call. The error
// names everything that is missing.
type Checker interface {
	Check(ctx context.Context) error
}

// Projector is an optional capability: a connector that can read fewer
// attributes than it reads by default (an LDAP attribute list, Graph's
// $select, a fields mask), which for a large directory is most of the
// cost of a full read.
//
// Project returns a connector for the same directory whose entries carry
// at least the named attributes (case-insensitive; names the directory
// does not know are ignored), besides what the connector needs for ID,
// Kind, DN, Path, Disabled and Deleted; other attributes may be left out.
// MemberOf and Members are filled when the list names "memberOf" or
// "member" (a connector whose memberships cost little may fill them
// anyway); the Syncer names them only when the mapping or the scope rules
// use groups, and a connector that tracks membership changes for
// incremental reads does so only then. An empty list asks for only the
// fixed fields. The
// returned connector has the receiver's other capabilities (Incremental,
// Checker, …). Project does not change the receiver: each caller reads
// through its own projection, so concurrent reads with different
// projections do not interfere.
//
// A cursor from a projection may be passed to any projection of the same
// connector, but ReadChanges needs to report only changes of the projected
// attributes: a caller that widens the projection does a full read first
// (the Syncer does, since the projection is derived from the mapping and
// policy whose change already forces one).
type Projector interface {
	Project(attrs []string) Connector
}

// GroupSearcher is an optional capability for admin UIs that let an admin type
// a few letters and pick groups to sync. SearchGroups returns the groups
// one of whose names matches query, ignoring case, sorted by name; an
// empty query matches every group, and limit <= 0 means no limit. A
// group's names are the values of its displayName, name, cn and
// sAMAccountName attributes (those it has).
//
// How a name matches depends on what the directory can search: from the
// start of the name (MatchPrefix, what a searcher that declares nothing is
// taken to do), from the start of any word (MatchWordPrefix) or anywhere
// (MatchSubstring). A searcher declares it by implementing
// GroupSearchMatcher; GroupSearchMatchOf reads it. The query is text the
// admin typed: a searcher escapes it for its directory's query language,
// so that no character of it ('*', '(', '"', '\', NUL, …) is taken as
// syntax.
type GroupSearcher interface {
	SearchGroups(ctx context.Context, query string, limit int) ([]Entry, error)
}

// Sentinel errors shared by all connectors.
var (
	// ErrAuth reports a credential that is wrong, expired or revoked, or
	// missing consent or permission. A host asks the admin to
	// re-authenticate.
	ErrAuth = errors.New("connector: authentication or authorization failed")
	// ErrCursorExpired reports a cursor the directory no longer accepts.
	ErrCursorExpired = errors.New("connector: cursor expired")
	// ErrDuplicateID reports a read that yielded the same ID twice.
	ErrDuplicateID = errors.New("connector: duplicate entry ID")
)

// DuplicateIDError names the ID a read yielded twice.
type DuplicateIDError struct {
	ID string
}

func (e *DuplicateIDError) Error() string {
	return fmt.Sprintf("connector: entry ID %q yielded twice", e.ID)
}

// Unwrap returns ErrDuplicateID.
func (e *DuplicateIDError) Unwrap() error { return ErrDuplicateID }

// ReadAll drains c.Read into a slice. Any error ends the read and is returned
// with no entries: a partial read is never returned as if it were complete.
func ReadAll(ctx context.Context, c Connector) ([]Entry, error) {
	var out []Entry
	for e, err := range c.Read(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := ctx.Err(); err != nil {
		// A connector that stopped quietly on cancellation still failed.
		return nil, err
	}
	return out, nil
}

// ReadAllThenYield is the Read of a connector that must read everything
// before it yields anything (to resolve memberships across entries, say):
// it calls readAll once, then yields its entries, checking ctx between
// them. A failed readAll, or ctx cancelled while yielding, yields one error
// (wrapping ctx.Err() for a cancellation, prefixed with name) and nothing
// after it.
func ReadAllThenYield(ctx context.Context, name string, readAll func(context.Context) ([]Entry, error)) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		entries, err := readAll(ctx)
		if err != nil {
			yield(Entry{}, err)
			return
		}
		for i, e := range entries {
			if err := ctx.Err(); err != nil {
				yield(Entry{}, fmt.Errorf("%s: read interrupted after %d of %d entries: %w", name, i, len(entries), err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}
