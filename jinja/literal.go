package jinja

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maybeLiteralEval mirrors ansible_eval_concat (Ansible 2.14, jinja2_native
// disabled): text that looks like a dict, list or bool is parsed with
// ast.literal_eval (JSON's true/false/null are accepted as well); on failure
// the text is kept.
func maybeLiteralEval(s string) any {
	if !(strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") || s == "True" || s == "False") {
		return s
	}
	if v, ok := literalEval(s); ok {
		return v
	}
	return s
}

// literalEval parses a Python literal expression (ast.literal_eval). Tuples
// and sets become lists and dict keys become strings, per the data model.
func literalEval(s string) (any, bool) {
	p := &litParser{s: s}
	p.skipSpace()
	v, ok := p.parseTupleOrValue(0)
	if !ok {
		return nil, false
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, false
	}
	return v, true
}

type litParser struct {
	s string
	i int
}

const maxLiteralDepth = 200

func (p *litParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.i++
		case '\\':
			if p.i+1 < len(p.s) && p.s[p.i+1] == '\n' {
				p.i += 2
				continue
			}
			return
		case '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func (p *litParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// parseTupleOrValue parses "a, b, c" (a tuple without parentheses) or a single value.
func (p *litParser) parseTupleOrValue(depth int) (any, bool) {
	first, ok := p.parseValue(depth)
	if !ok {
		return nil, false
	}
	p.skipSpace()
	if p.peek() != ',' {
		return first, true
	}
	items := []any{first}
	for p.peek() == ',' {
		p.i++
		p.skipSpace()
		if p.i >= len(p.s) || strings.IndexByte(")]}:", p.peek()) >= 0 {
			break
		}
		v, ok := p.parseValue(depth)
		if !ok {
			return nil, false
		}
		items = append(items, v)
		p.skipSpace()
	}
	return items, true
}

func (p *litParser) parseValue(depth int) (any, bool) {
	if depth > maxLiteralDepth {
		return nil, false
	}
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, false
	}
	c := p.s[p.i]
	switch {
	case c == '[':
		p.i++
		items, ok := p.parseItems(']', depth)
		return items, ok
	case c == '(':
		p.i++
		p.skipSpace()
		if p.peek() == ')' {
			p.i++
			return []any{}, true
		}
		v, ok := p.parseValue(depth + 1)
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.peek() == ')' {
			p.i++
			return v, true
		}
		if p.peek() != ',' {
			return nil, false
		}
		p.i++
		rest, ok := p.parseItems(')', depth)
		if !ok {
			return nil, false
		}
		return append([]any{v}, rest...), true
	case c == '{':
		p.i++
		return p.parseDictOrSet(depth)
	case c == '\'' || c == '"':
		return p.parseStrings()
	case c == '-' || c == '+':
		p.i++
		p.skipSpace()
		v, ok := p.parseNumber()
		if !ok {
			return nil, false
		}
		if c == '-' {
			switch n := v.(type) {
			case int:
				return -n, true
			case float64:
				return -n, true
			}
		}
		return v, true
	case c >= '0' && c <= '9' || c == '.':
		return p.parseNumber()
	case isIdentStart(c):
		start := p.i
		for p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			p.i++
		}
		word := p.s[start:p.i]
		if p.peek() == '\'' || p.peek() == '"' {
			switch strings.ToLower(word) {
			case "r", "u":
				p.i = start + len(word)
				return p.parseStrings()
			}
			return nil, false
		}
		switch word {
		case "True", "true":
			return true, true
		case "False", "false":
			return false, true
		case "None", "null":
			return nil, true
		}
	}
	return nil, false
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9'
}

// parseItems parses comma separated values up to the closing byte.
func (p *litParser) parseItems(end byte, depth int) ([]any, bool) {
	items := []any{}
	for {
		p.skipSpace()
		if p.peek() == end {
			p.i++
			return items, true
		}
		v, ok := p.parseValue(depth + 1)
		if !ok {
			return nil, false
		}
		items = append(items, v)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.i++
		case end:
			p.i++
			return items, true
		default:
			return nil, false
		}
	}
}

func (p *litParser) parseDictOrSet(depth int) (any, bool) {
	p.skipSpace()
	if p.peek() == '}' {
		p.i++
		return map[string]any{}, true
	}
	first, ok := p.parseValue(depth + 1)
	if !ok {
		return nil, false
	}
	p.skipSpace()
	if p.peek() != ':' {
		// a set literal
		items := []any{first}
		for {
			p.skipSpace()
			switch p.peek() {
			case '}':
				p.i++
				return uniqueList(items), true
			case ',':
				p.i++
				p.skipSpace()
				if p.peek() == '}' {
					continue
				}
				v, ok := p.parseValue(depth + 1)
				if !ok {
					return nil, false
				}
				items = append(items, v)
			default:
				return nil, false
			}
		}
	}
	out := map[string]any{}
	key := first
	for {
		if _, hashable := key.([]any); hashable {
			return nil, false
		}
		if _, isMap := key.(map[string]any); isMap {
			return nil, false
		}
		p.i++ // ':'
		v, ok := p.parseValue(depth + 1)
		if !ok {
			return nil, false
		}
		out[PyStr(key)] = v
		p.skipSpace()
		switch p.peek() {
		case '}':
			p.i++
			return out, true
		case ',':
			p.i++
			p.skipSpace()
			if p.peek() == '}' {
				p.i++
				return out, true
			}
			key, ok = p.parseValue(depth + 1)
			if !ok {
				return nil, false
			}
			p.skipSpace()
			if p.peek() != ':' {
				return nil, false
			}
		default:
			return nil, false
		}
	}
}

func uniqueList(items []any) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		dup := false
		for _, o := range out {
			if pyEqual(o, it) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, it)
		}
	}
	return out
}

func (p *litParser) parseNumber() (any, bool) {
	start := p.i
	s := p.s
	if strings.HasPrefix(s[p.i:], "0x") || strings.HasPrefix(s[p.i:], "0X") ||
		strings.HasPrefix(s[p.i:], "0o") || strings.HasPrefix(s[p.i:], "0O") ||
		strings.HasPrefix(s[p.i:], "0b") || strings.HasPrefix(s[p.i:], "0B") {
		p.i += 2
		for p.i < len(s) && (isIdentChar(s[p.i])) {
			p.i++
		}
		n, err := strconv.ParseInt(s[start:p.i], 0, 64)
		if err != nil {
			return nil, false
		}
		return int(n), true
	}
	isFloat := false
	for p.i < len(s) {
		c := s[p.i]
		switch {
		case c >= '0' && c <= '9' || c == '_':
			p.i++
		case c == '.':
			isFloat = true
			p.i++
		case c == 'e' || c == 'E':
			isFloat = true
			p.i++
			if p.i < len(s) && (s[p.i] == '+' || s[p.i] == '-') {
				p.i++
			}
		default:
			goto done
		}
	}
done:
	text := s[start:p.i]
	if text == "" || text == "." || strings.Contains(text, "__") || strings.HasSuffix(text, "_") {
		return nil, false
	}
	if p.i < len(s) && (isIdentChar(s[p.i]) || s[p.i] == 'j') {
		return nil, false
	}
	clean := strings.ReplaceAll(text, "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil {
			return nil, false
		}
		return f, true
	}
	if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return nil, false // Python 3 forbids leading zeros
	}
	n, err := strconv.ParseInt(clean, 10, 64)
	if err != nil {
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil {
			return nil, false
		}
		return f, true
	}
	return int(n), true
}

// parseStrings parses one or more adjacent string literals (implicitly concatenated).
func (p *litParser) parseStrings() (any, bool) {
	var b strings.Builder
	any := false
	for {
		p.skipSpace()
		raw := false
		save := p.i
		if p.i < len(p.s) && (p.s[p.i] == 'r' || p.s[p.i] == 'R' || p.s[p.i] == 'u' || p.s[p.i] == 'U') {
			raw = p.s[p.i] == 'r' || p.s[p.i] == 'R'
			p.i++
		}
		if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
			p.i = save
			break
		}
		s, ok := p.parseString(raw)
		if !ok {
			return nil, false
		}
		b.WriteString(s)
		any = true
	}
	return b.String(), any
}

func (p *litParser) parseString(raw bool) (string, bool) {
	q := p.s[p.i]
	triple := strings.HasPrefix(p.s[p.i:], strings.Repeat(string(q), 3))
	if triple {
		p.i += 3
	} else {
		p.i++
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == q {
			if !triple {
				p.i++
				return b.String(), true
			}
			if strings.HasPrefix(p.s[p.i:], strings.Repeat(string(q), 3)) {
				p.i += 3
				return b.String(), true
			}
		}
		if c == '\n' && !triple {
			return "", false
		}
		if c != '\\' {
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		e := p.s[p.i+1]
		if raw {
			b.WriteByte('\\')
			b.WriteByte(e)
			p.i += 2
			continue
		}
		p.i += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.i+n > len(p.s) {
				return "", false
			}
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil || r > utf8.MaxRune {
				return "", false
			}
			b.WriteRune(rune(r))
			p.i += n
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := p.i - 1
			end := j
			for end < len(p.s) && end < j+3 && p.s[end] >= '0' && p.s[end] <= '7' {
				end++
			}
			r, _ := strconv.ParseUint(p.s[j:end], 8, 32)
			b.WriteRune(rune(r))
			p.i = end
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return "", false
}
