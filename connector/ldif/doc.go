// Package ldif reads users and groups from an LDIF export, as written by
// Microsoft's ldifde or OpenLDAP's ldapsearch, so that a host can import a
// directory it cannot reach over the network, or try dirsync with the
// bundled sample file. It implements connector.Connector,
// connector.Checker and connector.GroupSearcher.
//
//	c, err := ldif.Open(ctx, ldif.Config{Path: "export.ldf", Logger: logger})
//
// Open reads the file on every read, so a new export dropped in its place
// is picked up; New reads an io.Reader once (an upload, or a file embedded
// with go:embed through bytes.NewReader) and serves that data.
//
// # What is read
//
// Every read parses the whole input before it yields anything: a malformed
// file yields one *ParseError naming the line (and the entry) and no
// entries, so a sync never works from half a file. The parser accepts
// comments, folded lines, base64 values ("::"), CRLF line ends, a UTF-8 or
// UTF-16 byte-order mark ("ldifde -u"), ldifde's "changetype: add" lines
// and ldapsearch's version line, search references and "search:/result:"
// trailer. It refuses change records (modify, delete, modrdn), values given
// as URLs ("attr:< file:///…": an uploaded file must not make the
// connector read other files), a multi-valued attribute holding only one
// range of its values ("member;range=0-1499"), and an entry without
// objectClass (the export left it out, and users could not be told from
// groups).
//
// Base64 values are decoded strictly (RFC 4648 standard alphabet, padding
// required, no stray bits): a value with characters missing or added is an
// error naming its line, never a shorter value. (Before, a value without
// its padding was accepted.)
//
// A DN with more than 256 RDNs (levels; internal/ldaputil.MaxDNDepth) is an
// error naming its line, found in one pass before the DN is parsed; no
// directory nests that deep, and a hostile DN of 100,000 levels costs
// time and memory in proportion to its length, not more. A member value
// that deep names no entry. Folded lines are joined in linear time.
//
// # Incomplete ldapsearch exports
//
// ldapsearch, run without -LL or -LLL, starts its output with a header of
// comments ("# extended LDIF", "# LDAPv3", "# base <…> with scope …") and
// ends it with the counts of what it received ("# numResponses: N",
// "# numEntries: M"), after a search result per search or page ("# search
// result", and without -L "search: 2" / "result: 0 Success"). A file with
// that header is read only if it is whole: it must end with the counts,
// every search must have a result, the result must be success
// ("result: 4 Size limit exceeded" means the server stopped early), and
// numEntries must equal the number of entries in the file. Otherwise the
// read fails with a *ParseError wrapping ErrIncomplete, and yields nothing,
// so a sync plans nothing from a cut-off upload. Files without the header
// (ldifde, ldapsearch -LL or -LLL) have no such frame, and are read as they
// are.
//
// Entries:
//
//   - Users: objectClass user, person, organizationalPerson or
//     inetOrgPerson, but not computer or contact (AD computers and contacts
//     derive from those classes). Groups: group, groupOfNames,
//     groupOfUniqueNames. Other records, org units included, are not
//     yielded; a user's org units are in its Path.
//   - ID: Config.IDAttribute if set; else objectGUID, converted from its
//     16 bytes to the canonical GUID text ("3f2504e0-4f89-11d3-9a0c-0305e82c3301",
//     as PowerShell shows it); else entryUUID, as written. An entry with no
//     ID, or an ID used twice, fails the read.
//   - Path: the OU names of the DN, outermost first (internal/ldaputil.OUPath).
//     It is the path from the directory root whatever Config.BaseDN is, so
//     that scope rules do not change when the base does.
//   - Attrs: every attribute, names in lower case. Values are text:
//     base64 values that decode to printable UTF-8 (Cyrillic names, for
//     instance) are decoded; objectGUID and other *GUID attributes become
//     GUID text, objectSid and sIDHistory "S-1-5-…"; other binary values
//     (photos, certificates) stay base64. Password attributes
//     (userPassword, unicodePwd, …) are dropped.
//   - Disabled: ACCOUNTDISABLE in userAccountControl.
//   - Membership: member and uniqueMember of groups and memberOf of any
//     entry are DNs; they are resolved, case-insensitively, to the IDs of
//     the entries in the file, and both sides are filled in (a user listed
//     in a group's member has the group in MemberOf, and the other way
//     round), sorted. DNs that name no user or group of the file (outside
//     BaseDN, computers, another domain) are ignored; Config.Logger gets a
//     debug message for each.
//
// # Permissions
//
// The connector itself needs only read access to the file. The export
// needs an account that can read the users and groups, and nothing more: a
// plain domain user can run
//
//	ldifde -f export.ldf -d "DC=example,DC=test" -r "(|(objectClass=user)(objectClass=group))"
//
// ldifde fetches every page and every range of large groups. With
// ldapsearch against AD, ask for paged results and the GUID:
//
//	ldapsearch -H ldaps://dc.example.test -D reader@example.test -W -b "DC=example,DC=test" \
//	    -E pr=1000/noprompt "(|(objectClass=user)(objectClass=group))" '*' objectGUID
//
// Keep ldapsearch's default output (no -L): its header, result codes and
// counts let the connector detect a truncated or incomplete export; -L
// keeps the header and the counts but not the result codes; with -LL or
// -LLL check ldapsearch's exit status instead. Against OpenLDAP, request the operational
// attribute entryUUID ('*' entryUUID) and, if the memberof overlay is on,
// memberOf.
package ldif
