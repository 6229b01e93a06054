package ldaputil

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseUserAccountControl(t *testing.T) {
	tests := []struct {
		in       string
		want     UserAccountControl
		disabled bool
		locked   bool
	}{
		{in: "512", want: 0x200},
		{in: "514", want: 0x202, disabled: true},
		{in: "66048", want: 0x10200},
		{in: "66050", want: 0x10202, disabled: true},
		{in: "528", want: 0x210, locked: true},
		{in: " 546 ", want: 0x222, disabled: true},
		{in: "0", want: 0},
		{in: "4294967295", want: 0xFFFFFFFF, disabled: true, locked: true},
		{in: "-2147483646", want: 0x80000002, disabled: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUserAccountControl(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.disabled, got.Disabled())
			assert.Equal(t, tt.locked, got.LockedOut())
		})
	}
	for _, bad := range []string{"", " ", "0x202", "abc", "5l2", "4294967296", "-2147483649", "1e3"} {
		_, err := ParseUserAccountControl(bad)
		assert.Error(t, err, "%q", bad)
	}
	assert.Equal(t, "514", (UACNormalAccount | UACAccountDisable).String())
	assert.True(t, UserAccountControl(0x10202).Has(UACNormalAccount|UACDontExpirePassword))
}
