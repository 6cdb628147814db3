package jinja

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func testVars() map[string]any {
	return map[string]any{
		"x": 3,
		"s": "hello",
		"n": nil,
		"l": []any{1, "a", nil, true},
		"d": map[string]any{"b": 2, "a": 1},
		"r": map[string]any{"rc": 0, "stdout": "ok", "changed": true, "failed": false},
	}
}

func TestIsTemplate(t *testing.T) {
	for s, want := range map[string]bool{
		"plain": false, "{{ x }}": true, "a {% if x %}": true, "{# c #}": true,
		"{ x }": false, "}}": false, "{": false, "": false, "json {\"a\": 1}": false,
	} {
		if got := IsTemplate(s); got != want {
			t.Errorf("IsTemplate(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPyReprAndStr(t *testing.T) {
	cases := []struct {
		in         any
		repr, str_ string
	}{
		{nil, "None", "None"},
		{true, "True", "True"},
		{false, "False", "False"},
		{42, "42", "42"},
		{int64(-7), "-7", "-7"},
		{1.0, "1.0", "1.0"},
		{0.1, "0.1", "0.1"},
		{1e16, "1e+16", "1e+16"},
		{1.5e-7, "1.5e-07", "1.5e-07"},
		{math.Inf(-1), "-inf", "-inf"},
		{"a", "'a'", "a"},
		{"it's", `"it's"`, "it's"},
		{`both '"`, `'both \'"'`, `both '"`},
		{"tab\tnl\n\x01é\u00a0", `'tab\tnl\n\x01é\xa0'`, "tab\tnl\n\x01é\u00a0"},
		{`back\slash`, `'back\\slash'`, `back\slash`},
		{[]any{1, "a", nil, []any{true}}, "[1, 'a', None, [True]]", "[1, 'a', None, [True]]"},
		{map[string]any{"b": []any{true, nil}, "a": 1}, "{'a': 1, 'b': [True, None]}", "{'a': 1, 'b': [True, None]}"},
		{[]string{"x"}, "['x']", "['x']"},
		{map[string]string{"k": "v"}, "{'k': 'v'}", "{'k': 'v'}"},
		{[]any{}, "[]", "[]"},
		{map[string]any{}, "{}", "{}"},
	}
	for _, c := range cases {
		if got := PyRepr(c.in); got != c.repr {
			t.Errorf("PyRepr(%#v) = %s, want %s", c.in, got, c.repr)
		}
		if got := PyStr(c.in); got != c.str_ {
			t.Errorf("PyStr(%#v) = %s, want %s", c.in, got, c.str_)
		}
	}
}

func TestStringAndValueWithoutTemplate(t *testing.T) {
	e := New()
	s, err := e.String("no template {here}", nil)
	if err != nil || s != "no template {here}" {
		t.Fatalf("String: %q %v", s, err)
	}
	v, err := e.Value("plain", nil)
	if err != nil || v != "plain" {
		t.Fatalf("Value: %#v %v", v, err)
	}
}

func TestValueReturnsVariableUnchanged(t *testing.T) {
	e := New()
	vars := testVars()
	v, err := e.Value("{{ d }}", vars)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(v).UnsafePointer() != reflect.ValueOf(vars["d"]).UnsafePointer() {
		t.Fatalf("Value copied the map instead of returning it")
	}
	v, err = e.Value("{{ l }}", vars)
	if err != nil || !reflect.DeepEqual(v, vars["l"]) {
		t.Fatalf("list: %#v %v", v, err)
	}
	// non-data-model inputs are normalised
	v, err = e.Value("{{ y }}", map[string]any{"y": []string{"a"}})
	if err != nil || !reflect.DeepEqual(v, []any{"a"}) {
		t.Fatalf("[]string: %#v %v", v, err)
	}
	// as Ansible 2.14 (jinja2_native off): an expression's number is text
	v, err = e.Value("{{ y + 1 }}", map[string]any{"y": int64(41)})
	if err != nil || v != "42" {
		t.Fatalf("int64: %#v %v", v, err)
	}
}

func TestData(t *testing.T) {
	e := New()
	vars := testVars()
	static := map[string]any{"k": []any{"a", 1}}
	in := map[string]any{
		"plain":       "text",
		"num":         "{{ x }}",
		"list":        []any{"{{ s | upper }}", 2, map[string]any{"deep": "{{ l | length }}"}},
		"{{ s }}_key": "v{{ x }}",
		"static":      static,
		"none":        nil,
	}
	out, err := e.Data(in, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"plain":     "text",
		"num":       3,
		"list":      []any{"HELLO", 2, map[string]any{"deep": "4"}},
		"hello_key": "v3",
		"static":    static,
		"none":      nil,
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("Data:\n got %#v\nwant %#v", out, want)
	}
	if in["num"] != "{{ x }}" {
		t.Fatalf("Data modified its input")
	}
	same, err := e.Data(static, vars)
	if err != nil || reflect.ValueOf(same).UnsafePointer() != reflect.ValueOf(static).UnsafePointer() {
		t.Fatalf("Data copied data without templates")
	}
	if _, err := e.Data([]any{"ok", "{{ nope }}"}, vars); !errors.Is(err, ErrUndefined) {
		t.Fatalf("Data error: %v", err)
	}
}

func TestErrors(t *testing.T) {
	e := New()
	vars := testVars()
	undef := map[string]string{
		"{{ nope }}":               "'nope' is undefined",
		"x={{ d.zz }}":             "'dict object' has no attribute 'zz'",
		"{{ l[10] }}":              "list object has no element 10",
		"{{ nope.a.b }}":           "'nope' is undefined",
		"{{ [nope] }}":             "'nope' is undefined",
		"{{ nope | upper }}":       "'nope' is undefined",
		"{% if nope %}{% endif %}": "'nope' is undefined",
		"{{ ([] | first) ~ 'x' }}": "No first item, sequence was empty.",
	}
	for tpl, msg := range undef {
		_, err := e.String(tpl, vars)
		if !errors.Is(err, ErrUndefined) || err.Error() != msg {
			t.Errorf("String(%q): got %v, want undefined error %q", tpl, err, msg)
		}
		_, err = e.Value(tpl, vars)
		if !errors.Is(err, ErrUndefined) {
			t.Errorf("Value(%q): got %v, want ErrUndefined", tpl, err)
		}
	}
	for _, tpl := range []string{"{{ x", "{% if %}", "{% for %}", "{{ x | nosuchfilter }}", "{{ x is nosuchtest }}",
		"{% extends 'a' %}", "{% include 'a' %}", "{{ }}", "{% endif %}"} {
		if _, err := e.String(tpl, vars); !errors.Is(err, ErrSyntax) {
			t.Errorf("String(%q): got %v, want ErrSyntax", tpl, err)
		}
	}
	if _, err := e.Eval("x +", vars); !errors.Is(err, ErrSyntax) {
		t.Errorf("Eval syntax: %v", err)
	}
	if _, err := e.Eval("x }}{{ x", vars); !errors.Is(err, ErrSyntax) {
		t.Errorf("Eval of two expressions: %v", err)
	}
	_, err := e.Cond("nope == 1", vars)
	if !errors.Is(err, ErrUndefined) || err.Error() != "error while evaluating conditional (nope == 1): 'nope' is undefined" {
		t.Errorf("Cond: %v", err)
	}
	_, err = e.String("{{ 1 / 0 }}", vars)
	var te *TemplateError
	if !errors.As(err, &te) || errors.Is(err, ErrUndefined) || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("runtime error: %#v", err)
	}
	if _, err := e.String("{{ s is failed }}", vars); err == nil || err.Error() != "The 'failed' test expects a dictionary" {
		t.Errorf("filter error: %v", err)
	}
}

func TestCond(t *testing.T) {
	e := New()
	vars := testVars()
	cases := map[string]bool{
		"":                       true,
		"r is changed":           true,
		"r is failed":            false,
		"r is not failed":        true,
		"r.rc == 0 and x > 2":    true,
		"'ok' in r.stdout":       true,
		"not r.changed":          false,
		"l":                      true,
		"n":                      false,
		"{{ x == 3 }}":           true,
		"{{ 'x == 4' }}":         false,
		"nope is undefined":      true,
		"nope is defined":        false,
		"d.zz is defined":        false,
		"x is defined and x > 1": true,
	}
	for expr, want := range cases {
		got, err := e.Cond(expr, vars)
		if err != nil || got != want {
			t.Errorf("Cond(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestTrailingNewlinesAndWhitespace(t *testing.T) {
	e := New()
	cases := map[string]string{
		"{{ x }}\n":                         "3\n",
		"a\n\n":                             "a\n\n",
		"{% if true %}\nyes\n{% endif %}\n": "yes\n",
		"{% for i in [1,2] %}\n{{ i }}\n{% endfor %}": "1\n2\n",
		"{{ x }}\r\n": "3\n",
	}
	for tpl, want := range cases {
		got, err := e.String(tpl, testVars())
		if err != nil || got != want {
			t.Errorf("String(%q) = %q, %v; want %q", tpl, got, err, want)
		}
	}
}

func TestStringLiteralBackslashes(t *testing.T) {
	e := New()
	cases := map[string]string{
		`{{ 'a\db' }}`:                  `a\db`,
		`{{ 'a\nb' }}`:                  `a\nb`,
		`{{ "x\\" }}`:                   `x\\`,
		`{{ 'it\'s' }}`:                 `it's`,
		`{% set v = 'a\tb\d' %}{{ v }}`: "a\tb\\d",
		`{{ "1.2.3" | regex_replace('\.', '-') }}`: "1-2-3",
		`{{ 'a}}b' }}`:                        "a}}b",
		`{% raw %}'\d'{% endraw %}{{ '\d' }}`: `'\d'\d`,
		`{# '\d' #}{{ '\w' }}`:                `\w`,
	}
	for tpl, want := range cases {
		got, err := e.String(tpl, nil)
		if err != nil || got != want {
			t.Errorf("String(%s) = %q, %v; want %q", tpl, got, err, want)
		}
	}
}

func TestConcurrentRendering(t *testing.T) {
	e := New()
	templates := []string{
		"{{ x + i }}", "{% for v in l %}{{ v }}{% endfor %}{{ i }}", "{{ d | to_json }}{{ i }}",
		"{{ nope | default(i) }}", "{% set ns = namespace(a=i) %}{{ ns.a }}",
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				vars := testVars()
				vars["i"] = i
				tpl := templates[(g+i)%len(templates)]
				if _, err := e.String(tpl, vars); err != nil {
					t.Errorf("%s: %v", tpl, err)
					return
				}
				if ok, err := e.Cond("i >= 0 and r is changed", vars); err != nil || !ok {
					t.Errorf("cond: %v %v", ok, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestTemplateCacheIsBounded(t *testing.T) {
	c := newTemplateCache(3)
	for i := 0; i < 10; i++ {
		c.put(fmt.Sprint(i), &compiled{})
	}
	if c.len() != 3 {
		t.Fatalf("cache holds %d entries", c.len())
	}
	if _, ok := c.get("9"); !ok {
		t.Fatal("most recent entry evicted")
	}
	if _, ok := c.get("0"); ok {
		t.Fatal("oldest entry kept")
	}
	c.get("7")
	c.put("10", &compiled{})
	if _, ok := c.get("7"); !ok {
		t.Fatal("recently used entry evicted")
	}

	big := newTemplateCache(1000)
	for i := 0; i < 100; i++ {
		big.put(fmt.Sprint(i)+strings.Repeat("x", 200<<10), &compiled{})
	}
	if big.bytes > maxCacheBytes || big.len() == 0 {
		t.Fatalf("byte bound not enforced: %d bytes in %d entries", big.bytes, big.len())
	}
	big.put(strings.Repeat("y", maxCachedTemplate+1), &compiled{})
	if _, ok := big.get(strings.Repeat("y", maxCachedTemplate+1)); ok {
		t.Fatal("oversized template cached")
	}

	e := New()
	for i := 0; i < defaultCacheSize+50; i++ {
		if _, err := e.String(fmt.Sprintf("{{ %d }}", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if e.cache.len() > defaultCacheSize {
		t.Fatalf("env cache grew to %d", e.cache.len())
	}
}

func TestRegisterFilterAndLookup(t *testing.T) {
	e := New()
	if _, err := e.String("{{ 'a' | shout }}", nil); !errors.Is(err, ErrSyntax) {
		t.Fatalf("unknown filter: %v", err)
	}
	e.RegisterFilter("shout", func(in any, args []any, kw map[string]any) (any, error) {
		return strings.ToUpper(PyStr(in)) + PyStr(argv(args, kw, 0, "end", "!")), nil
	})
	got, err := e.String("{{ 'a' | shout }}{{ 'b' | shout('?') }}{{ ['c'] | map('shout') | join }}", nil)
	if err != nil || got != "A!B?C!" {
		t.Fatalf("custom filter: %q %v", got, err)
	}
	e.RegisterLookup("double", func(terms []any, kw map[string]any, vars map[string]any) ([]any, error) {
		out := []any{}
		for _, t := range terms {
			out = append(out, PyStr(t)+PyStr(t)+PyStr(vars["x"]))
		}
		return out, nil
	})
	got2, err := e.Value("{{ lookup('double', 'a', 'b') }}|{{ query('double', 'c') }}", map[string]any{"x": 1})
	if err != nil || got2 != "aa1,bb1|['cc1']" {
		t.Fatalf("custom lookup: %#v %v", got2, err)
	}
}

func TestLookupEnv(t *testing.T) {
	t.Setenv("JINJA_TEST_ENV", "value")
	got, err := New().Value("{{ lookup('env', 'JINJA_TEST_ENV') }}", nil)
	if err != nil || got != "value" {
		t.Fatalf("%#v %v", got, err)
	}
}

func TestResourceLimits(t *testing.T) {
	e := New()
	e.maxOps = 200_000
	for _, tpl := range []string{
		"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
		"{% macro m() %}{% call m() %}{% endcall %}{% endmacro %}{{ m() }}",
		"{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
		"{{ 'x' * 100000000 }}",
		"{{ range(100000000) | length }}",
		"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
		"{{ " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + " }}",
	} {
		if _, err := e.String(tpl, nil); err == nil {
			t.Errorf("%.60s…: expected a limit error", tpl)
		}
	}
}

func TestNativeVarsTypes(t *testing.T) {
	e := New()
	vars := map[string]any{
		"i64": int64(5), "u8": uint8(2), "f32": float32(0.5), "ss": []string{"b", "a"},
		"ms": map[string]string{"k": "v"}, "mi": map[string]int{"a": 1},
	}
	got, err := e.String("{{ i64 + u8 }} {{ f32 * 2 }} {{ ss | sort }} {{ ms.k }} {{ mi['a'] + 1 }}", vars)
	if err != nil || got != "7 1.0 ['a', 'b'] v 2" {
		t.Fatalf("%q %v", got, err)
	}
}

// TestBriefCoverage checks that every filter and test the package promises
// has golden cases checked against Ansible.
func TestBriefCoverage(t *testing.T) {
	raw, err := os.ReadFile("testdata/cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	filters := strings.Fields(`default d mandatory bool int float string length count first last min max sum
		unique sort reverse join map select reject selectattr rejectattr list dict2items items2dict combine
		to_json to_nice_json from_json to_yaml to_nice_yaml from_yaml regex_search regex_replace regex_findall
		regex_escape lower upper capitalize title trim replace split basename dirname b64encode b64decode quote
		ternary type_debug zip flatten difference intersect union dictsort abs round`)
	for _, f := range filters {
		if !regexp.MustCompile(`\|\s*` + f + `\b`).MatchString(text) {
			t.Errorf("no golden case uses filter %s", f)
		}
	}
	tests := strings.Fields(`defined undefined none string number integer float boolean mapping sequence iterable
		sameas eq equalto in match search regex truthy falsy succeeded success failed failure changed change
		skipped skip finished started reachable unreachable version version_compare subset superset contains abs exists`)
	for _, name := range tests {
		if !regexp.MustCompile(`\bis\s+(not\s+)?` + name + `\b`).MatchString(text) {
			t.Errorf("no golden case uses test %s", name)
		}
	}
	for _, g := range []string{"range(", "lookup(\"env\""} {
		if !strings.Contains(text, g) {
			t.Errorf("no golden case uses %s", g)
		}
	}
}

func TestSelfReferencingData(t *testing.T) {
	m := map[string]any{"k": 1}
	m["self"] = m
	l := []any{1}
	l = append(l, nil)
	l[1] = l
	if got := PyRepr(m); got != "{'k': 1, 'self': {...}}" {
		t.Errorf("PyRepr(map) = %s", got)
	}
	if got := PyRepr(l); got != "[1, [...]]" {
		t.Errorf("PyRepr(list) = %s", got)
	}
	e := New()
	for _, tpl := range []string{"{{ m }}", "{{ m | to_json }}", "{{ m | to_yaml }}", "x{{ l }}"} {
		if _, err := e.String(tpl, map[string]any{"m": m, "l": l}); err == nil {
			t.Errorf("%s: expected an error for self-referencing data", tpl)
		}
	}
	if v, err := e.Eval("m.self.self.k", map[string]any{"m": m}); err != nil || v != 1 {
		t.Errorf("walking a cycle: %v %v", v, err)
	}
}
