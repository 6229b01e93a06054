package ad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	ber "github.com/go-asn1-ber/asn1-ber"
)

// fakeWindowsDC is a tiny LDAP server answering the way Windows AD does
// for a group with more members than MaxValRange (1,500): the search
// returns member;range=0-1499, and base searches for member;range=N-*
// return the next 1,500 values, the last range ending in "*". Samba never
// splits by itself, so this is the only place the unrequested path runs.
func fakeWindowsDC(t *testing.T, members []string) string { return fakeDC(t, members, "") }

// fakeDC is fakeWindowsDC with a fault: mode "drop" closes the connection
// after the first entry of a subtree search, "hang" never answers one.
func fakeDC(t *testing.T, members []string, mode string) string {
	return fakeDCWith(t, members, mode, nil, false)
}

// fakeDCWith is fakeDC speaking TLS with tc: from the first byte when
// implicit (ldaps://), else after a StartTLS extended operation.
func fakeDCWith(t *testing.T, members []string, mode string, tc *tls.Config, implicit bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if implicit {
				conn = tls.Server(conn, tc)
			}
			go serveFake(conn, members, mode, tc)
		}
	}()
	return ln.Addr().String()
}

const fakeGroupDN = "CN=Big,OU=Groups,DC=fake,DC=test"

func serveFake(conn net.Conn, members []string, mode string, tc *tls.Config) {
	defer func() { conn.Close() }()
	for {
		p, err := ber.ReadPacket(conn)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id := p.Children[0].Value
		op := p.Children[1]
		switch op.Tag {
		case 0: // bind
			write(conn, id, result(1, 0))
		case 23: // extended operation: StartTLS is the only one
			if tc == nil {
				write(conn, id, result(24, 2)) // protocolError
				continue
			}
			write(conn, id, result(24, 0))
			conn = tls.Server(conn, tc)
		case 3: // search
			var attrs []string
			for _, a := range op.Children[7].Children {
				attrs = append(attrs, fmt.Sprint(a.Value))
			}
			scope, _ := op.Children[1].Value.(int64)
			if scope == 0 { // base: a range request
				write(conn, id, rangeEntry(attrs, members))
			} else {
				if mode == "hang" {
					_, _ = io.Copy(io.Discard, conn) // until the client closes
					return
				}
				guid := make([]byte, 16)
				guid[15] = 7
				e := entryPacket(fakeGroupDN, map[string][]string{
					"objectGUID":          {string(guid)},
					"objectClass":         {"top", "group"},
					"sAMAccountName":      {"big"},
					"member;range=0-1499": members[:1500],
				})
				write(conn, id, e)
				if mode == "drop" {
					return
				}
			}
			write(conn, id, result(5, 0))
		default: // unbind and anything else ends the session
			return
		}
	}
}

func rangeEntry(attrs []string, members []string) *ber.Packet {
	var low int
	for _, a := range attrs {
		if _, err := fmt.Sscanf(strings.ToLower(a), "member;range=%d-", &low); err == nil {
			break
		}
	}
	high := min(low+1499, len(members)-1)
	name := fmt.Sprintf("member;range=%d-%d", low, high)
	if high == len(members)-1 {
		name = fmt.Sprintf("member;range=%d-*", low)
	}
	return entryPacket(fakeGroupDN, map[string][]string{name: members[low : high+1]})
}

func write(conn net.Conn, id any, op *ber.Packet) {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	msg.AppendChild(op)
	_, _ = conn.Write(msg.Bytes())
}

func result(tag ber.Tag, code int) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	return p
}

func entryPacket(dn string, attrs map[string][]string) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for name, vals := range attrs {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		a.AppendChild(set)
		list.AppendChild(a)
	}
	p.AppendChild(list)
	return p
}

func TestRangedMembersWindowsShape(t *testing.T) {
	members := make([]string, 3200)
	for i := range members {
		members[i] = fmt.Sprintf("CN=User %04d,OU=Staff,DC=fake,DC=test", i)
	}
	addr := fakeWindowsDC(t, members)
	c, err := Open(t.Context(), Config{URLs: []string{"ldap://" + addr}, InsecurePlaintext: true,
		BindDN: "svc@fake.test", Password: "x", BaseDN: "DC=fake,DC=test"})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := connector.ReadAll(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d entries, want the group", len(entries))
	}
	got := entries[0].Attrs.Values("member")
	if len(got) != len(members) || got[0] != members[0] || got[len(got)-1] != members[len(members)-1] {
		t.Errorf("member has %d values, want %d", len(got), len(members))
	}
	for name := range entries[0].Attrs {
		if strings.Contains(name, ";range=") {
			t.Errorf("ranged attribute %q left in the entry", name)
		}
	}
	if entries[0].Kind != connector.KindGroup {
		t.Errorf("kind %s", entries[0].Kind)
	}
}

func TestDroppedConnectionIsAnError(t *testing.T) {
	addr := fakeDC(t, make([]string, 1600), "drop")
	c, err := Open(t.Context(), Config{URLs: []string{"ldap://" + addr}, InsecurePlaintext: true,
		BindDN: "svc@fake.test", Password: "x", BaseDN: "DC=fake,DC=test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := connector.ReadAll(context.Background(), c)
	if err == nil {
		t.Fatalf("a read whose connection dropped returned %d entries and no error", len(entries))
	}
	t.Log(err)
	var op *OpError
	if !errors.As(err, &op) || op.URL != "ldap://"+addr || !strings.Contains(err.Error(), "search") {
		t.Errorf("error does not name the DC and the operation: %v", err)
	}
}

func TestCancelUnblocksRead(t *testing.T) {
	addr := fakeDC(t, make([]string, 1600), "hang")
	c, err := Open(t.Context(), Config{URLs: []string{"ldap://" + addr}, InsecurePlaintext: true,
		BindDN: "svc@fake.test", Password: "x", BaseDN: "DC=fake,DC=test", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = connector.ReadAll(ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read of a hanging DC: %v, want one wrapping the ctx error", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled read took %v", d)
	}
}
