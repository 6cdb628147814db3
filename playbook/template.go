package playbook

import "strings"

// IsTemplate reports whether s contains a Jinja2 construct, approximating
// Ansible's Templar.is_template: the first Jinja2 begin token ("{{", "{%",
// "{#") must be followed by its matching end token, and the expression in
// between must lex (balanced brackets and quotes).
func IsTemplate(s string) bool {
	start := -1
	kind := byte(0)
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			start, kind = i+2, s[i+1]
			break
		}
	}
	if start < 0 {
		return false
	}
	switch kind {
	case '#':
		return strings.Contains(s[start:], "#}")
	case '{':
		return lexUntil(s[start:], "}}")
	default:
		return lexUntil(s[start:], "%}")
	}
}

// lexUntil scans a Jinja2 expression until the end delimiter at bracket
// depth zero; it fails on unterminated strings, unbalanced brackets or
// characters Jinja2's lexer rejects.
func lexUntil(s, end string) bool {
	var stack []byte
	for i := 0; i < len(s); {
		c := s[i]
		if len(stack) == 0 && strings.HasPrefix(s[i:], end) {
			return true
		}
		if len(stack) == 0 && c == '-' && strings.HasPrefix(s[i+1:], end) {
			return true
		}
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return false
			}
			i = j + 1
			continue
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case c == ')' || c == ']' || c == '}':
			if len(stack) == 0 {
				return false
			}
			open := stack[len(stack)-1]
			if (c == ')' && open != '(') || (c == ']' && open != '[') || (c == '}' && open != '{') {
				return false
			}
			stack = stack[:len(stack)-1]
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case strings.IndexByte("+-/*%~=!<>.:|,;", c) >= 0:
		case c >= 0x80: // identifiers may be non-ASCII
		default:
			return false
		}
		i++
	}
	return false
}
