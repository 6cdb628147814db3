package playbook

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Some of Ansible's messages embed Python's str() or repr() of loaded data;
// these helpers reproduce them for the values the loader produces.

// maxReprLen caps the size of a rendered value (aliases can make a small
// document describe a huge structure).
const maxReprLen = 1 << 16

// pyRepr is Python's repr() of a str.
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Python would hold a lone surrogate escape here.
			fmt.Fprintf(&b, `\udc%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteByte(quote)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case isPyPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// isPyPrintable approximates Python's str.isprintable for one character.
func isPyPrintable(r rune) bool {
	if r == ' ' {
		return true
	}
	if unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) {
		return false
	}
	return unicode.IsPrint(r) || unicode.IsGraphic(r)
}

// pyFloatRepr is Python's repr() of a float.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		return fmt.Sprintf("%se%s%02d", mant, sign(exp), abs(exp))
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func sign(e int) string {
	if e < 0 {
		return "-"
	}
	return "+"
}

func abs(e int) int {
	if e < 0 {
		return -e
	}
	return e
}

// pyStrOf is Python's str() of a loaded value.
func pyStrOf(n *node) string {
	var b strings.Builder
	writePy(&b, n, false, map[*node]bool{})
	return b.String()
}

// pyReprOf is Python's repr() of a loaded value.
func pyReprOf(n *node) string {
	var b strings.Builder
	writePy(&b, n, true, map[*node]bool{})
	return b.String()
}

func writePy(b *strings.Builder, n *node, repr bool, active map[*node]bool) {
	if b.Len() > maxReprLen || len(active) > 200 {
		b.WriteString("...")
		return
	}
	if n == nil {
		b.WriteString("None")
		return
	}
	if n.kind != scalarNode {
		if active[n] {
			// Python prints a recursive container as {...} or [...].
			if n.kind == mappingNode {
				b.WriteString("{...}")
			} else {
				b.WriteString("[...]")
			}
			return
		}
		active[n] = true
		defer delete(active, n)
	}
	switch n.kind {
	case mappingNode:
		b.WriteByte('{')
		for i, p := range n.pairs {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, p.key, true, active)
			b.WriteString(": ")
			writePy(b, p.val, true, active)
		}
		b.WriteByte('}')
		return
	case sequenceNode:
		open, closing := "[", "]"
		switch n.pyType {
		case pySet:
			open, closing = "{", "}"
			if len(n.items) == 0 {
				b.WriteString("set()")
				return
			}
		case "tuple":
			open, closing = "(", ")"
		}
		b.WriteString(open)
		for i, it := range n.items {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, it, true, active)
		}
		b.WriteString(closing)
		return
	}
	switch v := n.val.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case *big.Int:
		b.WriteString(v.String())
	case float64:
		b.WriteString(pyFloatRepr(v))
	case string:
		switch {
		case n.pyType == pyBytes:
			b.WriteString("b" + pyRepr(v))
		case n.pyType == pyDate || n.pyType == pyDateTime:
			if repr {
				b.WriteString(n.pyType + "(" + v + ")")
			} else {
				b.WriteString(v)
			}
		case repr:
			b.WriteString(pyRepr(v))
		default:
			b.WriteString(v)
		}
	default:
		fmt.Fprint(b, v)
	}
}
