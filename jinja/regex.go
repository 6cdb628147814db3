package jinja

import (
	"regexp"
	"strconv"
	"strings"
)

// compilePyRegex compiles a Python `re` pattern with Go's RE2 engine. The
// syntax is largely shared; \Z becomes \z. Constructs RE2 lacks (lookaround,
// backreferences) are reported as errors.
func compilePyRegex(pattern string, ignorecase, multiline bool) (*regexp.Regexp, error) {
	var b strings.Builder
	if ignorecase || multiline {
		b.WriteString("(?")
		if ignorecase {
			b.WriteByte('i')
		}
		if multiline {
			b.WriteByte('m')
		}
		b.WriteByte(')')
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '\\' && i+1 < len(pattern) {
			if pattern[i+1] == 'Z' {
				b.WriteString(`\z`)
			} else {
				b.WriteString(pattern[i : i+2])
			}
			i++
			continue
		}
		b.WriteByte(c)
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, filterErrorf("invalid or unsupported regular expression %s: %s", quotePy(pattern), strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// expandPyTemplate expands a Python re.sub replacement template for one match.
func expandPyTemplate(re *regexp.Regexp, repl, src string, m []int) (string, error) {
	group := func(g int) string {
		if 2*g+1 >= len(m) || m[2*g] < 0 {
			return ""
		}
		return src[m[2*g]:m[2*g+1]]
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '\\' || i+1 >= len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		n := repl[i]
		switch {
		case n >= '0' && n <= '9':
			j := i + 1
			if j < len(repl) && repl[j] >= '0' && repl[j] <= '9' {
				j++
			}
			g, _ := strconv.Atoi(repl[i:j])
			if g > re.NumSubexp() {
				return "", filterErrorf("invalid group reference %d at position %d", g, i-1)
			}
			b.WriteString(group(g))
			i = j - 1
		case n == 'g':
			end := strings.IndexByte(repl[i:], '>')
			if i+1 >= len(repl) || repl[i+1] != '<' || end < 0 {
				return "", filterErrorf("missing group name")
			}
			name := repl[i+2 : i+end]
			g, err := strconv.Atoi(name)
			if err != nil {
				g = re.SubexpIndex(name)
				if g < 0 {
					return "", filterErrorf("unknown group name '%s'", name)
				}
			} else if g > re.NumSubexp() {
				return "", filterErrorf("invalid group reference %d", g)
			}
			b.WriteString(group(g))
			i += end
		case n == 'n':
			b.WriteByte('\n')
		case n == 't':
			b.WriteByte('\t')
		case n == 'r':
			b.WriteByte('\r')
		case n == 'f':
			b.WriteByte('\f')
		case n == 'v':
			b.WriteByte('\v')
		case n == 'a':
			b.WriteByte('\a')
		case n == 'b':
			b.WriteByte('\b')
		case n == '\\':
			b.WriteByte('\\')
		case n >= 'a' && n <= 'z' || n >= 'A' && n <= 'Z':
			return "", filterErrorf("bad escape \\%c at position %d", n, i-1)
		default:
			b.WriteByte('\\')
			b.WriteByte(n)
		}
	}
	return b.String(), nil
}

func regexFlags(args []any, kw map[string]any, iIgnore, iMulti int) (bool, bool) {
	return argBool(args, kw, iIgnore, "ignorecase", false), argBool(args, kw, iMulti, "multiline", false)
}

// filterRegexReplace is Ansible's regex_replace(value, pattern, replacement, ignorecase, multiline).
func filterRegexReplace(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	value := ""
	if in != nil {
		value = asString(in)
	}
	pattern := asString(argv(args, kw, 0, "pattern", ""))
	repl := asString(argv(args, kw, 1, "replacement", ""))
	ic, ml := regexFlags(args, kw, 2, 3)
	re, err := compilePyRegex(pattern, ic, ml)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(value, -1) {
		b.WriteString(value[last:m[0]])
		r, err := expandPyTemplate(re, repl, value, m)
		if err != nil {
			return nil, err
		}
		b.WriteString(r)
		last = m[1]
		if b.Len() > maxSequenceSize {
			return nil, typeErrorf("replacement result is too large")
		}
	}
	b.WriteString(value[last:])
	return b.String(), nil
}

// filterRegexSearch is Ansible's regex_search(value, regex, *groups, ignorecase, multiline).
func filterRegexSearch(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	value := asString(in)
	if len(args) == 0 {
		return nil, typeErrorf("regex_search() missing 1 required positional argument: 'regex'")
	}
	ic, ml := argBool(nil, kw, -1, "ignorecase", false), argBool(nil, kw, -1, "multiline", false)
	re, err := compilePyRegex(asString(args[0]), ic, ml)
	if err != nil {
		return nil, err
	}
	var groups []any
	for _, a := range args[1:] {
		s := asString(a)
		switch {
		case strings.HasPrefix(s, `\g`):
			m := regexp.MustCompile(`^\\g<(\S+)>`).FindStringSubmatch(s)
			if m == nil {
				return nil, filterErrorf("Unknown argument")
			}
			if n, err := strconv.Atoi(m[1]); err == nil {
				groups = append(groups, n)
			} else {
				groups = append(groups, m[1])
			}
		case strings.HasPrefix(s, `\`):
			m := regexp.MustCompile(`^\\(\d+)`).FindStringSubmatch(s)
			if m == nil {
				return nil, filterErrorf("Unknown argument")
			}
			n, _ := strconv.Atoi(m[1])
			groups = append(groups, n)
		default:
			return nil, filterErrorf("Unknown argument")
		}
	}
	m := re.FindStringSubmatchIndex(value)
	if m == nil {
		return nil, nil
	}
	if len(groups) == 0 {
		return value[m[0]:m[1]], nil
	}
	out := make([]any, 0, len(groups))
	for _, g := range groups {
		idx, ok := g.(int)
		if !ok {
			idx = re.SubexpIndex(g.(string))
			if idx < 0 {
				return nil, filterErrorf("no such group")
			}
		}
		if idx > re.NumSubexp() {
			return nil, filterErrorf("no such group")
		}
		if m[2*idx] < 0 {
			out = append(out, nil)
		} else {
			out = append(out, value[m[2*idx]:m[2*idx+1]])
		}
	}
	return out, nil
}

// filterRegexFindall is Ansible's regex_findall(value, regex, multiline, ignorecase).
func filterRegexFindall(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	value := asString(in)
	ml := argBool(args, kw, 1, "multiline", false)
	ic := argBool(args, kw, 2, "ignorecase", false)
	re, err := compilePyRegex(asString(argv(args, kw, 0, "regex", "")), ic, ml)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, m := range re.FindAllStringSubmatch(value, -1) {
		switch n := re.NumSubexp(); n {
		case 0:
			out = append(out, m[0])
		case 1:
			out = append(out, m[1])
		default:
			row := make([]any, n)
			for i := range row {
				row[i] = m[i+1]
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// filterRegexEscape is Ansible's regex_escape(string, re_type='python').
func filterRegexEscape(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s := asString(in)
	switch t := asString(argv(args, kw, 0, "re_type", "python")); t {
	case "python":
		var b strings.Builder
		for _, r := range s {
			if r < 128 && strings.ContainsRune("()[]{}?*+-|^$\\.&~# \t\n\r\v\f", r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String(), nil
	case "posix_basic":
		var b strings.Builder
		for _, r := range s {
			if strings.ContainsRune(`].[^$*\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String(), nil
	case "posix_extended":
		return nil, filterErrorf("Regex type (%s) not yet implemented", t)
	default:
		return nil, filterErrorf("Invalid regex type (%s)", t)
	}
}
