package mapping

// EntryKeyed is an optional Mapper capability: ExternalIDFromEntryID
// reports whether every account the mapper yields takes its ExternalID, the
// join key, from the entry's ID. Only then does a tombstone of an
// incremental read, which carries nothing but the entry's ID, name the
// account it concerns; a Syncer whose mapper lacks the capability, or
// reports false, reads the whole directory when a deletion arrives.
type EntryKeyed interface {
	ExternalIDFromEntryID() bool
}

var _ EntryKeyed = (*RuleMapper)(nil)

// ExternalIDFromEntryID implements EntryKeyed: it is true unless a rule
// targets externalId.
func (m *RuleMapper) ExternalIDFromEntryID() bool { return !m.extID }
