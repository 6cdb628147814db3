package module

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorun/gorun/job"
)

// str converts an argument to the string Ansible's module would see.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// boolArg converts an Ansible boolean argument; ok is false when v is not
// a boolean Ansible would accept. A nil v gives def.
func boolArg(v any, def bool) (b bool, ok bool) {
	switch x := v.(type) {
	case nil:
		return def, true
	case bool:
		return x, true
	case int:
		return x != 0, x == 0 || x == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "on", "1", "true", "y", "t":
			return true, true
		case "no", "off", "0", "false", "n", "f", "":
			return false, true
		}
	}
	return def, false
}

func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case string:
		return "str"
	case bool:
		return "bool"
	case int, int64:
		return "int"
	case float64:
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// unsupported returns the sorted, comma-joined argument names not in allowed.
func unsupported(args map[string]any, allowed []string) string {
	var bad []string
	for k := range args {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return strings.Join(bad, ", ")
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// text turns command output into valid UTF-8 text: each byte that is not
// part of valid UTF-8 becomes one U+FFFD. Ansible keeps such a byte as one
// lone surrogate (surrogateescape), which prints as "?" and counts as one
// character; a Go string cannot hold that, so the replacement character
// stands in for it, one for one, keeping lengths and offsets as Ansible's.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			sb.WriteRune(utf8.RuneError)
			b = b[1:]
			continue
		}
		sb.Write(b[:n])
		b = b[n:]
	}
	return sb.String()
}

// withLines adds stdout_lines/stderr_lines for the stdout/stderr present.
func withLines(r map[string]any) map[string]any {
	for _, k := range []string{"stdout", "stderr"} {
		if s, ok := r[k].(string); ok {
			r[k+"_lines"] = job.Lines(s)
		}
	}
	return r
}

// PyTime formats t as Python's str(datetime).
func PyTime(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// parsePyTime parses PyTime's format.
func parsePyTime(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.000000", s, time.Local); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02 15:04:05", s, time.Local)
}

// PyDelta formats d as Python's str(timedelta).
func PyDelta(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	us := d.Microseconds()
	days := us / (86400 * 1e6)
	us -= days * 86400 * 1e6
	h := us / 3600e6
	us -= h * 3600e6
	m := us / 60e6
	us -= m * 60e6
	sec := us / 1e6
	us -= sec * 1e6
	s := fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	if us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	if days > 0 {
		unit := "days"
		if days == 1 {
			unit = "day"
		}
		s = fmt.Sprintf("%d %s, %s", days, unit, s)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ShellQuote quotes s for a POSIX shell (as Python's shlex.quote).
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// globQuote quotes everything in a path but the glob characters * ? [ ].
func globQuote(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch {
		case strings.ContainsRune("*?[]", r):
			b.WriteRune(r)
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-", r):
			b.WriteRune(r)
		default:
			b.WriteString(`\`)
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ErrShlex is returned by ShlexSplit for unbalanced quotes.
var ErrShlex = errors.New("No closing quotation")

// ShlexSplit splits s into words as Python's shlex.split (POSIX mode, no comments).
func ShlexSplit(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	const (
		none = iota
		single
		double
	)
	state := none
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch state {
		case single:
			if r == '\'' {
				state = none
			} else {
				cur.WriteRune(r)
			}
		case double:
			switch {
			case r == '"':
				state = none
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\$`\n", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		default:
			switch {
			case r == ' ' || r == '\t' || r == '\n' || r == '\r':
				if inWord {
					words = append(words, cur.String())
					cur.Reset()
					inWord = false
				}
			case r == '\'':
				state, inWord = single, true
			case r == '"':
				state, inWord = double, true
			case r == '\\':
				inWord = true
				if i+1 < len(rs) {
					i++
					cur.WriteRune(rs[i])
				} else {
					return nil, errors.New("No escaped character")
				}
			default:
				inWord = true
				cur.WriteRune(r)
			}
		}
	}
	if state != none {
		return nil, ErrShlex
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
