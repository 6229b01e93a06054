package mapping

// UsesGroups reports whether the mapping reads group memberships (the
// spec's role links), so that a change to a group alone can change
// accounts. A Syncer that reads only changes uses it to decide whether a
// changed group calls for a full read.
func (m *RuleMapper) UsesGroups() bool { return len(m.roles) > 0 }
