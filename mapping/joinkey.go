package mapping

// ExternalIDFromEntryID reports whether every account the mapper yields
// takes its ExternalID, the join key, from the entry's ID: true unless a
// rule targets externalId (Description.KeyedByEntryID).
func (m *RuleMapper) ExternalIDFromEntryID() bool { return !m.extID }
