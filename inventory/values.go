package inventory

import (
	"fmt"
	"math"
	"strconv"
)

// omap is an ordered mapping as produced by the YAML and JSON loaders. Keys
// are normalized scalars (string, int, float64, bool or nil); a repeated key
// keeps its first position and its last value, as a Python dict does.
type omap struct {
	keys  []any
	vals  []any
	lines []int
	index map[any]int
}

func newOmap() *omap { return &omap{index: map[any]int{}} }

func (m *omap) set(k, v any, line int) {
	if i, ok := m.index[k]; ok {
		m.vals[i] = v
		return
	}
	m.index[k] = len(m.keys)
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
	m.lines = append(m.lines, line)
}

func (m *omap) get(k any) (any, bool) {
	i, ok := m.index[k]
	if !ok {
		return nil, false
	}
	return m.vals[i], true
}

func (m *omap) len() int { return len(m.keys) }

// plain converts loader output (which may hold *omap values) into the plain
// types used for variables: map[string]any, []any and scalars.
func plain(v any) any {
	switch t := v.(type) {
	case *omap:
		out := make(map[string]any, t.len())
		for i, k := range t.keys {
			out[keyString(k)] = plain(t.vals[i])
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plain(e)
		}
		return out
	default:
		return v
	}
}

// keyString renders a non-string mapping key the way Python's json module
// does when Ansible outputs it.
func keyString(k any) string {
	switch t := k.(type) {
	case string:
		return t
	case nil:
		return "null"
	case bool:
		if t {
			return "true"
		}
		return "false"
	case int:
		return strconv.Itoa(t)
	case float64:
		return pyFloatRepr(t)
	default:
		return fmt.Sprint(t)
	}
}

// pyRepr renders a value roughly as Python's str() would, for messages.
func pyRepr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case string:
		return t
	case float64:
		return pyFloatRepr(t)
	default:
		return fmt.Sprint(plain(v))
	}
}

func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		s = strconv.FormatFloat(f, 'f', 1, 64)
	}
	return s
}

// pyTypeName names the Python type Ansible would report for a value.
func pyTypeName(v any) string {
	switch v.(type) {
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
	case *omap, map[string]any:
		return "dict"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// deepCopy copies maps and slices so callers may modify the result freely.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// mergeInto copies the top-level keys of src into dst: Ansible's default
// "replace" hash behaviour.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = v
	}
}
