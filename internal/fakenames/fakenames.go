// Package fakenames holds the names of the repository's fake people, so
// that there is one source of them: connector/fake's generated companies
// (fake.Company) and the examples' sample company (internal/sampledata,
// company.ldif) both draw from these tables.
//
// The tables are fixed. A generator that picks from them with a fixed seed
// writes the same people every time; changing a table changes every fake
// company and the sample company, which connector/fake's and
// internal/sampledata's tests point out.
//
// Latin-script names come with ASCII, the folding an admin applies to make
// an account name of one. Russian names are written in Cyrillic and carry
// their account-name transliteration, as ICAO Doc 9303 (Russian passports)
// writes it.
package fakenames

import "strings"

// Given holds given names: English ones first, then European names (some
// with diacritics) and a few from Asia and Africa.
var Given = [...]string{
	"James", "Mary", "John", "Linda", "Robert", "Susan", "Michael", "Karen",
	"David", "Lisa", "William", "Nancy", "Richard", "Betty", "Joseph", "Sandra",
	"Thomas", "Ashley", "Charles", "Emily", "Daniel", "Donna", "Matthew", "Michelle",
	"Anthony", "Carol", "Mark", "Amanda", "Paul", "Melissa", "Steven", "Deborah",
	"Andrew", "Laura", "Kenneth", "Rebecca", "Kevin", "Sharon", "Brian", "Cynthia",
	"Olivier", "Camille", "Lukas", "Hannah", "Mateo", "Lucia", "Sven", "Ingrid",
	"Jörg", "Zoë", "François", "Søren", "Aoife", "Siobhán", "José", "Inés",
	"Wei", "Mei", "Hiroshi", "Yuki", "Arjun", "Priya", "Kwame", "Amara",
}

// Family holds family names, ordered as Given is.
var Family = [...]string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
	"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
	"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
	"Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
	"Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
	"Müller", "Schmidt", "Dubois", "Lefèvre", "Rossi", "Bianchi", "Nielsen", "Jensen",
	"O'Brien", "Murphy", "Kowalski", "Nowak", "Tanaka", "Sato", "Patel", "Okafor",
}

// RussianGivenName is a Russian given name and its transliteration.
type RussianGivenName struct {
	Name, Latin string
	Female      bool
}

// RussianGiven holds Russian given names.
var RussianGiven = [...]RussianGivenName{
	{"Иван", "ivan", false}, {"Алексей", "aleksei", false}, {"Дмитрий", "dmitrii", false},
	{"Сергей", "sergei", false}, {"Андрей", "andrei", false}, {"Михаил", "mikhail", false},
	{"Николай", "nikolai", false}, {"Павел", "pavel", false}, {"Юрий", "iurii", false},
	{"Анна", "anna", true}, {"Мария", "mariia", true}, {"Елена", "elena", true},
	{"Ольга", "olga", true}, {"Наталья", "natalia", true}, {"Татьяна", "tatiana", true},
	{"Екатерина", "ekaterina", true}, {"Юлия", "iuliia", true}, {"Светлана", "svetlana", true},
}

// RussianFamilyName is a Russian family name in the masculine form and its
// transliteration. The feminine form adds "а" ("a" in the
// transliteration); Feminine returns it.
type RussianFamilyName struct{ Name, Latin string }

// Feminine returns the feminine form of the name and its transliteration.
func (n RussianFamilyName) Feminine() RussianFamilyName {
	return RussianFamilyName{Name: n.Name + "а", Latin: n.Latin + "a"}
}

// RussianFamily holds Russian family names in the masculine form.
var RussianFamily = [...]RussianFamilyName{
	{"Иванов", "ivanov"}, {"Смирнов", "smirnov"}, {"Кузнецов", "kuznetsov"},
	{"Попов", "popov"}, {"Васильев", "vasilev"}, {"Петров", "petrov"},
	{"Соколов", "sokolov"}, {"Михайлов", "mikhailov"}, {"Новиков", "novikov"},
	{"Фёдоров", "fedorov"}, {"Морозов", "morozov"}, {"Волков", "volkov"},
	{"Алексеев", "alekseev"}, {"Лебедев", "lebedev"}, {"Семёнов", "semenov"},
	{"Егоров", "egorov"}, {"Павлов", "pavlov"}, {"Козлов", "kozlov"},
	{"Степанов", "stepanov"}, {"Никитин", "nikitin"}, {"Орлов", "orlov"},
}

var foldReplacer = strings.NewReplacer(
	"ö", "o", "ü", "u", "ë", "e", "é", "e", "è", "e", "ç", "c", "ø", "o",
	"á", "a", "í", "i", "'", "",
)

// ASCII lower-cases a Latin-script name and drops its diacritics and
// apostrophes, as an admin does when making an account name of it:
// "Søren" → "soren", "O'Brien" → "obrien". It knows the letters of Given
// and Family (a test checks every name folds to a-z) and leaves others as
// they are.
func ASCII(name string) string {
	return foldReplacer.Replace(strings.ToLower(name))
}
