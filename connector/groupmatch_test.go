package connector_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dirsync-go/dirsync/connector"
)

func TestGroupMatchMatches(t *testing.T) {
	type c struct {
		name, query string
		prefix      bool
		word        bool
		substring   bool
	}
	for _, tt := range []c{
		{"App Admins", "", true, true, true},
		{"App Admins", "adm", false, true, true},
		{"App Admins", "app a", true, true, true},
		{"App Admins", "APP", true, true, true},
		{"App Admins", "dmin", false, false, true},
		{"App Admins", "adm app", false, true, false},
		{"App Admins", "admx", false, false, false},
		// Casing splits words only from lower to upper case.
		{"OneVideo", "video", false, true, true},
		{"ONEvideo", "video", false, false, true},
		// Letters and digits are separate words; symbols are words of
		// their own.
		{"Team42 (EMEA)", "42", false, true, true},
		{"Team42 (EMEA)", "emea)", false, true, true},
		{"Team42 (EMEA)", "(", false, true, true},
		{"Team42 (EMEA)", "*", false, false, false},
		// The joined letters of a part split by symbols are one more word.
		{"hello-world", "helloworld", false, true, false},
		{"Sales*", "sales*", true, true, true},
		{"李四(David Li)", "Li 李", false, true, false},
		{"Straße Admins", "STRASSE", false, false, false},
	} {
		assert.Equal(t, tt.prefix, connector.MatchPrefix.Matches(tt.name, tt.query), "prefix %q %q", tt.name, tt.query)
		assert.Equal(t, tt.word, connector.MatchWordPrefix.Matches(tt.name, tt.query), "word %q %q", tt.name, tt.query)
		assert.Equal(t, tt.substring, connector.MatchSubstring.Matches(tt.name, tt.query), "substring %q %q", tt.name, tt.query)
	}
}

func TestGroupMatchString(t *testing.T) {
	assert.Equal(t, "prefix", connector.MatchPrefix.String())
	assert.Equal(t, "word-prefix", connector.MatchWordPrefix.String())
	assert.Equal(t, "substring", connector.MatchSubstring.String())
	assert.Equal(t, "GroupMatch(7)", connector.GroupMatch(7).String())
}

// prefixOnly is a host's searcher that declares nothing; substringSearcher
// declares substring matching.
type prefixOnly struct{}

func (prefixOnly) SearchGroups(context.Context, string, int) ([]connector.Entry, error) {
	return nil, nil
}

type substringSearcher struct{ prefixOnly }

func (substringSearcher) GroupSearchMatch() connector.GroupMatch { return connector.MatchSubstring }

var _ connector.GroupSearchMatcher = substringSearcher{}

func TestGroupSearchMatchOf(t *testing.T) {
	assert.Equal(t, connector.MatchPrefix, connector.GroupSearchMatchOf(prefixOnly{}))
	assert.Equal(t, connector.MatchSubstring, connector.GroupSearchMatchOf(substringSearcher{}))
}

func ExampleGroupSearchMatchOf() {
	var gs connector.GroupSearcher = substringSearcher{}
	m := connector.GroupSearchMatchOf(gs)
	fmt.Println(m, m.Matches("App Admins", "adm"))
	if m == connector.MatchPrefix {
		fmt.Println("this directory matches names from the start only")
	}
	// Output: substring true
}

func ExampleGroupMatch_Matches() {
	for _, m := range []connector.GroupMatch{connector.MatchPrefix, connector.MatchWordPrefix, connector.MatchSubstring} {
		fmt.Println(m, m.Matches("App Admins", "adm"), m.Matches("App Admins", "dmin"))
	}
	// Output:
	// prefix false false
	// word-prefix true false
	// substring true true
}
