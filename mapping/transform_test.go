package mapping_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/mapping"
)

// apply maps an entry whose attribute "in" is in through one rule with the
// transforms.
func apply(t *testing.T, in string, transforms ...string) string {
	t.Helper()
	m, err := mapping.New(mapping.Spec{Rules: []mapping.Rule{{Target: "extra.out", From: []string{"in"}, Transforms: transforms}}})
	require.NoError(t, err)
	a, err := m.Map(&connector.Entry{ID: "1", Attrs: connector.Attrs{"in": {in}}}, nil)
	require.NoError(t, err)
	return a.Extra["out"]
}

func TestTransforms(t *testing.T) {
	tests := []struct {
		in         string
		transforms []string
		want       string
	}{
		{"John.Smith@Corp.Example", []string{"lower"}, "john.smith@corp.example"},
		{"Ärger über", []string{"upper"}, "ÄRGER ÜBER"},
		{"  a \t b\n c  ", []string{"trim"}, "a b c"},
		{"ANNE-MARIE o'neil", []string{"title"}, "Anne-Marie O'neil"},
		{"jean  DE la fontaine", []string{"title"}, "Jean  De La Fontaine"},
		{"élodie", []string{"title"}, "Élodie"},
		{"jsmith@corp.example", []string{"localpart"}, "jsmith"},
		{"no-at-sign", []string{"localpart"}, "no-at-sign"},
		{"jsmith", []string{"domain:example.com"}, "jsmith@example.com"},
		{"jsmith@old.example", []string{"domain:example.com"}, "jsmith@example.com"},
		{"J Smith", []string{"domain:example.com", "lower"}, "j smith@example.com"},
		{"Jürgen Müller", []string{"translit"}, "Jurgen Muller"},
		{"Σωκράτης Παπαδόπουλος", []string{"translit"}, "Sokrates Papadopoulos"},
		{"Αθήνα", []string{"translit"}, "Athena"},
		{"王小明", []string{"translit"}, "Wang Xiao Ming"},
		{"北京", []string{"translit", "lower"}, "bei jing"},
		{"Наталья", []string{"translit"}, "Natal'ia"},
		{"Наталья", []string{"translit:ru-icao"}, "Natalia"},
		// Order matters: the first lower-cases before transliterating.
		{"Юлия", []string{"lower", "translit:ru-icao"}, "iuliia"},
		{"Юлия", []string{"translit:ru-icao", "upper"}, "IULIIA"},
		{"Юлия Щербакова", []string{"translit:ru-icao", "lower", "domain:corp.example"}, "iuliia shcherbakova@corp.example"},
		// ICAO leaves what it does not know; translit folds the rest.
		{"Щербакова-Müller", []string{"translit:ru-icao"}, "Shcherbakova-Müller"},
		{"Щербакова-Müller", []string{"translit:ru-icao", "translit"}, "Shcherbakova-Muller"},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.transforms[0], func(t *testing.T) {
			assert.Equal(t, tt.want, apply(t, tt.in, tt.transforms...))
		})
	}
}

func TestTranslitRuICAO(t *testing.T) {
	tests := []struct{ in, want string }{
		// Real names, as they appear in Russian international passports.
		{"Юлия Щербакова", "Iuliia Shcherbakova"},
		{"Пётр Хрущёв", "Petr Khrushchev"},
		{"Наталья Зайцева", "Natalia Zaitseva"},
		{"Алексей Чайковский", "Aleksei Chaikovskii"},
		{"Дмитрий Шостакович", "Dmitrii Shostakovich"},
		{"Фёдор Достоевский", "Fedor Dostoevskii"},
		{"Ольга Жукова", "Olga Zhukova"},
		{"Эдуард Цыганов", "Eduard Tsyganov"},
		{"Татьяна Юрьева", "Tatiana Iureva"},
		{"Илья Подъячев", "Ilia Podieiachev"},
		{"Ксения Васильева", "Kseniia Vasileva"},
		{"Щукин", "Shchukin"},
		// All capitals stay capitals, as in the machine-readable zone.
		{"ЩУКИН", "SHCHUKIN"},
		{"ЮЛИЯ ЩЕРБАКОВА", "IULIIA SHCHERBAKOVA"},
		{"НАТАЛЬЯ", "NATALIA"},
		{"ВАЩ", "VASHCH"},
		// A lone capital (an initial) is capitalized, not upper-cased.
		{"Щ. Ю.", "Shch. Iu."},
		// Every letter of the alphabet.
		{"абвгдеёжзийклмнопрстуфхцчшщъыьэюя", "abvgdeezhziiklmnoprstufkhtschshshchieyeiuia"},
		{"АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ", "ABVGDEEZHZIIKLMNOPRSTUFKHTSCHSHSHCHIEYEIUIA"},
		{"plain ASCII 123", "plain ASCII 123"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, apply(t, tt.in, "translit:ru-icao"))
		})
	}
}
