package fake_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
)

func ExampleNew() {
	dir := fake.New(
		connector.Entry{ID: "1", Kind: connector.KindUser, Path: []string{"IT Users"},
			Attrs: connector.Attrs{"samaccountname": {"alice"}}},
		connector.Entry{ID: "2", Kind: connector.KindUser, Path: []string{"IT Users"},
			Attrs: connector.Attrs{"samaccountname": {"bob"}}},
	)
	_ = dir.Disable("2")

	for e, err := range dir.Read(context.Background()) {
		if err != nil {
			fmt.Println("read failed:", err)
			return
		}
		fmt.Println(e.ID, e.Attr("sAMAccountName"), "disabled:", e.Disabled)
	}
	// Output:
	// 1 alice disabled: false
	// 2 bob disabled: true
}

func ExampleCompany() {
	entries := fake.Company(1000, 1)
	users, disabled, groups := 0, 0, 0
	for _, e := range entries {
		switch e.Kind {
		case connector.KindUser:
			users++
			if e.Disabled {
				disabled++
			}
		case connector.KindGroup:
			groups++
		}
	}
	fmt.Println("users:", users, "groups:", groups)
	fmt.Println("disabled:", disabled > 0)
	first := entries[0]
	fmt.Println(first.Path, first.Attr("department"))
	// Output:
	// users: 1000 groups: 14
	// disabled: true
	// [Europe Sales department users] Sales
}

func ExampleDirectory_ReadChanges() {
	ctx := context.Background()
	entries := fake.Company(10, 1)
	dir := fake.New(entries...)

	// The first read is a full read; it returns a cursor.
	n := 0
	cursor, _ := dir.ReadChanges(ctx, nil, func(connector.Entry) error { n++; return nil })
	fmt.Println("full read:", n, "entries")

	_ = dir.Set(entries[0].ID, "title", "Head of Sales")
	_ = dir.Delete(entries[1].ID)

	// Then only what changed: the renamed user, the deleted one (as a
	// tombstone) and the groups it left.
	_, _ = dir.ReadChanges(ctx, cursor, func(e connector.Entry) error {
		switch {
		case e.Deleted:
			fmt.Println("deleted:", e.ID == entries[1].ID)
		case e.Kind == connector.KindGroup:
			fmt.Println("group changed:", e.Attr("cn"))
		default:
			fmt.Println("changed:", e.Attr("title"))
		}
		return nil
	})

	// Old cursors can age out; the caller then reads everything again.
	dir.ExpireCursors()
	_, err := dir.ReadChanges(ctx, cursor, func(connector.Entry) error { return nil })
	fmt.Println(errors.Is(err, connector.ErrCursorExpired))
	// Output:
	// full read: 24 entries
	// changed: Head of Sales
	// deleted: true
	// group changed: Marketing Europe
	// group changed: VPN Users
	// true
}

func ExampleDirectory_FailAfter() {
	dir := fake.New(fake.Company(50, 1)...)
	dir.FailAfter(10, errors.New("connection reset by peer"))
	_, err := connector.ReadAll(context.Background(), dir)
	fmt.Println(err)
	// Output:
	// connection reset by peer
}
