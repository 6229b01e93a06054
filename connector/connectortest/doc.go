// Package connectortest checks that a connector honours the
// connector.Connector contract and its optional capabilities, in the way
// testing/fstest.TestFS checks an fs.FS.
//
// Every bundled connector runs Test in its own tests, against a fake server
// or a sample file; a host that writes its own connector should do the
// same:
//
//	func TestConformance(t *testing.T) {
//		c := myconn.New(…)
//		if err := connectortest.Test(t.Context(), c, "known-id-1", "known-id-2"); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// Test needs no *testing.T and returns an ordinary error, so a host can
// also call it as a health check of a configured connector (for example
// before enabling a new integration). It reads the whole directory several
// times, so on a large directory it takes a few full reads' time.
//
// The checks that matter most for safety are the cancellation and error
// ones: a connector that ends a read quietly when its context is cancelled
// makes a partial read look complete, and a sync would then block everyone
// it did not see.
package connectortest
