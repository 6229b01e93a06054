package planner

import (
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
)

// Attribute projection
//
// A connector that implements connector.Projector reads, for the
// Syncer, only the source attributes something downstream reads: the
// mapping's rules (mapping.Description.Attributes), the policy's scope
// rules (attribute rules, and the group names group rules compare), and
// the few the Syncer itself shows (a group's cn and displayName in a
// reason, an unmappable entry's displayName). Exceptions match the mapped
// accounts, so the mapping already covers them. When the mapper cannot
// name its attributes, the connector's default read is used.
//
// The projection is computed for every read from the Syncer's mapper and
// policy and passed to the connector as a new projected connector
// (Projector.Project), never stored in the shared one: concurrent plans
// read through their own projections. The projection is part of the
// configuration fingerprint the cursor is saved with, so a mapping or
// policy that reads another attribute (a new Syncer built with the changed
// spec, a dirsync upgrade that reads one more) forces a full read first:
// an incremental read reports changes of the projected attributes only.
//
// Group memberships are projected like attributes: when the mapping's role
// links or the policy's group scope rules read them, the projection names
// memberof and member (membershipAttributes). A connector for which
// memberships are costly to read (AD's member of a large group, memberOf
// on every user) reads them, and tracks membership changes in its cursor,
// only then. A Syncer that starts using groups has a new projection and so
// a new fingerprint: its next read is full, never an incremental read from
// a cursor that tracked no memberships.

// groupNameAttributes are the attributes a group is named by in role
// links (mapping) and group scope rules (policy).
var groupNameAttributes = []string{"cn", "name", "displayname", "samaccountname", "mail", "email"}

// membershipAttributes name group memberships in a projection.
var membershipAttributes = []string{"memberof", "member"}

// syncerAttributes are the attributes the Syncer reads itself.
var syncerAttributes = []string{"cn", "displayname"}

// projection returns the source attributes the mapping, the policy and
// the Syncer read, lower case and sorted, or false when the mapper cannot
// name them.
func (pl *Planner) projection() ([]string, bool) {
	if !pl.described || pl.desc.Attributes == nil {
		return nil, false
	}
	out := slices.Clone(syncerAttributes)
	out = append(out, pl.desc.Attributes...)
	out = append(out, pl.policy.Attributes()...)
	if pl.policy.UsesGroups() {
		out = append(out, groupNameAttributes...)
	}
	if pl.usesGroups() {
		out = append(out, membershipAttributes...)
	}
	for i, a := range out {
		out[i] = strings.ToLower(a)
	}
	slices.Sort(out)
	return slices.Compact(out), true
}

// usesGroups reports whether the mapping or the policy reads group
// memberships. A mapper that cannot tell is taken to read them.
func (pl *Planner) usesGroups() bool {
	if pl.policy.UsesGroups() {
		return true
	}
	return !pl.described || pl.desc.UsesGroups
}

// reader returns the connector to read with: the connector projected to
// the Syncer's attributes when it can be, else the connector itself.
func (pl *Planner) reader() connector.Connector {
	p, ok := pl.conn.(connector.Projector)
	if !ok {
		return pl.conn
	}
	attrs, ok := pl.projection()
	if !ok {
		return pl.conn
	}
	return p.Project(attrs)
}
