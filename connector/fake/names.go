package fake

// The people's names come from internal/fakenames, the one source of fake
// people, shared with the examples' sample company. They are fixed so that
// a seed always produces the same company.

var serviceNames = [...]string{
	"backup", "build", "monitor", "print", "scanner", "sql", "web", "mail", "sftp", "reports",
}
