package jinja

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"math"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"
)

func (e *Env) registerAnsibleFilters() {
	e.reg(filterB64encode, "b64encode")
	e.reg(filterB64decode, "b64decode")
	e.reg(filterToUUID, "to_uuid")
	e.reg(filterToJSON(false), "to_json")
	e.reg(filterToJSON(true), "to_nice_json")
	e.reg(filterFromJSON, "from_json")
	e.reg(filterToYAML(false), "to_yaml")
	e.reg(filterToYAML(true), "to_nice_yaml")
	e.reg(filterFromYAML, "from_yaml")
	e.reg(filterFromYAMLAll, "from_yaml_all")
	e.reg(stringFunc(pyBasename), "basename")
	e.reg(stringFunc(pyDirname), "dirname")
	e.reg(stringFunc(expandUser), "expanduser")
	e.reg(stringFunc(os.ExpandEnv), "expandvars")
	e.reg(filterPathJoin, "path_join")
	e.reg(filterSplitext, "splitext")
	e.reg(filterBool, "bool")
	e.reg(filterQuote, "quote")
	e.reg(hashFilter("md5"), "md5")
	e.reg(hashFilter("sha1"), "sha1", "checksum")
	e.reg(filterHash, "hash")
	e.reg(filterRegexReplace, "regex_replace")
	e.reg(filterRegexEscape, "regex_escape")
	e.reg(filterRegexSearch, "regex_search")
	e.reg(filterRegexFindall, "regex_findall")
	e.reg(filterTernary, "ternary")
	e.reg(filterRandom, "random")
	e.reg(filterShuffle, "shuffle")
	e.reg(filterComment, "comment")
	e.reg(func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) { return typeName(in), nil }, "type_debug")
	e.reg(filterCombine, "combine")
	e.reg(filterExtract, "extract")
	e.reg(filterFlatten, "flatten")
	e.reg(filterDict2Items, "dict2items")
	e.reg(filterItems2Dict, "items2dict")
	e.reg(filterSubelements, "subelements")
	e.reg(filterSplit, "split")
	e.reg(filterLog, "log")
	e.reg(filterPow, "pow")
	e.reg(filterRoot, "root")
	e.reg(setFilter("intersect"), "intersect")
	e.reg(setFilter("difference"), "difference")
	e.reg(setFilter("symmetric_difference"), "symmetric_difference")
	e.reg(setFilter("union"), "union")
	e.reg(filterProduct, "product")
	e.reg(filterPermutations, "permutations")
	e.reg(filterCombinations, "combinations")
	e.reg(filterHumanReadable, "human_readable")
	e.reg(filterHumanToBytes, "human_to_bytes")
	e.reg(filterRekeyOnMember, "rekey_on_member")
	e.reg(filterZip(false), "zip")
	e.reg(filterZip(true), "zip_longest")
	e.reg(filterStrftime, "strftime")
}

// stringFunc adapts a str → str function (Ansible's unicode_wrap filters).
func stringFunc(fn func(string) string) filterFunc {
	return func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
		s, err := requireString(in)
		if err != nil {
			return nil, err
		}
		return fn(s), nil
	}
}

func filterB64encode(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	return base64.StdEncoding.EncodeToString([]byte(asString(in))), nil
}

func filterB64decode(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	var data strings.Builder
	pads := 0
	for _, r := range asString(in) {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '+' || r == '/'):
			data.WriteRune(r)
		case r == '=':
			pads++
		}
	}
	d := data.String()
	switch rem := len(d) % 4; {
	case rem == 1:
		return nil, filterErrorf("Invalid base64-encoded string: number of data characters (%d) cannot be 1 more than a multiple of 4", len(d))
	case rem != 0 && pads < 4-rem:
		return nil, filterErrorf("Incorrect padding")
	}
	out, err := base64.RawStdEncoding.DecodeString(d)
	if err != nil {
		return nil, filterErrorf("Incorrect padding")
	}
	return string(out), nil
}

// filterToUUID is Ansible's to_uuid: a UUID v5 in Ansible's namespace.
func filterToUUID(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	ns := asString(argv(args, kw, 0, "namespace", "361E6D51-FAEC-444A-9079-341386DA8E2E"))
	nsBytes, err := hex.DecodeString(strings.ReplaceAll(strings.Trim(ns, "{}"), "-", ""))
	if err != nil || len(nsBytes) != 16 {
		return nil, filterErrorf("Invalid value '%s' for 'namespace': badly formed hexadecimal UUID string", ns)
	}
	h := sha1.New()
	h.Write(nsBytes)
	h.Write([]byte(asString(in)))
	sum := h.Sum(nil)[:16]
	sum[6] = (sum[6] & 0x0f) | 0x50
	sum[8] = (sum[8] & 0x3f) | 0x80
	x := hex.EncodeToString(sum)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:], nil
}

// pyBasename is posixpath.basename.
func pyBasename(p string) string {
	return p[strings.LastIndex(p, "/")+1:]
}

// pyDirname is posixpath.dirname.
func pyDirname(p string) string {
	head := p[:strings.LastIndex(p, "/")+1]
	if head != "" && strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head
}

func expandUser(p string) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	i := strings.IndexByte(p, '/')
	if i < 0 {
		i = len(p)
	}
	if i != 1 {
		return p
	}
	home := os.Getenv("HOME")
	if home == "" {
		return p
	}
	home = strings.TrimRight(home, "/")
	if home == "" {
		home = "/"
	}
	return home + p[i:]
}

// pyJoin is posixpath.join.
func pyJoin(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	out := parts[0]
	for _, p := range parts[1:] {
		switch {
		case strings.HasPrefix(p, "/"):
			out = p
		case out == "" || strings.HasSuffix(out, "/"):
			out += p
		default:
			out += "/" + p
		}
	}
	return out
}

func filterPathJoin(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	switch x := in.(type) {
	case string:
		return x, nil
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			s, ok := p.(string)
			if !ok {
				return nil, typeErrorf("join() argument must be str, bytes, or os.PathLike object, not '%s'", typeName(p))
			}
			parts[i] = s
		}
		return pyJoin(parts), nil
	}
	return nil, filterErrorf("|path_join expects string or sequence, got %s instead.", "<class '"+typeName(in)+"'>")
}

func filterSplitext(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	p := asString(in)
	slash := strings.LastIndex(p, "/")
	dot := strings.LastIndex(p, ".")
	if dot > slash {
		fname := slash + 1
		for fname < dot && p[fname] == '.' {
			fname++
		}
		if fname < dot {
			return []any{p[:dot], p[dot:]}, nil
		}
	}
	return []any{p, ""}, nil
}

// filterBool is Ansible's to_bool.
func filterBool(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	switch x := in.(type) {
	case nil:
		return nil, nil
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "yes", "on", "1", "true":
			return true, nil
		}
		return false, nil
	case int:
		return x == 1, nil
	case float64:
		return x == 1, nil
	}
	return false, nil
}

var shellUnsafe = regexp.MustCompile(`[^\w@%+=:,./-]`)

// filterQuote is shlex.quote.
func filterQuote(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s := ""
	if in != nil {
		s = asString(in)
	}
	if s == "" {
		return "''", nil
	}
	ascii := true
	for _, r := range s {
		if r > 127 {
			ascii = false
			break
		}
	}
	if ascii && !shellUnsafe.MatchString(s) {
		return s, nil
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'", nil
}

var hashes = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

func hashFilter(name string) filterFunc {
	return func(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
		h := hashes[name]()
		h.Write([]byte(asString(in)))
		return hex.EncodeToString(h.Sum(nil)), nil
	}
}

func filterHash(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	name := asString(argv(args, kw, 0, "hashtype", "sha1"))
	if _, ok := hashes[name]; !ok {
		return nil, filterErrorf("unsupported hash type %s", name)
	}
	return hashFilter(name)(c, in, nil, nil)
}

func filterTernary(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	tv := argv(args, kw, 0, "true_val", nil)
	fv := argv(args, kw, 1, "false_val", nil)
	nv := argv(args, kw, 2, "none_val", nil)
	if in == nil && nv != nil {
		return nv, nil
	}
	t, err := truthy(in)
	if err != nil {
		return nil, err
	}
	if t {
		return tv, nil
	}
	return fv, nil
}

// filterComment is Ansible's comment filter.
func filterComment(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	text := asString(in)
	style := asString(argv(args, kw, 0, "style", "plain"))
	styles := map[string]map[string]string{
		"plain":  {"decoration": "# "},
		"erlang": {"decoration": "% "},
		"c":      {"decoration": "// "},
		"cblock": {"beginning": "/*", "decoration": " * ", "end": " */"},
		"xml":    {"beginning": "<!--", "decoration": " - ", "end": "-->"},
	}
	sp, ok := styles[style]
	if !ok {
		return nil, filterErrorf("%s", quotePy(style))
	}
	prepostfix := sp["decoration"]
	if d, ok := kw["decoration"]; ok {
		prepostfix = asString(d)
	}
	p := map[string]any{
		"newline": "\n", "beginning": "", "prefix": strings.TrimRight(prepostfix, " \t\n"),
		"prefix_count": 1, "decoration": "", "postfix": strings.TrimRight(prepostfix, " \t\n"),
		"postfix_count": 1, "end": "",
	}
	for k, v := range sp {
		p[k] = v
	}
	for k, v := range kw {
		p[k] = v
	}
	str := func(k string) string { return asString(p[k]) }
	count := func(k string) (int, error) {
		n, _, _, ok := toNumber(p[k])
		if !ok {
			if s, isStr := p[k].(string); isStr {
				if i, ok := pyIntString(s, 10); ok {
					return i, nil
				}
			}
			return 0, typeErrorf("invalid %s", k)
		}
		if n > 1000 {
			return 0, typeErrorf("%s too large", k)
		}
		return n, nil
	}
	nl := str("newline")
	var b strings.Builder
	if str("beginning") != "" {
		b.WriteString(str("beginning") + nl)
	}
	if pre := str("prefix"); pre != "" {
		n, err := count("prefix_count")
		if err != nil {
			return nil, err
		}
		if pre != nl {
			b.WriteString(strings.Repeat(pre+nl, max(n, 0)))
		} else {
			b.WriteString(strings.Repeat(nl, max(n, 0)))
		}
	}
	deco := str("decoration")
	body := deco + strings.ReplaceAll(text, nl, nl+deco)
	body = strings.ReplaceAll(body, deco+nl, strings.TrimRight(deco, " \t\n")+nl)
	b.WriteString(body)
	n, err := count("postfix_count")
	if err != nil {
		return nil, err
	}
	for range max(n, 0) {
		b.WriteString(nl + str("postfix"))
	}
	if str("end") != "" {
		b.WriteString(nl + str("end"))
	}
	return b.String(), nil
}

// mergeHash is Ansible's merge_hash(x, y, recursive, list_merge); y wins.
func mergeHash(x, y map[string]any, recursive bool, listMerge string) map[string]any {
	out := make(map[string]any, len(x)+len(y))
	for k, v := range x {
		out[k] = v
	}
	if !recursive && listMerge == "replace" {
		for k, v := range y {
			out[k] = v
		}
		return out
	}
	for k, yv := range y {
		xv, ok := out[k]
		if !ok {
			out[k] = yv
			continue
		}
		xm, xIsMap := xv.(map[string]any)
		ym, yIsMap := yv.(map[string]any)
		if xIsMap && yIsMap {
			if recursive {
				out[k] = mergeHash(xm, ym, recursive, listMerge)
			} else {
				out[k] = yv
			}
			continue
		}
		xl, xIsList := xv.([]any)
		yl, yIsList := yv.([]any)
		if xIsList && yIsList {
			switch listMerge {
			case "replace":
				out[k] = yv
			case "append":
				out[k] = append(append([]any{}, xl...), yl...)
			case "prepend":
				out[k] = append(append([]any{}, yl...), xl...)
			case "append_rp":
				out[k] = append(listWithout(xl, yl), yl...)
			case "prepend_rp":
				out[k] = append(append([]any{}, yl...), listWithout(xl, yl)...)
			}
			continue
		}
		out[k] = yv
	}
	return out
}

func listWithout(xs, remove []any) []any {
	out := []any{}
	for _, x := range xs {
		found := false
		for _, r := range remove {
			if pyEqual(x, r) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

func filterCombine(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	recursive := false
	listMerge := "replace"
	for k, v := range kw {
		switch k {
		case "recursive":
			recursive, _ = truthy(v)
		case "list_merge":
			listMerge = asString(v)
		default:
			return nil, filterErrorf("'recursive' and 'list_merge' are the only valid keyword arguments")
		}
	}
	switch listMerge {
	case "replace", "keep", "append", "prepend", "append_rp", "prepend_rp":
	default:
		return nil, filterErrorf("merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'")
	}
	terms := flattenList(append([]any{in}, args...), 1, false)
	if len(terms) == 0 {
		return map[string]any{}, nil
	}
	dicts := make([]map[string]any, len(terms))
	for i, t := range terms {
		d, ok := t.(map[string]any)
		if !ok {
			other := "dict"
			if i > 0 {
				other = typeName(terms[i-1])
			}
			return nil, filterErrorf("failed to combine variables, expected dicts but got a '%s' and a '%s': \n%s\n%s",
				other, typeName(t), PyRepr(terms[max(i-1, 0)]), PyRepr(t))
		}
		dicts[i] = d
	}
	if len(dicts) == 1 {
		return dicts[0], nil
	}
	res := dicts[len(dicts)-1]
	for i := len(dicts) - 2; i >= 0; i-- {
		res = mergeHash(dicts[i], res, recursive, listMerge)
	}
	return res, nil
}

func filterExtract(c *callCtx, in any, args []any, kw map[string]any) (any, error) {
	container := argv(args, kw, 0, "container", nil)
	keys := []any{in}
	switch more := argv(args, kw, 1, "morekeys", nil).(type) {
	case nil:
	case []any:
		keys = append(keys, more...)
	default:
		keys = append(keys, more)
	}
	v := container
	for _, k := range keys {
		if u, ok := v.(*undefined); ok {
			return u, nil
		}
		v = native(c.env.getitem(v, k))
	}
	return v, nil
}

// flattenList is Ansible's flatten(mylist, levels=None, skip_nulls=True);
// levels < 0 means unlimited.
func flattenList(items []any, levels int, skipNulls bool) []any {
	out := []any{}
	for _, el := range items {
		if skipNulls && (el == nil || el == "None" || el == "null") {
			continue
		}
		if l, ok := el.([]any); ok {
			switch {
			case levels < 0:
				out = append(out, flattenList(l, -1, skipNulls)...)
			case levels >= 1:
				out = append(out, flattenList(l, levels-1, skipNulls)...)
			default:
				out = append(out, el)
			}
			continue
		}
		out = append(out, el)
	}
	return out
}

func filterFlatten(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return nil, err
	}
	levels := -1
	if v := argv(args, kw, 0, "levels", nil); v != nil {
		if levels, err = asInt(v, "levels"); err != nil {
			return nil, err
		}
		levels = max(levels, 0)
	}
	return flattenList(items, levels, argBool(args, kw, 1, "skip_nulls", true)), nil
}

func filterDict2Items(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	d, ok := in.(map[string]any)
	if !ok {
		return nil, filterErrorf("dict2items requires a dictionary, got <class '%s'> instead.", typeName(in))
	}
	kn := asString(argv(args, kw, 0, "key_name", "key"))
	vn := asString(argv(args, kw, 1, "value_name", "value"))
	out := make([]any, 0, len(d))
	for _, k := range sortedKeys(d) {
		out = append(out, map[string]any{kn: k, vn: d[k]})
	}
	return out, nil
}

func filterItems2Dict(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	l, ok := in.([]any)
	if !ok {
		return nil, filterErrorf("items2dict requires a list, got <class '%s'> instead.", typeName(in))
	}
	kn := asString(argv(args, kw, 0, "key_name", "key"))
	vn := asString(argv(args, kw, 1, "value_name", "value"))
	out := make(map[string]any, len(l))
	for _, it := range l {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, filterErrorf("items2dict requires a list of dictionaries, got %s instead.", PyRepr(l))
		}
		k, okK := m[kn]
		v, okV := m[vn]
		if !okK || !okV {
			return nil, filterErrorf("items2dict requires each dictionary in the list to contain the keys '%s' and '%s', got %s instead.", kn, vn, PyRepr(l))
		}
		out[PyStr(k)] = v
	}
	return out, nil
}

func filterSubelements(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	var elements []any
	switch x := in.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			elements = append(elements, x[k])
		}
	case []any:
		elements = x
	default:
		return nil, filterErrorf("obj must be a list of dicts or a nested dict")
	}
	var path []any
	switch s := argv(args, kw, 0, "subelements", nil).(type) {
	case []any:
		path = s
	case string:
		for _, p := range strings.Split(s, ".") {
			path = append(path, p)
		}
	default:
		return nil, filterErrorf("subelements must be a list or a string")
	}
	skipMissing := argBool(args, kw, 1, "skip_missing", false)
	out := []any{}
	for _, el := range elements {
		values := el
		for _, p := range path {
			m, ok := values.(map[string]any)
			if !ok {
				return nil, filterErrorf("the key %s should point to a dictionary, got '%s'", PyStr(p), PyStr(values))
			}
			k, _ := mapKey(p)
			v, ok := m[k]
			if !ok {
				if skipMissing {
					values = []any{}
					break
				}
				return nil, filterErrorf("could not find %s key in iterated item %s", PyRepr(p), PyRepr(values))
			}
			values = v
		}
		l, ok := values.([]any)
		if !ok {
			return nil, filterErrorf("the key %s should point to a list, got %s", PyRepr(path[len(path)-1]), PyRepr(values))
		}
		for _, v := range l {
			out = append(out, []any{el, v})
		}
	}
	return out, nil
}

// pySplit implements str.split(sep=None, maxsplit=-1).
func pySplit(s string, sep any, maxsplit int) ([]any, error) {
	var parts []string
	if sep == nil {
		fields := strings.FieldsFunc(s, unicode.IsSpace)
		if maxsplit >= 0 && len(fields) > maxsplit {
			parts = fields[:maxsplit]
			rest := s
			for range maxsplit {
				rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
				i := strings.IndexFunc(rest, unicode.IsSpace)
				rest = rest[i:]
			}
			parts = append(parts, strings.TrimLeftFunc(rest, unicode.IsSpace))
		} else {
			parts = fields
		}
	} else {
		sp := asString(sep)
		if sp == "" {
			return nil, filterErrorf("empty separator")
		}
		parts = strings.SplitN(s, sp, maxsplit+1)
		if maxsplit < 0 {
			parts = strings.Split(s, sp)
		}
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func filterSplit(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	s, ok := in.(string)
	if !ok {
		return nil, typeErrorf("descriptor 'split' for 'str' objects doesn't apply to a '%s' object", typeName(in))
	}
	maxsplit, err := asInt(argv(args, kw, 1, "maxsplit", -1), "maxsplit")
	if err != nil {
		return nil, err
	}
	return pySplit(s, argv(args, kw, 0, "sep", nil), maxsplit)
}

func filterLog(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	_, x, _, ok := toNumber(in)
	if !ok {
		return nil, filterErrorf("log() can only be used on numbers: must be real number, not %s", typeName(in))
	}
	base := argv(args, kw, 0, "base", math.E)
	_, b, _, ok := toNumber(base)
	if !ok {
		return nil, filterErrorf("log() can only be used on numbers: must be real number, not %s", typeName(base))
	}
	if x <= 0 || b <= 0 || b == 1 {
		return nil, typeErrorf("math domain error")
	}
	if b == 10 {
		return math.Log10(x), nil
	}
	return math.Log(x) / math.Log(b), nil
}

func filterPow(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	_, x, _, ok1 := toNumber(in)
	_, y, _, ok2 := toNumber(argv(args, kw, 0, "y", nil))
	if !ok1 || !ok2 {
		return nil, filterErrorf("pow() can only be used on numbers: must be real number, not %s", typeName(in))
	}
	return math.Pow(x, y), nil
}

func filterRoot(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	_, x, _, ok := toNumber(in)
	if !ok {
		return nil, filterErrorf("root() can only be used on numbers: must be real number, not %s", typeName(in))
	}
	_, base, _, ok := toNumber(argv(args, kw, 0, "base", 2))
	if !ok {
		return nil, filterErrorf("root() can only be used on numbers")
	}
	if base == 2 {
		if x < 0 {
			return nil, filterErrorf("root() can only be used on numbers: math domain error")
		}
		return math.Sqrt(x), nil
	}
	r := math.Pow(x, 1/base)
	// Go's Pow is not correctly rounded like C's; keep exact roots exact.
	if k := math.Round(r); base == math.Trunc(base) && base > 0 && base < 64 && math.Pow(k, base) == x {
		return k, nil
	}
	return r, nil
}

// setFilter implements Ansible's intersect/difference/symmetric_difference/union
// on lists (order of first appearance, duplicates removed).
func setFilter(op string) filterFunc {
	return func(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
		a, err := asList(in)
		if err != nil {
			return nil, err
		}
		b, err := asList(argv(args, kw, 0, "b", nil))
		if err != nil {
			return nil, err
		}
		contains := func(l []any, v any) bool {
			for _, x := range l {
				if pyEqual(x, v) {
					return true
				}
			}
			return false
		}
		var out []any
		switch op {
		case "intersect":
			for _, x := range a {
				if contains(b, x) {
					out = append(out, x)
				}
			}
		case "difference":
			for _, x := range a {
				if !contains(b, x) {
					out = append(out, x)
				}
			}
		case "union":
			out = append(append(out, a...), b...)
		case "symmetric_difference":
			isect := uniqueItems(func() []any {
				var r []any
				for _, x := range a {
					if contains(b, x) {
						r = append(r, x)
					}
				}
				return r
			}(), true, nil)
			for _, x := range uniqueItems(append(append([]any{}, a...), b...), true, nil) {
				if !contains(isect, x) {
					out = append(out, x)
				}
			}
			return orEmpty(out), nil
		}
		return uniqueItems(out, true, nil), nil
	}
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// maxCombinatorics bounds product/permutations/combinations output.
const maxCombinatorics = 1 << 20

func filterProduct(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	lists := [][]any{}
	for _, v := range append([]any{in}, args...) {
		l, err := asList(v)
		if err != nil {
			return nil, err
		}
		lists = append(lists, l)
	}
	repeat := 1
	if r, ok := kw["repeat"]; ok {
		n, err := asInt(r, "repeat")
		if err != nil {
			return nil, err
		}
		repeat = max(n, 0)
	}
	var pools [][]any
	for range repeat {
		pools = append(pools, lists...)
	}
	total := 1
	for _, p := range pools {
		total *= len(p)
		if total > maxCombinatorics {
			return nil, typeErrorf("product result is too large")
		}
	}
	out := []any{[]any{}}
	for _, pool := range pools {
		var next []any
		for _, prefix := range out {
			for _, x := range pool {
				next = append(next, append(append([]any{}, prefix.([]any)...), x))
			}
		}
		out = orEmpty(next)
	}
	return out, nil
}

func filterPermutations(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	pool, err := asList(in)
	if err != nil {
		return nil, err
	}
	r := len(pool)
	if v := argv(args, kw, 0, "r", nil); v != nil {
		if r, err = asInt(v, "r"); err != nil {
			return nil, err
		}
	}
	out := []any{}
	if r < 0 || r > len(pool) {
		return out, nil
	}
	used := make([]bool, len(pool))
	cur := []any{}
	var rec func() error
	rec = func() error {
		if len(out) > maxCombinatorics {
			return typeErrorf("permutations result is too large")
		}
		if len(cur) == r {
			out = append(out, append([]any{}, cur...))
			return nil
		}
		for i := range pool {
			if used[i] {
				continue
			}
			used[i] = true
			cur = append(cur, pool[i])
			if err := rec(); err != nil {
				return err
			}
			cur = cur[:len(cur)-1]
			used[i] = false
		}
		return nil
	}
	if err := rec(); err != nil {
		return nil, err
	}
	return out, nil
}

func filterCombinations(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	pool, err := asList(in)
	if err != nil {
		return nil, err
	}
	r, err := asInt(argv(args, kw, 0, "r", nil), "r")
	if err != nil {
		return nil, err
	}
	out := []any{}
	if r < 0 {
		return nil, typeErrorf("r must be non-negative")
	}
	cur := []any{}
	var rec func(start int) error
	rec = func(start int) error {
		if len(out) > maxCombinatorics {
			return typeErrorf("combinations result is too large")
		}
		if len(cur) == r {
			out = append(out, append([]any{}, cur...))
			return nil
		}
		for i := start; i < len(pool); i++ {
			cur = append(cur, pool[i])
			if err := rec(i + 1); err != nil {
				return err
			}
			cur = cur[:len(cur)-1]
		}
		return nil
	}
	if err := rec(0); err != nil {
		return nil, err
	}
	return out, nil
}

var sizeRanges = []struct {
	suffix string
	limit  float64
}{
	{"Y", 1 << 80}, {"Z", 1 << 70}, {"E", 1 << 60}, {"P", 1 << 50}, {"T", 1 << 40},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

func filterHumanReadable(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	_, size, _, ok := toNumber(in)
	if !ok {
		if s, isStr := in.(string); isStr {
			if f, ok := pyFloat(s); ok {
				size = f
			} else {
				return nil, filterErrorf("human_readable() can't interpret following string: %s", s)
			}
		} else {
			return nil, filterErrorf("human_readable() failed on bad input: %s", typeName(in))
		}
	}
	isbits := argBool(args, kw, 0, "isbits", false)
	unit := argv(args, kw, 1, "unit", nil)
	base := "Bytes"
	if isbits {
		base = "bits"
	}
	suffix, limit := "", 1.0
	for _, r := range sizeRanges {
		suffix, limit = r.suffix, r.limit
		if (unit == nil && size >= r.limit) || (unit != nil && strings.ToUpper(asString(unit)) == r.suffix) {
			break
		}
	}
	if limit != 1 {
		suffix += base[:1]
	} else {
		suffix = base
	}
	s, err := percentFormat("%.2f %s", []any{size / limit, suffix}, true)
	return s, err
}

var humanRe = regexp.MustCompile(`^\s*(\d*\.?\d*)\s*([A-Za-z]+)?`)

func filterHumanToBytes(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	str := PyStr(in)
	defUnit := argv(args, kw, 0, "default_unit", nil)
	isbits := argBool(args, kw, 1, "isbits", false)
	m := humanRe.FindStringSubmatch(str)
	num, ok := pyFloat(m[1])
	if !ok {
		return nil, filterErrorf("human_to_bytes() can't interpret following string: %s", str)
	}
	unit := m[2]
	if unit == "" {
		if defUnit == nil {
			return int(math.RoundToEven(num)), nil
		}
		unit = asString(defUnit)
	}
	key := strings.ToUpper(unit[:1])
	limit := -1.0
	for _, r := range sizeRanges {
		if r.suffix == key {
			limit = r.limit
		}
	}
	if limit < 0 {
		return nil, filterErrorf("human_to_bytes() can't interpret following string: %s", str)
	}
	class, className := "B", "byte"
	if isbits {
		class, className = "b", "bit"
	}
	if len(unit) > 1 && !strings.Contains(strings.ToLower(unit), className) && unit[1:2] != class {
		return nil, filterErrorf("human_to_bytes() can't interpret following string: %s", str)
	}
	return int(math.RoundToEven(num * limit)), nil
}

func filterRekeyOnMember(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	key := argv(args, kw, 0, "key", nil)
	dup := asString(argv(args, kw, 1, "duplicates", "error"))
	if dup != "error" && dup != "overwrite" {
		return nil, filterErrorf("duplicates parameter to rekey_on_member has unknown value: %s", dup)
	}
	var items []any
	switch x := in.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			items = append(items, x[k])
		}
	case []any:
		items = x
	default:
		return nil, filterErrorf("Type is not a valid list, set, or dict")
	}
	out := map[string]any{}
	k, _ := mapKey(key)
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, filterErrorf("List item is not a valid dict")
		}
		v, ok := m[k]
		if !ok {
			return nil, filterErrorf("Key %s was not found", PyStr(key))
		}
		nk := PyStr(v)
		if prev, exists := out[nk]; exists && prev != nil && dup == "error" {
			return nil, filterErrorf("Key %s is not unique, cannot correctly turn into dict", nk)
		}
		out[nk] = it
	}
	return out, nil
}

func filterZip(longest bool) filterFunc {
	return func(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
		var lists [][]any
		for _, v := range append([]any{in}, args...) {
			l, err := asList(v)
			if err != nil {
				return nil, err
			}
			lists = append(lists, l)
		}
		n := -1
		for _, l := range lists {
			if n < 0 || (!longest && len(l) < n) || (longest && len(l) > n) {
				n = len(l)
			}
		}
		fill := kw["fillvalue"]
		out := []any{}
		for i := 0; i < n; i++ {
			row := make([]any, len(lists))
			for j, l := range lists {
				if i < len(l) {
					row[j] = l[i]
				} else {
					row[j] = fill
				}
			}
			out = append(out, row)
		}
		return out, nil
	}
}

// filterStrftime is Ansible's strftime(format, second=None, utc=False).
func filterStrftime(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	format := asString(in)
	t := time.Now()
	if sec := argv(args, kw, 0, "second", nil); sec != nil {
		f, ok := pyFloat(sec)
		if !ok {
			return nil, filterErrorf("Invalid value for epoch value (%s)", PyStr(sec))
		}
		t = time.Unix(0, int64(f*1e9))
	}
	if argBool(args, kw, 1, "utc", false) {
		t = t.UTC()
	} else {
		t = t.Local()
	}
	return pyStrftime(format, t), nil
}

// pyStrftime formats t with the C strftime directives Python supports.
func pyStrftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 >= len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			b.WriteString(t.Format("2006"))
		case 'y':
			b.WriteString(t.Format("06"))
		case 'm':
			b.WriteString(t.Format("01"))
		case 'd':
			b.WriteString(t.Format("02"))
		case 'e':
			b.WriteString(t.Format("_2"))
		case 'H':
			b.WriteString(t.Format("15"))
		case 'I':
			b.WriteString(t.Format("03"))
		case 'M':
			b.WriteString(t.Format("04"))
		case 'S':
			b.WriteString(t.Format("05"))
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'j':
			b.WriteString(t.Format("002"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'f':
			b.WriteString(t.Format(".000000")[1:])
		case 's':
			b.WriteString(PyStr(int(t.Unix())))
		case 'w':
			b.WriteString(PyStr(int(t.Weekday())))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b.WriteString(PyStr(wd))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'R':
			b.WriteString(t.Format("15:04"))
		case 'c':
			b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'x':
			b.WriteString(t.Format("01/02/06"))
		case 'X':
			b.WriteString(t.Format("15:04:05"))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
