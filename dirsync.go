// Package dirsync keeps a host application's user accounts in step with a
// customer's directory. Placeholder doc; see doc.go.
package dirsync
