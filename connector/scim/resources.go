package scim

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// Record is one resource as the identity provider wrote it, with the
// metadata the service provider keeps. A Record is a value: a Resources
// keeps its own copy.
type Record struct {
	// ID is the id the service provider assigned (RFC 7643 section 3.1).
	ID string `json:"id"`
	// Type is "User" or "Group".
	Type string `json:"type"`
	// Seq is the integration-wide sequence number of the write that produced
	// this version; it orders changes for incremental reads.
	Seq uint64 `json:"seq"`
	// CreatedSeq is the Seq of the write that created the resource: list
	// responses page in this order, the same before and after a restart.
	CreatedSeq uint64 `json:"createdSeq,omitempty"`
	// Created and Modified are meta.created and meta.lastModified.
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	// Deleted marks a tombstone: the provider deleted the resource.
	Deleted bool `json:"deleted,omitempty"`
	// Attrs is the resource's attributes as a JSON object, without id and
	// meta, in the schema's spelling; the enterprise extension under its
	// URN. A tombstone holds only the externalId the resource had, if any.
	Attrs json.RawMessage `json:"attrs,omitempty"`
}

// State is everything a Resources holds for one integration.
type State struct {
	// Records holds the latest version of every resource, tombstones
	// included, in any order.
	Records []Record
	// TokenHash is the SHA-256 hash of the current bearer token, or nil
	// before the first RotateToken.
	TokenHash []byte
}

// Resources keeps what the identity provider wrote for one integration:
// the resources (users, groups, tombstones) and the token hash. It is the
// SCIM server's own record of the provider's writes, apart from the
// Syncer's sync state (cursor, history), which lives in a dirsync Store.
// The Server loads it once (Load) and writes through it: a write is
// answered only after Put (or PutBatch, see BatchPutter) returned, so
// what the provider was told is durable.
//
// A host may keep the resources in its own database by implementing
// Resources; the Server serialises its calls (one Put or SetTokenHash at
// a time, and one PutBatch at a time), so an implementation needs no
// locking of its own beyond what its backend needs. A plain Resources belongs to one Server in one
// process: two processes writing one integration's resources would each
// miss the other's writes. Resources that several processes share
// implement Shared as well.
type Resources interface {
	// Load returns the stored state; empty resources return an empty
	// State.
	Load(ctx context.Context) (*State, error)
	// Put durably stores r, replacing any record with the same ID. When
	// it fails, r should not be stored: the Server keeps the previous
	// version, answers the provider 500, and the provider sends the write
	// again.
	Put(ctx context.Context, r Record) error
	// SetTokenHash durably replaces the token hash.
	SetTokenHash(ctx context.Context, hash []byte) error
}

// MemoryResources keeps the resources in memory, for tests and examples:
// nothing survives a restart. The zero value is not usable; call
// NewMemoryResources.
type MemoryResources struct {
	mu    sync.Mutex
	recs  map[string]Record
	token []byte
}

// NewMemoryResources returns empty MemoryResources.
func NewMemoryResources() *MemoryResources { return &MemoryResources{recs: map[string]Record{}} }

// Load implements Resources.
func (s *MemoryResources) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &State{TokenHash: slices.Clone(s.token)}
	for _, id := range sortedKeys(s.recs) {
		st.Records = append(st.Records, cloneRecord(s.recs[id]))
	}
	return st, nil
}

// Put implements Resources.
func (s *MemoryResources) Put(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[r.ID] = cloneRecord(r)
	return nil
}

// SetTokenHash implements Resources.
func (s *MemoryResources) SetTokenHash(ctx context.Context, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = slices.Clone(hash)
	return nil
}

func cloneRecord(r Record) Record {
	r.Attrs = slices.Clone(r.Attrs)
	return r
}

var (
	_ Resources = (*MemoryResources)(nil)
	_ Resources = (*Journal)(nil)
)

// Shared is the optional capability of Resources that several processes
// share, each with a Server of the integration: every replica of a host
// serves every integration (the scimpg package keeps them on
// PostgreSQL). A Server on Shared resources serves nothing from a stale
// memory:
//
//   - before it answers any request, and before the Syncer's Read and
//     ReadChanges and Check, it catches up with Since: the records
//     written after its own sequence number, and the token hash; so a
//     write acknowledged by one replica is read back from any other, and
//     a token rotated on one is refused by all from the moment
//     RotateToken returns;
//   - each write (a resource or the token) runs in Write, under the
//     integration's lock across processes: it catches up again under the
//     lock, validates against that state (userName and group displayName
//     uniqueness, the resource's current version for a PATCH, its
//     existence), takes the next sequence number and stores the write
//     before the lock is released. Two replicas never hand out one
//     sequence number, never both accept one userName, and never lose
//     one of two concurrent PATCHes of a group's members.
//
// The Server calls Load and Put on Shared resources never: Open reads
// with Since(ctx, 0). Sequence numbers count every write, the token's
// included, so that a replica can tell a newer token from an older one.
type Shared interface {
	Resources
	// Since returns what was stored after seq: every record whose Seq is
	// above it (its latest version, tombstones included), in Seq order,
	// with the integration's current sequence number and token hash, as
	// of one moment (one snapshot of the backend).
	Since(ctx context.Context, seq uint64) (*Delta, error)
	// Write stores writes under the integration's lock across
	// processes: it takes the lock, reads what was stored after seq as
	// Since does, and calls f with it while it holds the lock; f returns
	// the writes, in order, at the sequence numbers Delta.Seq+1,
	// Delta.Seq+2, …, or none to store nothing. Write stores them all in
	// one transaction and commits before it releases the lock, and
	// returns nil only once they are durable; when it fails, none of them
	// is stored. When f fails, nothing is stored and Write returns f's
	// error as it is. f is called at most once. (A Server writes the
	// requests that arrived while the previous Write ran in one Write.)
	Write(ctx context.Context, seq uint64, f func(*Delta) ([]Write, error)) error
}

// Delta is what Shared resources stored after a sequence number.
type Delta struct {
	// Seq is the integration's sequence number: the Seq of its last
	// write, a record's or the token's; 0 before the first.
	Seq uint64
	// Records are the records written after the sequence number asked
	// for, each in its latest version, in Seq order.
	Records []Record
	// TokenHash is the current token hash, nil when none was issued or
	// it was revoked.
	TokenHash []byte
}

// Write is one write to Shared resources: a record, or (Record nil) the
// token hash.
type Write struct {
	// Seq is the write's sequence number: the one after the previous
	// write's (Delta.Seq+1 for the first), and Record.Seq.
	Seq uint64
	// Record is the record to store, replacing the one with its ID.
	Record *Record
	// TokenHash is the new token hash when Record is nil; nil revokes
	// the token.
	TokenHash []byte
}
