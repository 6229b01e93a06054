// Package google reads users and groups from Google Workspace through the
// Admin SDK Directory API (google.golang.org/api/admin/directory/v1). It
// implements connector.Connector, connector.Incremental, connector.Checker,
// connector.Projector, connector.GroupSearcher and
// connector.StatusChecker.
//
//	c, err := google.Open(ctx, google.Config{
//		ServiceAccountFile: "/etc/dirsync/google-key.json",
//		Subject:            "admin@example.com",
//		Logger:             logger,
//	})
//
// Only programs that import this package pay for the Google client
// libraries; the root package and the other connectors do not depend on
// them. Sign-in with Google (join the organization on first sign-in) is
// package signin, which uses this connector's UserStatus (see below); this
// package does not import it.
//
// # Configuration
//
// Config is JSON-tagged so a host can store it; its JSON form leaves the
// key out (see below). Credentials are one of:
//
//   - ServiceAccountJSON (inline) or ServiceAccountFile: a service
//     account's JSON key, used with domain-wide delegation: the connector
//     signs a JWT-bearer grant with the key, impersonating Subject, an
//     admin of the Workspace. Subject is required.
//   - TokenSource: any oauth2.TokenSource whose tokens carry the scopes
//     below (for a host that runs its own OAuth flow). Not JSON.
//
// Customer is the customer ID (default "my_customer", the customer of the
// impersonated admin); Domain restricts the read to one domain instead.
// Query is a users.list search query such as "orgUnitPath='/Sales'", which
// also matches the org units below /Sales (and needs an admin subject).
// CustomSchemas limits the custom schemas read (projection=custom); by
// default all are read (projection=full). PageSize is users.list's
// maxResults (default and maximum 500). Endpoint points the client
// elsewhere, for tests. The key never appears in String, any fmt verb,
// LogValue, slog output, an error, or the JSON form: encoding/json writes
// "[redacted]" (the Redacted constant) in its place, so keep the key in a
// secret store and set ServiceAccountJSON from it, or use
// ServiceAccountFile (before, the JSON form carried the key). The same
// holds for a Connector value and for the access tokens it holds, even
// nested in a host's struct. A key that does not parse is refused without
// being quoted. Open validates the configuration without contacting
// Google; Check does.
//
// # Delegation set-up
//
//  1. In the Google Cloud console, create a project (or pick one), enable
//     the "Admin SDK API", create a service account and a JSON key for it
//     (IAM & Admin → Service accounts → Keys → Add key). Note the service
//     account's numeric client ID (its "Unique ID").
//  2. In the Google Admin console (admin.google.com), open Security →
//     Access and data control → API controls → Manage Domain Wide
//     Delegation, choose "Add new", paste the client ID and the scopes
//     of the Scopes constant (comma-separated), and authorize.
//  3. Configure Subject as an admin who may read users, groups and org
//     units (a super admin, or a custom admin role with the read-only
//     Users, Groups and Organizational Units privileges).
//
// Changes to delegation can take minutes (sometimes hours) to apply.
//
// # Permissions
//
// The connector asks for read-only scopes only, one per API it calls:
//
//	https://www.googleapis.com/auth/admin.directory.user.readonly          users.list
//	https://www.googleapis.com/auth/admin.directory.group.readonly         groups.list
//	https://www.googleapis.com/auth/admin.directory.group.member.readonly  members.list
//	https://www.googleapis.com/auth/admin.directory.orgunit.readonly       orgunits.list
//
// It never writes to the directory. With a key, Check verifies the key and
// the delegation of each scope separately (one token request per scope, so the
// error names a scope that delegation does not grant), then makes one
// cheap call to each API, naming the scope of a call that is refused.
// Errors from a revoked or unknown key, an unknown or non-admin subject
// (invalid_grant), missing delegation (unauthorized_client), a refused
// token (401) and a permission denied (403 other than quota) wrap
// connector.ErrAuth, with a sentence saying what to fix. The token
// endpoint's refusals (an OAuth 2.0 error code such as invalid_grant,
// unauthorized_client, access_denied or admin_policy_enforced in a 4xx
// answer) wrap ErrAuth; a token endpoint that still answers 5xx or 429
// after the retries is an outage, not a credential problem: that error
// wraps ErrTokenUnavailable and not ErrAuth, so a host retries later
// instead of asking the admin to re-authenticate. (Before, every failed
// token request wrapped ErrAuth.)
//
// # What is read
//
// Read lists users (users.list with customer or domain, Query, maxResults
// PageSize, a partial response limited by fields to what is used, all
// pages), then groups (groups.list, 200 a page), each group's members
// (members.list, 200 a page, four groups at a time) and the org units (orgunits.list type=all,
// one unpaged call). It reads everything before it yields the
// first entry, so memberships can be resolved.
//
//   - ID is the Google user or group id (immutable; emails change).
//   - Disabled is set for suspended or archived users.
//   - Path is orgUnitPath split on "/", empty parts dropped ("/" is the
//     root: an empty Path).
//   - Attribute names are the dotted, lower-case field names of the user
//     resource, as mapping.GoogleSpec reads them: id, primaryemail,
//     name.givenname, name.familyname, name.fullname, orgunitpath,
//     suspended and archived (set to "true" only when true), aliases,
//     emails.address (every address, the primary first),
//     organizations.title, .department, .name, .costcenter, .location,
//     .description (of the primary organization, else the first),
//     phones.value (the primary phone, else the first) and phones.<type>
//     (the first phone of each type: phones.work, phones.mobile, …),
//     relations.<type> (relations.manager holds the manager's email),
//     and customschemas.<schema>.<field> (all values of a multi-valued
//     field). Groups carry name, email and description.
//   - Members of a group are the IDs of its direct members that the read
//     holds: users and groups. Members outside Query, external addresses
//     and the whole-customer pseudo-member are dropped.
//   - MemberOf is transitive: nested groups are expanded, and cycles
//     (A in B in A) are safe.
//   - Org units are yielded as KindOrgUnit entries: ID orgUnitId, Path
//     their own path, attributes name, orgunitpath and description. All
//     of the customer's org units are yielded, whatever Query says.
//
// Any failed page fails the whole read, never a short read. Requests are
// retried with exponential backoff and full jitter (Config.RetryDelay
// doubling up to 64 times, Config.MaxAttempts tries, default 8), honouring
// Retry-After and ctx, on 403 rateLimitExceeded, userRateLimitExceeded and
// quotaExceeded, 429, 5xx, and on connections that fail or drop before the
// whole body arrived (each response body is read completely before it is
// decoded). Token requests are retried the same way on 429 and 5xx, at
// most three times. The default quota is 2,400 queries a minute per user per
// project; a 50,000-user read takes about 100 user pages plus one members
// call per group.
//
// # Projection
//
// Connector implements connector.Projector. The Syncer asks, for each
// read, for a projected copy (Project) naming the source attributes its
// mapping, scope rules and messages read; the copy's users.list fields
// selector names only the top-level user fields those attributes come
// from (name for name.givenname, relations for relations.manager,
// customSchemas for customschemas.*), plus id, primaryEmail, suspended,
// archived and orgUnitPath, which the connector needs itself. Names that
// are not user fields are ignored. Groups, members and org units are
// read in full. For mapping.GoogleSpec a projected read leaves out
// emails, aliases and customSchemas; for a spec that reads none of the fields, only the
// connector's own are asked for (BENCHMARKS.md has the bytes). Entries
// of a projected read carry only the attributes of the fields asked for,
// and ReadChanges hashes them as read: a cursor from another projection
// is accepted and yields again the entries whose projected content
// differs.
//
// # Incremental reads
//
// Google has no delta token for the directory, so ReadChanges is honest
// about it: every call does a full read (users, groups, members, org
// units), then compares it with the cursor, which holds a 120-bit hash of
// every user, group and org unit read (about 40 bytes per entry) and the
// customer, domain, query and custom-schema list it was taken with. What
// an incremental read yields, compared with the read that made the cursor:
//
//   - a user whose attributes, Path, Disabled or MemberOf changed, as a
//     complete entry; MemberOf is transitive, so a user is yielded when
//     added to or removed from a group directly or through a nested
//     group, when such a group is deleted, even if nothing else of the
//     user changed;
//   - a group whose name, email, description, direct Members or own
//     MemberOf changed, as a complete KindGroup entry with its current
//     Members, exactly as Read yields it (a consumer re-plans the members
//     from it: removing someone from a group that grants a role reaches the
//     next incremental run, not the next full read);
//   - an org unit whose name, path or description changed;
//   - a tombstone (Deleted, with ID and Kind) for every user, group or org
//     unit that is gone, after the other entries, in ID order.
//
// Nothing waits for a full read: every change the Directory API shows is
// seen by the next ReadChanges. A user that left Query's selection is gone
// from the read, so it gets a tombstone. A cursor for another
// configuration, of an older format or malformed fails with
// connector.ErrCursorExpired, never with "everything changed" or "nothing
// changed". What incremental reads save is the work downstream: after no
// change nothing is yielded and nothing reaches the sink.
//
// # Group search
//
// SearchGroups finds the groups whose name starts with what the admin
// typed, and says so (connector.GroupSearchMatcher reports
// connector.MatchPrefix): groups.list's query searches a group's name by
// exact match or prefix only, name:adm*, so "adm" cannot find "App
// Admins" (https://developers.google.com/workspace/admin/directory/v1/guides/search-groups).
// Only the leading letters and digits of the query are sent, unquoted;
// the rest is matched here, so nothing typed is read as query syntax. New
// groups can take up to 36 hours to reach Google's search results.
//
// # User status
//
// UserStatus (connector.StatusChecker) asks users.get about one user id,
// with the admin.directory.user.readonly scope: a user it does not find
// (404) is connector.UserStatus{} with no error; suspended or archived is
// Disabled (as Entry.Disabled), archived is also Archived. Sign-in
// (package signin) asks it on every sign-in, so people suspended or
// deleted in Google Workspace are refused at once.
package google
