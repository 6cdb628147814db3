package jinja

import (
	"html"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// argv returns positional argument i, else keyword argument name, else def.
func argv(args []any, kw map[string]any, i int, name string, def any) any {
	if i >= 0 && i < len(args) {
		return args[i]
	}
	if v, ok := kw[name]; ok {
		return v
	}
	return def
}

// argBool returns a Python-truthy argument.
func argBool(args []any, kw map[string]any, i int, name string, def bool) bool {
	b, err := truthy(argv(args, kw, i, name, def))
	return err == nil && b
}

// asInt converts an argument that Python requires to be an integer.
func asInt(v any, what string) (int, error) {
	i, _, isFloat, ok := toNumber(native(v))
	if !ok || isFloat {
		return 0, typeErrorf("%s must be an integer, not %s", what, typeName(v))
	}
	return i, nil
}

// asList returns the items of an iterable (list, string characters, dict keys).
func asList(v any) ([]any, error) {
	return iterate(v)
}

// asString converts v with Python's str().
func asString(v any) string { return PyStr(v) }

// requireString returns v as a string (Python str() for non-strings).
func requireString(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	if err, ok := v.(error); ok {
		return "", err
	}
	return PyStr(v), nil
}

// reg is a shorthand to register a filter that fails on undefined input.
func (e *Env) reg(fn filterFunc, names ...string) {
	for _, n := range names {
		e.addFilter(n, &filterSpec{fn: fn})
	}
}

func (e *Env) registerFilters() {
	e.addFilter("default", &filterSpec{fn: filterDefault, undefinedOK: true})
	e.addFilter("d", &filterSpec{fn: filterDefault, undefinedOK: true})
	e.addFilter("mandatory", &filterSpec{fn: filterMandatory, undefinedOK: true})
	e.reg(filterAbs, "abs")
	e.reg(filterAttr, "attr")
	e.reg(filterBatch, "batch")
	e.reg(filterCapitalize, "capitalize")
	e.reg(filterCenter, "center")
	e.reg(filterLength, "length", "count")
	e.reg(filterDictsort, "dictsort")
	e.reg(filterEscape, "escape", "e", "forceescape")
	e.reg(filterFirst, "first")
	e.reg(filterLast, "last")
	e.reg(filterFloat, "float")
	e.reg(filterFormat, "format")
	e.reg(filterGroupby, "groupby")
	e.reg(filterIndent, "indent")
	e.reg(filterInt, "int")
	e.reg(filterItems, "items")
	e.reg(filterJoin, "join")
	e.reg(filterList, "list")
	e.reg(func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
		return strings.ToLower(asString(in)), nil
	}, "lower")
	e.reg(func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
		return strings.ToUpper(asString(in)), nil
	}, "upper")
	e.reg(filterMap, "map")
	e.reg(filterMinMax(-1), "min")
	e.reg(filterMinMax(1), "max")
	e.reg(filterSelect(true, false), "select")
	e.reg(filterSelect(false, false), "reject")
	e.reg(filterSelect(true, true), "selectattr")
	e.reg(filterSelect(false, true), "rejectattr")
	e.reg(filterReplace, "replace")
	e.reg(filterReverse, "reverse")
	e.reg(filterRound, "round")
	e.reg(func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) { return in, nil }, "safe")
	e.reg(filterSlice, "slice")
	e.reg(filterSort, "sort")
	e.reg(func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
		v, err := deep(in)
		if err != nil {
			return nil, err
		}
		return PyStr(v), nil
	}, "string")
	e.reg(filterStriptags, "striptags")
	e.reg(filterSum, "sum")
	e.reg(filterTitle, "title")
	e.reg(filterTrim, "trim")
	e.reg(filterTruncate, "truncate")
	e.reg(filterUnique, "unique")
	e.reg(filterWordcount, "wordcount")
	e.reg(filterTojson, "tojson")
	e.reg(filterURLEncode, "urlencode")
	e.reg(func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
		s, err := url.QueryUnescape(asString(in))
		if err != nil {
			return nil, filterErrorf("%s", err.Error())
		}
		return s, nil
	}, "urldecode")
	e.registerAnsibleFilters()
}

// filterDefault is Jinja2's default(value, default_value=”, boolean=False).
func filterDefault(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	def := argv(args, kw, 0, "default_value", "")
	boolean := argBool(args, kw, 1, "boolean", false)
	if _, ok := in.(*undefined); ok {
		return def, nil
	}
	if boolean {
		t, err := truthy(in)
		if err != nil {
			return nil, err
		}
		if !t {
			return def, nil
		}
	}
	return in, nil
}

// filterMandatory is Ansible's mandatory(a, msg=None).
func filterMandatory(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	u, ok := in.(*undefined)
	if !ok {
		return in, nil
	}
	if msg := argv(args, kw, 0, "msg", nil); msg != nil {
		return nil, filterErrorf("%s", asString(msg))
	}
	name := ""
	if u.name != nil {
		name = "'" + asString(u.name) + "' "
	}
	return nil, filterErrorf("Mandatory variable %s not defined.", name) // Ansible prints two spaces after a name
}

func filterAbs(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	switch x := in.(type) {
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case int:
		if x < 0 {
			return -x, nil
		}
		return x, nil
	case float64:
		return math.Abs(x), nil
	}
	return nil, typeErrorf("bad operand type for abs(): '%s'", typeName(in))
}

func filterAttr(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	name := asString(argv(args, kw, 0, "name", ""))
	switch x := in.(type) {
	case map[string]any:
		if m := dictMethod(x, name); m != nil {
			return m, nil
		}
		return newUndefinedAttr(in, name), nil
	}
	return c.env.getattr(in, name), nil
}

func filterBatch(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	n, err := asInt(argv(args, kw, 0, "linecount", 1), "linecount")
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, typeErrorf("linecount must be positive")
	}
	fill, hasFill := argv(args, kw, 1, "fill_with", nil), len(args) > 1 || kw["fill_with"] != nil
	var out []any
	for i := 0; i < len(items); i += n {
		end := min(i+n, len(items))
		row := append([]any{}, items[i:end]...)
		if hasFill && fill != nil {
			for len(row) < n {
				row = append(row, fill)
			}
		}
		out = append(out, row)
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

func filterCapitalize(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	r := []rune(asString(in))
	if len(r) == 0 {
		return "", nil
	}
	return strings.ToUpper(string(r[0])) + strings.ToLower(string(r[1:])), nil
}

func filterCenter(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s := asString(in)
	w, err := asInt(argv(args, kw, 0, "width", 80), "width")
	if err != nil {
		return nil, err
	}
	return pyCenter(s, w), nil
}

// pyCenter implements Python's str.center.
func pyCenter(s string, width int) string { return pyCenterFill(s, width, " ") }

func pyCenterFill(s string, width int, fill string) string {
	n := len([]rune(s))
	if width <= n || width > maxSequenceSize {
		return s
	}
	pad := width - n
	left := pad/2 + (pad & width & 1)
	return strings.Repeat(fill, left) + s + strings.Repeat(fill, pad-left)
}

func pyLen(v any) (int, error) {
	switch x := v.(type) {
	case string:
		return len([]rune(x)), nil
	case []any:
		return len(x), nil
	case map[string]any:
		return len(x), nil
	case *namespace:
		return 0, typeErrorf("object of type 'Namespace' has no len()")
	}
	return 0, typeErrorf("object of type '%s' has no len()", typeName(v))
}

func filterLength(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	return pyLen(in)
}

// ignoreCase lowers strings for Jinja2's case-insensitive comparisons.
func ignoreCase(v any) any {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return v
}

func filterDictsort(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	d, ok := in.(map[string]any)
	if !ok {
		return nil, typeErrorf("dictsort requires a dict, got %s", typeName(in))
	}
	caseSensitive := argBool(args, kw, 0, "case_sensitive", false)
	by := asString(argv(args, kw, 1, "by", "key"))
	reverse := argBool(args, kw, 2, "reverse", false)
	pos := 0
	switch by {
	case "key":
	case "value":
		pos = 1
	default:
		return nil, filterErrorf("You can only sort by either \"key\" or \"value\"")
	}
	items := dictItems(d)
	var sortErr error
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].([]any)[pos], items[j].([]any)[pos]
		if !caseSensitive {
			a, b = ignoreCase(a), ignoreCase(b)
		}
		if reverse {
			a, b = b, a
		}
		less, err := pyCompare("<", a, b)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return less
	})
	return items, sortErr
}

func filterEscape(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s := asString(in)
	return html.EscapeString(s), nil
}

func filterFirst(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return newUndefinedHint("No first item, sequence was empty."), nil
	}
	return items[0], nil
}

func filterLast(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return newUndefinedHint("No last item, sequence was empty."), nil
	}
	return items[len(items)-1], nil
}

// pyFloat implements Python's float() conversion.
func pyFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case bool, int, float64:
		_, f, _, _ := toNumber(x)
		return f, true
	case string:
		s := strings.TrimSpace(x)
		switch strings.ToLower(strings.TrimLeft(s, "+-")) {
		case "inf", "infinity":
			if strings.HasPrefix(s, "-") {
				return math.Inf(-1), true
			}
			return math.Inf(1), true
		case "nan":
			return math.NaN(), true
		}
		if s == "" || strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") ||
			strings.ContainsAny(s, "xXoObBpP") {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return f, true
			}
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// pyInt implements Python's int(s, base) for strings.
func pyIntString(s string, base int) (int, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		neg = s[0] == '-'
		s = s[1:]
	}
	lower := strings.ToLower(s)
	if base == 0 || base == 16 || base == 8 || base == 2 {
		prefix := map[string]int{"0x": 16, "0o": 8, "0b": 2}
		for p, b := range prefix {
			if strings.HasPrefix(lower, p) && (base == 0 || base == b) {
				s, base = s[2:], b
				s = strings.TrimPrefix(s, "_")
				break
			}
		}
		if base == 0 {
			base = 10
			if len(s) > 1 && strings.Trim(s, "0_") != "" && s[0] == '0' {
				return 0, false
			}
		}
	}
	if s == "" || strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return int(n), true
}

func filterFloat(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	def := argv(args, kw, 0, "default", 0.0)
	if f, ok := pyFloat(in); ok {
		return f, nil
	}
	return def, nil
}

// filterInt is Jinja2's int(value, default=0, base=10).
func filterInt(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	def := argv(args, kw, 0, "default", 0)
	base, err := asInt(argv(args, kw, 1, "base", 10), "base")
	if err != nil {
		return nil, err
	}
	switch x := in.(type) {
	case bool, int:
		i, _, _, _ := toNumber(x)
		return i, nil
	case float64:
		if math.IsInf(x, 0) {
			return nil, typeErrorf("cannot convert float infinity to integer")
		}
		if math.IsNaN(x) {
			return def, nil
		}
		return int(x), nil
	case string:
		if i, ok := pyIntString(x, base); ok {
			return i, nil
		}
		if f, ok := pyFloat(x); ok {
			if math.IsInf(f, 0) {
				return nil, typeErrorf("cannot convert float infinity to integer")
			}
			if !math.IsNaN(f) {
				return int(f), nil
			}
		}
	}
	return def, nil
}

func filterFormat(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s := asString(in)
	if len(args) > 0 && len(kw) > 0 {
		return nil, filterErrorf("can't handle positional and keyword arguments at the same time")
	}
	if len(kw) > 0 {
		return percentFormat(s, []any{kw}, false)
	}
	return percentFormat(s, args, true)
}

// attrGetter mirrors jinja2.filters.make_attrgetter: a dotted path whose
// integer parts index lists.
func (c *callCtx) attrGetter(attribute any) func(item any) any {
	var parts []any
	if s, ok := attribute.(string); ok {
		for _, p := range strings.Split(s, ".") {
			if n, err := strconv.Atoi(p); err == nil {
				parts = append(parts, n)
			} else {
				parts = append(parts, p)
			}
		}
	} else if attribute != nil {
		parts = []any{attribute}
	}
	return func(item any) any {
		for _, p := range parts {
			if _, ok := item.(*undefined); ok {
				return item
			}
			item = native(c.env.getitem(item, p))
		}
		return item
	}
}

func filterGroupby(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	get := c.attrGetter(argv(args, kw, 0, "attribute", nil))
	def := argv(args, kw, 1, "default", nil)
	caseSensitive := argBool(args, kw, 2, "case_sensitive", false)
	type entry struct {
		key, sortKey any
		item         any
	}
	entries := make([]entry, len(items))
	for i, it := range items {
		k := get(it)
		if _, ok := k.(*undefined); ok && def != nil {
			k = def
		}
		if u, ok := k.(*undefined); ok {
			return nil, u
		}
		sk := k
		if !caseSensitive {
			sk = ignoreCase(k)
		}
		entries[i] = entry{key: k, sortKey: sk, item: it}
	}
	var sortErr error
	sort.SliceStable(entries, func(i, j int) bool {
		less, err := pyCompare("<", entries[i].sortKey, entries[j].sortKey)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return less
	})
	if sortErr != nil {
		return nil, sortErr
	}
	out := []any{}
	for i := 0; i < len(entries); {
		j := i
		group := []any{}
		for j < len(entries) && pyEqual(entries[j].sortKey, entries[i].sortKey) {
			group = append(group, entries[j].item)
			j++
		}
		out = append(out, []any{entries[i].key, group})
		i = j
	}
	return out, nil
}

func filterIndent(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s := asString(in)
	width := argv(args, kw, 0, "width", 4)
	first := argBool(args, kw, 1, "first", false)
	blank := argBool(args, kw, 2, "blank", false)
	var indention string
	if w, ok := width.(string); ok {
		indention = w
	} else {
		n, err := asInt(width, "width")
		if err != nil {
			return nil, err
		}
		if n > maxSequenceSize {
			return nil, typeErrorf("width too large")
		}
		indention = strings.Repeat(" ", max(n, 0))
	}
	newline := "\n"
	lines := pySplitlines(s + newline)
	var rv string
	if blank {
		rv = strings.Join(lines, newline+indention)
	} else if len(lines) > 0 {
		rv = lines[0]
		if len(lines) > 1 {
			rest := make([]string, 0, len(lines)-1)
			for _, l := range lines[1:] {
				if l != "" {
					l = indention + l
				}
				rest = append(rest, l)
			}
			rv += newline + strings.Join(rest, newline)
		}
	}
	if first {
		rv = indention + rv
	}
	return rv, nil
}

// pySplitlines implements str.splitlines() (without keepends).
func pySplitlines(s string) []string {
	var out []string
	start := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, string(rs[start:i]))
			start = i + 1
		case '\r':
			out = append(out, string(rs[start:i]))
			if i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(rs) {
		out = append(out, string(rs[start:]))
	}
	return out
}

func filterItems(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	switch x := in.(type) {
	case map[string]any:
		return dictItems(x), nil
	case *undefined:
		return []any{}, nil
	}
	return nil, typeErrorf("Can only get item pairs from a mapping.")
}

func filterJoin(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	sep := asString(argv(args, kw, 0, "d", ""))
	if attr := argv(args, kw, 1, "attribute", nil); attr != nil {
		get := c.attrGetter(attr)
		mapped := make([]any, len(items))
		for i, it := range items {
			mapped[i] = get(it)
		}
		items = mapped
	}
	parts := make([]string, len(items))
	for i, it := range items {
		v, err := deep(it)
		if err != nil {
			return nil, err
		}
		parts[i] = PyStr(v)
	}
	return strings.Join(parts, sep), nil
}

func filterList(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	return append([]any{}, items...), nil
}

// filterMap implements map(filter, *args) and map(attribute=..., default=...).
func filterMap(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	if len(args) == 0 {
		attr, ok := kw["attribute"]
		if !ok {
			return nil, filterErrorf("map requires a filter argument")
		}
		get := c.attrGetter(attr)
		def, hasDef := kw["default"]
		for i, it := range items {
			v := get(it)
			if _, undef := v.(*undefined); undef && hasDef && def != nil {
				v = def
			}
			out[i] = v
		}
		return out, nil
	}
	name, ok := args[0].(string)
	if !ok {
		return nil, filterErrorf("map: the filter name must be a string")
	}
	spec, ok := c.env.filter(name)
	if !ok {
		return nil, filterErrorf("No filter named %s.", quotePy(name))
	}
	for i, it := range items {
		v, err := spec.fn(c, it, args[1:], kw)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// filterMinMax implements min/max(value, case_sensitive=False, attribute=None).
func filterMinMax(sign int) filterFunc {
	return func(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
		items, err := asList(in)
		if err != nil {
			return nil, err
		}
		caseSensitive := argBool(args, kw, 0, "case_sensitive", false)
		get := c.attrGetter(argv(args, kw, 1, "attribute", nil))
		if len(items) == 0 {
			return newUndefinedHint("No aggregated item, sequence was empty."), nil
		}
		key := func(v any) any {
			v = get(v)
			if !caseSensitive {
				v = ignoreCase(v)
			}
			return v
		}
		best, bestKey := items[0], key(items[0])
		for _, it := range items[1:] {
			k := key(it)
			cmp, err := pyCmp("<", k, bestKey, 0)
			if err != nil {
				return nil, err
			}
			if cmp*sign > 0 {
				best, bestKey = it, k
			}
		}
		return best, nil
	}
}

// runTest applies test name to v for select/reject style filters.
func (c *callCtx) runTest(name string, v any, args []any, kw map[string]any) (bool, error) {
	spec, ok := c.env.test(name)
	if !ok {
		return false, filterErrorf("No test named %s.", quotePy(name))
	}
	if u, ok := v.(*undefined); ok && spec.strict {
		return false, u
	}
	return spec.fn(c, v, args, kw)
}

// filterSelect implements select/reject/selectattr/rejectattr.
func filterSelect(keep, byAttr bool) filterFunc {
	return func(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
		items, err := asList(in)
		if err != nil {
			return nil, err
		}
		get := func(v any) any { return v }
		if byAttr {
			if len(args) == 0 {
				return nil, filterErrorf("Missing parameter for attribute name")
			}
			get = c.attrGetter(args[0])
			args = args[1:]
		}
		out := []any{}
		for _, it := range items {
			v := get(it)
			var ok bool
			if len(args) == 0 {
				if u, isU := v.(*undefined); isU {
					return nil, u
				}
				ok, err = truthy(v)
			} else {
				name, isStr := args[0].(string)
				if !isStr {
					return nil, filterErrorf("the test name must be a string")
				}
				ok, err = c.runTest(name, v, args[1:], kw)
			}
			if err != nil {
				return nil, err
			}
			if ok == keep {
				out = append(out, it)
			}
		}
		return out, nil
	}
}

func filterReplace(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s := asString(in)
	old := asString(argv(args, kw, 0, "old", ""))
	repl := asString(argv(args, kw, 1, "new", ""))
	count := -1
	if v := argv(args, kw, 2, "count", nil); v != nil {
		n, err := asInt(v, "count")
		if err != nil {
			return nil, err
		}
		count = n
	}
	if old == "" && count < 0 && len(s)*len(repl) > maxSequenceSize {
		return nil, typeErrorf("replacement result is too large")
	}
	return strings.Replace(s, old, repl, count), nil
}

func filterReverse(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	if s, ok := in.(string); ok {
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	}
	items, err := asList(in)
	if err != nil {
		return nil, filterErrorf("argument must be iterable")
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[len(items)-1-i] = it
	}
	return out, nil
}

// pyRound implements Python 3's round(x, n) (round half to even).
func pyRound(f float64, n int) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) || n > 300 {
		return f
	}
	s := strconv.FormatFloat(f, 'f', max(n, 0), 64)
	if n < 0 {
		p := math.Pow(10, float64(-n))
		return math.RoundToEven(f/p) * p
	}
	r, _ := strconv.ParseFloat(s, 64)
	return r
}

func filterRound(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	prec, err := asInt(argv(args, kw, 0, "precision", 0), "precision")
	if err != nil {
		return nil, err
	}
	method := asString(argv(args, kw, 1, "method", "common"))
	_, f, _, ok := toNumber(in)
	if !ok {
		return nil, typeErrorf("type %s doesn't define __round__ method", typeName(in))
	}
	switch method {
	case "common":
		return pyRound(f, prec), nil
	case "ceil", "floor":
		p := math.Pow(10, float64(prec))
		if method == "ceil" {
			return math.Ceil(f*p) / p, nil
		}
		return math.Floor(f*p) / p, nil
	}
	return nil, filterErrorf("method must be common, ceil or floor")
}

func filterSlice(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	slices, err := asInt(argv(args, kw, 0, "slices", 1), "slices")
	if err != nil {
		return nil, err
	}
	if slices <= 0 {
		return nil, typeErrorf("slices must be positive")
	}
	fill := argv(args, kw, 1, "fill_with", nil)
	perSlice, extra := len(items)/slices, len(items)%slices
	offset := 0
	out := []any{}
	for i := 0; i < slices; i++ {
		start := offset + i*perSlice
		if i < extra {
			offset++
		}
		end := offset + (i+1)*perSlice
		tmp := append([]any{}, items[start:end]...)
		if fill != nil && i >= extra {
			tmp = append(tmp, fill)
		}
		out = append(out, tmp)
	}
	return out, nil
}

// sortItems sorts a copy of items like Python's sorted(key=...) (stable).
func sortItems(items []any, key func(any) any, reverse bool) ([]any, error) {
	out := append([]any{}, items...)
	keys := make([]any, len(out))
	for i, it := range out {
		keys[i] = key(it)
		if u, ok := keys[i].(*undefined); ok {
			return nil, u
		}
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	var sortErr error
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := keys[idx[i]], keys[idx[j]]
		if reverse {
			a, b = b, a
		}
		less, err := pyCompare("<", a, b)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return less
	})
	if sortErr != nil {
		return nil, sortErr
	}
	sorted := make([]any, len(out))
	for i, k := range idx {
		sorted[i] = out[k]
	}
	return sorted, nil
}

func filterSort(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	reverse := argBool(args, kw, 0, "reverse", false)
	caseSensitive := argBool(args, kw, 1, "case_sensitive", false)
	get := c.attrGetter(argv(args, kw, 2, "attribute", nil))
	return sortItems(items, func(v any) any {
		v = get(v)
		if !caseSensitive {
			v = ignoreCase(v)
		}
		return v
	}, reverse)
}

func filterStriptags(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s := asString(in)
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '<':
			depth++
		case r == '>' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " "), nil
}

func filterSum(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	get := c.attrGetter(argv(args, kw, 0, "attribute", nil))
	total := argv(args, kw, 1, "start", 0)
	for _, it := range items {
		v := get(it)
		if u, ok := v.(*undefined); ok {
			return nil, u
		}
		if total, err = binaryOp("+", total, v); err != nil {
			return nil, err
		}
	}
	return total, nil
}

func filterTitle(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s := asString(in)
	var b strings.Builder
	start := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			if start {
				b.WriteRune(unicode.ToTitle(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			start = false
			continue
		}
		start = r == ' ' || r == '-' || r == '(' || r == '{' || r == '[' || r == '<' || r == '_' || r == '\t' || r == '\n' || !unicode.IsLetter(r)
		b.WriteRune(r)
	}
	return b.String(), nil
}

// pyStrip implements Python's str.strip(chars) (chars=None strips whitespace).
func pyStrip(s string, chars any, left, right bool) string {
	if chars == nil {
		if left {
			s = strings.TrimLeftFunc(s, unicode.IsSpace)
		}
		if right {
			s = strings.TrimRightFunc(s, unicode.IsSpace)
		}
		return s
	}
	cs := asString(chars)
	if left {
		s = strings.TrimLeft(s, cs)
	}
	if right {
		s = strings.TrimRight(s, cs)
	}
	return s
}

func filterTrim(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	return pyStrip(asString(in), argv(args, kw, 0, "chars", nil), true, true), nil
}

func filterTruncate(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s := asString(in)
	length, err := asInt(argv(args, kw, 0, "length", 255), "length")
	if err != nil {
		return nil, err
	}
	killwords := argBool(args, kw, 1, "killwords", false)
	end := asString(argv(args, kw, 2, "end", "..."))
	leeway := 5
	if v := argv(args, kw, 3, "leeway", nil); v != nil {
		if leeway, err = asInt(v, "leeway"); err != nil {
			return nil, err
		}
	}
	r := []rune(s)
	endLen := len([]rune(end))
	if length < endLen {
		return nil, filterErrorf("expected length >= %d, got %d", endLen, length)
	}
	if leeway < 0 {
		return nil, filterErrorf("expected leeway >= 0, got %d", leeway)
	}
	if len(r) <= length+leeway {
		return s, nil
	}
	cut := string(r[:length-endLen])
	if killwords {
		return cut + end, nil
	}
	if i := strings.LastIndex(cut, " "); i >= 0 {
		cut = cut[:i]
	} else {
		cut = ""
	}
	return cut + end, nil
}

// uniqueItems keeps the first of equal items (optionally case-insensitively).
func uniqueItems(items []any, caseSensitive bool, get func(any) any) []any {
	out := []any{}
	var seen []any
	for _, it := range items {
		k := it
		if get != nil {
			k = get(it)
		}
		if !caseSensitive {
			k = ignoreCase(k)
		}
		dup := false
		for _, s := range seen {
			if pyEqual(s, k) {
				dup = true
				break
			}
		}
		if !dup {
			seen = append(seen, k)
			out = append(out, it)
		}
	}
	return out
}

// filterUnique is Ansible's unique (Jinja2's, case-insensitive unless case_sensitive=True).
func filterUnique(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	caseSensitive := argBool(args, kw, 0, "case_sensitive", false)
	var get func(any) any
	if attr := argv(args, kw, 1, "attribute", nil); attr != nil {
		get = c.attrGetter(attr)
	}
	return uniqueItems(items, caseSensitive, get), nil
}

func filterWordcount(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	n := 0
	inWord := false
	for _, r := range asString(in) {
		w := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'
		if w && !inWord {
			n++
		}
		inWord = w
	}
	return n, nil
}

// filterTojson is Jinja2's tojson: sorted keys, HTML-safe escaping.
func filterTojson(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	v, err := deep(in)
	if err != nil {
		return nil, err
	}
	opts := jsonOptions{sortKeys: true, ensureASCII: true, itemSep: ", ", keySep: ": "}
	if ind := argv(args, kw, 0, "indent", nil); ind != nil {
		n, err := asInt(ind, "indent")
		if err != nil {
			return nil, err
		}
		opts.indent, opts.itemSep = strings.Repeat(" ", n), ","
		opts.hasIndent = true
	}
	s, err := encodeJSON(v, opts)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`)
	return r.Replace(s), nil
}

// pyQuote is urllib.parse.quote with the given safe characters.
func pyQuote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
	}
	return b.String()
}

// filterURLEncode is Jinja2's urlencode.
func filterURLEncode(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	qs := func(v any) string { return strings.ReplaceAll(pyQuote(PyStr(v), ""), "%20", "+") }
	var pairs []any
	switch x := in.(type) {
	case map[string]any:
		pairs = dictItems(x)
	case []any:
		pairs = x
	default:
		return pyQuote(PyStr(in), "/"), nil
	}
	parts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		kv, ok := p.([]any)
		if !ok || len(kv) != 2 {
			return nil, typeErrorf("cannot unpack non-pair %s", PyRepr(p))
		}
		parts = append(parts, qs(kv[0])+"="+qs(kv[1]))
	}
	return strings.Join(parts, "&"), nil
}
