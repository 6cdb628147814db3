package playbook

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Ansible's DataLoader first tries json.loads() on every file and only
// falls back to YAML when that fails; the JSON error text is part of the
// YAML syntax error message. This is a port of CPython's json scanner
// (Modules/_json.c, Python 3.11) that produces the same errors and, for
// valid JSON, the loaded value (without Ansible positions, like Ansible).

type pyJSONError struct {
	msg string
}

func (e *pyJSONError) Error() string { return e.msg }

type pyJSON struct {
	s     []rune
	file  string
	depth int
	// lineStarts[i] is the rune index where line i+1 starts.
	lineStarts []int
}

type jsonStop struct{ idx int }

func (p *pyJSON) errAt(msg string, pos int) *pyJSONError {
	lineno := 1
	last := -1
	for i := 0; i < pos && i < len(p.s); i++ {
		if p.s[i] == '\n' {
			lineno++
			last = i
		}
	}
	colno := pos - last
	return &pyJSONError{msg: fmt.Sprintf("%s: line %d column %d (char %d)", msg, lineno, colno, pos)}
}

func isJSONWS(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func (p *pyJSON) skipWS(i int) int {
	for i < len(p.s) && isJSONWS(p.s[i]) {
		i++
	}
	return i
}

// parsePyJSON behaves like json.loads(text) with Ansible's object hook.
func parsePyJSON(file, text string) (n *node, err error) {
	p := &pyJSON{s: []rune(text), file: file}
	if len(p.s) > 0 && p.s[0] == '\ufeff' {
		return nil, p.errAt("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
	}
	idx := p.skipWS(0)
	v, end, err := p.scanOnce(idx)
	if err != nil {
		if st, ok := err.(*jsonStop); ok {
			return nil, p.errAt("Expecting value", st.idx)
		}
		return nil, err
	}
	end = p.skipWS(end)
	if end != len(p.s) {
		return nil, p.errAt("Extra data", end)
	}
	return v, nil
}

func (e *jsonStop) Error() string { return "stop" }

func (p *pyJSON) pos(i int) Pos {
	if p.lineStarts == nil {
		p.lineStarts = []int{0}
		for j, r := range p.s {
			if r == '\n' {
				p.lineStarts = append(p.lineStarts, j+1)
			}
		}
	}
	line := sort.Search(len(p.lineStarts), func(k int) bool { return p.lineStarts[k] > i })
	return Pos{File: p.file, Line: line, Col: i - p.lineStarts[line-1] + 1}
}

func (p *pyJSON) match(i int, word string) bool {
	w := []rune(word)
	if i+len(w)-1 >= len(p.s) {
		return false
	}
	for k, r := range w {
		if p.s[i+k] != r {
			return false
		}
	}
	return true
}

func (p *pyJSON) scanOnce(idx int) (*node, int, error) {
	if idx >= len(p.s) {
		return nil, 0, &jsonStop{idx}
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 990 {
		return nil, 0, &pyJSONError{msg: "maximum recursion depth exceeded while decoding a JSON document"}
	}
	switch p.s[idx] {
	case '"':
		s, end, err := p.scanString(idx + 1)
		if err != nil {
			return nil, 0, err
		}
		return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyStr, val: s}, end, nil
	case '{':
		return p.parseObject(idx + 1)
	case '[':
		return p.parseArray(idx + 1)
	case 'n':
		if p.match(idx, "null") {
			return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyNone}, idx + 4, nil
		}
	case 't':
		if p.match(idx, "true") {
			return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyBool, val: true}, idx + 4, nil
		}
	case 'f':
		if p.match(idx, "false") {
			return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyBool, val: false}, idx + 5, nil
		}
	case 'N':
		if p.match(idx, "NaN") {
			return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyFloat, val: math.NaN()}, idx + 3, nil
		}
	case 'I':
		if p.match(idx, "Infinity") {
			return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyFloat, val: math.Inf(1)}, idx + 8, nil
		}
	case '-':
		if p.match(idx, "-Infinity") {
			return &node{kind: scalarNode, pos: p.pos(idx), pyType: pyFloat, val: math.Inf(-1)}, idx + 9, nil
		}
	}
	return p.matchNumber(idx)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func (p *pyJSON) matchNumber(start int) (*node, int, error) {
	idx := start
	end := len(p.s) - 1
	if p.s[idx] == '-' {
		idx++
		if idx > end {
			return nil, 0, &jsonStop{start}
		}
	}
	switch {
	case p.s[idx] >= '1' && p.s[idx] <= '9':
		idx++
		for idx <= end && isDigit(p.s[idx]) {
			idx++
		}
	case p.s[idx] == '0':
		idx++
	default:
		return nil, 0, &jsonStop{start}
	}
	isFloat := false
	if idx < end && p.s[idx] == '.' && isDigit(p.s[idx+1]) {
		isFloat = true
		idx += 2
		for idx <= end && isDigit(p.s[idx]) {
			idx++
		}
	}
	if idx < end && (p.s[idx] == 'e' || p.s[idx] == 'E') {
		eStart := idx
		idx++
		if idx < end && (p.s[idx] == '-' || p.s[idx] == '+') {
			idx++
		}
		for idx <= end && isDigit(p.s[idx]) {
			idx++
		}
		if isDigit(p.s[idx-1]) {
			isFloat = true
		} else {
			idx = eStart
		}
	}
	text := string(p.s[start:idx])
	n := &node{kind: scalarNode, pos: p.pos(start)}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !strings.Contains(err.Error(), "range") {
			return nil, 0, &jsonStop{start}
		}
		n.pyType, n.val = pyFloat, f
	} else {
		z, ok := new(big.Int).SetString(text, 10)
		if !ok {
			return nil, 0, &jsonStop{start}
		}
		n.pyType = pyInt
		if z.IsInt64() {
			n.val = z.Int64()
		} else {
			n.val = z
		}
	}
	return n, idx, nil
}

func hexVal(r rune) (rune, bool) {
	switch {
	case r >= '0' && r <= '9':
		return r - '0', true
	case r >= 'a' && r <= 'f':
		return r - 'a' + 10, true
	case r >= 'A' && r <= 'F':
		return r - 'A' + 10, true
	}
	return 0, false
}

// scanString is scanstring_unicode; end is the index after the quote.
func (p *pyJSON) scanString(end int) (string, int, error) {
	begin := end - 1
	n := len(p.s)
	var b strings.Builder
	for {
		next := end
		var c rune
		for ; next < n; next++ {
			c = p.s[next]
			if c == '"' || c == '\\' {
				break
			}
			if c <= 0x1f {
				return "", 0, p.errAt("Invalid control character at", next)
			}
		}
		if next >= n || !(c == '"' || c == '\\') {
			return "", 0, p.errAt("Unterminated string starting at", begin)
		}
		b.WriteString(string(p.s[end:next]))
		next++
		if c == '"' {
			end = next
			break
		}
		if next == n {
			return "", 0, p.errAt("Unterminated string starting at", begin)
		}
		c = p.s[next]
		if c != 'u' {
			end = next + 1
			switch c {
			case '"', '\\', '/':
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default:
				return "", 0, p.errAt("Invalid \\escape", end-2)
			}
			b.WriteRune(c)
			continue
		}
		next++
		end = next + 4
		if end >= n {
			return "", 0, p.errAt("Invalid \\uXXXX escape", next-1)
		}
		var u rune
		for ; next < end; next++ {
			d, ok := hexVal(p.s[next])
			if !ok {
				return "", 0, p.errAt("Invalid \\uXXXX escape", end-5)
			}
			u = u<<4 | d
		}
		if u >= 0xd800 && u <= 0xdbff && end+6 < n && p.s[next] == '\\' && p.s[next+1] == 'u' {
			next += 2
			end += 6
			var u2 rune
			for ; next < end; next++ {
				d, ok := hexVal(p.s[next])
				if !ok {
					return "", 0, p.errAt("Invalid \\uXXXX escape", end-5)
				}
				u2 = u2<<4 | d
			}
			if u2 >= 0xdc00 && u2 <= 0xdfff {
				u = utf16.DecodeRune(u, u2)
			} else {
				b.WriteRune(u)
				u = u2
			}
		}
		b.WriteRune(u)
	}
	return b.String(), end, nil
}

func (p *pyJSON) parseObject(idx int) (*node, int, error) {
	n := &node{kind: mappingNode, pos: p.pos(idx - 1), pyType: pyDict}
	end := len(p.s) - 1
	idx = p.skipWS(idx)
	if idx > end || p.s[idx] != '}' {
		for {
			if idx > end || p.s[idx] != '"' {
				return nil, 0, p.errAt("Expecting property name enclosed in double quotes", idx)
			}
			keyPos := p.pos(idx)
			key, next, err := p.scanString(idx + 1)
			if err != nil {
				return nil, 0, err
			}
			idx = p.skipWS(next)
			if idx > end || p.s[idx] != ':' {
				return nil, 0, p.errAt("Expecting ':' delimiter", idx)
			}
			idx = p.skipWS(idx + 1)
			val, next, err := p.scanOnce(idx)
			if err != nil {
				return nil, 0, err
			}
			k := &node{kind: scalarNode, pos: keyPos, pyType: pyStr, val: key}
			replaced := false
			for i := range n.pairs {
				if n.pairs[i].key.val == key {
					n.pairs[i].val = val
					replaced = true
					break
				}
			}
			if !replaced {
				n.pairs = append(n.pairs, pair{key: k, val: val})
			}
			idx = p.skipWS(next)
			if idx <= end && p.s[idx] == '}' {
				break
			}
			if idx > end || p.s[idx] != ',' {
				return nil, 0, p.errAt("Expecting ',' delimiter", idx)
			}
			idx = p.skipWS(idx + 1)
		}
	}
	// AnsibleJSONDecoder.object_hook
	for _, pr := range n.pairs {
		switch pr.key.val {
		case "__ansible_vault":
			return nil, 0, &pyJSONError{msg: "found __ansible_vault but no vault password provided"}
		case "__ansible_unsafe":
			v, err := unsafeCopy(pr.val)
			if err != nil {
				return nil, 0, err
			}
			return v, idx + 1, nil
		}
	}
	return n, idx + 1, nil
}

func (p *pyJSON) parseArray(idx int) (*node, int, error) {
	n := &node{kind: sequenceNode, pos: p.pos(idx - 1), pyType: pyList}
	end := len(p.s) - 1
	idx = p.skipWS(idx)
	if idx > end || p.s[idx] != ']' {
		for {
			val, next, err := p.scanOnce(idx)
			if err != nil {
				return nil, 0, err
			}
			n.items = append(n.items, val)
			idx = p.skipWS(next)
			if idx <= end && p.s[idx] == ']' {
				break
			}
			if idx > end || p.s[idx] != ',' {
				return nil, 0, p.errAt("Expecting ',' delimiter", idx)
			}
			idx = p.skipWS(idx + 1)
		}
	}
	return n, idx + 1, nil
}
