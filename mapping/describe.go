package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Description is what a mapper tells a Syncer about itself. A Syncer uses
// it to compare only the fields the mapper sets, to ask the connector for
// only the attributes it reads, and to decide whether a run may read only
// what changed since the last one.
type Description struct {
	// Fields are the diff field names (diff.Field* and "extra.<key>") the
	// mapper sets. Only these are compared and updated; every other field
	// of an app account is left as the app has it. Nil means the
	// well-known fields (diff.Fields).
	Fields []string
	// Attributes are the entry attributes the mapper reads, from the
	// mapped entry and from any entry it looks up, lower case. A connector
	// that can project (connector.Projector) is asked for these only
	// (plus those the scope rules read). Nil means unknown: the connector
	// reads what it reads by default.
	Attributes []string
	// UsesGroups reports that accounts depend on group memberships
	// (roles from groups, say), so that a changed group can change
	// accounts the change set does not otherwise name.
	UsesGroups bool
	// Lookups reports that Map reads entries other than the one it maps
	// (through its dir argument: a manager found by DN, say). An
	// incremental read holds only the changed entries, so a mapper with
	// lookups runs incrementally only if it can say which fields it could
	// not resolve, as the rule mapper does; any other is read in full.
	Lookups bool
	// KeyedByEntryID reports that every account's ExternalID, the join
	// key, is its entry's ID. Only then does a deletion reported by an
	// incremental read, which carries nothing but the entry's ID, name the
	// account it concerns; otherwise a deletion calls for a full read.
	KeyedByEntryID bool
	// Fingerprint identifies the mapper's rules: it must change whenever
	// the same entry could map to a different account. A Syncer reads
	// incrementally only while the fingerprint it saved with the last full
	// read is unchanged, since accounts the old rules mapped one way may
	// now map another. Empty means unknown: every read is full.
	Fingerprint string
}

// Describer is an optional Mapper capability: a mapper that describes
// itself. A Mapper without it owns the well-known fields, is read with the
// connector's default attributes, is taken to use groups, and is always
// given a full read. With it, any mapper — a host's own included — can be
// projected and run incrementally.
type Describer interface {
	Describe() Description
}

var _ Describer = (*RuleMapper)(nil)

// Describe implements Describer. The fingerprint is a SHA-256 of the spec.
func (m *RuleMapper) Describe() Description {
	d := Description{Fields: m.Fields(), Attributes: m.Attributes(), UsesGroups: m.UsesGroups(),
		Lookups: len(m.ReferencedAttributes()) > 0, KeyedByEntryID: m.ExternalIDFromEntryID()}
	if b, err := json.Marshal(m.spec); err == nil {
		sum := sha256.Sum256(b)
		d.Fingerprint = hex.EncodeToString(sum[:])
	}
	return d
}
