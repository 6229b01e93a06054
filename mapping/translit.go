package mapping

import (
	"strings"
	"unicode"
)

// ruICAO is the Russian part of the Cyrillic-to-Latin table of ICAO Doc 9303
// (Machine Readable Travel Documents), the scheme Russian international
// passports use, keyed by lower-case letter.
var ruICAO = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d",
	'е': "e", 'ё': "e", 'ж': "zh", 'з': "z", 'и': "i",
	'й': "i", 'к': "k", 'л': "l", 'м': "m", 'н': "n",
	'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t",
	'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch",
	'ш': "sh", 'щ': "shch", 'ъ': "ie", 'ы': "y", 'ь': "",
	'э': "e", 'ю': "iu", 'я': "ia",
}

// translitRuICAO transliterates Russian Cyrillic letters by the ICAO table
// and leaves every other character as it is; follow it with "translit" to
// fold what remains to ASCII.
//
// Case follows the source: a lower-case letter gives lower case; a capital
// gives a capitalized digraph ("Щукин" → "Shchukin") unless it stands among
// capitals, where it gives capitals ("ЩУКИН" → "SHCHUKIN").
func translitRuICAO(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		lat, ok := ruICAO[unicode.ToLower(r)]
		if !ok {
			b.WriteRune(r)
			continue
		}
		if !unicode.IsUpper(r) || lat == "" {
			b.WriteString(lat)
			continue
		}
		if len(lat) == 1 || allCapsAt(rs, i) {
			b.WriteString(strings.ToUpper(lat))
			continue
		}
		b.WriteString(strings.ToUpper(lat[:1]))
		b.WriteString(lat[1:])
	}
	return b.String()
}

// allCapsAt reports whether the capital at rs[i] stands in an all-capitals
// word: the next letter is a capital, or the word ends there and the letter
// before is a capital.
func allCapsAt(rs []rune, i int) bool {
	if i+1 < len(rs) && unicode.IsLetter(rs[i+1]) {
		return unicode.IsUpper(rs[i+1])
	}
	return i > 0 && unicode.IsUpper(rs[i-1])
}
