package fakegoogle

// groups.list's query parameter, as "Search for groups" documents it
// (https://developers.google.com/workspace/admin/directory/v1/guides/search-groups):
//
//   - Clauses separated by whitespace, joined by an implicit AND; each
//     clause is field, operator, value.
//   - Fields: email and name, with the operators = (the field and the
//     value match exactly: name=contact matches "contact", not
//     "contactgroup") and :{PREFIX}* (the field starts with the value:
//     email:support* matches "supportgroup@" and "support@", not
//     "contactsupport"); memberKey with = (the groups a user or group is a
//     member of), which cannot be combined with email or name. There is
//     no "contains" operator for groups: ':' without the trailing '*' is
//     not one of the documented operators.
//   - A string value is surrounded with single quotes if it contains
//     whitespace; a single quote in it is escaped as \', for example
//     'Valentine\'s Day'.
//
// Not documented, so chosen here: matching ignores case (as the Admin
// console's search does); a backslash in a quoted value escapes the next
// character; a query outside this grammar is answered 400 invalid
// "Invalid Input", as the fake answers an unknown users.list query;
// memberKey is matched against the direct members' IDs and emails.

import (
	"errors"
	"strings"
	"unicode"
)

// groupClause is one clause of a groups.list query.
type groupClause struct {
	field  string // "email", "name", "memberKey"
	prefix bool   // :{PREFIX}*; else =
	value  string
}

// parseGroupQuery parses a groups.list query.
func parseGroupQuery(q string) ([]groupClause, error) {
	var out []groupClause
	rs := []rune(q)
	i := 0
	for {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
		if i == len(rs) {
			break
		}
		start := i
		for i < len(rs) && unicode.IsLetter(rs[i]) {
			i++
		}
		c := groupClause{field: string(rs[start:i])}
		switch c.field {
		case "email", "name", "memberKey":
		default:
			return nil, errors.New("unknown field " + c.field)
		}
		if i == len(rs) || rs[i] != '=' && rs[i] != ':' {
			return nil, errors.New("an operator is missing after " + c.field)
		}
		c.prefix = rs[i] == ':'
		i++
		var v strings.Builder
		if i < len(rs) && rs[i] == '\'' {
			i++
			for {
				if i == len(rs) {
					return nil, errors.New("a quoted value is not closed")
				}
				r := rs[i]
				i++
				if r == '\\' && i < len(rs) {
					v.WriteRune(rs[i])
					i++
					continue
				}
				if r == '\'' {
					break
				}
				v.WriteRune(r)
			}
		} else {
			for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '*' {
				if rs[i] == '\'' || rs[i] == '\\' {
					return nil, errors.New("a quote or backslash outside a quoted value")
				}
				v.WriteRune(rs[i])
				i++
			}
		}
		c.value = v.String()
		if c.prefix {
			if i == len(rs) || rs[i] != '*' || c.field == "memberKey" {
				return nil, errors.New("':' is only the prefix operator, field:value*, on email and name")
			}
			i++
		}
		if i < len(rs) && !unicode.IsSpace(rs[i]) {
			return nil, errors.New("unexpected " + string(rs[i:]))
		}
		out = append(out, c)
	}
	var member, other bool
	for _, c := range out {
		member = member || c.field == "memberKey"
		other = other || c.field != "memberKey"
	}
	if member && other {
		return nil, errors.New("memberKey cannot be used with email or name")
	}
	return out, nil
}

// matchGroup reports whether g satisfies every clause. The caller holds mu.
func (s *Server) matchGroup(clauses []groupClause, g *Group) bool {
	for _, c := range clauses {
		var ok bool
		switch c.field {
		case "memberKey":
			for _, m := range s.members[g.ID] {
				ok = ok || m.ID == c.value || strings.EqualFold(m.Email, c.value)
			}
		default:
			field := g.Name
			if c.field == "email" {
				field = g.Email
			}
			if c.prefix {
				ok = strings.HasPrefix(strings.ToLower(field), strings.ToLower(c.value))
			} else {
				ok = strings.EqualFold(field, c.value)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
