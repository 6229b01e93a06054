// Package mapping turns directory entries into the accounts the application
// should hold.
//
// A Mapper maps one connector.Entry, with the Snapshot it was read in, to a
// diff.Account. A Mapper that also implements Describer says which account
// fields it sets (the diff compares and updates only those, and leaves every
// other field as the application has it), which attributes it reads (the
// connector is asked for only those), whether it uses groups, and a
// fingerprint of its rules (with which a Syncer may read only what changed).
// Hosts with unusual needs write a Mapper in Go (MapperFunc, or a type of
// their own that describes itself); most use a RuleMapper built from a Spec.
//
// # Specs and rules
//
// A Spec is plain data that round-trips through JSON, so an admin console can
// store it and let an admin edit it:
//
//	{
//	  "rules": [
//	    {"target": "username",    "from": ["sAMAccountName"], "transforms": ["lower"]},
//	    {"target": "email",       "from": ["mail", "userPrincipalName"], "transforms": ["lower"]},
//	    {"target": "displayName", "from": ["displayName"]},
//	    {"target": "displayName", "template": "{givenName} {sn}"},
//	    {"target": "manager",     "from": ["manager"], "lookup": "mail"},
//	    {"target": "department",  "fromPath": true, "skip": 1, "trimSuffixes": ["users", "user"]},
//	    {"target": "extra.locale", "value": "en"}
//	  ],
//	  "roles": [
//	    {"group": "App Admins", "role": "admin"}
//	  ]
//	}
//
// Each rule fills one target: a diff field name (username, email, givenName,
// familyName, displayName, title, phone, manager, department), "externalId",
// or "extra.<key>". Several rules may share a target: they are tried in
// order and the first one with a non-empty result wins, which is how a
// fallback is written (above: the displayName attribute, else given name and
// surname).
//
// A rule has exactly one source:
//
//   - from: attribute names; the first non-empty one is used. Attribute
//     names are case-insensitive; of a multi-valued attribute the first
//     value is used.
//   - value: a constant.
//   - template: attribute names in braces, "{givenName} {sn}". "{{" and "}}"
//     are literal braces; any other brace without its partner
//     ("givenName} {sn}", "{sn", "}{") is an error, wherever it stands (a
//     lone "}" used to be taken literally). Runs of white space are collapsed, so an empty
//     attribute leaves no gap, and a template whose attributes are all empty
//     yields nothing (so the next rule for the target gets its turn).
//   - fromPath: the entry's org-unit path (department only).
//
// Then, in this order:
//
//   - lookup (with from): the value is a reference to another entry of the
//     same read, its ID or its DN (compared case-insensitively, ignoring
//     spaces around "," and "="), and the rule takes that entry's attribute.
//     An AD manager is a DN; {"from": ["manager"], "lookup": "mail"} gives
//     the manager's email. A reference to an entry outside the read
//     resolves to nothing.
//   - split, skip, trimSuffixes (department only): split cuts the value
//     into path elements ("Sales/EMEA" with "/"); skip drops leading
//     elements; trimSuffixes removes the first matching suffix from each
//     element, case-insensitively ("Sales department users" with "users"
//     becomes "Sales department"; a suffix that starts with a letter or
//     digit matches only as a whole word, a "-", "_" or "." left before it
//     goes too, and an element that is nothing but the suffix disappears).
//     Empty elements are dropped.
//   - transforms, in order (for the department, on each element).
//
// Values are trimmed of surrounding white space; a value that is only white
// space counts as empty. The account's ExternalID, the join key, is the
// entry's ID unless a rule targets "externalId"; if such a rule yields
// nothing the ExternalID is empty and the Syncer skips the entry. Source is
// left empty for the Syncer to set.
//
// # Transforms
//
//   - lower, upper: change case.
//   - trim: also collapse runs of white space inside the value to one space.
//   - title: capitalize each word ("ANNE-MARIE" becomes "Anne-Marie").
//   - localpart: keep what comes before the "@" ("jsmith@corp.example"
//     becomes "jsmith").
//   - domain:<domain>: replace the domain of an address, or add one to a
//     bare name ("jsmith" with domain:example.com becomes
//     "jsmith@example.com").
//   - translit: transliterate any script to Latin ASCII with
//     github.com/mozillazg/go-unidecode ("Σωκράτης" becomes "Sokrates",
//     "王小明" becomes "Wang Xiao Ming").
//   - translit:ru-icao: Russian Cyrillic to Latin by the table of ICAO Doc
//     9303 that Russian international passports use: Ж ZH, Х KH, Ц TS, Ч CH,
//     Ш SH, Щ SHCH, Ы Y, Ъ IE, Ь dropped, Э E, Ю IU, Я IA, Й I, Ё E ("Юлия
//     Щербакова" becomes "Iuliia Shcherbakova"). Case follows the source:
//     "Щукин" gives "Shchukin", "ЩУКИН" gives "SHCHUKIN". Other characters
//     are left alone; add translit after it to fold them to ASCII.
//
// An unknown transform, a bad template, an empty or unknown target, a lookup
// without from, or an option used on the wrong target is an error from New
// that names the rule: a *RuleError wrapping ErrInvalidSpec. ParseSpec
// decodes JSON strictly, so a misspelt key is an error too rather than a
// silently ignored option, and so is a key given twice in one object (in
// any case: "Rules" after "rules"), where encoding/json would keep the last
// value.
//
// Spec.WithTransform adds transforms to every rule of one target, for
// example transliteration to the display name of a default spec.
//
// # Roles
//
// A role link {"group": "App Admins", "role": "admin"} grants the role to
// every member of the group, directly or through nested groups
// (Snapshot.GroupsOf). The group is matched case-insensitively against a
// group's ID, its DN, or its cn, name, displayName, sAMAccountName, mail or
// email attribute. Roles are sorted and distinct. A spec without role links
// does not own the roles field, so roles assigned in the app are kept; a
// spec with role links owns it, and Map with a nil Snapshot grants none.
//
// # Defaults
//
// ADSpec, EntraSpec, GoogleSpec and SCIMSpec are ready-made specs for the bundled
// connectors. None grants roles; add role links to the returned Spec.
//
// ADSpec expects LDAP attribute names of Active Directory:
//
//	username     sAMAccountName, lower-cased
//	email        mail, else userPrincipalName, lower-cased
//	givenName    givenName
//	familyName   sn
//	displayName  displayName, else "{givenName} {sn}"
//	title        title
//	phone        telephoneNumber, else mobile
//	manager      manager (a DN) looked up: its mail, else its
//	             userPrincipalName, lower-cased
//	department   department, else the org-unit path with the suffixes
//	             "users" and "user" removed from each element
//
// EntraSpec expects Microsoft Graph user property names:
//
//	username     userPrincipalName, lower-cased
//	email        mail, else userPrincipalName, lower-cased
//	givenName    givenName
//	familyName   surname
//	displayName  displayName, else "{givenName} {surname}"
//	title        jobTitle
//	phone        businessPhones (first), else mobilePhone
//	manager      manager (the manager's object id) looked up: its mail,
//	             else its userPrincipalName, lower-cased
//	department   department
//
// GoogleSpec expects the dotted field names of the Admin SDK Directory API
// user resource (for lists, the value of the primary or first item):
//
//	username     primaryEmail, lower-cased
//	email        primaryEmail, lower-cased
//	givenName    name.givenName
//	familyName   name.familyName
//	displayName  name.fullName, else "{name.givenName} {name.familyName}"
//	title        organizations.title
//	phone        phones.work, else phones.value
//	manager      relations.manager (an email), lower-cased
//	department   organizations.department, else orgUnitPath split on "/"
//
// SCIMSpec expects the attribute names package connector/scim gives a
// pushed SCIM User (see SCIMSpec):
//
//	username     userName, lower-cased
//	email        emails.primary, else emails.work, else the first of
//	             emails, lower-cased
//	givenName    name.givenName
//	familyName   name.familyName
//	displayName  displayName, else name.formatted, else
//	             "{name.givenName} {name.familyName}"
//	title        title
//	phone        phoneNumbers.work, else .primary, else .mobile, else
//	             the first of phoneNumbers
//	manager      manager (the manager's SCIM id, from the enterprise
//	             extension) looked up: its emails.primary, else
//	             emails.work, else userName, lower-cased
//	department   department (enterprise extension)
//
// A manager looked up by reference is found only when the manager is part of
// the same read. The defaults set no extra fields: an extra field the
// host's sink does not store would show as a change on every sync. Add one
// with a rule such as {"target": "extra.employeeId", "from": ["employeeId"]}.
//
// # Large reads
//
// A RuleMapper maps an entry's own attributes as the entry arrives
// (MapEntry) and finishes lookups once the whole read is known (Resolve),
// or against a Targets index that keeps of each entry only its ID, DN and
// the attributes lookups read, as bytes in shared chunks, with what is left
// of each user as a few bytes (AppendUnresolved names a reference to an entry
// already read by that entry's number). Both resolve exactly as Map does
// against a Snapshot of the same read; a million users then cost a few
// hundred bytes each while they are read, not kilobytes. dirsync's planner
// uses these methods; hosts need only Map and Describe.
package mapping
