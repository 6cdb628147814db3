package jinja

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonOptions mirrors the json.dumps arguments Ansible's filters use.
type jsonOptions struct {
	sortKeys    bool // keys are always sorted: Go maps have no insertion order
	ensureASCII bool
	hasIndent   bool
	indent      string
	itemSep     string
	keySep      string
}

// encodeJSON serialises data-model values exactly as Python's json.dumps does.
func encodeJSON(v any, opts jsonOptions) (string, error) {
	var b strings.Builder
	var path visiting
	if err := writeJSON(&b, v, opts, 0, &path); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeJSON(b *strings.Builder, v any, opts jsonOptions, depth int, path *visiting) error {
	v = native(v)
	if depth > maxReprDepth || path.enter(v) {
		return filterErrorf("Circular reference detected")
	}
	defer path.leave(v)
	newline := func(level int) {
		if opts.hasIndent {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(opts.indent, level))
		}
	}
	switch x := native(v).(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(formatFloat(x))
		}
	case string:
		writeJSONString(b, x, opts.ensureASCII)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				b.WriteString(opts.itemSep)
			}
			newline(depth + 1)
			if err := writeJSON(b, item, opts, depth+1, path); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(opts.itemSep)
			}
			newline(depth + 1)
			writeJSONString(b, k, opts.ensureASCII)
			b.WriteString(opts.keySep)
			if err := writeJSON(b, x[k], opts, depth+1, path); err != nil {
				return err
			}
		}
		newline(depth)
		b.WriteByte('}')
	case error:
		return x
	default:
		return filterErrorf("Object of type %s is not JSON serializable", typeName(x))
	}
	return nil
}

func writeJSONString(b *strings.Builder, s string, ensureASCII bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		case r < 0x7f || !ensureASCII:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		}
	}
	b.WriteByte('"')
}

// jsonKwargs reads json.dumps keyword arguments (indent, separators, ensure_ascii).
func jsonKwargs(opts jsonOptions, kw map[string]any) (jsonOptions, error) {
	if ind, ok := kw["indent"]; ok && ind != nil {
		if s, isStr := ind.(string); isStr {
			opts.indent = s
		} else {
			n, err := asInt(ind, "indent")
			if err != nil {
				return opts, err
			}
			if n > 1000 {
				return opts, filterErrorf("indent is too large")
			}
			opts.indent = strings.Repeat(" ", max(n, 0))
		}
		opts.hasIndent = true
		if _, ok := kw["separators"]; !ok {
			opts.itemSep = ","
		}
	}
	if sep, ok := kw["separators"]; ok && sep != nil {
		l, isList := sep.([]any)
		if !isList || len(l) != 2 {
			return opts, filterErrorf("separators must be a (item_separator, key_separator) pair")
		}
		opts.itemSep, opts.keySep = asString(l[0]), asString(l[1])
	}
	if a, ok := kw["ensure_ascii"]; ok {
		opts.ensureASCII, _ = truthy(a)
	}
	return opts, nil
}

func filterToJSON(nice bool) filterFunc {
	return func(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
		v, err := deep(in)
		if err != nil {
			return nil, err
		}
		opts := jsonOptions{ensureASCII: true, itemSep: ", ", keySep: ": "}
		if nice {
			opts = jsonOptions{sortKeys: true, ensureASCII: true, hasIndent: true, indent: "    ", itemSep: ",", keySep: ": "}
			if ind := argv(args, kw, 0, "indent", nil); ind != nil {
				if kw == nil {
					kw = map[string]any{}
				}
				kw["indent"] = ind
			}
		}
		if opts, err = jsonKwargs(opts, kw); err != nil {
			return nil, err
		}
		return encodeJSON(v, opts)
	}
}

// decodeJSON parses JSON into the data model (integers stay int).
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, filterErrorf("%s", err.Error())
	}
	if _, err := dec.Token(); err == nil {
		return nil, filterErrorf("Extra data in JSON document")
	}
	return jsonNumbers(v), nil
}

func jsonNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.Atoi(s); err == nil {
				return i
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case []any:
		for i := range x {
			x[i] = jsonNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = jsonNumbers(x[k])
		}
	}
	return v
}

func filterFromJSON(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s, ok := in.(string)
	if !ok {
		return nil, typeErrorf("the JSON object must be str, bytes or bytearray, not %s", typeName(in))
	}
	if strings.TrimSpace(s) == "" {
		return nil, filterErrorf("Expecting value: line 1 column 1 (char 0)")
	}
	return decodeJSON(s)
}
