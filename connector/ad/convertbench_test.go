package ad

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// BenchmarkConvert converts one entry shaped like a user of the
// benchmark company (the 16 projected attributes): "held" is the
// conversion before the converter, "converter" the one in use.
//
//	go test -run '^$' -bench Convert -benchmem ./connector/ad
func BenchmarkConvert(b *testing.B) {
	guid := []byte{0xd5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	entry := func(i int) *ldap.Entry {
		dn := fmt.Sprintf(`CN=Smith\, Jane %d,OU=Sales users,OU=Europe,OU=dirsync-bench,DC=example,DC=test`, i)
		attr := func(name string, v ...string) *ldap.EntryAttribute {
			bv := make([][]byte, len(v))
			for j := range v {
				bv[j] = []byte(v[j])
			}
			return &ldap.EntryAttribute{Name: name, Values: v, ByteValues: bv}
		}
		return &ldap.Entry{DN: dn, Attributes: []*ldap.EntryAttribute{
			attr("objectClass", "top", "person", "organizationalPerson", "user"),
			attr("cn", fmt.Sprintf("Smith, Jane %d", i)),
			attr("sn", "Smith"), attr("title", "Engineer"),
			attr("telephoneNumber", "+44 20 7946 0000"), attr("givenName", "Jane"),
			attr("displayName", "Jane Smith"), attr("department", "Sales"),
			attr("manager", "CN=Lead,OU=Sales users,OU=Europe,OU=dirsync-bench,DC=example,DC=test"),
			{Name: "objectGUID", Values: []string{string(guid)}, ByteValues: [][]byte{guid}},
			attr("userAccountControl", "512"), attr("accountExpires", "9223372036854775807"),
			attr("sAMAccountName", fmt.Sprintf("jsmith%d", i)),
			attr("userPrincipalName", fmt.Sprintf("jsmith%d@example.test", i)),
			attr("mail", fmt.Sprintf("jane.smith%d@example.test", i)), attr("mobile", "+44 7700 900000"),
		}}
	}
	entries := make([]*ldap.Entry, 1000)
	for i := range entries {
		entries[i] = entry(i)
	}
	now := time.Now()
	b.Run("held", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := heldConvert(entries[i%len(entries)], now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("converter", func(b *testing.B) {
		c := newConverter()
		i := 0
		for b.Loop() {
			if _, err := c.convert(entries[i%len(entries)], now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkDecodeEntry is what go-ldap's reader does with each
// SearchResultEntry message before the connector sees it (ber.ReadPacket
// of the message, here of an entry like BenchmarkConvert's), for
// comparison with the conversion: the floor the connector cannot cut.
func BenchmarkDecodeEntry(b *testing.B) {
	attrs := map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "user"}, "cn": {"Smith, Jane 7"},
		"sn": {"Smith"}, "title": {"Engineer"}, "telephoneNumber": {"+44 20 7946 0000"}, "givenName": {"Jane"},
		"displayName": {"Jane Smith"}, "department": {"Sales"},
		"manager":            {"CN=Lead,OU=Sales users,OU=Europe,OU=dirsync-bench,DC=example,DC=test"},
		"objectGUID":         {string([]byte{0xd5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})},
		"userAccountControl": {"512"}, "accountExpires": {"9223372036854775807"}, "sAMAccountName": {"jsmith7"},
		"userPrincipalName": {"jsmith7@example.test"}, "mail": {"jane.smith7@example.test"}, "mobile": {"+44 7700 900000"},
	}
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 7, ""))
	msg.AppendChild(entryPacket(`CN=Smith\, Jane 7,OU=Sales users,OU=Europe,OU=dirsync-bench,DC=example,DC=test`, attrs))
	raw := msg.Bytes()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ber.ReadPacket(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
