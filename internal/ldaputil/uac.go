package ldaputil

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// UserAccountControl holds the flags of the AD userAccountControl
// attribute.
type UserAccountControl uint32

// Flags of userAccountControl that the connectors read. See Microsoft's
// "UserAccountControl property flags".
const (
	// UACAccountDisable (ACCOUNTDISABLE) marks an account that cannot sign in.
	UACAccountDisable UserAccountControl = 0x2
	// UACLockout (LOCKOUT) marks a locked-out account. AD does not keep
	// this bit current in the stored attribute; read the constructed
	// msDS-User-Account-Control-Computed for a reliable value.
	UACLockout UserAccountControl = 0x10
	// UACNormalAccount (NORMAL_ACCOUNT) marks a regular user account.
	UACNormalAccount UserAccountControl = 0x200
	// UACDontExpirePassword (DONT_EXPIRE_PASSWORD) marks an account whose
	// password never expires, typical of service accounts.
	UACDontExpirePassword UserAccountControl = 0x10000
)

// errEmptyUAC is returned for an empty userAccountControl value.
var errEmptyUAC = errors.New("ldaputil: empty userAccountControl")

// ParseUserAccountControl parses the decimal text of userAccountControl as
// LDAP returns it. The attribute is a 32-bit integer; a negative value (a
// tool printing it as signed) is accepted and read as its unsigned bits.
func ParseUserAccountControl(s string) (UserAccountControl, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errEmptyUAC
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxUint32 {
		return 0, fmt.Errorf("ldaputil: userAccountControl %q is not a 32-bit integer", s)
	}
	return UserAccountControl(uint32(v)), nil
}

// Has reports whether every bit of flag is set.
func (u UserAccountControl) Has(flag UserAccountControl) bool { return u&flag == flag }

// Disabled reports whether ACCOUNTDISABLE is set.
func (u UserAccountControl) Disabled() bool { return u.Has(UACAccountDisable) }

// LockedOut reports whether LOCKOUT is set.
func (u UserAccountControl) LockedOut() bool { return u.Has(UACLockout) }

// String returns the decimal form LDAP uses.
func (u UserAccountControl) String() string { return strconv.FormatUint(uint64(u), 10) }
