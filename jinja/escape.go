package jinja

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// prepareSource is applied to every template before gonja parses it: see
// escapeBackslashes.
func prepareSource(text string) (string, error) {
	return escapeBackslashes(strings.ToValidUTF8(text, "\uFFFD"))
}

// escapeBackslashes reproduces how Ansible treats backslashes in string
// literals. Inside {{ }} Ansible doubles every backslash before Jinja2 sees
// the template, so those literals are effectively raw ('\d' stays \d, '\n'
// stays a backslash and an n). Inside {% %} Python's escape rules apply (an
// unknown escape such as \d is kept as is). gonja's lexer handles neither
// (nor a literal ending in a backslash), so every literal containing a
// backslash is re-encoded with hex escapes that gonja decodes to the intended
// text. This scanner only finds delimiters and string literals; gonja does
// the real lexing and parsing afterwards.
//
// It also rejects characters that cannot appear in an expression outside a
// string literal (Jinja2 reports "unexpected char"); gonja's lexer silently
// skips them and can loop forever on some of them.
func escapeBackslashes(text string) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(text) {
		j := indexDelimiter(text, i)
		if j < 0 {
			break
		}
		b.WriteString(text[i:j])
		switch text[j : j+2] {
		case "{#":
			end := strings.Index(text[j+2:], "#}")
			if end < 0 {
				i = j
				goto rest
			}
			b.WriteString(text[j : j+2+end+2])
			i = j + 2 + end + 2
		case "{%":
			if m := rawStartRe.FindStringIndex(text[j:]); m != nil && m[0] == 0 {
				endRaw := rawEndRe.FindStringIndex(text[j+m[1]:])
				if endRaw == nil {
					return "", fmt.Errorf("missing {%% endraw %%}")
				}
				stop := j + m[1] + endRaw[1]
				b.WriteString(text[j:stop])
				i = stop
				continue
			}
			next, err := copyRegion(&b, text, j, "%}", false)
			if err != nil {
				return "", err
			}
			i = next
		default:
			next, err := copyRegion(&b, text, j, "}}", true)
			if err != nil {
				return "", err
			}
			i = next
		}
	}
rest:
	b.WriteString(text[min(i, len(text)):])
	return b.String(), nil
}

var (
	rawStartRe = regexp.MustCompile(`^\{%[-+]?\s*raw\s*[-+]?%\}`)
	rawEndRe   = regexp.MustCompile(`\{%[-+]?\s*endraw\s*[-+]?%\}`)
)

// indexDelimiter finds the next "{{", "{%" or "{#" at or after i.
func indexDelimiter(text string, i int) int {
	for k := i; k+1 < len(text); k++ {
		if text[k] == '{' && (text[k+1] == '{' || text[k+1] == '%' || text[k+1] == '#') {
			return k
		}
	}
	return -1
}

// copyRegion copies a {{ }} or {% %} region starting at start, re-encoding
// string literals, and returns the offset after it.
func copyRegion(b *strings.Builder, text string, start int, end string, raw bool) (int, error) {
	b.WriteString(text[start : start+2])
	depth := 0
	k := start + 2
	for k < len(text) {
		c := text[k]
		switch {
		case c == '\'' || c == '"':
			stop := jinjaStringEnd(text, k)
			if stop < 0 {
				return 0, fmt.Errorf("unexpected end of string literal")
			}
			b.WriteString(encodeLiteral(text[k:stop], raw))
			k = stop
			continue
		case depth == 0 && strings.HasPrefix(text[k:], end):
			b.WriteString(end)
			return k + len(end), nil
		case c == '(' || c == '[' || c == '{':
			depth++
		case (c == ')' || c == ']' || c == '}') && depth > 0:
			depth--
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(text[k:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) {
				return 0, fmt.Errorf("unexpected char %s at %d", quotePy(string(r)), k)
			}
			b.WriteString(text[k : k+size])
			k += size
			continue
		case strings.IndexByte(expressionChars, c) < 0:
			return 0, fmt.Errorf("unexpected char %s at %d", quotePy(string(c)), k)
		}
		b.WriteByte(c)
		k++
	}
	return k, nil
}

// expressionChars are the ASCII characters Jinja2's lexer accepts outside
// string literals.
const expressionChars = " \t\r\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-*/%~=<>!()[]{}.,:|"

// jinjaStringEnd returns the offset after the string literal starting at pos
// (Jinja2's rule: a backslash escapes the next character), or -1.
func jinjaStringEnd(text string, pos int) int {
	quote := text[pos]
	for i := pos + 1; i < len(text); i++ {
		switch text[i] {
		case '\\':
			i++
		case quote:
			return i + 1
		}
	}
	return -1
}

// encodeLiteral decodes a quoted literal with Ansible's semantics (raw inside
// {{ }}, Python escapes inside {% %}) and re-encodes it for gonja.
func encodeLiteral(lit string, raw bool) string {
	if !strings.Contains(lit, `\`) {
		return lit
	}
	body := lit[1 : len(lit)-1]
	var t string
	if raw {
		var d strings.Builder
		for i := 0; i < len(body); i++ {
			if body[i] == '\\' && i+1 < len(body) && (body[i+1] == '\'' || body[i+1] == '"') {
				i++
			}
			d.WriteByte(body[i])
		}
		t = d.String()
	} else {
		t = decodePyEscapes(body)
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range t {
		switch r {
		case '\\':
			b.WriteString(`\x5c`)
		case '"':
			b.WriteString(`\x22`)
		case '\'':
			b.WriteString(`\x27`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var pySimpleEscapes = map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v",
	'\\': "\\", '\'': "'", '"': "\"", '\n': ""}

// decodePyEscapes decodes Python string escapes; unknown escapes are kept.
func decodePyEscapes(body string) string {
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			continue
		}
		next := body[i+1]
		if s, ok := pySimpleEscapes[next]; ok {
			b.WriteString(s)
			i++
			continue
		}
		width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[next]
		switch {
		case width > 0 && hexRun(body[i+2:]) >= width:
			n, _ := strconv.ParseUint(body[i+2:i+2+width], 16, 32)
			b.WriteRune(rune(n))
			i += 1 + width
		case next >= '0' && next <= '7':
			j := i + 1
			for j < len(body) && j < i+4 && body[j] >= '0' && body[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(body[i+1:j], 8, 32)
			b.WriteRune(rune(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func hexRun(s string) int {
	n := 0
	for n < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[n]) >= 0 {
		n++
	}
	return n
}
