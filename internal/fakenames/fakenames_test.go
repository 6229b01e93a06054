package fakenames

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every name makes an account name of a-z only, and no table repeats a
// name (a repeat would only skew the draw).
func TestTables(t *testing.T) {
	az := regexp.MustCompile(`^[a-z]+$`)
	check := func(table string, names, latin []string) {
		seen := map[string]bool{}
		for i, n := range names {
			assert.Regexp(t, az, latin[i], "%s: %s", table, n)
			assert.False(t, seen[n], "%s: %s listed twice", table, n)
			seen[n] = true
		}
	}
	var given, family []string
	for _, n := range Given {
		given = append(given, ASCII(n))
	}
	for _, n := range Family {
		family = append(family, ASCII(n))
	}
	check("Given", Given[:], given)
	check("Family", Family[:], family)
	var rg, rgl, rf, rfl []string
	for _, n := range RussianGiven {
		rg, rgl = append(rg, n.Name), append(rgl, n.Latin)
	}
	for _, n := range RussianFamily {
		rf, rfl = append(rf, n.Name), append(rfl, n.Latin)
	}
	check("RussianGiven", rg, rgl)
	check("RussianFamily", rf, rfl)
}

func TestASCII(t *testing.T) {
	for in, want := range map[string]string{
		"Søren": "soren", "O'Brien": "obrien", "Jörg": "jorg", "Zoë": "zoe",
		"François": "francois", "Siobhán": "siobhan", "Lefèvre": "lefevre", "Müller": "muller",
		"Amélie": "amelie", "Smith": "smith",
	} {
		assert.Equal(t, want, ASCII(in), in)
	}
	assert.Equal(t, RussianFamilyName{"Иванова", "ivanova"}, RussianFamily[0].Feminine())
}
