// Package entra reads users and groups from Microsoft Entra ID (formerly
// Azure Active Directory) through Microsoft Graph, with the official
// msgraph-sdk-go client. It implements connector.Connector,
// connector.Incremental, connector.Checker and connector.GroupSearcher
// (Graph's $search, which matches the beginning of words: "adm" finds "App
// Admins"; see SearchGroups).
//
//	c, err := entra.Open(ctx, entra.Config{
//		TenantID:     "contoso.onmicrosoft.com",
//		ClientID:     "00000000-0000-0000-0000-000000000000",
//		ClientSecret: secret,
//		Logger:       logger,
//	})
//
// Importing this package pulls in msgraph-sdk-go, which is large (minutes
// and gigabytes to compile cold); the core packages never import it.
//
// # Configuration
//
// Config is JSON-tagged so a host can store it as is (keep the secret in a
// secret store). The connector signs in as an app registration with the
// client credentials flow: TenantID and ClientID plus exactly one of
// ClientSecret, CertificatePath or CertificatePEM (a PEM holding the
// certificate and its unencrypted private key). Alternatively pass any
// azcore.TokenCredential in Credential (managed identity, workload
// identity); it is never serialized. The secret and the certificate never
// appear in any fmt verb (%v, %+v, %#v, %s, … of a Config, a *Connector,
// a Connector, or a struct holding one), in LogValue (slog's JSON and text
// handlers, as a value or as a struct field) or in an error. Config's
// MarshalJSON leaves ClientSecret and CertificatePEM out, so a Config
// encoded to JSON carries no secret; UnmarshalJSON still reads them, and
// a host that stores its configuration as JSON keeps the secret apart (a
// secret store) and sets it after loading. Open validates the
// configuration without contacting Entra ID; Check makes the first calls.
//
// PageSize (default 999, the maximum) is sent as Prefer:
// odata.maxpagesize. MaxRetries (default 5, at most 10) bounds the
// retries of a throttled (429) or unavailable (503) request; each waits as
// long as the Retry-After header says (the msgraph retry middleware), and
// a cancelled ctx ends the wait. A request that still fails, or a
// connection dropped mid-page, fails the whole read: a short read is never
// taken as complete.
//
// # National clouds
//
// GraphBaseURL selects the Graph endpoint, version included. The default
// is https://graph.microsoft.com/v1.0. For US Government use
// https://graph.microsoft.us/v1.0 (or https://dod-graph.microsoft.us/v1.0),
// for China (21Vianet) https://microsoftgraph.chinacloudapi.cn/v1.0. The
// token authority follows the host (.microsoft.us: Azure Government,
// .chinacloudapi.cn: Azure China, otherwise the public cloud), and the
// token is asked for with the scope https://<graph host>/.default.
//
// # What is read
//
// Read lists the users through a full /users/delta round with $select of
// the properties below plus manager (each user carries manager@delta),
// then /groups and each group's /groups/{id}/transitiveMembers (nesting
// resolved by Graph). It reads everything before it yields the first
// entry, so memberships can be resolved: users first, then groups.
//
// Why a delta round and not /users?$expand=manager: Graph pages a
// collection of directory objects at most 999 at a time, but at most 100
// once $expand is used (whatever $top or Prefer asks), so listing with
// the manager expanded costs ten times the requests. The delta round
// returns 999 users a page with their managers: 100,000 users take 101
// user page requests, and the same round yields the delta link that an
// incremental read starts from.
//
//   - ID is the object id.
//   - Attribute names are the Graph property names in lower case: id,
//     userprincipalname, mail, givenname, surname, displayname, jobtitle,
//     department, companyname, officelocation, mobilephone, businessphones
//     (several values), employeeid, onpremisesimmutableid, accountenabled
//     and onpremisessyncenabled ("true"/"false"), and manager (the
//     manager's object id, so a mapping can look the manager up by ID as
//     mapping.EntraSpec does). Properties that are null are left out.
//     Groups carry id, displayname, mail, description, securityenabled and
//     mailenabled.
//   - Entra ID has no organizational units. Path is the one-element path
//     made of the user property OrgPathAttribute names (default
//     department; companyName and officeLocation are other choices), or
//     empty when the property is empty. Policy scope rules over org-unit
//     paths therefore work over departments.
//   - Disabled is set for accountEnabled=false ("block sign-in").
//   - MemberOf lists the groups a user (or a group) is a transitive member
//     of; a group's Members lists its transitive user and group members.
//     Devices, contacts and service principals are left out.
//
// # Projection
//
// Connector implements connector.Projector. The Syncer asks, for each
// read, for a projected copy (Project) naming the source attributes its
// mapping, scope rules and messages read; the copy's $select on
// /users/delta, /users/{id}, /groups, /groups/delta and /groups/{id}
// holds only the properties above that are named (any case), plus what
// the connector needs itself: id, accountEnabled, the OrgPathAttribute
// property, manager (on the users delta round, and $expand with a read
// by id), and a group's displayName. Names that are not properties read
// here (an AD attribute of a shared spec) are ignored. Memberships are
// read with $select=id whatever the projection. Entries of a projected
// read carry only the selected properties.
//
// Graph keeps the $select of a delta round in its delta link and tracks
// only the selected properties: a change to another property is not in
// the next round. This is the connector.Projector contract; the Syncer
// reads in full when the projection changes (its fingerprint includes
// it). On 10,000 users with managers, a full read costs 659 bytes a user with
// the default $select, 526 projected to mapping.EntraSpec, 419 to
// mapping.ADSpec (BENCHMARKS.md).
//
// # Incremental reads
//
// ReadChanges uses /users/delta (properties and manager) and
// /groups/delta (group properties and members@delta). Its cursor is JSON
// holding both @odata.deltaLink URLs (version 2); it is valid only for the
// same Graph host. A cursor of version 1 (users only, written before
// groups were tracked) is refused with connector.ErrCursorExpired, so the
// host does one full read instead of missing the group changes made since.
// A nil cursor first runs a full /groups/delta round to take its link,
// then does a full Read, whose users delta round yields the users' link:
// a change made during the read is seen again next time rather than lost.
//
// Every entry ReadChanges yields is complete, as Read yields it, never one
// with blanked fields: users first, then groups.
//
//   - A user the users delta reports new or changed (properties, manager,
//     accountEnabled) is re-read by id (/users/{id} with the same $select
//     and manager, and /users/{id}/transitiveMemberOf). A user reported
//     @removed (deleted, or soft-deleted to the recycle bin) is a
//     tombstone: ID, Kind user, Deleted.
//   - A group the groups delta reports new, renamed or otherwise changed,
//     or whose direct members changed (members@delta), is yielded as a
//     KindGroup entry with all its attributes, its current transitive
//     Members and its MemberOf (/groups/{id},
//     /groups/{id}/transitiveMembers, /groups/{id}/transitiveMemberOf).
//     So are the groups it is nested in when its members changed (their
//     transitive Members changed too), and a group that was added to or
//     removed from another, with every group nested in it.
//   - The users added to or removed from a group, directly or inside a
//     nested group that was added or removed, are re-read and yielded, so
//     their MemberOf is current.
//   - A group reported @removed is a tombstone: ID, Kind group, Deleted.
//
// The contract with the engine is: any membership change is reported as
// the changed group entries plus the affected users. What still waits for
// a full read: the former members of a deleted group are not re-yielded
// (Graph no longer lists the members of a deleted group and the connector
// keeps no state), so their MemberOf still names the group until the next
// full read or until the engine re-plans on the group tombstone; a user
// soft-deleted to the recycle bin keeps its memberships in Graph and is
// reported by the users delta only.
//
// A round that reports a user or group that Graph then does not find by
// id (404) fails with an error wrapping ErrNotYetReplicated, yielding
// nothing and returning no cursor. Graph documents replication delays for
// recently created objects; yielding such a user as a tombstone would
// block a new hire, and skipping it would lose the change. The caller
// keeps its old cursor, and the next ReadChanges reads the same changes
// again, by then (usually seconds later) readable. Everything is resolved
// before the first entry is yielded, so a failed round yields nothing.
//
// Costs: an incremental read with one changed user takes four requests
// (one users delta page, one groups delta page, the user and its groups);
// a membership change adds three requests per yielded group and two per
// yielded user.
//
// Graph keeps delta state for directory objects for about seven days. An
// expired or unknown delta link and a cursor that is not the connector's
// fail with an error wrapping connector.ErrCursorExpired; the host then
// performs a full read. Graph answers an expired link with 410 Gone, or
// with 400 and the code SyncStateNotFound, syncStateInvalid or
// resyncRequired, spelt in varying case; the codes are compared ignoring
// case.
//
// # Errors
//
// A 401 from Graph (a token that is invalid, expired, revoked or for
// another tenant) and a credential that cannot get a token wrap
// connector.ErrAuth, as does a 403 (missing application permission or
// admin consent). A cancelled ctx yields an error wrapping ctx.Err().
//
// # Permissions
//
// Register an application in the tenant (Entra admin center, App
// registrations), add a client secret or a certificate, and grant it these
// Microsoft Graph application permissions (not delegated ones):
//
//   - User.Read.All: read users and their managers.
//   - GroupMember.Read.All: read groups and their members.
//
// or Directory.Read.All, which covers both. No write permission is ever
// needed; the connector never modifies the directory. Application
// permissions need an administrator's consent ("Grant admin consent for
// <tenant>" on the app's API permissions page); until it is given every
// call answers 403. Check reports a missing permission by name.
package entra
