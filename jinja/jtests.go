package jinja

import (
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// addTest registers a test; strict tests fail when given an undefined value.
func (e *Env) addTest(fn testFunc, strict bool, names ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range names {
		e.tests[n] = &testSpec{fn: fn, strict: strict}
	}
}

func isUndefined(v any) bool {
	_, ok := v.(*undefined)
	return ok
}

func (e *Env) registerTests() {
	// Jinja2 builtins.
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return !isUndefined(in), nil
	}, false, "defined")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return isUndefined(in), nil
	}, false, "undefined")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		_, ok := in.(bool)
		return ok, nil
	}, false, "boolean")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return in == true, nil
	}, false, "true")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return in == false, nil
	}, false, "false")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return in == nil, nil
	}, false, "none")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		_, ok := in.(string)
		return ok, nil
	}, false, "string")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		_, _, _, ok := toNumber(in)
		return ok, nil
	}, false, "number")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		_, ok := in.(int)
		return ok, nil
	}, false, "integer")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		_, ok := in.(float64)
		return ok, nil
	}, false, "float")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		_, ok := in.(map[string]any)
		return ok, nil
	}, false, "mapping")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		switch in.(type) {
		case string, []any, map[string]any:
			return true, nil
		}
		return false, nil
	}, false, "sequence")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		switch in.(type) {
		case string, []any, map[string]any:
			return true, nil
		}
		return false, nil
	}, true, "iterable")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return isCallable(in), nil
	}, false, "callable")
	e.addTest(func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		return sameAs(in, argv(args, kw, 0, "other", nil)), nil
	}, false, "sameas")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return false, nil
	}, false, "escaped")
	e.addTest(func(c *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return c.env.hasFilter(asString(in)) && !strings.HasPrefix(asString(in), "·"), nil
	}, true, "filter")
	e.addTest(func(c *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return c.env.hasTest(asString(in)), nil
	}, true, "test")
	compare := func(op string) testFunc {
		return func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
			r, err := binaryOp(op, in, argv(args, kw, 0, "other", nil))
			if err != nil {
				return false, err
			}
			b, _ := r.(bool)
			return b, nil
		}
	}
	e.addTest(compare("=="), true, "eq", "equalto", "==")
	e.addTest(compare("!="), true, "ne", "!=")
	e.addTest(compare("<"), true, "lt", "lessthan", "<")
	e.addTest(compare("<="), true, "le", "<=")
	e.addTest(compare(">"), true, "gt", "greaterthan", ">")
	e.addTest(compare(">="), true, "ge", ">=")
	e.addTest(func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		return pyContains(argv(args, kw, 0, "seq", nil), in)
	}, true, "in")
	e.addTest(func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		r, err := binaryOp("%", in, argv(args, kw, 0, "num", nil))
		if err != nil {
			return false, err
		}
		return pyEqual(r, 0), nil
	}, true, "divisibleby")
	parity := func(want int) testFunc {
		return func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
			if _, ok := in.(string); ok {
				return false, typeErrorf("not all arguments converted during string formatting")
			}
			r, err := binaryOp("%", in, 2)
			if err != nil {
				return false, err
			}
			return pyEqual(r, want), nil
		}
	}
	e.addTest(parity(0), true, "even")
	e.addTest(parity(1), true, "odd")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return caseTest(asString(in), unicode.IsLower, unicode.IsUpper), nil
	}, true, "lower")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return caseTest(asString(in), unicode.IsUpper, unicode.IsLower), nil
	}, true, "upper")

	// Ansible task-result tests.
	resultKey := func(test, key string, negate bool) testFunc {
		return func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
			m, ok := in.(map[string]any)
			if !ok {
				return false, filterErrorf("The '%s' test expects a dictionary", test)
			}
			t, err := truthy(m[key])
			return t != negate, err
		}
	}
	e.addTest(resultKey("failed", "failed", false), false, "failed", "failure")
	e.addTest(resultKey("failed", "failed", true), false, "succeeded", "success", "successful")
	e.addTest(resultKey("unreachable", "unreachable", false), false, "unreachable")
	e.addTest(resultKey("unreachable", "unreachable", true), false, "reachable")
	e.addTest(resultKey("skipped", "skipped", false), false, "skipped", "skip")
	e.addTest(testChanged, false, "changed", "change")
	asyncKey := func(key string) testFunc {
		return func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
			m, ok := in.(map[string]any)
			if !ok {
				return false, filterErrorf("The '%s' test expects a dictionary", key)
			}
			v, ok := m[key]
			if !ok {
				return true, nil
			}
			return pyEqual(v, 1), nil
		}
	}
	e.addTest(asyncKey("finished"), false, "finished")
	e.addTest(asyncKey("started"), false, "started")

	// Ansible regex, version and collection tests.
	e.addTest(regexTest("match"), true, "match")
	e.addTest(regexTest("search"), true, "search")
	e.addTest(regexTest(""), true, "regex")
	e.addTest(testVersion, true, "version", "version_compare")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		items, err := asList(in)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			if t, err := truthy(it); err != nil || t {
				return t, err
			}
		}
		return false, nil
	}, true, "any")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		items, err := asList(in)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			if t, err := truthy(it); err != nil || !t {
				return false, err
			}
		}
		return true, nil
	}, true, "all")
	truthTest := func(want bool) testFunc {
		return func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
			v := in
			if argBool(args, kw, 0, "convert_bool", false) {
				if b, ok := ansibleBoolean(in); ok {
					v = b
				}
			}
			t, err := truthy(v)
			return t == want, err
		}
	}
	e.addTest(truthTest(true), true, "truthy")
	e.addTest(truthTest(false), true, "falsy")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		return false, nil
	}, false, "vault_encrypted")
	e.addTest(setTest(false), true, "subset", "issubset")
	e.addTest(setTest(true), true, "superset", "issuperset")
	e.addTest(func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		return pyContains(in, argv(args, kw, 0, "value", nil))
	}, true, "contains")
	e.addTest(func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
		f, ok := in.(float64)
		return ok && math.IsNaN(f), nil
	}, false, "nan", "isnan")

	// Path tests (evaluated on the local machine, like Ansible's controller).
	pathTest := func(fn func(string) bool) testFunc {
		return func(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
			s, ok := in.(string)
			if !ok {
				return false, typeErrorf("expected str, bytes or os.PathLike object, not %s", typeName(in))
			}
			return fn(s), nil
		}
	}
	e.addTest(pathTest(func(p string) bool { return strings.HasPrefix(p, "/") }), true, "abs", "is_abs")
	e.addTest(pathTest(func(p string) bool { _, err := os.Stat(p); return err == nil }), true, "exists")
	e.addTest(pathTest(func(p string) bool { _, err := os.Lstat(p); return err == nil }), true, "link_exists")
	e.addTest(pathTest(func(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }), true, "directory", "is_dir")
	e.addTest(pathTest(func(p string) bool { st, err := os.Stat(p); return err == nil && st.Mode().IsRegular() }), true, "file", "is_file")
	e.addTest(pathTest(func(p string) bool {
		st, err := os.Lstat(p)
		return err == nil && st.Mode()&os.ModeSymlink != 0
	}), true, "link", "is_link")
	e.addTest(func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		a, b := asString(in), asString(argv(args, kw, 0, "f2", ""))
		sa, err1 := os.Stat(a)
		sb, err2 := os.Stat(b)
		if err1 != nil || err2 != nil {
			return false, filterErrorf("No such file or directory")
		}
		return os.SameFile(sa, sb), nil
	}, true, "same_file", "is_same_file")
}

// caseTest implements str.islower()/isupper(): at least one cased character and no other-case character.
func caseTest(s string, want, other func(rune) bool) bool {
	cased := false
	for _, r := range s {
		if other(r) || unicode.IsTitle(r) {
			return false
		}
		if want(r) {
			cased = true
		}
	}
	return cased
}

// sameAs approximates Python's `is` for data-model values.
func sameAs(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int:
		y, ok := b.(int)
		return ok && x == y && x >= -5 && x <= 256
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any, map[string]any:
		ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
		return ra.Kind() == rb.Kind() && ra.Len() == rb.Len() && ra.UnsafePointer() == rb.UnsafePointer()
	}
	return false
}

func testChanged(_ *callCtx, in any, _ []any, _ map[string]any) (bool, error) {
	m, ok := in.(map[string]any)
	if !ok {
		return false, filterErrorf("The 'changed' test expects a dictionary")
	}
	if v, ok := m["changed"]; ok {
		return truthy(v)
	}
	results, ok := m["results"].([]any)
	if !ok {
		return false, nil
	}
	if len(results) == 0 {
		return false, typeErrorf("list index out of range")
	}
	if _, ok := results[0].(map[string]any); !ok {
		return false, nil
	}
	for _, r := range results {
		if rm, ok := r.(map[string]any); ok {
			if t, _ := truthy(rm["changed"]); t {
				return true, nil
			}
		}
	}
	return false, nil
}

// regexTest implements Ansible's match/search/regex tests.
func regexTest(kind string) testFunc {
	return func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		value := asString(in)
		pattern := asString(argv(args, kw, 0, "pattern", ""))
		ic := argBool(args, kw, 1, "ignorecase", false)
		ml := argBool(args, kw, 2, "multiline", false)
		matchType := kind
		if kind == "" {
			matchType = asString(argv(args, kw, 3, "match_type", "search"))
		}
		if matchType == "match" {
			pattern = `\A(?:` + pattern + `)`
		}
		re, err := compilePyRegex(pattern, ic, ml)
		if err != nil {
			return false, err
		}
		return re.MatchString(value), nil
	}
}

// ansibleBoolean is ansible.module_utils.parsing.convert_bool.boolean (strict).
func ansibleBoolean(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "y", "yes", "on", "1", "true", "t":
			return true, true
		case "n", "no", "off", "0", "false", "f":
			return false, true
		}
	case int, float64:
		switch {
		case pyEqual(x, 1):
			return true, true
		case pyEqual(x, 0):
			return false, true
		}
	}
	return false, false
}

func setTest(superset bool) testFunc {
	return func(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
		a, err := asList(in)
		if err != nil {
			return false, err
		}
		b, err := asList(argv(args, kw, 0, "b", nil))
		if err != nil {
			return false, err
		}
		if superset {
			a, b = b, a
		}
		for _, l := range [][]any{a, b} {
			for _, x := range l {
				switch x.(type) {
				case []any, map[string]any:
					return false, typeErrorf("unhashable type: '%s'", typeName(x))
				}
			}
		}
		for _, x := range a {
			found := false
			for _, y := range b {
				if pyEqual(x, y) {
					found = true
					break
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	}
}

var versionOps = map[string]string{
	"==": "eq", "=": "eq", "eq": "eq", "<": "lt", "lt": "lt", "<=": "le", "le": "le",
	">": "gt", "gt": "gt", ">=": "ge", "ge": "ge", "!=": "ne", "<>": "ne", "ne": "ne",
}

// testVersion is Ansible's version_compare(value, version, operator='eq', strict=None, version_type=None).
func testVersion(_ *callCtx, in any, args []any, kw map[string]any) (bool, error) {
	version := argv(args, kw, 0, "version", nil)
	op := asString(argv(args, kw, 1, "operator", "eq"))
	strict := argv(args, kw, 2, "strict", nil)
	vtype := argv(args, kw, 3, "version_type", nil)
	if strict != nil && vtype != nil {
		return false, filterErrorf("Cannot specify both 'strict' and 'version_type'")
	}
	if t, _ := truthy(in); !t {
		return false, filterErrorf("Input version value cannot be empty")
	}
	if t, _ := truthy(version); !t {
		return false, filterErrorf("Version parameter to compare against cannot be empty")
	}
	kind := "loose"
	if t, _ := truthy(strict); t {
		kind = "strict"
	} else if vtype != nil {
		kind = asString(vtype)
		switch kind {
		case "loose", "strict":
		case "semver", "semantic":
			kind = "semver"
		case "pep440":
			return false, filterErrorf("The pep440 version_type is not supported")
		default:
			return false, filterErrorf("Invalid version type (%s). Must be one of 'loose', 'strict', 'semver', 'semantic', 'pep440'", kind)
		}
	}
	name, ok := versionOps[op]
	if !ok {
		return false, filterErrorf("Invalid operator type (%s). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'", op)
	}
	c, err := compareVersions(kind, asString(in), asString(version))
	if err != nil {
		return false, filterErrorf("Version comparison failed: %s", err.Error())
	}
	switch name {
	case "eq":
		return c == 0, nil
	case "ne":
		return c != 0, nil
	case "lt":
		return c < 0, nil
	case "le":
		return c <= 0, nil
	case "gt":
		return c > 0, nil
	}
	return c >= 0, nil
}

var (
	looseComponentRe = regexp.MustCompile(`\d+|[a-z]+|\.`)
	strictVersionRe  = regexp.MustCompile(`^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$`)
	semverRe         = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

// looseVersion splits a version like distutils' LooseVersion.
func looseVersion(s string) []any {
	var parts []any
	last := 0
	add := func(p string) {
		if p == "" || p == "." {
			return
		}
		if n, err := strconv.Atoi(p); err == nil {
			parts = append(parts, n)
		} else {
			parts = append(parts, p)
		}
	}
	for _, m := range looseComponentRe.FindAllStringIndex(s, -1) {
		add(s[last:m[0]])
		add(s[m[0]:m[1]])
		last = m[1]
	}
	add(s[last:])
	return orEmpty(parts)
}

func compareVersions(kind, a, b string) (int, error) {
	switch kind {
	case "strict":
		va, err := strictVersion(a)
		if err != nil {
			return 0, err
		}
		vb, err := strictVersion(b)
		if err != nil {
			return 0, err
		}
		return pyCmp("<", va, vb, 0)
	case "semver":
		return compareSemver(a, b)
	}
	return pyCmp("<", looseVersion(a), looseVersion(b), 0)
}

// strictVersion returns a comparable list for distutils' StrictVersion.
func strictVersion(s string) ([]any, error) {
	m := strictVersionRe.FindStringSubmatch(s)
	if m == nil {
		return nil, typeErrorf("invalid version number '%s'", s)
	}
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	patch := 0
	if m[4] != "" {
		patch = atoi(m[4])
	}
	// A release sorts after its pre-releases: encode "no prerelease" as ["~"].
	pre := []any{"~", 0}
	if m[5] != "" {
		pre = []any{m[5][:1], atoi(m[6])}
	}
	return []any{atoi(m[1]), atoi(m[2]), patch, pre}, nil
}

func compareSemver(a, b string) (int, error) {
	ma, mb := semverRe.FindStringSubmatch(a), semverRe.FindStringSubmatch(b)
	if ma == nil {
		return 0, typeErrorf("invalid semantic version '%s'", a)
	}
	if mb == nil {
		return 0, typeErrorf("invalid semantic version '%s'", b)
	}
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(ma[i])
		y, _ := strconv.Atoi(mb[i])
		if c := cmpInt(x, y); c != 0 {
			return c, nil
		}
	}
	pa, pb := ma[4], mb[4]
	switch {
	case pa == pb:
		return 0, nil
	case pa == "":
		return 1, nil
	case pb == "":
		return -1, nil
	}
	xa, xb := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(xa) && i < len(xb); i++ {
		na, errA := strconv.Atoi(xa[i])
		nb, errB := strconv.Atoi(xb[i])
		switch {
		case errA == nil && errB == nil:
			if c := cmpInt(na, nb); c != 0 {
				return c, nil
			}
		case errA == nil:
			return -1, nil
		case errB == nil:
			return 1, nil
		default:
			if c := strings.Compare(xa[i], xb[i]); c != 0 {
				return c, nil
			}
		}
	}
	return cmpInt(len(xa), len(xb)), nil
}
