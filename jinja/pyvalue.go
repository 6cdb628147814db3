package jinja

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// maxSequenceSize bounds the size of strings and lists built by repetition and
// range(), so that a hostile template cannot exhaust memory.
const maxSequenceSize = 1 << 24

// maxReprDepth bounds recursion when formatting self-referencing data.
const maxReprDepth = 500

// namespace is the object returned by the namespace() global: the only object
// whose attributes a template may assign ({% set ns.attr = value %}).
type namespace struct {
	attrs map[string]any
}

// native converts v to the package data model at the top level only:
// map[string]any, []any, string, int, float64, bool, nil. Values of other
// kinds (callables, loop objects, errors) are returned unchanged.
func native(v any) any {
	switch x := v.(type) {
	case nil, bool, int, float64, string, []any, map[string]any:
		return v
	case *exec.Value:
		if x == nil || !x.Val.IsValid() || !x.Val.CanInterface() {
			return nil
		}
		return native(x.Val.Interface())
	case exec.ValuesList:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = native(e)
		}
		return out
	case *exec.Dict:
		if x == nil {
			return nil
		}
		return dictPairs(x.Pairs)
	case exec.Dict:
		return dictPairs(x.Pairs)
	case int8:
		return int(x)
	case int16:
		return int(x)
	case int32:
		return int(x)
	case int64:
		return int(x)
	case uint:
		return int(x)
	case uint8:
		return int(x)
	case uint16:
		return int(x)
	case uint32:
		return int(x)
	case uint64:
		return int(x)
	case float32:
		return float64(x)
	case json.Number:
		if i, err := strconv.Atoi(string(x)); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case error, *namespace:
		return v
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface() // elements are normalised when used
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			out[PyStr(scalarKey(it.Key().Interface()))] = it.Value().Interface()
		}
		return out
	case reflect.Bool:
		return rv.Bool()
	case reflect.String:
		return rv.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
	}
	return v
}

// scalarKey normalises a map key without descending into containers.
func scalarKey(k any) any {
	switch k.(type) {
	case []any, map[string]any:
		return k
	}
	rv := reflect.ValueOf(k)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map {
		return fmt.Sprint(k)
	}
	return native(k)
}

// visiting tracks the containers on the current recursion path, to detect
// self-referencing data (which YAML/JSON cannot produce, but Go callers can).
type visiting []uintptr

// enter reports whether v is a container already on the path; otherwise it
// pushes v (callers pop with leave).
func (p *visiting) enter(v any) bool {
	var ptr uintptr
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return false
		}
		ptr = uintptr(reflect.ValueOf(x).UnsafePointer())
	case map[string]any:
		ptr = uintptr(reflect.ValueOf(x).UnsafePointer())
	default:
		return false
	}
	for _, q := range *p {
		if q == ptr {
			return true
		}
	}
	*p = append(*p, ptr)
	return false
}

func (p *visiting) leave(v any) {
	switch v.(type) {
	case []any, map[string]any:
		if x, ok := v.([]any); ok && len(x) == 0 {
			return
		}
		*p = (*p)[:len(*p)-1]
	}
}

func dictPairs(pairs []*exec.Pair) map[string]any {
	out := make(map[string]any, len(pairs))
	for _, p := range pairs {
		out[PyStr(native(p.Key))] = native(p.Value)
	}
	return out
}

// deep converts v recursively to the data model. Already-clean data is
// returned as is (no copy). An undefined or error value anywhere inside v is
// returned as the error.
func deep(v any) (any, error) {
	var path visiting
	return deepN(v, 0, &path)
}

func deepN(v any, depth int, path *visiting) (any, error) {
	if depth > maxReprDepth {
		return nil, typeErrorf("data structure is nested too deeply")
	}
	v = native(v)
	if path.enter(v) {
		return nil, typeErrorf("data structure contains a reference to itself")
	}
	defer path.leave(v)
	switch x := v.(type) {
	case nil, bool, int, float64, string:
		return v, nil
	case error:
		return nil, x
	case []any:
		var out []any
		for i, e := range x {
			c, err := deepN(e, depth+1, path)
			if err != nil {
				return nil, err
			}
			if out == nil && !sameScalarOrRef(c, e) {
				out = make([]any, len(x))
				copy(out, x[:i])
			}
			if out != nil {
				out[i] = c
			}
		}
		if out == nil {
			return x, nil
		}
		return out, nil
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			c, err := deepN(e, depth+1, path)
			if err != nil {
				return nil, err
			}
			if out == nil && !sameScalarOrRef(c, e) {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			if out != nil {
				out[k] = c
			}
		}
		if out == nil {
			return x, nil
		}
		return out, nil
	case *namespace:
		return deepN(x.attrs, depth+1, path)
	}
	return v, nil
}

// sameScalarOrRef reports whether deep() left e unchanged (so that clean data
// is not copied). Containers are compared by identity.
func sameScalarOrRef(c, e any) bool {
	switch ev := e.(type) {
	case nil:
		return c == nil
	case bool, int, float64, string:
		return c == e
	case []any:
		cv, ok := c.([]any)
		return ok && len(cv) == len(ev) && (len(ev) == 0 || &cv[0] == &ev[0])
	case map[string]any:
		cv, ok := c.(map[string]any)
		return ok && reflect.ValueOf(cv).UnsafePointer() == reflect.ValueOf(ev).UnsafePointer()
	}
	return false
}

// typeName returns the Python type name of v (as type_debug shows it).
func typeName(v any) string {
	switch x := native(v).(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case *namespace:
		return "Namespace"
	case *undefined:
		return "AnsibleUndefined"
	case error:
		return "Exception"
	default:
		if reflect.ValueOf(x).Kind() == reflect.Func {
			return "function"
		}
		return fmt.Sprintf("%T", x)
	}
}

// truthy implements Python's bool(); using an undefined value is an error.
func truthy(v any) (bool, error) {
	switch x := native(v).(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case int:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case string:
		return x != "", nil
	case []any:
		return len(x) > 0, nil
	case map[string]any:
		return len(x) > 0, nil
	case error:
		return false, x
	}
	return true, nil
}

// toNumber returns v as a number when it is a Python number (bool, int, float).
func toNumber(v any) (i int, f float64, isFloat, ok bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, 1, false, true
		}
		return 0, 0, false, true
	case int:
		return x, float64(x), false, true
	case float64:
		return int(x), x, true, true
	}
	return 0, 0, false, false
}

// PyRepr formats v as Python's repr() would. Dict keys are shown in sorted
// order, since Go maps do not keep insertion order.
func PyRepr(v any) string {
	var b strings.Builder
	var path visiting
	writeRepr(&b, v, 0, &path)
	return b.String()
}

// PyStr formats v as Python's str(): strings are returned bare, everything
// else as PyRepr.
func PyStr(v any) string {
	v = native(v)
	if s, ok := v.(string); ok {
		return s
	}
	return PyRepr(v)
}

func writeRepr(b *strings.Builder, v any, depth int, path *visiting) {
	if depth > maxReprDepth {
		b.WriteString("...")
		return
	}
	v = native(v)
	if path.enter(v) {
		if _, ok := v.([]any); ok {
			b.WriteString("[...]")
		} else {
			b.WriteString("{...}")
		}
		return
	}
	defer path.leave(v)
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		b.WriteString(formatFloat(x))
	case string:
		b.WriteString(quotePy(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e, depth+1, path)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quotePy(k))
			b.WriteString(": ")
			writeRepr(b, x[k], depth+1, path)
		}
		b.WriteByte('}')
	case *namespace:
		b.WriteString("<Namespace ")
		writeRepr(b, x.attrs, depth+1, path)
		b.WriteByte('>')
	case *undefined:
		b.WriteString("AnsibleUndefined")
	case error:
		b.WriteString(quotePy(x.Error()))
	default:
		if reflect.ValueOf(x).Kind() == reflect.Func {
			b.WriteString("<function>")
			return
		}
		b.WriteString(fmt.Sprint(x))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// formatFloat formats f as Python's repr(float).
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	idx := strings.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[idx+1:])
	if exp >= -4 && exp < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsAny(s, ".") {
			s += ".0"
		}
		return s
	}
	mant := e[:idx]
	sign := "+"
	if exp < 0 {
		sign = "-"
		exp = -exp
	}
	return fmt.Sprintf("%se%s%02d", mant, sign, exp)
}

// quotePy quotes s the way Python's repr(str) does.
func quotePy(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\udc%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case unicode.IsPrint(r):
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

// pyEqual implements Python's == on data-model values.
func pyEqual(a, b any) bool {
	var path visiting
	return pyEqualN(a, b, 0, &path)
}

func pyEqualN(a, b any, depth int, path *visiting) bool {
	if depth > maxReprDepth {
		return false
	}
	a, b = native(a), native(b)
	if path.enter(a) {
		return false
	}
	defer path.leave(a)
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool, int, float64:
		ai, af, afl, _ := toNumber(x)
		bi, bf, bfl, ok := toNumber(b)
		if !ok {
			return false
		}
		if !afl && !bfl {
			return ai == bi
		}
		return af == bf
	case string:
		s, ok := b.(string)
		return ok && s == x
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqualN(x[i], y[i], depth+1, path) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !pyEqualN(e, f, depth+1, path) {
				return false
			}
		}
		return true
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Kind() == reflect.Pointer && rb.Kind() == reflect.Pointer {
		return ra.Pointer() == rb.Pointer()
	}
	if ra.IsValid() && rb.IsValid() && ra.Type() == rb.Type() && ra.Type().Comparable() {
		return a == b
	}
	return false
}

// pyCompare implements Python's ordering operators (<, <=, >, >=).
func pyCompare(op string, a, b any) (bool, error) {
	c, err := pyCmp(op, a, b, 0)
	if err != nil {
		return false, err
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	default:
		return c >= 0, nil
	}
}

// pyCmp returns -1, 0 or 1, or a TypeError when Python could not order a and b.
func pyCmp(op string, a, b any, depth int) (int, error) {
	a, b = native(a), native(b)
	ai, af, afl, aok := toNumber(a)
	bi, bf, bfl, bok := toNumber(b)
	if aok && bok {
		if !afl && !bfl {
			return cmpInt(ai, bi), nil
		}
		switch {
		case af < bf:
			return -1, nil
		case af > bf:
			return 1, nil
		}
		return 0, nil
	}
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			return strings.Compare(as, bs), nil
		}
	}
	if al, ok := a.([]any); ok {
		if bl, ok := b.([]any); ok && depth < maxReprDepth {
			for i := 0; i < len(al) && i < len(bl); i++ {
				if !pyEqual(al[i], bl[i]) {
					return pyCmp(op, al[i], bl[i], depth+1)
				}
			}
			return cmpInt(len(al), len(bl)), nil
		}
	}
	if err, ok := a.(error); ok {
		return 0, err
	}
	if err, ok := b.(error); ok {
		return 0, err
	}
	return 0, typeErrorf("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// binaryOp implements Python's arithmetic operators and Jinja's ~ on data-model values.
func binaryOp(op string, a, b any) (any, error) {
	a, b = native(a), native(b)
	if err, ok := a.(error); ok {
		return nil, err
	}
	if err, ok := b.(error); ok {
		return nil, err
	}
	switch op {
	case "==":
		return pyEqual(a, b), nil
	case "!=":
		return !pyEqual(a, b), nil
	case "<", "<=", ">", ">=":
		return pyCompare(op, a, b)
	case "~":
		sa, sb := PyStr(a), PyStr(b)
		if len(sa)+len(sb) > maxSequenceSize {
			return nil, typeErrorf("string too large")
		}
		return sa + sb, nil
	case "in":
		return pyContains(b, a)
	}
	ai, af, afl, aok := toNumber(a)
	bi, bf, bfl, bok := toNumber(b)
	if aok && bok {
		return numericOp(op, ai, af, afl, bi, bf, bfl)
	}
	switch op {
	case "+":
		switch x := a.(type) {
		case string:
			if y, ok := b.(string); ok {
				if len(x)+len(y) > maxSequenceSize {
					return nil, typeErrorf("string too large")
				}
				return x + y, nil
			}
			return nil, typeErrorf("can only concatenate str (not \"%s\") to str", typeName(b))
		case []any:
			if y, ok := b.([]any); ok {
				if len(x)+len(y) > maxSequenceSize {
					return nil, typeErrorf("list too large")
				}
				out := make([]any, 0, len(x)+len(y))
				return append(append(out, x...), y...), nil
			}
			return nil, typeErrorf("can only concatenate list (not \"%s\") to list", typeName(b))
		}
	case "*":
		if aok && !afl {
			a, b = b, a
			bi, bok, bfl = ai, aok, afl
		}
		if bok && !bfl {
			switch x := a.(type) {
			case string:
				if bi <= 0 {
					return "", nil
				}
				if len(x)*bi > maxSequenceSize || bi > maxSequenceSize {
					return nil, typeErrorf("repeated string is too large")
				}
				return strings.Repeat(x, bi), nil
			case []any:
				if bi <= 0 {
					return []any{}, nil
				}
				if len(x)*bi > maxSequenceSize || bi > maxSequenceSize {
					return nil, typeErrorf("repeated list is too large")
				}
				out := make([]any, 0, len(x)*bi)
				for range bi {
					out = append(out, x...)
				}
				return out, nil
			}
		}
		if _, ok := a.(string); ok {
			return nil, typeErrorf("can't multiply sequence by non-int of type '%s'", typeName(b))
		}
		if _, ok := a.([]any); ok {
			return nil, typeErrorf("can't multiply sequence by non-int of type '%s'", typeName(b))
		}
	case "%":
		if s, ok := a.(string); ok {
			return percentFormat(s, []any{b}, false)
		}
	}
	return nil, typeErrorf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(a), typeName(b))
}

func numericOp(op string, ai int, af float64, afl bool, bi int, bf float64, bfl bool) (any, error) {
	isFloat := afl || bfl
	switch op {
	case "+":
		if isFloat {
			return af + bf, nil
		}
		return ai + bi, nil
	case "-":
		if isFloat {
			return af - bf, nil
		}
		return ai - bi, nil
	case "*":
		if isFloat {
			return af * bf, nil
		}
		return ai * bi, nil
	case "/":
		if bf == 0 {
			return nil, typeErrorf("division by zero")
		}
		return af / bf, nil
	case "//":
		if isFloat {
			if bf == 0 {
				return nil, typeErrorf("float floor division by zero")
			}
			return math.Floor(af / bf), nil
		}
		if bi == 0 {
			return nil, typeErrorf("integer division or modulo by zero")
		}
		q := ai / bi
		if (ai%bi != 0) && ((ai < 0) != (bi < 0)) {
			q--
		}
		return q, nil
	case "%":
		if isFloat {
			if bf == 0 {
				return nil, typeErrorf("float modulo")
			}
			m := math.Mod(af, bf)
			if m != 0 && (m < 0) != (bf < 0) {
				m += bf
			}
			return m, nil
		}
		if bi == 0 {
			return nil, typeErrorf("integer modulo by zero")
		}
		m := ai % bi
		if m != 0 && (m < 0) != (bi < 0) {
			m += bi
		}
		return m, nil
	case "**":
		if !isFloat && bi >= 0 {
			if r, ok := intPow(ai, bi); ok {
				return r, nil
			}
			return math.Pow(af, bf), nil
		}
		if af == 0 && bf < 0 {
			return nil, typeErrorf("0.0 cannot be raised to a negative power")
		}
		return math.Pow(af, bf), nil
	}
	return nil, typeErrorf("unsupported operand %s", op)
}

// intPow computes a**b for b >= 0, reporting false on int overflow.
func intPow(a, b int) (int, bool) {
	result := 1
	for b > 0 {
		if b&1 == 1 {
			r := result * a
			if a != 0 && r/a != result {
				return 0, false
			}
			result = r
		}
		b >>= 1
		if b > 0 {
			sq := a * a
			if a != 0 && sq/a != a {
				return 0, false
			}
			a = sq
		}
	}
	return result, true
}

// unaryOp implements unary minus and plus.
func unaryOp(op string, v any) (any, error) {
	v = native(v)
	if err, ok := v.(error); ok {
		return nil, err
	}
	i, f, isFloat, ok := toNumber(v)
	if !ok {
		return nil, typeErrorf("bad operand type for unary %s: '%s'", op, typeName(v))
	}
	if op == "+" {
		if isFloat {
			return f, nil
		}
		return i, nil
	}
	if isFloat {
		return -f, nil
	}
	return -i, nil
}

// pyContains implements Python's `needle in container`.
func pyContains(container, needle any) (bool, error) {
	container, needle = native(container), native(needle)
	if err, ok := container.(error); ok {
		return false, err
	}
	if err, ok := needle.(error); ok {
		return false, err
	}
	switch c := container.(type) {
	case string:
		s, ok := needle.(string)
		if !ok {
			return false, typeErrorf("'in <string>' requires string as left operand, not %s", typeName(needle))
		}
		return strings.Contains(c, s), nil
	case []any:
		for _, e := range c {
			if pyEqual(e, needle) {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		key, ok := mapKey(needle)
		if !ok {
			return false, nil
		}
		_, found := c[key]
		return found, nil
	case *namespace:
		return false, typeErrorf("argument of type 'Namespace' is not iterable")
	}
	return false, typeErrorf("argument of type '%s' is not iterable", typeName(container))
}

// mapKey returns the string form used to look a value up in a map[string]any
// (YAML keys such as 1 or true end up as strings in the data model).
func mapKey(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int, bool, float64, nil:
		return PyStr(x), true
	}
	return "", false
}
