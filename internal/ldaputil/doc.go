// Package ldaputil holds small helpers shared by the LDAP-based connectors
// (connector/ad and connector/ldif): converting Active Directory binary
// values (objectGUID, objectSid) to and from their canonical text forms,
// reading the org-unit path and a case-insensitive key out of a
// distinguished name, and decoding userAccountControl flags.
//
// Every function is pure and safe for concurrent use. Parsers return an
// error for malformed input and never panic; the fuzz targets in this
// package check that.
package ldaputil
