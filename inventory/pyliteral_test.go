package inventory

import (
	"encoding/json"
	"math"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// literalInputs are checked against Python's ast.literal_eval by
// TestIniValueMatchesPython, and some of them against fixed values below.
var literalInputs = []string{
	"1", "-1", "+1", "- 1", "--1", "-(1)", "(-1)", "-(-1)", "0", "00", "007", "0_0", "0_7", "1_000", "1__0", "1_",
	"0x1F", "0X1f", "0o17", "0O17", "0b101", "0x_1f", "0x", "0b2", "12345678901234567890",
	"1.5", ".5", "5.", "1e3", "1E+3", "1.e3", "1e", "1e+", "1_0.5e-1_0", "1._5", "007.5", "00e1", "1.5.3", "1x",
	"inf", "nan", "1j", "1+2j", "1+2", "1 2", "-True", "True", "False", "None", "true", "none", "Truex",
	"'a'", `"a"`, "'a' 'b'", "'a''b'", `'a' "b"`, "'''a'''", `"""a"b"""`, "u'x'", "r'\\n'", "b'xy'", "rb'\\n'", "f'x'",
	"'a' b'c'", "'\\n'", "'\\t'", "'\\x41'", "'\\x4'", "'\\101'", "'\\u00e9'", "'\\U0001F600'", "'\\d'", "'\\\\'",
	"'\\''", "'unterminated", "'a' # comment", "1 # comment", "#", "", " ", "  5", "5  ", "\t5",
	"[]", "[1]", "[1,]", "[1, 2, [3, [4]]]", "[1,", "[,]", "()", "(1)", "(1,)", "(1, 2)", "((1))", "1,", "1, 2", "1,,",
	"{}", "{'a': 1}", "{'a': 1,}", "{'a': 1, 'a': 2}", "{1: 2}", "{1: 'x', 'y': [None]}", "{'a'}", "{1}", "{1,}",
	"{'a': 1, 'b'}", "{**x}", "{'a':}", "set()", "set ( )", "set(1)", "frozenset()", "...", "[...]",
	"{[1]: 2}", "{(1, [2]): 3}", "{(1, 2): 3}", "{{1: 2}: 3}", "{[1], 2}",
	"x", "a b", "foo # comment", "1 if True else 2", "not True", "~1", "1 + 2j", "-1-2j", "'é'", "é", "b'é'",
	"[1, 'two', None, True, 3.5, {'k': (1, 2)}]", "-0", "-0.0", "1e400", "-1e400", "0777",
}

func TestIniValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"1", 1},
		{"-(1)", -1},
		{"--1", "--1"},
		{"007", "007"},
		{"00", 0},
		{"0x1F", 31},
		{"1_000", 1000},
		{"1e3", 1000.0},
		{"5.", 5.0},
		{"True", true},
		{"None", nil},
		{"true", "true"},
		{"'a' 'b'", "ab"},
		{"u'x'", "x"},
		{"b'xy'", "xy"},
		{"r'\\n'", "\\n"},
		{"'\\n'", "\n"},
		{"'\\101'", "A"},
		{"'\\u00e9'", "é"},
		{"f'x'", "f'x'"},
		{"1, 2", []any{1, 2}},
		{"()", []any{}},
		{"(1)", 1},
		{"[1, [2]]", []any{1, []any{2}}},
		{"{'a': 1, 'a': 2}", map[string]any{"a": 2}},
		{"{1: 2}", map[string]any{"1": 2}},
		{"{(1, 2): 3}", map[string]any{"(1, 2)": 3}},
		{"{'a', 'a', 'b'}", []any{"a", "b"}},
		{"set()", []any{}},
		{"1j", "1j"},
		{"...", "..."},
		{"12345678901234567890", 1.2345678901234567e19},
		{"foo # comment", "foo # comment"},
		{"1 # comment", 1},
		{"", ""},
	} {
		got, err := iniValue(tc.in)
		if err != nil {
			t.Errorf("iniValue(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("iniValue(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"{[1]: 2}":         "unhashable type: 'list'",
		"{[1], 2}":         "unhashable type: 'list'",
		"{{1: 2}: 3}":      "unhashable type: 'dict'",
		"{(1, [2]): 3}":    "unhashable type: 'list'",
		"{set(): 1}":       "unhashable type: 'set'",
		"[{'a': {[]: 1}}]": "unhashable type: 'list'",
	} {
		if _, err := iniValue(in); err == nil || err.Error() != want {
			t.Errorf("iniValue(%q) error = %v, want %q", in, err, want)
		}
	}
	if v, _ := iniValue("1e400"); v != math.Inf(1) {
		t.Errorf("iniValue(1e400) = %v", v)
	}
}

// pythonLiteralScript evaluates each input as the ini plugin's _parse_value.
const pythonLiteralScript = `
import ast, json, sys
out = []
for s in json.load(sys.stdin):
    try:
        v = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        v = s
    except Exception as e:
        out.append({"error": str(e)}); continue
    def conv(v):
        if isinstance(v, bytes): return v.decode("utf-8", "surrogateescape")
        if isinstance(v, (complex, type(...))): raise TypeError("unsupported")
        if isinstance(v, (list, tuple)): return [conv(e) for e in v]
        if isinstance(v, (set, frozenset)):
            if len(v) > 1: raise TypeError("unordered")
            return [conv(e) for e in v]
        if isinstance(v, dict): return {json.dumps(k) if isinstance(k, tuple) else k: conv(e) for k, e in v.items()}
        if isinstance(v, float) and v in (float("inf"), float("-inf")): return {"float": repr(v)}
        return v
    try:
        out.append({"value": conv(v)})
    except TypeError:
        out.append({"value": s})
json.dump(out, sys.stdout)
`

func TestIniValueMatchesPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	in, _ := json.Marshal(literalInputs)
	cmd := exec.Command(python, "-c", pythonLiteralScript)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var results []struct {
		Value any     `json:"value"`
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	for i, s := range literalInputs {
		got, err := iniValue(s)
		r := results[i]
		if r.Error != nil {
			if err == nil {
				t.Errorf("iniValue(%q) = %#v, python raised %q", s, got, *r.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("iniValue(%q): %v, python gave %#v", s, err, r.Value)
			continue
		}
		if f, ok := got.(float64); ok && math.IsInf(f, 0) {
			got = map[string]any{"float": pyFloatRepr(f)}
		}
		// Python's tuple keys were JSON-encoded; ours are rendered "(1, 2)".
		if m, ok := r.Value.(map[string]any); ok {
			for k, v := range m {
				if strings.HasPrefix(k, "[") {
					delete(m, k)
					m["("+strings.Trim(k, "[]")+")"] = v
				}
			}
		}
		if g, w := normalizeJSON(t, got), normalizeJSON(t, r.Value); !reflect.DeepEqual(g, w) {
			t.Errorf("iniValue(%q) = %#v, python gives %#v", s, g, w)
		}
	}
}

func normalizeJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShlexSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"a b  c", []string{"a", "b", "c"}, ""},
		{`a="x y" b='p q'`, []string{"a=x y", "b=p q"}, ""},
		{`a=x\ y`, []string{"a=x y"}, ""},
		{`a="x\"y\\z\n"`, []string{`a=x"y\z\n`}, ""},
		{`a='x\'`, []string{`a=x\`}, ""},
		{"a#comment b", []string{"a"}, ""},
		{"a # comment", []string{"a"}, ""},
		{`a="#" b`, []string{"a=#", "b"}, ""},
		{`'' ""`, []string{"", ""}, ""},
		{`a''b`, []string{"ab"}, ""},
		{`''#`, []string{""}, ""},
		{"# only", nil, ""},
		{`a "b`, nil, "No closing quotation"},
		{`a\`, nil, "No escaped character"},
		{"é ü", []string{"é", "ü"}, ""},
	} {
		got, err := shlexSplit(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("shlexSplit(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("shlexSplit(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestExpandHostPattern(t *testing.T) {
	for _, tc := range []struct {
		in    string
		hosts []string
		port  int
		err   string
	}{
		{"web", []string{"web"}, -1, ""},
		{"web:22", []string{"web"}, 22, ""},
		{"web[1:3]", []string{"web1", "web2", "web3"}, -1, ""},
		{"web[01:03]:22", []string{"web01", "web02", "web03"}, 22, ""},
		{"web[08:10:2].x", []string{"web08.x", "web10.x"}, -1, ""},
		{"db-[a:c]", []string{"db-a", "db-b", "db-c"}, -1, ""},
		{"db-[x:z:2]", []string{"db-x", "db-z"}, -1, ""},
		{"[a:c]", []string{"a", "b", "c"}, -1, ""},
		{"n[1:2]-[a:b]", []string{"n1-a", "n1-b", "n2-a", "n2-b"}, -1, ""},
		{"x[:2]", []string{"x0", "x1", "x2"}, -1, ""},
		{"x[3:1]", nil, -1, ""},
		{"x[3:1:-1]", []string{"x3"}, -1, ""},
		{"x[5:1:-2]", []string{"x5", "x3"}, -1, ""},
		{"x[-1:1]", []string{"x-1", "x0", "x1"}, -1, ""},
		{"x[-01:01]", []string{"x-1", "x0", "x1"}, -1, ""},
		{"x[001:010:4]", []string{"x001", "x005", "x009"}, -1, ""},
		{"x[Y:b]", nil, -1, "host range must have begin <= end"},
		{"x[a:c:0]", nil, -1, "invalid literal for int() with base 10: 'a'"},
		{"x[1:3:0]", nil, -1, "range() arg 3 must not be zero"},
		{"x[a:B]", nil, -1, ""}, // 28 letters; checked by length below
		{"10.0.0.[1:2]", []string{"10.0.0.1", "10.0.0.2"}, -1, ""},
		{"[::1]:2200", []string{"::1"}, 2200, ""},
		{"fe80::1", []string{"fe80::1"}, -1, ""},
		{"a@b:22", []string{"a@b:22"}, -1, ""},
		{"[a:1]:22", []string{"a"}, 1, ""},
		{"host:0", []string{"host"}, 0, ""},
	} {
		hosts, port, err := expandHostPattern(tc.in, 1000)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("expandHostPattern(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("expandHostPattern(%q): %v", tc.in, err)
			continue
		}
		if tc.in == "x[a:B]" {
			if len(hosts) != 28 {
				t.Errorf("expandHostPattern(%q) gave %d hosts", tc.in, len(hosts))
			}
			continue
		}
		if !reflect.DeepEqual(hosts, tc.hosts) || port != tc.port {
			t.Errorf("expandHostPattern(%q) = %q, %d; want %q, %d", tc.in, hosts, port, tc.hosts, tc.port)
		}
	}
}
