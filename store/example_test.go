package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync/store"
)

func Example() {
	ctx := context.Background()
	st := store.NewMemory()

	// Raw bytes, as a driver sees them.
	_ = st.Put(ctx, "integration/corp/cursor", []byte(`"usn:1042"`))
	b, _ := st.Get(ctx, "integration/corp/cursor")
	fmt.Printf("%s\n", b)

	_, err := st.Get(ctx, "integration/corp/history")
	fmt.Println(errors.Is(err, store.ErrNotFound), err)

	// A read-modify-write of a JSON value: atomic through Updater when the
	// store has it, serialised in the process otherwise.
	type exception struct{ ID string }
	for _, id := range []string{"alice", "bob"} {
		err := store.UpdateJSON(ctx, st, "integration/corp/exceptions", func(list *[]exception) error {
			*list = append(*list, exception{ID: id})
			return nil
		})
		if err != nil {
			fmt.Println(err)
		}
	}
	var list []exception
	_ = store.GetJSON(ctx, st, "integration/corp/exceptions", &list)
	fmt.Println(list)

	// A value that is not what was written is reported, and kept.
	_ = st.Put(ctx, "integration/corp/exceptions", []byte(`[{"ID":`))
	err = store.GetJSON(ctx, st, "integration/corp/exceptions", &list)
	fmt.Println(errors.Is(err, store.ErrCorruptStore), err)
	// Output:
	// "usn:1042"
	// true dirsync: not found: "integration/corp/history"
	// [{alice} {bob}]
	// true dirsync: store is corrupt: key "integration/corp/exceptions": unexpected end of JSON input
}

func ExampleQuoteKey() {
	fmt.Println(store.QuoteKey("integration/corp/cursor"))
	long := "integration/" + string(make([]byte, 1<<20))
	fmt.Println(store.QuoteKey(long))
	// Output:
	// "integration/corp/cursor"
	// "integration/\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"…(1048588 bytes)
}
