// Command adsearch is the bare baseline of adplan: one go-ldap paged
// search of the users and groups under a base DN, over LDAPS, with the
// attributes given, and nothing else (no conversion, no plan). It prints
// the number of entries. See BENCHMARKS.md:
//
//	go build -o /tmp/adsearch ./internal/cmd/adsearch
//	/usr/bin/time -v /tmp/adsearch -attrs objectGUID,mail,sn
//	/usr/bin/time -v /tmp/adsearch -page 0 -attrs objectGUID,mail,sn   # unpaged
//
// The DC comes from the same DIRSYNC_AD_* variables as adplan.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

func main() {
	attrs := flag.String("attrs", "objectGUID", "comma-separated attributes to read")
	page := flag.Uint("page", 1000, "page size; 0 for one unpaged search")
	flag.Parse()
	n, err := run(strings.Split(*attrs, ","), uint32(*page))
	if err != nil {
		fmt.Fprintln(os.Stderr, "adsearch:", err)
		os.Exit(1)
	}
	fmt.Println(n, "entries")
}

func run(attrs []string, page uint32) (int, error) {
	pem, err := os.ReadFile(os.Getenv("DIRSYNC_AD_CA"))
	if err != nil {
		return 0, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return 0, errors.New("no certificate in DIRSYNC_AD_CA")
	}
	conn, err := ldap.DialURL(os.Getenv("DIRSYNC_AD_URL"), ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.Bind(os.Getenv("DIRSYNC_AD_BIND"), os.Getenv("DIRSYNC_AD_PASSWORD")); err != nil {
		return 0, err
	}
	req := ldap.NewSearchRequest(os.Getenv("DIRSYNC_AD_BASE"), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(|(&(objectCategory=person)(objectClass=user))(objectClass=group))", attrs, nil)
	var res *ldap.SearchResult
	if page == 0 {
		res, err = conn.Search(req)
	} else {
		res, err = conn.SearchWithPaging(req, page)
	}
	if err != nil {
		return 0, err
	}
	return len(res.Entries), nil
}
