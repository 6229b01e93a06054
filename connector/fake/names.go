package fake

// Name tables for Company. They are fixed so that a seed always produces
// the same company.

var firstNames = [...]string{
	"James", "Mary", "John", "Linda", "Robert", "Susan", "Michael", "Karen",
	"David", "Lisa", "William", "Nancy", "Richard", "Betty", "Joseph", "Sandra",
	"Thomas", "Ashley", "Charles", "Emily", "Daniel", "Donna", "Matthew", "Michelle",
	"Anthony", "Carol", "Mark", "Amanda", "Paul", "Melissa", "Steven", "Deborah",
	"Andrew", "Laura", "Kenneth", "Rebecca", "Kevin", "Sharon", "Brian", "Cynthia",
	"Olivier", "Camille", "Lukas", "Hannah", "Mateo", "Lucia", "Sven", "Ingrid",
	"Jörg", "Zoë", "François", "Søren", "Aoife", "Siobhán", "José", "Inés",
	"Wei", "Mei", "Hiroshi", "Yuki", "Arjun", "Priya", "Kwame", "Amara",
}

var lastNames = [...]string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
	"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
	"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
	"Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
	"Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
	"Müller", "Schmidt", "Dubois", "Lefèvre", "Rossi", "Bianchi", "Nielsen", "Jensen",
	"O'Brien", "Murphy", "Kowalski", "Nowak", "Tanaka", "Sato", "Patel", "Okafor",
}

// cyrillicFirst holds Russian given names with an ASCII transliteration for
// account names.
var cyrillicFirst = [...]struct {
	name, latin string
	female      bool
}{
	{"Иван", "ivan", false}, {"Алексей", "aleksei", false}, {"Дмитрий", "dmitrii", false},
	{"Сергей", "sergei", false}, {"Андрей", "andrei", false}, {"Михаил", "mikhail", false},
	{"Николай", "nikolai", false}, {"Павел", "pavel", false}, {"Юрий", "iurii", false},
	{"Анна", "anna", true}, {"Мария", "mariia", true}, {"Елена", "elena", true},
	{"Ольга", "olga", true}, {"Наталья", "natalia", true}, {"Татьяна", "tatiana", true},
	{"Екатерина", "ekaterina", true}, {"Юлия", "iuliia", true}, {"Светлана", "svetlana", true},
}

// cyrillicLast holds Russian family names in the masculine form; each takes
// "а" ("a" in the transliteration) in the feminine form.
var cyrillicLast = [...]struct{ name, latin string }{
	{"Иванов", "ivanov"}, {"Смирнов", "smirnov"}, {"Кузнецов", "kuznetsov"},
	{"Попов", "popov"}, {"Васильев", "vasilev"}, {"Петров", "petrov"},
	{"Соколов", "sokolov"}, {"Михайлов", "mikhailov"}, {"Новиков", "novikov"},
	{"Фёдоров", "fedorov"}, {"Морозов", "morozov"}, {"Волков", "volkov"},
	{"Алексеев", "alekseev"}, {"Лебедев", "lebedev"}, {"Семёнов", "semenov"},
	{"Егоров", "egorov"}, {"Павлов", "pavlov"}, {"Козлов", "kozlov"},
	{"Степанов", "stepanov"}, {"Никитин", "nikitin"}, {"Орлов", "orlov"},
}

var serviceNames = [...]string{
	"backup", "build", "monitor", "print", "scanner", "sql", "web", "mail", "sftp", "reports",
}
