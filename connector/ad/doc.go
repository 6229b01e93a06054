// Package ad reads users and groups from Microsoft Active Directory (and
// Samba AD) over LDAP. It implements connector.Connector,
// connector.Incremental, connector.Checker and connector.GroupSearcher
// (substring search: "adm" finds "App Admins"; see SearchGroups).
//
//	c, err := ad.Open(ctx, ad.Config{
//		URLs:     []string{"ldaps://dc1.example.com", "ldaps://dc2.example.com"},
//		BindDN:   "svc-dirsync@example.com",
//		Password: password,
//		BaseDN:   "DC=example,DC=com",
//		Logger:   logger,
//	})
//
// # Configuration
//
// Config is JSON-tagged so a host can store it; json.Marshal leaves the
// password out (json.Unmarshal reads it), so keep the password in a secret
// store and set Config.Password after loading. Open validates it without contacting a DC; Check binds
// and reports what is wrong. URLs are tried in order: a DC that cannot be
// dialled, or that does not complete the TLS handshake or the bind within
// Timeout, is skipped and the next one used (bad credentials are not
// retried elsewhere). Timeout bounds every step separately: the TCP
// connect, the TLS handshake (LDAPS, and StartTLS with the handshake
// after it), the bind and each search request; a DC that accepts the
// connection and then never answers costs one Timeout, and the error
// wraps ErrTimeout. A cancelled ctx ends any of these steps at once. Transport security is the default: ldaps://, or
// ldap:// with StartTLS. A simple bind over plain ldap:// is refused unless
// InsecurePlaintext is set, and the refusal happens before any password is
// sent. CAFile or CAPEM replace the system CA pool; InsecureSkipVerify is
// for tests against a throwaway DC only. The password never appears in
// an error, nor when a Config or a Connector (value or pointer, on its
// own or as a field of another struct) is printed with any fmt verb
// (%v, %+v, %#v, %s, %q, %x, …), logged through slog (LogValue; text and
// JSON handlers) or marshalled to JSON.
//
// # What is read
//
// Read searches under BaseDN for
// (|(&(objectCategory=person)(objectClass=user))(objectClass=group)),
// ANDed with Filter, fetching only the attributes the default AD mapping
// (mapping.ADSpec) reads, the ones listed in Attributes, and those the
// connector needs: objectGUID, userAccountControl,
// msDS-User-Account-Control-Computed, lockoutTime, accountExpires,
// memberOf, member and a few more.
//
// Entries are yielded as the pages arrive; the request for the next page
// goes out before the entries of the last one are converted, so the DC
// works while the client converts. Nothing of the directory is held
// across pages, except for memberships: when the read asks for memberOf
// or member (always, unprojected), a narrow search of the groups alone
// (objectGUID and objectClass) comes first and indexes them by DN, each
// user's MemberOf is resolved from that index as it arrives, and the
// groups, whose Members can name entries read after them, are held and
// yielded at the end, resolved against a compact index of every DN read
// (a 128-bit hash and the ID, about 100 bytes an entry). The result is
// that of a read that held every entry (TestStreamedMembershipsEqualHeld,
// TestStreamedMembershipsOnSamba); a group that appears between the
// narrow search and the read is missing from the MemberOf of users yielded
// before the end, and the cursor remembers it without members, so the
// next incremental read re-reads them. A read without memberships skips
// all of it: no group search, no DN is normalized.
//
// A full read pages (the paged results control, PageSize per page,
// default 1000, AD's default MaxPageSize). With Config.UnpagedLimit set,
// it first asks for every entry in one search without the control,
// limited to UnpagedLimit entries (on the DC and in the connector) and to
// half Timeout on the DC's clock. A DC that answers it in full (Samba, or
// Windows AD with fewer users than its MaxPageSize) spends a half to a
// sixth of what the same read in pages costs it (Samba 4.17 at 10,000
// users, see BENCHMARKS.md); the price is memory, as the answer is held
// whole before it is converted (a 10,000-user plan peaks at 130 MiB
// instead of 59 MiB). A cut answer (a size, time or administrative limit,
// or the operationsError Samba ends an over-long search with) is thrown
// away, never taken for the directory, and the read runs again in pages;
// the connector remembers that DC and pages there from then on. It is
// off by default because its cost grows with the directory: at 100,000
// users Samba returned the whole directory whatever size limit was asked
// (1.9 GiB held in one answer) or ended it with operationsError after the
// time limit, so the attempt only added to the read. Any other failure of
// the unpaged search fails the read.
//
// Project (connector.Projector) returns a connector that asks only for
// the attributes named, plus Config.Attributes and what the connector
// needs itself: objectGUID, objectClass, userAccountControl and
// accountExpires. Group memberships (memberOf and member) are read only
// when the projection names either: a dirsync.Syncer names them when role
// links or group scope rules use them. Without them entries carry no
// MemberOf or Members, and incremental reads neither report nor track
// membership changes; a cursor issued without them is expired for a
// connector that reads them (one full read). The constructed
// msDS-User-Account-Control-Computed, which the DC computes for every
// entry, is asked for only when lockedout is named. A dirsync.Syncer
// projects every read to the attributes its mapping and policy read; on
// Samba at 10,000 users this is most of the cost of a full read (see
// BENCHMARKS.md). The receiver is not changed, so projections are safe
// for concurrent use. Incremental reads of a projection ask DirSync for
// the projected attributes only, so changes to other attributes are not
// reported; widen a projection only with a full read (the Syncer does).
//
//   - ID is objectGUID in canonical form (see ldaputil.GUIDFromBytes).
//   - Path holds the OU names of the DN, outermost first; containers such
//     as CN=Users are not OUs and are left out.
//   - Attribute names are stored in lower case; objectguid holds the
//     canonical GUID text.
//   - Disabled is set when userAccountControl has ACCOUNTDISABLE (0x2), or
//     when accountExpires lies in the past (0 and 0x7FFFFFFFFFFFFFFF mean
//     never); the latter also sets the attribute accountexpired: true.
//   - A locked-out account (bit 0x10 of msDS-User-Account-Control-Computed,
//     or a non-zero lockoutTime where the DC does not return the computed
//     attribute) gets the attribute lockedout: true. Lockout does not set
//     Disabled: it ends by itself.
//   - MemberOf and Members hold the IDs of the entries that memberOf and
//     member name; DNs outside the read (another OU, a filtered object,
//     a builtin group) are dropped. Nesting is resolved by the caller
//     (connector.Snapshot) from the groups' Members. A primary group
//     (primaryGroupID, "Domain Users" by default) is in neither attribute,
//     so in neither list.
//   - A group with more members than the DC's MaxValRange (1,500 on
//     Windows) comes back as member;range=0-1499: the connector fetches the
//     following ranges until the one ending in "*", so the group is
//     complete.
//
// Any error ends a read with an error, never with a short result: an LDAP
// error, a connection dropped between pages, a cancelled ctx (the
// connection is closed to unblock the request in flight; the error wraps
// ctx.Err()). Errors are *OpError values naming the DC and the operation.
// Invalid credentials, and an account lacking rights, wrap
// connector.ErrAuth.
//
// # Incremental reads
//
// ReadChanges uses the DirSync control (1.2.840.113556.1.4.841). Its cursor
// is JSON holding the DirSync cookie, the DC's URL, the base DN and the
// groups' remembered members (see below); a cursor from another DC (after
// a fail-over), for another base DN, or one that is not the connector's,
// fails with connector.ErrCursorExpired, and the host performs a full
// read. A nil cursor takes a fresh cookie first and then does the full
// read, so changes made during the read are seen again rather than lost.
// The cookie comes from a DirSync search whose filter matches no object
// (an all-zero objectGUID), so a full ReadChanges reads each object once.
// Where DirSync is refused, the rootDSE's highestCommittedUSN,
// read before the full read, is the cursor.
//
// That a cookie from one filter serves a later search with another rests
// on Microsoft's documented contract: the cookie "identifies the directory
// state at the time of the previous DirSync search", and a later search
// with it returns "only data for objects that match the filter and that
// changed since the state indicated by the cookie", the filter being the
// later search's
// (https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-the-dirsync-control);
// [MS-ADTS] 3.1.1.3.4.1.29 likewise considers the objects whose requested
// attributes "have been created or modified since the time represented by
// Cookie"
// (https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/a568cbbe-5082-45ca-9427-0a6793646b89).
// Neither ties a cookie to the filter or the attribute list that issued
// it; the same page even lets a cookie issued by one DC be used on another
// replica of the partition, at worst returning changes again. A later
// search's attribute list only selects which changes it reports (those of
// the attributes it asks for), which is why the incremental reads ask
// DirSync for every attribute the connector reads. On Samba this is
// tested (the integration tests' incremental scenarios all start from
// such a cookie); on Windows AD it is the documented behaviour, not
// tested here. On Windows the cookie
// search may still walk the naming context inside the DC (DirSync serves
// changes in USN order), but it sends nothing.
//
// DirSync reports only the attributes that changed, so the connector
// re-reads the changed objects by objectGUID (in batches) and yields
// complete entries, with memberships resolved on the DC. What an
// incremental read yields:
//
//   - A user or group created, modified, disabled or enabled, renamed or
//     moved within BaseDN: the entry, complete, with its ID unchanged
//     (DirSync is asked for name, parentGUID and distinguishedName, so
//     moves show up).
//   - A deleted user or group: a tombstone (isDeleted) yielded with
//     Deleted set, when its lastKnownParent lies under BaseDN (or is
//     unknown). An object under BaseDN that no longer matches Filter is
//     yielded as Deleted too (it left the connector's view).
//   - A membership change (member added to or removed from a group): the
//     group, complete, with all its current Members, and every member
//     whose membership changed, added or removed, re-read complete with
//     its current MemberOf. A member that is itself a group is yielded
//     too, with its own members, transitively (their effective groups
//     changed). A deleted group (or one that left the view) comes as a
//     tombstone followed by its former members, complete.
//
// A member change shows on the group only: memberOf is a back link, and
// neither DirSync nor uSNChanged report the member. So the cursor
// remembers, for every group in the view, its members' objectGUIDs (about
// 22 bytes of cursor per membership, e.g. 34 KB for a group of 1,600), and
// an incremental read compares each changed group's Members with them to
// find who was added or removed. A cursor of an older version is expired:
// the host does one full read. A projection that does not
// read memberships remembers none (see Project).
//
// Not seen incrementally, caught by the host's periodic full read: an
// object moved out of BaseDN (it is outside the base afterwards and
// DirSync does not say where it was; set BaseDN to the domain root and
// select OUs with policy scope rules to avoid the case); a change to a
// group outside the view that nests a group inside it; and attributes not
// requested from DirSync (only the attributes the connector reads are).
//
// If the DC refuses DirSync to the bind account, ReadChanges falls back to
// uSNChanged: objects whose uSNChanged is above the DC's
// highestCommittedUSN at the previous read. uSNChanged is per DC, so the
// cursor holds the DC. A membership change updates the group's uSNChanged,
// so the fallback reports it as above (group and affected members). It
// cannot see deleted users; it sees deleted groups, and groups that left
// the view, by listing the groups' IDs on each read and comparing them
// with the remembered ones. The host must schedule periodic full reads
// for deleted users.
//
// # Permissions
//
// A read-only bind account is enough for Read and Check: an ordinary domain
// user can read users, groups and their attributes in a default domain.
// No write permission is ever needed; the connector never modifies the
// directory. DirSync additionally needs the "Replicating Directory
// Changes" (DS-Replication-Get-Changes) extended right on the domain's
// naming context; grant it to the bind account, not domain admin rights.
// Without it ReadChanges uses the uSNChanged fallback described above.
package ad
