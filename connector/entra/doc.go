// Package entra reads users and groups from Microsoft Entra ID (formerly
// Azure Active Directory) through Microsoft Graph, with the official
// msgraph-sdk-go client. It implements connector.Connector,
// connector.Incremental, connector.Checker and connector.GroupSearcher.
//
//	c, err := entra.Open(entra.Config{
//		TenantID:     "contoso.onmicrosoft.com",
//		ClientID:     "00000000-0000-0000-0000-000000000000",
//		ClientSecret: secret,
//	}, logger)
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
// appear in String, %+v, %#v, LogValue or an error. Open validates the
// configuration without contacting Entra ID; Check makes the first calls.
//
// PageSize (default 999, the maximum) is sent as Prefer:
// odata.maxpagesize, so 100,000 users take about 100 pages. MaxRetries
// (default 5, at most 10) bounds the retries of a throttled (429) or
// unavailable (503) request; each waits as long as the Retry-After header
// says (the msgraph retry middleware), and a cancelled ctx ends the wait.
// A request that still fails, or a connection dropped mid-page, fails the
// whole read: a short read is never taken as complete.
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
// Read lists /users with $select of the properties below and
// $expand=manager($select=id), then /groups and each group's
// /groups/{id}/transitiveMembers (nesting resolved by Graph). It reads
// everything before it yields the first entry, so memberships can be
// resolved: users first, then groups.
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
//   - MemberOf lists the groups a user is a transitive member of; a
//     group's Members lists its transitive user and group members.
//     Devices, contacts and service principals are left out.
//
// # Incremental reads
//
// ReadChanges uses /users/delta. Its cursor is JSON holding the
// @odata.deltaLink of the last round; it is valid only for the same Graph
// host. A nil cursor first runs a full delta round to obtain a delta link
// and then does a full Read (users and groups), so a change made during
// the read is seen again next time rather than lost.
//
// A delta round returns only the changed properties of an updated user;
// the connector re-reads every changed user by id (/users/{id} with the
// same $select and manager, and /users/{id}/transitiveMemberOf), so every
// entry it yields is complete, never one with blanked fields. A user
// reported with @removed (deleted, or soft-deleted to the recycle bin),
// or one that no longer exists when it is re-read, is yielded as a
// tombstone with Deleted set. An incremental read after one change costs
// one delta request plus two requests per changed user.
//
// Graph keeps delta state for directory objects for about seven days. An
// expired or unknown delta link (400 syncStateNotFound, resyncRequired,
// or 410 Gone) and a cursor that is not the connector's fail with an
// error wrapping connector.ErrCursorExpired; the host then performs a full
// read. Not tracked incrementally: group changes (new groups, membership
// changes that do not touch a user's selected properties) and manager
// changes; the host's periodic full read catches them.
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
