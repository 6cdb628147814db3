package inventory

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// This file mirrors what the ini plugin's _parse_value gets from Python's
// ast.literal_eval: a value is converted when the whole text is a Python
// literal (numbers, strings, True/False/None, tuples, lists, sets, dicts,
// unary +/- on numbers); anything else stays the raw string. Complex numbers
// and Ellipsis, which Ansible could not serialize anyway, stay raw strings.

// maxPyNesting mirrors the tokenizer's limit on nested brackets.
const maxPyNesting = 200

type pyKind int

const (
	pyConst       pyKind = iota // str, bytes, bool, None
	pyNum                       // int or float
	pyUnsupported               // complex, Ellipsis
	pyUnary
	pyBinOp
	pyTuple
	pyList
	pySet
	pyDict
	pySetCall // set()
)

type pyNode struct {
	kind pyKind
	val  any
	neg  bool // pyUnary: '-'
	elts []*pyNode
	vals []*pyNode // pyDict values, parallel to elts (the keys)
}

// iniValue mirrors the ini plugin's _parse_value.
func iniValue(s string) (any, error) {
	v, err := pyLiteralEval(s)
	if errors.Is(err, errNotLiteral) {
		return s, nil
	}
	return v, err
}

// pyLiteralEval evaluates s as ast.literal_eval does. It returns
// errNotLiteral when Python would raise ValueError or SyntaxError, and
// another error (a Python TypeError) for unhashable dict keys or set
// members.
func pyLiteralEval(s string) (any, error) {
	p := &pyParser{s: []rune(strings.TrimLeft(s, " \t"))}
	n, err := p.top()
	if err != nil {
		return nil, errNotLiteral
	}
	v, _, err := pyConvert(n)
	return v, err
}

type pyParser struct {
	s     []rune
	i     int
	depth int
}

func (p *pyParser) eof() bool { return p.i >= len(p.s) }

func (p *pyParser) peek() rune {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *pyParser) ws() {
	for !p.eof() {
		switch p.s[p.i] {
		case ' ', '\t', '\f':
			p.i++
		case '#':
			p.i = len(p.s)
		default:
			return
		}
	}
}

func (p *pyParser) top() (*pyNode, error) {
	p.ws()
	first, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.peek() == ',' {
		elts := []*pyNode{first}
		for p.peek() == ',' {
			p.i++
			p.ws()
			if p.eof() {
				break
			}
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			elts = append(elts, e)
			p.ws()
		}
		first = &pyNode{kind: pyTuple, elts: elts}
	}
	p.ws()
	if !p.eof() {
		return nil, errNotLiteral
	}
	return first, nil
}

// expr parses a unary expression, optionally followed by + or - and
// another one (Python accepts "1+2j" as a complex literal).
func (p *pyParser) expr() (*pyNode, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	p.ws()
	if c := p.peek(); c == '+' || c == '-' {
		p.i++
		p.ws()
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &pyNode{kind: pyBinOp, elts: []*pyNode{left, right}}, nil
	}
	return left, nil
}

func (p *pyParser) unary() (*pyNode, error) {
	c := p.peek()
	if c != '-' && c != '+' {
		return p.atom()
	}
	p.i++
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxPyNesting {
		return nil, errNotLiteral
	}
	p.ws()
	operand, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &pyNode{kind: pyUnary, neg: c == '-', elts: []*pyNode{operand}}, nil
}

// seq parses comma-separated expressions up to the closing rune, allowing a
// trailing comma. It reports whether any comma was seen.
func (p *pyParser) seq(close rune) ([]*pyNode, bool, error) {
	var elts []*pyNode
	comma := false
	for {
		p.ws()
		if p.peek() == close {
			p.i++
			return elts, comma, nil
		}
		e, err := p.expr()
		if err != nil {
			return nil, false, err
		}
		elts = append(elts, e)
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			comma = true
		case close:
		default:
			return nil, false, errNotLiteral
		}
	}
}

func (p *pyParser) atom() (*pyNode, error) {
	if p.eof() {
		return nil, errNotLiteral
	}
	c := p.s[p.i]
	switch {
	case c == '(' || c == '[' || c == '{':
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxPyNesting {
			return nil, errNotLiteral
		}
		p.i++
		switch c {
		case '(':
			elts, comma, err := p.seq(')')
			if err != nil {
				return nil, err
			}
			if len(elts) == 1 && !comma {
				return elts[0], nil // parenthesized expression
			}
			return &pyNode{kind: pyTuple, elts: elts}, nil
		case '[':
			elts, _, err := p.seq(']')
			if err != nil {
				return nil, err
			}
			return &pyNode{kind: pyList, elts: elts}, nil
		default:
			return p.braces()
		}
	case c == '\'' || c == '"':
		return p.strings()
	case c >= '0' && c <= '9':
		return p.number()
	case c == '.':
		if p.i+1 < len(p.s) && p.s[p.i+1] >= '0' && p.s[p.i+1] <= '9' {
			return p.number()
		}
		if p.i+2 < len(p.s) && p.s[p.i+1] == '.' && p.s[p.i+2] == '.' {
			p.i += 3
			return &pyNode{kind: pyUnsupported}, nil
		}
		return nil, errNotLiteral
	case c == '_' || unicode.IsLetter(c):
		start := p.i
		for !p.eof() && (p.s[p.i] == '_' || unicode.IsLetter(p.s[p.i]) || unicode.IsDigit(p.s[p.i])) {
			p.i++
		}
		name := string(p.s[start:p.i])
		if q := p.peek(); q == '\'' || q == '"' {
			p.i = start
			return p.strings()
		}
		switch name {
		case "True":
			return &pyNode{kind: pyConst, val: true}, nil
		case "False":
			return &pyNode{kind: pyConst, val: false}, nil
		case "None":
			return &pyNode{kind: pyConst, val: nil}, nil
		case "set":
			save := p.i
			p.ws()
			if p.peek() == '(' {
				p.i++
				p.ws()
				if p.peek() == ')' {
					p.i++
					return &pyNode{kind: pySetCall}, nil
				}
			}
			p.i = save
		}
		return nil, errNotLiteral
	}
	return nil, errNotLiteral
}

// braces parses a dict or set display after its '{'.
func (p *pyParser) braces() (*pyNode, error) {
	p.ws()
	if p.peek() == '}' {
		p.i++
		return &pyNode{kind: pyDict}, nil
	}
	first, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.peek() != ':' {
		// a set
		elts := []*pyNode{first}
		switch p.peek() {
		case '}':
			p.i++
			return &pyNode{kind: pySet, elts: elts}, nil
		case ',':
			p.i++
			more, _, err := p.seq('}')
			if err != nil {
				return nil, err
			}
			return &pyNode{kind: pySet, elts: append(elts, more...)}, nil
		}
		return nil, errNotLiteral
	}
	n := &pyNode{kind: pyDict}
	key := first
	for {
		p.i++ // the ':'
		p.ws()
		val, err := p.expr()
		if err != nil {
			return nil, err
		}
		n.elts = append(n.elts, key)
		n.vals = append(n.vals, val)
		p.ws()
		switch p.peek() {
		case '}':
			p.i++
			return n, nil
		case ',':
			p.i++
			p.ws()
			if p.peek() == '}' {
				p.i++
				return n, nil
			}
		default:
			return nil, errNotLiteral
		}
		if key, err = p.expr(); err != nil {
			return nil, err
		}
		p.ws()
		if p.peek() != ':' {
			return nil, errNotLiteral
		}
	}
}

func isDigitRune(c rune) bool { return c >= '0' && c <= '9' }

// digits scans a run of digits valid for the given test with single
// underscores between them; it requires at least one digit.
func (p *pyParser) digits(ok func(rune) bool) (string, bool) {
	start := p.i
	if p.eof() || !ok(p.s[p.i]) {
		return "", false
	}
	p.i++
	for !p.eof() {
		c := p.s[p.i]
		if ok(c) {
			p.i++
			continue
		}
		if c == '_' && p.i+1 < len(p.s) && ok(p.s[p.i+1]) {
			p.i += 2
			continue
		}
		break
	}
	return strings.ReplaceAll(string(p.s[start:p.i]), "_", ""), true
}

func (p *pyParser) number() (*pyNode, error) {
	// Prefixed integers.
	if p.s[p.i] == '0' && p.i+1 < len(p.s) {
		base := 0
		var ok func(rune) bool
		switch p.s[p.i+1] {
		case 'x', 'X':
			base = 16
			ok = func(c rune) bool { return isDigitRune(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
		case 'o', 'O':
			base = 8
			ok = func(c rune) bool { return c >= '0' && c <= '7' }
		case 'b', 'B':
			base = 2
			ok = func(c rune) bool { return c == '0' || c == '1' }
		}
		if base != 0 {
			p.i += 2
			if p.peek() == '_' {
				p.i++
			}
			d, found := p.digits(ok)
			if !found || p.identFollows() {
				return nil, errNotLiteral
			}
			b, _ := new(big.Int).SetString(d, base)
			return &pyNode{kind: pyNum, val: bigToValue(b)}, nil
		}
	}
	start := p.i
	intPart, hasInt := p.digits(isDigitRune)
	isFloat := false
	if p.peek() == '.' {
		p.i++
		isFloat = true
		if isDigitRune(p.peek()) {
			p.digits(isDigitRune)
		} else if !hasInt {
			return nil, errNotLiteral
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		save := p.i
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if _, ok := p.digits(isDigitRune); ok {
			isFloat = true
		} else {
			p.i = save
			return nil, errNotLiteral
		}
	}
	if c := p.peek(); c == 'j' || c == 'J' {
		p.i++
		if p.identFollows() {
			return nil, errNotLiteral
		}
		return &pyNode{kind: pyUnsupported}, nil
	}
	if p.identFollows() || p.peek() == '.' {
		return nil, errNotLiteral
	}
	text := strings.ReplaceAll(string(p.s[start:p.i]), "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, errNotLiteral
		}
		return &pyNode{kind: pyNum, val: f}, nil
	}
	// Decimal integers may not have leading zeros, except for zero itself.
	if len(intPart) > 1 && intPart[0] == '0' && strings.Trim(intPart, "0") != "" {
		return nil, errNotLiteral
	}
	b, _ := new(big.Int).SetString(intPart, 10)
	return &pyNode{kind: pyNum, val: bigToValue(b)}, nil
}

func (p *pyParser) identFollows() bool {
	c := p.peek()
	return c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c)
}

// strings parses one or more adjacent string literals.
func (p *pyParser) strings() (*pyNode, error) {
	var out strings.Builder
	bytesLit := -1 // unknown
	for {
		s, isBytes, err := p.stringLit()
		if err != nil {
			return nil, err
		}
		b := 0
		if isBytes {
			b = 1
		}
		if bytesLit >= 0 && bytesLit != b {
			return nil, errNotLiteral // cannot mix bytes and nonbytes literals
		}
		bytesLit = b
		out.WriteString(s)
		save := p.i
		p.ws()
		if !p.atStringStart() {
			p.i = save
			break
		}
	}
	return &pyNode{kind: pyConst, val: out.String()}, nil
}

func (p *pyParser) atStringStart() bool {
	j := p.i
	for j < len(p.s) && j-p.i < 2 && strings.ContainsRune("rRuUbBfF", p.s[j]) {
		j++
	}
	return j < len(p.s) && (p.s[j] == '\'' || p.s[j] == '"')
}

// stringLit parses one string literal with its optional prefix.
func (p *pyParser) stringLit() (string, bool, error) {
	start := p.i
	for !p.eof() && p.s[p.i] != '\'' && p.s[p.i] != '"' {
		p.i++
	}
	if p.eof() {
		return "", false, errNotLiteral
	}
	prefix := strings.ToLower(string(p.s[start:p.i]))
	raw, isBytes := false, false
	switch prefix {
	case "":
	case "u":
	case "r":
		raw = true
	case "b":
		isBytes = true
	case "br", "rb":
		raw, isBytes = true, true
	default: // f-strings are not literals; other prefixes are syntax errors
		return "", false, errNotLiteral
	}
	q := p.s[p.i]
	triple := p.i+2 < len(p.s) && p.s[p.i+1] == q && p.s[p.i+2] == q
	if triple {
		p.i += 3
	} else {
		p.i++
	}
	bodyStart := p.i
	for {
		if p.eof() {
			return "", false, errNotLiteral
		}
		c := p.s[p.i]
		if c == '\\' {
			p.i += 2
			continue
		}
		if c == q {
			if !triple {
				break
			}
			if p.i+2 < len(p.s) && p.s[p.i+1] == q && p.s[p.i+2] == q {
				break
			}
		}
		p.i++
	}
	if p.i > len(p.s) {
		return "", false, errNotLiteral
	}
	body := p.s[bodyStart:p.i]
	if triple {
		p.i += 3
	} else {
		p.i++
	}
	if isBytes {
		for _, c := range body {
			if c >= 0x80 {
				return "", false, errNotLiteral
			}
		}
	}
	if raw {
		return string(body), isBytes, nil
	}
	s, err := pyUnescape(body, isBytes)
	return s, isBytes, err
}

// pyUnescape decodes the backslash escapes of a non-raw string literal.
func pyUnescape(body []rune, isBytes bool) (string, error) {
	var b strings.Builder
	var raw []byte // bytes literals are built byte-wise
	put := func(r rune) {
		if isBytes {
			raw = append(raw, byte(r))
		} else {
			b.WriteRune(r)
		}
	}
	hex := func(i, n int) (rune, bool) {
		if i+n > len(body) {
			return 0, false
		}
		v, err := strconv.ParseUint(string(body[i:i+n]), 16, 32)
		if err != nil {
			return 0, false
		}
		return rune(v), true
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			put(c)
			continue
		}
		i++
		e := body[i]
		switch e {
		case '\\', '\'', '"':
			put(e)
		case 'a':
			put(7)
		case 'b':
			put(8)
		case 'f':
			put(12)
		case 'n':
			put(10)
		case 'r':
			put(13)
		case 't':
			put(9)
		case 'v':
			put(11)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := rune(e - '0')
			for k := 0; k < 2 && i+1 < len(body) && body[i+1] >= '0' && body[i+1] <= '7'; k++ {
				i++
				v = v*8 + (body[i] - '0')
			}
			if isBytes && v > 0xff {
				return "", errNotLiteral
			}
			put(v)
		case 'x':
			v, ok := hex(i+1, 2)
			if !ok {
				return "", errNotLiteral
			}
			i += 2
			put(v)
		case 'u', 'U':
			if isBytes {
				put('\\')
				put(e)
				continue
			}
			n := 4
			if e == 'U' {
				n = 8
			}
			v, ok := hex(i+1, n)
			if !ok || v > unicode.MaxRune {
				return "", errNotLiteral
			}
			i += n
			put(v)
		case 'N':
			if isBytes {
				put('\\')
				put(e)
				continue
			}
			return "", errNotLiteral // named escapes are not supported
		default:
			put('\\')
			put(e)
		}
	}
	if isBytes {
		return string(raw), nil
	}
	return b.String(), nil
}

// pyConvert evaluates a parsed literal as literal_eval's _convert does. The
// bool result reports whether the value is hashable.
func pyConvert(n *pyNode) (any, bool, error) {
	switch n.kind {
	case pyConst, pyNum:
		return n.val, true, nil
	case pyUnary:
		op := n.elts[0]
		if op.kind != pyNum {
			return nil, false, errNotLiteral
		}
		if !n.neg {
			return op.val, true, nil
		}
		switch v := op.val.(type) {
		case int:
			if v == -v && v != 0 { // math.MinInt
				return -float64(v), true, nil
			}
			return -v, true, nil
		case float64:
			return -v, true, nil
		}
		return nil, false, errNotLiteral
	case pyTuple, pyList:
		out := make([]any, 0, len(n.elts))
		hashable := n.kind == pyTuple
		for _, e := range n.elts {
			v, h, err := pyConvert(e)
			if err != nil {
				return nil, false, err
			}
			hashable = hashable && h
			out = append(out, v)
		}
		return out, hashable, nil
	case pySet:
		out := []any{}
		seen := map[string]bool{}
		for _, e := range n.elts {
			v, h, err := pyConvert(e)
			if err != nil {
				return nil, false, err
			}
			if !h {
				return nil, false, fmt.Errorf("unhashable type: '%s'", pyKindName(e, v))
			}
			k := fmt.Sprintf("%T:%v", v, v)
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		return out, false, nil
	case pySetCall:
		return []any{}, false, nil
	case pyDict:
		out := make(map[string]any, len(n.elts))
		for i, kn := range n.elts {
			k, h, err := pyConvert(kn)
			if err != nil {
				return nil, false, err
			}
			v, _, err := pyConvert(n.vals[i])
			if err != nil {
				return nil, false, err
			}
			if !h {
				return nil, false, fmt.Errorf("unhashable type: '%s'", pyKindName(kn, k))
			}
			out[pyKeyString(k)] = v
		}
		return out, false, nil
	}
	return nil, false, errNotLiteral // pyBinOp (complex) and pyUnsupported
}

// pyKindName names the unhashable type found in a key (the first
// unhashable element of a tuple).
func pyKindName(n *pyNode, v any) string {
	switch n.kind {
	case pyList:
		return "list"
	case pyDict:
		return "dict"
	case pySet, pySetCall:
		return "set"
	case pyTuple:
		for i, e := range n.elts {
			if _, h, _ := pyConvert(e); !h {
				return pyKindName(e, v.([]any)[i])
			}
		}
	}
	return "list"
}

// pyKeyString renders a Python dict key as a JSON object key.
func pyKeyString(k any) string {
	if t, ok := k.([]any); ok {
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyKeyString(e)
		}
		if len(parts) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return keyString(k)
}
