package ad_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync/connector/ad"
)

// Open validates the configuration without contacting a DC; the password
// never shows when the configuration is printed or logged.
func ExampleOpen() {
	cfg := ad.Config{
		URLs:     []string{"ldaps://dc1.example.com", "ldaps://dc2.example.com"},
		BindDN:   "svc-dirsync@example.com",
		Password: "correct horse battery staple",
		BaseDN:   "DC=example,DC=com",
	}
	c, err := ad.Open(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("page size:", c.Config().PageSize)
	fmt.Printf("%+v\n", cfg)

	// A plain ldap:// URL is refused unless StartTLS or InsecurePlaintext
	// is set.
	cfg.URLs = []string{"ldap://dc1.example.com"}
	_, err = ad.Open(context.Background(), cfg)
	fmt.Println(errors.Is(err, ad.ErrPlaintext))
	// Output:
	// page size: 1000
	// ad.Config{URLs:[ldaps://dc1.example.com ldaps://dc2.example.com] BindDN:"svc-dirsync@example.com" Password:[redacted] BaseDN:"DC=example,DC=com" Filter:"" PageSize:0 UnpagedLimit:0 StartTLS:false InsecurePlaintext:false CAFile:"" CAPEM:0 bytes InsecureSkipVerify:false Attributes:[] Timeout:0s}
	// true
}
