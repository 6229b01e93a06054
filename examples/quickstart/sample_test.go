package main

import (
	"bufio"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/examples/internal/appstore"
)

// TestSeedMatchesSample checks the story appstore.SampleSignups tells against
// company.ldif: the CEO is an enabled directory user, Ethan Walker a
// disabled one, Priya Raman is not in the directory.
func TestSeedMatchesSample(t *testing.T) {
	f, err := os.Open("company.ldif")
	require.NoError(t, err)
	defer f.Close()

	// mail → userAccountControl, from a minimal LDIF read.
	uac := map[string]string{}
	var mail, ctl string
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, " ") && len(lines) > 0 {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	lines = append(lines, "")
	for _, l := range lines {
		switch {
		case l == "":
			if mail != "" {
				uac[strings.ToLower(mail)] = ctl
			}
			mail, ctl = "", ""
		case strings.HasPrefix(l, "mail: "):
			mail = strings.TrimPrefix(l, "mail: ")
		case strings.HasPrefix(l, "mail:: "):
			b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "mail:: "))
			require.NoError(t, err)
			mail = string(b)
		case strings.HasPrefix(l, "userAccountControl: "):
			ctl = strings.TrimPrefix(l, "userAccountControl: ")
		}
	}
	require.Greater(t, len(uac), 150)

	signups := appstore.SampleSignups()

	assert.Equal(t, "512", uac[strings.ToLower(signups[0].Email)], "CEO")
	assert.NotContains(t, uac, strings.ToLower(signups[1].Email), "consultant")
	assert.Equal(t, "514", uac[strings.ToLower(signups[2].Email)], "Ethan Walker")
}
