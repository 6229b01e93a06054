package connectortest_test

import (
	"context"
	"fmt"
	"iter"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/connector/fake"
)

func ExampleTest() {
	entries := fake.Company(100, 1)
	dir := fake.New(entries...)
	err := connectortest.Test(context.Background(), dir, entries[0].ID)
	fmt.Println("findings:", err)
	// Output:
	// findings: <nil>
}

// listConnector yields a fixed list of entries; it honours ctx.
type listConnector []connector.Entry

func (l listConnector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		for _, e := range l {
			if err := ctx.Err(); err != nil {
				yield(connector.Entry{}, err)
				return
			}
			if !yield(e.Clone(), nil) {
				return
			}
		}
	}
}

// A connector with mistakes: a user yielded twice, and a group membership
// that names a group the directory did not return.
func ExampleTest_findings() {
	alice := connector.Entry{ID: "1", Kind: connector.KindUser, MemberOf: []string{"sales"}}
	bob := connector.Entry{ID: "2", Kind: connector.KindUser}
	err := connectortest.Test(context.Background(), listConnector{alice, bob, bob}, "1", "3")
	fmt.Println(err)
	// Output:
	// full read: connector: entry ID "2" yielded twice
	// dangling reference: entry "1" lists "sales" in MemberOf, which the read did not yield
	// expected ID "3" was not yielded by the full read
}
