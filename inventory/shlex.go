package inventory

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shlexSplit mirrors Python's shlex.split(s, comments=True, posix=True), as
// the ini plugin uses it for host lines: whitespace separates tokens, quotes
// group, a backslash escapes, and '#' starts a comment anywhere outside
// quotes (even inside a word).
func shlexSplit(s string) ([]string, error) {
	const (
		stSpace = iota
		stWord
		stQuote
		stEscape
	)
	var (
		tokens   []string
		tok      strings.Builder
		state    = stSpace
		quote    rune // the open quote in stQuote
		escFrom  = stWord
		escQuote rune // the quote an escape was started in, if any
	)
	emit := func() {
		tokens = append(tokens, tok.String())
		tok.Reset()
	}
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }
	rs := []rune(s)
	for i := 0; i <= len(rs); i++ {
		eof := i == len(rs)
		var c rune
		if !eof {
			c = rs[i]
		}
		switch state {
		case stSpace:
			switch {
			case eof:
				return tokens, nil
			case isSpace(c):
			case c == '#':
				i = len(rs) - 1 // comment: skip the rest of the line
			case c == '\\':
				escFrom, escQuote, state = stWord, 0, stEscape
			case c == '\'' || c == '"':
				quote, state = c, stQuote
			default:
				tok.WriteRune(c)
				state = stWord
			}
		case stQuote:
			switch {
			case eof:
				return nil, errors.New("No closing quotation")
			case c == quote:
				state = stWord
			case c == '\\' && quote == '"':
				escFrom, escQuote, state = stQuote, quote, stEscape
			default:
				tok.WriteRune(c)
			}
		case stEscape:
			if eof {
				return nil, errors.New("No escaped character")
			}
			if escQuote != 0 && c != '\\' && c != escQuote {
				tok.WriteRune('\\')
			}
			tok.WriteRune(c)
			state = escFrom
		case stWord:
			switch {
			case eof:
				emit()
				return tokens, nil
			case isSpace(c):
				state = stSpace
				emit()
			case c == '#':
				i = len(rs) - 1
				state = stSpace
				emit()
			case c == '\'' || c == '"':
				quote, state = c, stQuote
			case c == '\\':
				escFrom, escQuote, state = stWord, 0, stEscape
			default:
				tok.WriteRune(c)
			}
		}
	}
	return tokens, nil
}

// pyIsSpace reports whether Python's str.isspace() is true for r.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip mirrors Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pySplitLines mirrors Python's str.splitlines().
func pySplitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e:
				lines = append(lines, s[start:i])
				i++
				start = i
			case '\r':
				lines = append(lines, s[start:i])
				i++
				if i < len(s) && s[i] == '\n' {
					i++
				}
				start = i
			default:
				i++
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0x85 || r == 0x2028 || r == 0x2029 {
			lines = append(lines, s[start:i])
			start = i + size
		}
		i += size
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}
