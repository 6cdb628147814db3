package jinja

import (
	"math"
	"strconv"
	"strings"
)

// percentFormat implements Python's printf-style string formatting
// (format % args). When tuple is false, args holds the single right-hand
// operand, which is used as a mapping for %(key)s when it is a dict.
func percentFormat(format string, args []any, tuple bool) (string, error) {
	var mapping map[string]any
	if !tuple && len(args) == 1 {
		if m, ok := native(args[0]).(map[string]any); ok {
			mapping = m
		}
	}
	var b strings.Builder
	argi := 0
	nextArg := func() (any, error) {
		if argi >= len(args) {
			return nil, typeErrorf("not enough arguments for format string")
		}
		a := args[argi]
		argi++
		return native(a), nil
	}
	usedMapping := false
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", typeErrorf("incomplete format")
		}
		var (
			value    any
			hasValue bool
		)
		if format[i] == '(' {
			if mapping == nil {
				return "", typeErrorf("format requires a mapping")
			}
			depth, start := 1, i+1
			j := start
			for ; j < len(format) && depth > 0; j++ {
				switch format[j] {
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			if depth > 0 {
				return "", typeErrorf("incomplete format key")
			}
			key := format[start : j-1]
			v, ok := mapping[key]
			if !ok {
				return "", filterErrorf("%s", quotePy(key))
			}
			value, hasValue, usedMapping = native(v), true, true
			i = j
		}
		var flags struct{ minus, plus, space, alt, zero bool }
	flagLoop:
		for ; i < len(format); i++ {
			switch format[i] {
			case '-':
				flags.minus = true
			case '+':
				flags.plus = true
			case ' ':
				flags.space = true
			case '#':
				flags.alt = true
			case '0':
				flags.zero = true
			default:
				break flagLoop
			}
		}
		width, prec := -1, -1
		if i < len(format) && format[i] == '*' {
			w, err := nextArg()
			if err != nil {
				return "", err
			}
			wi, ok := w.(int)
			if !ok {
				return "", typeErrorf("* wants int")
			}
			if wi < 0 {
				flags.minus = true
				wi = -wi
			}
			width = wi
			i++
		} else {
			start := i
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			if i > start {
				width, _ = strconv.Atoi(format[start:i])
			}
		}
		if i < len(format) && format[i] == '.' {
			i++
			if i < len(format) && format[i] == '*' {
				p, err := nextArg()
				if err != nil {
					return "", err
				}
				pi, ok := p.(int)
				if !ok {
					return "", typeErrorf("* wants int")
				}
				prec = max(pi, 0)
				i++
			} else {
				start := i
				for i < len(format) && format[i] >= '0' && format[i] <= '9' {
					i++
				}
				prec, _ = strconv.Atoi(format[start:i])
			}
		}
		for i < len(format) && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L') {
			i++
		}
		if i >= len(format) {
			return "", typeErrorf("incomplete format")
		}
		if width > maxSequenceSize || prec > maxSequenceSize {
			return "", typeErrorf("width too big")
		}
		conv := format[i]
		if conv == '%' {
			b.WriteByte('%')
			continue
		}
		if !hasValue {
			v, err := nextArg()
			if err != nil {
				return "", err
			}
			value = v
		}
		if err, ok := value.(error); ok {
			return "", err
		}
		var body, sign string
		numeric := false
		switch conv {
		case 's':
			body = PyStr(value)
			if prec >= 0 && prec < len([]rune(body)) {
				body = string([]rune(body)[:prec])
			}
		case 'r', 'a':
			body = PyRepr(value)
			if prec >= 0 && prec < len([]rune(body)) {
				body = string([]rune(body)[:prec])
			}
		case 'd', 'i', 'u':
			n, f, isFloat, ok := toNumber(value)
			if !ok {
				return "", typeErrorf("%%%c format: a real number is required, not %s", conv, typeName(value))
			}
			if isFloat {
				if math.IsInf(f, 0) || math.IsNaN(f) {
					return "", typeErrorf("cannot convert float %s to integer", formatFloat(f))
				}
				n = int(f)
			}
			numeric = true
			if n < 0 {
				sign, body = "-", strconv.FormatUint(uint64(-n), 10)
			} else {
				body = strconv.Itoa(n)
			}
			if prec > len(body) {
				body = strings.Repeat("0", prec-len(body)) + body
			}
		case 'x', 'X', 'o':
			n, _, isFloat, ok := toNumber(value)
			if !ok || isFloat {
				return "", typeErrorf("%%%c format: an integer is required, not %s", conv, typeName(value))
			}
			numeric = true
			u := uint64(n)
			if n < 0 {
				sign, u = "-", uint64(-n)
			}
			base := 16
			if conv == 'o' {
				base = 8
			}
			body = strconv.FormatUint(u, base)
			if conv == 'X' {
				body = strings.ToUpper(body)
			}
			if prec > len(body) {
				body = strings.Repeat("0", prec-len(body)) + body
			}
			if flags.alt {
				switch conv {
				case 'x':
					body = "0x" + body
				case 'X':
					body = "0X" + body
				default:
					body = "0o" + body
				}
			}
		case 'e', 'E', 'f', 'F', 'g', 'G':
			_, f, _, ok := toNumber(value)
			if !ok {
				return "", typeErrorf("must be real number, not %s", typeName(value))
			}
			numeric = true
			if math.Signbit(f) && !math.IsNaN(f) {
				sign, f = "-", -f
			}
			if prec < 0 {
				prec = 6
			}
			body = formatFloatConv(f, conv, prec, flags.alt)
		case 'c':
			switch x := value.(type) {
			case int:
				if x < 0 || x > 0x10ffff {
					return "", typeErrorf("%%c arg not in range(0x110000)")
				}
				body = string(rune(x))
			case string:
				if len([]rune(x)) != 1 {
					return "", typeErrorf("%%c requires int or char")
				}
				body = x
			default:
				return "", typeErrorf("%%c requires int or char")
			}
		default:
			return "", typeErrorf("unsupported format character '%c' (0x%x) at index %d", conv, conv, i)
		}
		if numeric && sign == "" {
			if flags.plus {
				sign = "+"
			} else if flags.space {
				sign = " "
			}
		}
		n := len([]rune(body)) + len(sign)
		switch {
		case width <= n:
			b.WriteString(sign)
			b.WriteString(body)
		case flags.minus:
			b.WriteString(sign)
			b.WriteString(body)
			b.WriteString(strings.Repeat(" ", width-n))
		case flags.zero && numeric:
			b.WriteString(sign)
			if strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X") || strings.HasPrefix(body, "0o") {
				b.WriteString(body[:2])
				body = body[2:]
			}
			b.WriteString(strings.Repeat("0", width-n))
			b.WriteString(body)
		default:
			b.WriteString(strings.Repeat(" ", width-n))
			b.WriteString(sign)
			b.WriteString(body)
		}
		if b.Len() > maxSequenceSize {
			return "", typeErrorf("formatted string is too large")
		}
	}
	if argi < len(args) && !usedMapping && mapping == nil {
		return "", typeErrorf("not all arguments converted during string formatting")
	}
	return b.String(), nil
}

// formatFloatConv formats a non-negative float for the e/f/g conversions of
// printf-style formatting, as C (and Python) do.
func formatFloatConv(f float64, conv byte, prec int, alt bool) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		s := "inf"
		if math.IsNaN(f) {
			s = "nan"
		}
		if conv >= 'A' && conv <= 'Z' {
			s = strings.ToUpper(s)
		}
		return s
	}
	var s string
	switch conv {
	case 'e', 'E':
		s = strconv.FormatFloat(f, 'e', prec, 64)
		if alt && prec == 0 {
			s = strings.Replace(s, "e", ".e", 1)
		}
	case 'f', 'F':
		s = strconv.FormatFloat(f, 'f', prec, 64)
		if alt && prec == 0 {
			s += "."
		}
	default:
		if prec == 0 {
			prec = 1
		}
		exp := 0
		if f != 0 {
			es := strconv.FormatFloat(f, 'e', prec-1, 64)
			exp, _ = strconv.Atoi(es[strings.IndexByte(es, 'e')+1:])
		}
		if exp < -4 || exp >= prec {
			s = strconv.FormatFloat(f, 'e', prec-1, 64)
			if !alt {
				mant, e, _ := strings.Cut(s, "e")
				if strings.Contains(mant, ".") {
					mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
				}
				s = mant + "e" + e
			}
		} else {
			s = strconv.FormatFloat(f, 'f', max(prec-1-exp, 0), 64)
			if !alt && strings.Contains(s, ".") {
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			}
		}
	}
	if conv >= 'A' && conv <= 'Z' {
		s = strings.ToUpper(s)
	}
	return s
}
