package jinja

import (
	"strings"
	"unicode"
)

// strMethodImpl is a Python str method implemented here (gonja's versions of
// these get default arguments wrong, e.g. split() and replace(a, b)).
type strMethodImpl func(s string, args []any, kw map[string]any) (any, error)

func strArg(args []any, kw map[string]any, i int, name string) (string, bool, error) {
	v := argv(args, kw, i, name, nil)
	if v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, typeErrorf("must be str, not %s", typeName(v))
	}
	return s, true, nil
}

func intArg(args []any, kw map[string]any, i int, name string, def int) (int, error) {
	v := argv(args, kw, i, name, nil)
	if v == nil {
		return def, nil
	}
	return asInt(v, name)
}

func strList(parts []string) []any {
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// pyRsplit implements str.rsplit(sep=None, maxsplit=-1).
func pyRsplit(s string, sep any, maxsplit int) ([]any, error) {
	if maxsplit < 0 {
		return pySplit(s, sep, -1)
	}
	var parts []string
	if sep == nil {
		rest := strings.TrimRightFunc(s, unicode.IsSpace)
		for len(parts) < maxsplit && rest != "" {
			i := strings.LastIndexFunc(rest, unicode.IsSpace)
			if i < 0 {
				break
			}
			parts = append([]string{rest[i+1:]}, parts...)
			rest = strings.TrimRightFunc(rest[:i], unicode.IsSpace)
		}
		if rest != "" {
			parts = append([]string{rest}, parts...)
		}
		return strList(parts), nil
	}
	sp := asString(sep)
	if sp == "" {
		return nil, typeErrorf("empty separator")
	}
	rest := s
	for len(parts) < maxsplit {
		i := strings.LastIndex(rest, sp)
		if i < 0 {
			break
		}
		parts = append([]string{rest[i+len(sp):]}, parts...)
		rest = rest[:i]
	}
	return strList(append([]string{rest}, parts...)), nil
}

func padFill(args []any, kw map[string]any) (string, error) {
	f, ok, err := strArg(args, kw, 1, "fillchar")
	if err != nil || !ok {
		return " ", err
	}
	if len([]rune(f)) != 1 {
		return "", typeErrorf("The fill character must be exactly one character long")
	}
	return f, nil
}

// affixTest implements startswith/endswith with a str or tuple argument.
func affixTest(fn func(string, string) bool) strMethodImpl {
	return func(s string, args []any, kw map[string]any) (any, error) {
		switch p := argv(args, kw, 0, "prefix", nil).(type) {
		case string:
			return fn(s, p), nil
		case []any:
			for _, x := range p {
				xs, ok := x.(string)
				if !ok {
					return nil, typeErrorf("tuple for startswith must only contain str, not %s", typeName(x))
				}
				if fn(s, xs) {
					return true, nil
				}
			}
			return false, nil
		default:
			return nil, typeErrorf("startswith first arg must be str or a tuple of str, not %s", typeName(p))
		}
	}
}

func findImpl(last, raise bool) strMethodImpl {
	return func(s string, args []any, kw map[string]any) (any, error) {
		sub, ok, err := strArg(args, kw, 0, "sub")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, typeErrorf("find() takes at least 1 argument (0 given)")
		}
		var i int
		if last {
			i = strings.LastIndex(s, sub)
		} else {
			i = strings.Index(s, sub)
		}
		if i >= 0 {
			i = len([]rune(s[:i]))
		} else if raise {
			return nil, typeErrorf("substring not found")
		}
		return i, nil
	}
}

func charClass(pred func(rune) bool, needCased bool) strMethodImpl {
	return func(s string, _ []any, _ map[string]any) (any, error) {
		if s == "" {
			return false, nil
		}
		for _, r := range s {
			if !pred(r) {
				return false, nil
			}
		}
		return true, nil
	}
}

var strMethods = map[string]strMethodImpl{
	"split": func(s string, args []any, kw map[string]any) (any, error) {
		n, err := intArg(args, kw, 1, "maxsplit", -1)
		if err != nil {
			return nil, err
		}
		return pySplit(s, argv(args, kw, 0, "sep", nil), n)
	},
	"rsplit": func(s string, args []any, kw map[string]any) (any, error) {
		n, err := intArg(args, kw, 1, "maxsplit", -1)
		if err != nil {
			return nil, err
		}
		return pyRsplit(s, argv(args, kw, 0, "sep", nil), n)
	},
	"strip": func(s string, args []any, kw map[string]any) (any, error) {
		return pyStrip(s, argv(args, kw, 0, "chars", nil), true, true), nil
	},
	"lstrip": func(s string, args []any, kw map[string]any) (any, error) {
		return pyStrip(s, argv(args, kw, 0, "chars", nil), true, false), nil
	},
	"rstrip": func(s string, args []any, kw map[string]any) (any, error) {
		return pyStrip(s, argv(args, kw, 0, "chars", nil), false, true), nil
	},
	"replace": func(s string, args []any, kw map[string]any) (any, error) {
		old, ok1, err1 := strArg(args, kw, 0, "old")
		repl, ok2, err2 := strArg(args, kw, 1, "new")
		if err1 != nil || err2 != nil || !ok1 || !ok2 {
			return nil, typeErrorf("replace expected at least 2 arguments")
		}
		n, err := intArg(args, kw, 2, "count", -1)
		if err != nil {
			return nil, err
		}
		if old == "" && len(s)*len(repl) > maxSequenceSize {
			return nil, typeErrorf("replacement result is too large")
		}
		return strings.Replace(s, old, repl, n), nil
	},
	"startswith": affixTest(strings.HasPrefix),
	"endswith":   affixTest(strings.HasSuffix),
	"find":       findImpl(false, false),
	"rfind":      findImpl(true, false),
	"index":      findImpl(false, true),
	"rindex":     findImpl(true, true),
	"count": func(s string, args []any, kw map[string]any) (any, error) {
		sub, ok, err := strArg(args, kw, 0, "sub")
		if err != nil || !ok {
			return nil, typeErrorf("count() takes at least 1 argument")
		}
		return strings.Count(s, sub), nil
	},
	"lower": func(s string, _ []any, _ map[string]any) (any, error) { return strings.ToLower(s), nil },
	"upper": func(s string, _ []any, _ map[string]any) (any, error) { return strings.ToUpper(s), nil },
	"capitalize": func(s string, _ []any, _ map[string]any) (any, error) {
		return filterCapitalize(nil, s, nil, nil)
	},
	"title": func(s string, _ []any, _ map[string]any) (any, error) {
		return filterTitle(nil, s, nil, nil)
	},
	"join": func(s string, args []any, kw map[string]any) (any, error) {
		items, err := asList(argv(args, kw, 0, "iterable", nil))
		if err != nil {
			return nil, err
		}
		parts := make([]string, len(items))
		for i, it := range items {
			p, ok := it.(string)
			if !ok {
				return nil, typeErrorf("sequence item %d: expected str instance, %s found", i, typeName(it))
			}
			parts[i] = p
		}
		return strings.Join(parts, s), nil
	},
	"splitlines": func(s string, args []any, kw map[string]any) (any, error) {
		return strList(orEmptyStrings(pySplitlines(s))), nil
	},
	"center": func(s string, args []any, kw map[string]any) (any, error) {
		w, err := intArg(args, kw, 0, "width", 0)
		if err != nil {
			return nil, err
		}
		fill, err := padFill(args, kw)
		if err != nil {
			return nil, err
		}
		return pyCenterFill(s, w, fill), nil
	},
	"ljust": func(s string, args []any, kw map[string]any) (any, error) {
		w, err := intArg(args, kw, 0, "width", 0)
		if err != nil {
			return nil, err
		}
		fill, err := padFill(args, kw)
		if err != nil {
			return nil, err
		}
		if n := len([]rune(s)); w > n && w <= maxSequenceSize {
			return s + strings.Repeat(fill, w-n), nil
		}
		return s, nil
	},
	"rjust": func(s string, args []any, kw map[string]any) (any, error) {
		w, err := intArg(args, kw, 0, "width", 0)
		if err != nil {
			return nil, err
		}
		fill, err := padFill(args, kw)
		if err != nil {
			return nil, err
		}
		if n := len([]rune(s)); w > n && w <= maxSequenceSize {
			return strings.Repeat(fill, w-n) + s, nil
		}
		return s, nil
	},
	"zfill": func(s string, args []any, kw map[string]any) (any, error) {
		w, err := intArg(args, kw, 0, "width", 0)
		if err != nil {
			return nil, err
		}
		n := len([]rune(s))
		if w <= n || w > maxSequenceSize {
			return s, nil
		}
		sign := ""
		if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
			sign, s = s[:1], s[1:]
		}
		return sign + strings.Repeat("0", w-n) + s, nil
	},
	"isdigit":   charClass(unicode.IsDigit, false),
	"isdecimal": charClass(unicode.IsDigit, false),
	"isnumeric": charClass(unicode.IsNumber, false),
	"isalpha":   charClass(unicode.IsLetter, false),
	"isalnum": charClass(func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsNumber(r)
	}, false),
	"isspace": charClass(unicode.IsSpace, false),
	"islower": func(s string, _ []any, _ map[string]any) (any, error) {
		return caseTest(s, unicode.IsLower, unicode.IsUpper), nil
	},
	"isupper": func(s string, _ []any, _ map[string]any) (any, error) {
		return caseTest(s, unicode.IsUpper, unicode.IsLower), nil
	},
}

func orEmptyStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
