// Package scim receives SCIM 2.0 pushes (RFC 7643, RFC 7644) from
// identity providers — Okta, Microsoft Entra ID provisioning, Ping — and
// makes what they pushed a directory that a dirsync.Syncer reads like any
// other: pushed state is a directory, so push and pull go through one
// engine, with the same mapping, scope, exceptions, lifecycle, safety
// limits, plan with reasons and history.
//
// A Server serves one integration (one customer organization). It is an
// http.Handler for the provider — /Users and /Groups (list with filter and
// paging, get, POST, PUT, PATCH, DELETE), /ServiceProviderConfig,
// /ResourceTypes and /Schemas, with the core User schema and the
// enterprise extension — and a connector.Connector with
// connector.Incremental reads for the integration's Syncer. Use
// mapping.SCIMSpec with it.
//
//	res, err := scim.OpenJournal("/var/lib/app/acme.scim")
//	srv, err := scim.Open(ctx, scim.Config{Resources: res, OnChange: func(context.Context) { sy.SyncNow() }})
//	mux.Handle("/scim/v2/acme/", http.StripPrefix("/scim/v2/acme", srv))
//	sy, err := dirsync.New(srv, sink, &dirsync.Options{Source: "acme-okta", Mapper: mapper})
//	go sy.Run(ctx, nil)
//
// # What the provider sees
//
// The handler stores exactly what the provider wrote (in the schema's
// spelling and types: see the quirks below) in its Resources and
// answers from them: a GET returns what the last write wrote, whatever
// the app did with the account. The response is sent after the write is
// durable and before anything happens in the app: an accepted write
// calls Config.OnChange on a goroutine of its own, and the Syncer plans
// and applies asynchronously, so the provider never waits on the app's
// sink, and a slow or failing sink never fails a provisioning request.
//
// While a plan waits for approval — the Syncer runs in approval mode, or
// a flood of deactivations went over the safety limits — the provider
// sees nothing of it: its writes are accepted and read back as written
// (active false reads back as false), while the app's accounts stay as
// they were until an admin approves (Syncer.ApprovePending); the next
// write replans and the pending plan is replaced by one that includes it.
//
// # From resources to entries
//
// A User is a connector.KindUser entry whose ID is the resource id, and
// a Group a connector.KindGroup entry whose Members are its members that
// exist; a user's MemberOf lists the groups naming it. "active": false
// makes the entry Disabled, so the lifecycle policy blocks the account
// and its sessions end; a DELETE leaves a tombstone for incremental reads
// and the account follows the policy for accounts missing from the
// source (blocked by default). Attributes are flattened as mapping.SCIMSpec
// documents: "userName", "name.givenName", "emails" (primary first),
// "emails.work", "emails.primary", the enterprise extension's
// "department", "employeeNumber" and "manager" (the manager's id), and
// the declared custom attributes (see Custom attributes).
//
// A PATCH that makes a value of a multi-valued attribute primary makes
// the others not primary (RFC 7644 section 3.5.2), so a new primary
// email reaches the app; a POST, a PUT or a replacement of the whole
// list is stored as written.
//
// Entries have no Path: SCIM has no org units, so scope rules select by
// attribute (department, userType, …) or by group. A user the provider
// deletes and then creates again with the same externalId (Entra's object
// id, Okta's user id: the same person) takes its old id back, so the app
// unblocks the old account ("back in the directory"); with another
// externalId it is a new resource, and an app account that still holds
// its email is never handed over: the plan skips it with the reason.
//
// # Authentication
//
// Each integration has one bearer token. RotateToken issues a new one and
// revokes the old at once (what an admin does when the customer moves to
// another provider); only its SHA-256 hash is stored and it is compared
// in constant time. A request without a valid token gets 401 with a
// WWW-Authenticate header. No token and no resource content is ever
// logged or put in an error.
//
// # Limits and errors
//
// Request bodies are capped (Config.MaxBodyBytes, 413 above it), and so
// is the page size of a list (Config.MaxPageSize). Within a body, a PATCH
// holds at most 1,000 operations and a multi-valued attribute other than
// a group's members at most 1,000 values (400 invalidValue above); a
// group's members are not capped, and adding or removing them takes time
// linear in the group's size (BenchmarkPatchLargeGroup), so that no
// request holds the integration's writes for long. Bulk, sorting, ETag
// preconditions and password changes are advertised as unsupported in
// /ServiceProviderConfig; a password a provider sends is never stored.
// Errors use the SCIM error schema with a scimType: 409 uniqueness for a
// userName, or a group displayName, already taken (POST, or a PUT or
// PATCH renaming onto it; Entra's SCIM tutorial requires unique group
// names:
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups),
// 400 invalidFilter for a filter that does not parse, names an unknown
// attribute, has more than 64 comparisons, or is given empty or twice
// (never a full listing), invalidSyntax for malformed JSON, a body that
// names one member twice (in any case), or missing schemas,
// invalidValue for a value of the wrong type, an unknown sub-attribute of
// a known attribute, or a name that is not an attribute name,
// invalidPath for a PATCH path that cannot name an attribute (a
// sub-attribute or value filter of an undeclared one included),
// noTarget for a PATCH filter that matches nothing where nothing can be
// added, mutability for a read-only attribute; 404 for an unknown id. A
// refused request changes nothing.
//
// # Comparing names
//
// userNames, group displayNames and every string that is not caseExact
// (in filters and PATCH value filters, and the uniqueness of userName and
// group displayName, kept in memory and held under concurrent writes
// whatever the Resources) compare one way: Unicode full case folding
// (golang.org/x/text/cases, cases.Fold) over NFC, ends trimmed. "ΟΔΟΣ",
// "οδος" and "οδοσ" are one name (σ, ς and Σ fold alike); "ß", "SS" and
// "ss" are one; "İSTANBUL" and "istanbul" are two (İ folds to i with a
// combining dot above: the Turkish rules are not applied, as no provider
// says the tenant is Turkish); "José" precomposed and decomposed are one.
//
// Filters support eq, ne, co, sw, ew, pr, gt, ge, lt, le (also on
// meta.created and meta.lastModified), and, or, not, grouping and value
// filters such as emails[type eq "work"], on any attribute of the schema
// plus id, externalId and meta (emails eq "x" and manager eq "id" compare
// the value sub-attribute); string values are JSON strings (\" and
// \\ escapes). Query parameter names are matched without regard to case.
// attributes and excludedAttributes, on every request that returns a
// resource (POST, PUT and PATCH included), name attributes,
// sub-attributes (which select their attribute) or an extension by its
// URN.
//
// # Provider quirks
//
// normalize.go is the one place where provider behaviour is turned into
// RFC shape, each case with the page that documents it and a test:
// Entra's "True"/"False" strings, op values in any case, PATCH without
// path with dotted and URN-prefixed keys, a replace on a filtered path
// that matches nothing acting as an add, removal by value array (members
// by id, other values by the sub-attributes given), its matching query
// emails[type eq "work"].value eq "…", the manager as a plain id or
// cleared by an empty value, the aadOptscim062020 flag; Okta's full-user PUT with read-only
// attributes, its "replace active false" deactivation, its password;
// enterprise attributes (manager, department, employeeNumber, costCenter,
// organization, division) named without their URN in a body, a PATCH
// path or a filter, where exactly one schema has the name (a core
// attribute of the name wins; a declared custom extension attribute of
// the same name makes it ambiguous, and the URN is then needed), and the
// manager as an array of one value; undeclared attributes (below).
//
// # Custom attributes
//
// Config.Extensions declares, per integration, the custom User
// attributes its provider sends, with a type (string, boolean, integer,
// dateTime, reference; single or multi-valued): Entra's custom extension
// attributes (urn:ietf:params:scim:schemas:extension:<Name>:2.0:User,
// https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes),
// and, with the URN URNUser, attributes at the top level of the User
// (Okta's custom profile attributes in the core namespace). Declared
// attributes are checked and coerced like the schema's own, filtered on
// (with the URN, or without it where unambiguous), patched with and
// without path, advertised in /Schemas and in /ResourceTypes'
// schemaExtensions, and read back exactly as stored.
//
// For the Syncer they are entry attributes: a custom core attribute under
// its name ("favouriteColour", lower-cased as all entry attribute names),
// a custom extension's attribute under its URN-qualified name
// ("urn:ietf:params:scim:schemas:extension:acme:2.0:user:costcode"), and
// also under its bare name ("costcode") when no other schema of the User
// has that name; so a mapping rule takes the department from it with
// From("department", "urn:ietf:params:scim:schemas:extension:Acme:2.0:User:costCode")
// or From("department", "costCode").
//
// Attributes no schema declares are stored as sent and read back, and are
// otherwise inert: not entry attributes, not filterable (invalidFilter),
// not advertised; a PATCH may add, replace or remove them by name (not by
// sub-attribute or value filter). The first time each name arrives it is
// logged at Warn ("attribute not declared in Config.Extensions"), name
// only, so the host can declare it. They are not refused because a 400
// refuses the whole request, not the attribute: Entra records the user as
// failed, retries it each cycle, and puts a job whose requests keep
// failing into quarantine (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-quarantine-status),
// and Okta fails the provisioning task until an admin retries it
// (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20).
// A tenant admin who adds one attribute mapping would stop every user's
// provisioning, deactivations included — a PATCH that sets active false
// and a custom attribute would be refused with it — while Entra sends
// custom extension attributes whatever /Schemas advertises
// (https://github.com/MicrosoftDocs/azure-docs/issues/65648). Storing
// them keeps provisioning, and above all deprovisioning, working, and
// the provider reads back what it wrote, so it does not rewrite the
// attribute every cycle. A sub-attribute a known complex attribute does
// not have (name.nick) is still refused: that schema is the RFC's.
//
// # Libraries
//
// Filters and PATCH paths are parsed by github.com/scim2/filter-parser/v2
// (wrapped so a panic cannot escape, and fuzzed here). The protocol
// server github.com/elimity-com/scim was considered and not used: its
// Server owns routing and a resource-handler interface that would still
// leave applying PATCH operations and the storage to this package, it
// silently ignores unknown attributes in PATCH values where RFC 7644 and
// this package refuse them, and it reads request bodies without a cap.
// What this package adds on top of the filter parser is small: resource
// normalisation, PATCH application and routing, fuzzed by FuzzFilter and
// FuzzPatchPath.
//
// # Resources
//
// What the provider wrote is kept by a Resources, named apart from the
// Syncer's sync state (dirsync's Store: cursor, history, approvals),
// which the integration keeps as for any other connector.
// MemoryResources keeps the resources in memory; Journal, the persistent
// embedded default, keeps one journal file per integration, synced before
// any write is answered; a write cut short by a crash or refused by a
// full disk is cut off the file, never left for the next write to be
// appended to.
//
// On resources that store batches (BatchPutter; Journal does), the
// Server commits concurrent requests in groups: each write is validated
// and applied in order under the Server's write lock, queued, and the
// lock released; one PutBatch (one write and one sync of the journal)
// stores the queued writes, and each request is answered once its batch
// is durable. No request reads a write that is not durable yet: a read
// that saw one waits for its batch. When a batch cannot be stored, the
// Server rolls it back, with the batch queued behind it (its writes were
// validated against the failed ones), to the durable state, and answers
// all their writers 500; nothing of them calls OnChange. A
// host may implement Resources on its own database. Those two belong to
// one Server in one process.
//
// # Several replicas
//
// Resources that several processes share implement Shared (the scimpg
// package keeps them on PostgreSQL), and then every replica serves every
// integration, each with a Server of its own: before each request, and
// before Read, ReadChanges and Check, the Server catches up with what
// others wrote (Shared.Since), and it makes each write under the
// integration's lock across processes (Shared.Write), validated against
// the state caught up under that lock. A write acknowledged by one
// replica is read back from any other at once; userName and group
// displayName uniqueness and group membership hold under concurrent
// writes from several replicas; a token rotated on one is refused by all
// from the moment RotateToken returns; a ReadChanges cursor issued on one
// replica is valid on every other. The requests a Server receives while
// one Write runs go together in its next Write, validated in order; none
// is read back before that Write committed, and when it fails, all of
// them are rolled back and answered 500. Requests that cannot catch up
// get 503 with Retry-After (providers retry): answering from a stale
// memory could accept a revoked token. OnChange runs on the replica that
// accepted the write; riversync.SyncNow coalesces the calls of every
// replica.
//
// The scimtest package is the conformance suite of Resources, Shared
// included.
//
// # Removing an integration
//
// Stop routing requests to the Server, apply the Syncer's PlanRemoval
// (the integration's accounts follow the missing-account lifecycle), then
// delete the resources (Journal.Remove).
package scim
