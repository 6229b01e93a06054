package ldif_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/ldif"
)

// An excerpt of an ldifde export. In a program the data would come from a
// file (ldif.Open), an upload or go:embed (ldif.New).
const export = `
dn: CN=Smith\, John,OU=Sales department users,OU=Europe,DC=example,DC=test
changetype: add
objectClass: user
sAMAccountName: jsmith
givenName:: 0JjQstCw0L0=
objectGUID:: 4AQlP4lP0xGaDAMF6CwzAQ==
userAccountControl: 514
memberOf: CN=Sales,OU=Groups,DC=example,DC=test

dn: CN=Sales,OU=Groups,DC=example,DC=test
changetype: add
objectClass: group
cn: Sales
objectGUID:: AAECAwQFBgcICQoLDA0ODw==
`

func ExampleNew() {
	c, err := ldif.New(context.Background(), strings.NewReader(export), ldif.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	entries, err := connector.ReadAll(context.Background(), c)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		fmt.Println(e.Kind, e.ID, e.Path)
	}
	john := entries[0]
	fmt.Println(john.Attr("sAMAccountName"), john.Attr("givenName"), "disabled:", john.Disabled, "groups:", john.MemberOf)
	// Output:
	// user 3f2504e0-4f89-11d3-9a0c-0305e82c3301 [Europe Sales department users]
	// group 03020100-0504-0706-0809-0a0b0c0d0e0f [Groups]
	// jsmith Иван disabled: true groups: [03020100-0504-0706-0809-0a0b0c0d0e0f]
}

func ExampleParseError() {
	c, _ := ldif.New(context.Background(), strings.NewReader("dn: CN=a,DC=example,DC=test\nobjectClass: user\nsn:: not base64!\n"), ldif.Config{Path: "upload.ldif"})
	_, err := connector.ReadAll(context.Background(), c)
	fmt.Println(err)
	// Output:
	// ldif: upload.ldif: line 3: entry "CN=a,DC=example,DC=test": sn: invalid base64 value "not base64!": 11 characters, not a multiple of 4: characters are missing
}
