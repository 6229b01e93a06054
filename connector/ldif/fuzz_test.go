package ldif

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
)

// Whatever the input, a read yields either a *ParseError with a line
// number and nothing else, or entries with unique IDs whose memberships
// point at each other.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"ldifde.ldf", "ldapsearch.ldif"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("dn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\nmemberOf: CN=g,DC=t\n\ndn: CN=g,DC=t\nobjectClass: group\nentryUUID: 2\nmember: cn=A,dc=T\n"))
	f.Add([]byte("version: 1\n\n# x\n  y\ndn:: Q049YSxEQz10\nobjectClass: user\nobjectGUID: ABCDEFGHIJKLMNOP\n"))
	f.Add([]byte("# extended LDIF\n#\n# LDAPv3\n# base <dc=t> with scope subtree\n#\n\ndn: cn=a,dc=t\nobjectClass: user\nentryUUID: 1\n\n# search result\nsearch: 2\nresult: 0 Success\n\n# numResponses: 2\n# numEntries: 1\n"))
	f.Add([]byte("version: 1\n\n#\n# base <dc=t> with scope subtree\n#\n\ndn: cn=a,dc=t\nobjectClass: user\nentryUUID: 1\nsn:: QQ\n\n# search result\n\n# numResponses: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := fromBytes(data, Config{})
		require.NoError(t, err)
		var entries []connector.Entry
		var readErr error
		for e, err := range c.Read(context.Background()) {
			if err != nil {
				readErr = err
				break
			}
			entries = append(entries, e)
		}
		if readErr != nil {
			var pe *ParseError
			require.True(t, errors.As(readErr, &pe), "%v", readErr)
			require.Positive(t, pe.Line)
			require.Empty(t, entries)
			return
		}
		ids := map[string]connector.Kind{}
		for _, e := range entries {
			require.NotEmpty(t, e.ID)
			require.NotContains(t, ids, e.ID)
			ids[e.ID] = e.Kind
		}
		for _, e := range entries {
			for _, g := range e.MemberOf {
				require.Equal(t, connector.KindGroup, ids[g])
			}
			for _, m := range e.Members {
				require.Contains(t, ids, m)
			}
		}
	})
}
