package policy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

func TestExceptionsMatch(t *testing.T) {
	x, err := policy.NewExceptions([]policy.Exception{
		{ID: "6F9619FF-8B86-D011-B42D-00C04FC964FF", Note: "Break-glass admin"},
		{Email: " CEO@Example.com "},
		{Pattern: "^svc-"},
		{Pattern: "(?-i)^Robot"},
		{ID: "id-9", Email: "nine@example.com"},
	})
	require.NoError(t, err)
	assert.Equal(t, 5, x.Len())

	tests := []struct {
		name   string
		acct   diff.Account
		match  bool
		detail string
	}{
		{"by ID, ignoring case", diff.Account{ExternalID: "6f9619ff-8b86-d011-b42d-00c04fc964ff", Email: "root@example.com"}, true,
			`Exception by ID "6f9619ff-8b86-d011-b42d-00c04fc964ff" (Break-glass admin): never touched by sync`},
		{"by email, ignoring case", diff.Account{ExternalID: "u2", Email: "ceo@example.COM"}, true,
			`Exception by email "CEO@Example.com": never touched by sync`},
		{"by pattern on username", diff.Account{ExternalID: "u3", Username: "SVC-backup"}, true,
			`Exception by pattern "^svc-": never touched by sync`},
		{"by pattern on email", diff.Account{Email: "svc-mail@example.com"}, true,
			`Exception by pattern "^svc-": never touched by sync`},
		{"by pattern on display name", diff.Account{DisplayName: "Robot Arm"}, true,
			`Exception by pattern "(?-i)^Robot": never touched by sync`},
		{"case-sensitive pattern", diff.Account{DisplayName: "robot arm"}, false, ""},
		{"pattern on given and family name", diff.Account{GivenName: "svc-", FamilyName: "x"}, true,
			`Exception by pattern "^svc-": never touched by sync`},
		{"either of ID and email: ID", diff.Account{ExternalID: "id-9", Email: "renamed@example.com"}, true,
			`Exception by ID "id-9": never touched by sync`},
		{"either of ID and email: email", diff.Account{Email: "nine@example.com"}, true,
			`Exception by email "nine@example.com": never touched by sync`},
		{"no match", diff.Account{ExternalID: "u4", Email: "jane@example.com", Username: "jane"}, false, ""},
		{"app ID is not the directory ID", diff.Account{ID: "id-9"}, false, ""},
		{"empty account", diff.Account{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := x.Match(&tt.acct)
			assert.Equal(t, tt.match, ok)
			if tt.match {
				assert.Equal(t, diff.ReasonException, r.Code)
				assert.Equal(t, tt.detail, r.Detail)
			} else {
				assert.Zero(t, r)
			}
		})
	}

	var none *policy.Exceptions
	_, ok := none.Match(&diff.Account{Email: "ceo@example.com"})
	assert.False(t, ok)
	_, ok = x.Match(nil)
	assert.False(t, ok)
}

func TestExceptionsInvalid(t *testing.T) {
	_, err := policy.NewExceptions([]policy.Exception{
		{Email: "ok@example.com"},
		{Pattern: "(unclosed"},
		{Note: "nobody"},
		{ID: "  "},
	})
	require.Error(t, err)
	assert.ErrorContains(t, err, "exceptions[1]: pattern: error parsing regexp: missing closing ): `(unclosed`")
	assert.ErrorContains(t, err, "exceptions[2]: names no account")
	assert.ErrorContains(t, err, "exceptions[3]: names no account")
	assert.NotContains(t, err.Error(), "exceptions[0]")

	_, err = policy.New(policy.Config{Exceptions: []policy.Exception{{Pattern: "["}}})
	assert.ErrorContains(t, err, "policy: invalid configuration: exceptions[0]: pattern")
}

func TestOptionsExceptions(t *testing.T) {
	p := mustPolicy(t, policy.Config{Exceptions: []policy.Exception{{Email: "a@example.com", Note: "config"}}})
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	o := p.Options(now)
	require.NotNil(t, o.Except)
	r, ok := o.Except(&diff.Account{Email: "A@example.com"})
	assert.True(t, ok)
	assert.Equal(t, `Exception by email "a@example.com" (config): never touched by sync`, r.Detail)
	_, ok = o.Except(&diff.Account{Email: "b@example.com"})
	assert.False(t, ok)

	o = p.Options(now, policy.Exception{Email: "b@example.com", Note: "stored"}, policy.Exception{})
	r, ok = o.Except(&diff.Account{Email: "b@example.com"})
	assert.True(t, ok)
	assert.Equal(t, `Exception by email "b@example.com" (stored): never touched by sync`, r.Detail)
	_, ok = o.Except(&diff.Account{Email: "c@example.com"})
	assert.False(t, ok, "an empty extra exception is ignored")

	// No exceptions at all: no Except func.
	assert.Nil(t, mustPolicy(t, policy.Config{}).Options(now).Except)
	assert.Nil(t, mustPolicy(t, policy.Config{}).Options(now, policy.Exception{}).Except)

	// A corrupt stored exception fails closed: it matches everyone.
	o = p.Options(now, policy.Exception{Pattern: "(", Note: "broken"})
	r, ok = o.Except(&diff.Account{Email: "anyone@example.com"})
	assert.True(t, ok)
	assert.Equal(t, diff.ReasonException, r.Code)
	assert.Contains(t, r.Detail, "An exception stored for this integration is invalid")
	assert.Contains(t, r.Detail, "sync touches no account until it is fixed or removed")
	// The configured exception still comes first.
	r, _ = o.Except(&diff.Account{Email: "a@example.com"})
	assert.Contains(t, r.Detail, "(config)")
}

// Emails are compared as diff.NormalizeEmail gives them, and a pattern
// sees the normal forms too: no spelling of one person escapes an
// exception.
func TestExceptionsMatchNormalForms(t *testing.T) {
	const (
		nfc = "jos\u00e9@example.com"
		nfd = "jose\u0301@example.com"
	)
	for _, tt := range []struct {
		name string
		ex   policy.Exception
		acct diff.Account
	}{
		{"NFD email, NFC account", policy.Exception{Email: nfd}, diff.Account{Email: nfc}},
		{"NFC email, NFD account", policy.Exception{Email: nfc}, diff.Account{Email: nfd}},
		{"NFD email with case and spaces", policy.Exception{Email: " JOSE\u0301@Example.COM\t"}, diff.Account{Email: nfc}},
		{"account email with case and spaces", policy.Exception{Email: nfc}, diff.Account{Email: "  Jos\u00e9@EXAMPLE.com "}},
		{"NFD pattern, NFC email", policy.Exception{Pattern: "^jose\u0301@"}, diff.Account{Email: nfc}},
		{"NFC pattern, NFD email", policy.Exception{Pattern: "^jos\u00e9@"}, diff.Account{Email: nfd}},
		{"case-sensitive pattern sees the normalised email", policy.Exception{Pattern: "(?-i)^jos\u00e9@example"}, diff.Account{Email: "JOSE\u0301@Example.com"}},
		{"case-sensitive pattern still sees the email as written", policy.Exception{Pattern: "(?-i)^JOS"}, diff.Account{Email: "JOSE@example.com"}},
		{"NFD pattern, NFC display name", policy.Exception{Pattern: "^Jose\u0301 "}, diff.Account{DisplayName: "Jos\u00e9 Ruiz"}},
		{"NFC pattern, NFD given name", policy.Exception{Pattern: "^Jos\u00e9 Ruiz$"}, diff.Account{GivenName: "Jose\u0301", FamilyName: "Ruiz"}},
		{"NFD pattern, NFC username", policy.Exception{Pattern: "^jose\u0301$"}, diff.Account{Username: "jos\u00e9"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, err := policy.NewExceptions([]policy.Exception{tt.ex})
			require.NoError(t, err)
			r, ok := x.Match(&tt.acct)
			require.True(t, ok)
			assert.Equal(t, diff.ReasonException, r.Code)
			// The same through Options, as the Syncer and sign-in use it.
			_, ok = mustPolicy(t, policy.Config{}).Options(time.Time{}, tt.ex).Except(&tt.acct)
			assert.True(t, ok, "as an extra exception")
			_, ok = mustPolicy(t, policy.Config{Exceptions: []policy.Exception{tt.ex}}).Options(time.Time{}).Except(&tt.acct)
			assert.True(t, ok, "as a configured exception")
		})
	}
	// Normalising does not widen an email exception to another person.
	x, err := policy.NewExceptions([]policy.Exception{{Email: nfd}})
	require.NoError(t, err)
	_, ok := x.Match(&diff.Account{Email: "jose@example.com"})
	assert.False(t, ok, "e without an accent is another email")
	// The reason quotes the exception as the admin typed it.
	r, _ := x.Match(&diff.Account{Email: nfc})
	assert.Equal(t, `Exception by email "`+nfd+`": never touched by sync`, r.Detail)
}
