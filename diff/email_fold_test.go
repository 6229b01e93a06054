package diff

import "testing"

// Emails compare as connector/scim compares userNames: full case folding
// over NFC, without Turkish rules.
func TestNormalizeEmailFoldsCase(t *testing.T) {
	same := [][2]string{
		{"ΟΔΟΣ@x.test", "οδος@x.test"},
		{"οδοσ@x.test", "οδος@x.test"},
		{"STRASSE@x.test", "straße@x.test"},
		{"Jose\u0301@X.test", " josé@x.test "},
	}
	for _, p := range same {
		if a, b := NormalizeEmail(p[0]), NormalizeEmail(p[1]); a != b {
			t.Errorf("%q and %q differ: %q, %q", p[0], p[1], a, b)
		}
	}
	if NormalizeEmail("İSTANBUL@x.test") == NormalizeEmail("istanbul@x.test") {
		t.Error("İSTANBUL and istanbul are two emails")
	}
}
