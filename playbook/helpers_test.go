package playbook

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

// kvCase is one entry of testdata/kv_cases.json, produced by Ansible's own
// parse_kv (check_raw False and True) and split_args; an "ERR:" string is
// the expected error message.
type kvCase struct {
	In    string `json:"in"`
	KV    any    `json:"kv"`
	Raw   any    `json:"raw"`
	Split any    `json:"split"`
}

func loadJSON(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func asJSON(v any, err error) any {
	if err != nil {
		return "ERR:" + err.Error()
	}
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestParseKV(t *testing.T) {
	var cases []kvCase
	loadJSON(t, "testdata/kv_cases.json", &cases)
	for _, c := range cases {
		got := asJSON(ParseKV(c.In, false))
		if !reflect.DeepEqual(got, c.KV) {
			t.Errorf("ParseKV(%q, false) = %#v, want %#v", c.In, got, c.KV)
		}
		got = asJSON(ParseKV(c.In, true))
		if !reflect.DeepEqual(got, c.Raw) {
			t.Errorf("ParseKV(%q, true) = %#v, want %#v", c.In, got, c.Raw)
		}
		parts, err := SplitArgs(c.In)
		if parts == nil && err == nil {
			parts = []string{}
		}
		got = asJSON(parts, err)
		if !reflect.DeepEqual(got, c.Split) {
			t.Errorf("SplitArgs(%q) = %#v, want %#v", c.In, got, c.Split)
		}
	}
}

func TestIsTemplate(t *testing.T) {
	var cases []struct {
		In       string `json:"in"`
		Template bool   `json:"template"`
	}
	loadJSON(t, "testdata/template_cases.json", &cases)
	for _, c := range cases {
		if got := IsTemplate(c.In); got != c.Template {
			t.Errorf("IsTemplate(%q) = %v, want %v", c.In, got, c.Template)
		}
	}
}

// TestYAMLScalars checks the YAML 1.1 resolution of PyYAML (as used by
// Ansible) on plain scalars.
func TestYAMLScalars(t *testing.T) {
	tests := []struct {
		in     string
		pyType string
		want   any
	}{
		{"yes", pyBool, true}, {"No", pyBool, false}, {"on", pyBool, true}, {"OFF", pyBool, false},
		{"y", pyUnicode, "y"}, {"tRue", pyUnicode, "tRue"}, {"~", pyNone, nil}, {"", pyNone, nil},
		{"NULL", pyNone, nil}, {"0644", pyInt, int64(420)}, {"0x1F", pyInt, int64(31)},
		{"0b101", pyInt, int64(5)}, {"1_000", pyInt, int64(1000)}, {"1:20", pyInt, int64(80)},
		{"-0", pyInt, int64(0)}, {"08", pyUnicode, "08"}, {"1.5", pyFloat, 1.5}, {"1e5", pyUnicode, "1e5"},
		{"1.0e+5", pyFloat, 100000.0}, {".5", pyFloat, 0.5}, {"5.", pyFloat, 5.0},
		{"190:20:30.15", pyFloat, 685230.15}, {"2001-12-14", pyDate, "2001-12-14"},
		{"2001-12-14 21:59:43.10 -5", pyDateTime, "2001-12-14 21:59:43.10 -5"},
		{"'0644'", pyUnicode, "0644"}, {`"yes"`, pyUnicode, "yes"}, {"!!str 12", pyUnicode, "12"},
		{"! 12", pyInt, int64(12)}, {"=x", pyUnicode, "=x"},
	}
	for _, tt := range tests {
		root, _, err := loadDocument("t.yml", []byte("k: "+tt.in+"\n"))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		n := root.get("k")
		if n.pyType != tt.pyType || !reflect.DeepEqual(n.val, tt.want) {
			t.Errorf("%q: got %s %#v, want %s %#v", tt.in, n.pyType, n.val, tt.pyType, tt.want)
		}
	}
	root, _, _ := loadDocument("t.yml", []byte("k: -.inf\n"))
	if v := root.get("k").val.(float64); !math.IsInf(v, -1) {
		t.Errorf("-.inf = %v", v)
	}
	root, _, _ = loadDocument("t.yml", []byte("k: 123456789012345678901234567890\n"))
	if s := fmt.Sprint(root.get("k").val); s != "123456789012345678901234567890" {
		t.Errorf("big int = %s", s)
	}
}

func TestDuplicateKeysAndMerge(t *testing.T) {
	src := "a: 1\nb: &m {x: 1, y: 2}\nc:\n  <<: *m\n  y: 3\na: 2\n1: x\n1.0: y\ntrue: z\n"
	root, warnings, err := loadDocument("/d/t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// The order is PyYAML's (mappings are filled level by level).
	want := []string{
		"While constructing a mapping from /d/t.yml, line 1, column 1, found a duplicate dict key (a). Using last defined value only.",
		"While constructing a mapping from /d/t.yml, line 1, column 1, found a duplicate dict key (1.0). Using last defined value only.",
		"While constructing a mapping from /d/t.yml, line 1, column 1, found a duplicate dict key (True). Using last defined value only.",
		"While constructing a mapping from /d/t.yml, line 4, column 3, found a duplicate dict key (y). Using last defined value only.",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	var c converter
	c.budget = 1000
	got := c.toGo(root)
	wantMap := map[string]any{"a": 2, "b": map[string]any{"x": 1, "y": 2}, "c": map[string]any{"x": 1, "y": 3}, "1": "z"}
	if !reflect.DeepEqual(got, wantMap) {
		t.Errorf("got %#v", got)
	}
}

func TestPythonFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{pyRepr("a"), "'a'"},
		{pyRepr("it's"), `"it's"`},
		{pyRepr(`it's "x"`), `'it\'s "x"'`},
		{pyRepr("a\nb\\\x01é"), `'a\nb\\\x01é'`},
		{pyFloatRepr(1), "1.0"},
		{pyFloatRepr(1e16), "1e+16"},
		{pyFloatRepr(1.5e-5), "1.5e-05"},
		{pyFloatRepr(0.1), "0.1"},
		{pyFloatRepr(math.Inf(1)), "inf"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	root, _, _ := loadDocument("t.yml", []byte("[{a: [1, 'x', null, true, 1.5]}]\n"))
	if s := pyStrOf(root); s != "[{'a': [1, 'x', None, True, 1.5]}]" {
		t.Errorf("pyStrOf = %s", s)
	}
}

// TestJSONErrors checks the emulation of Python's json error messages,
// which appear in Ansible's YAML syntax errors.
func TestJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"- a", "Expecting value: line 1 column 1 (char 0)"},
		{"\n\n  x", "Expecting value: line 3 column 3 (char 4)"},
		{`{"a": 1,}`, "Expecting property name enclosed in double quotes: line 1 column 9 (char 8)"},
		{`{"a" 1}`, "Expecting ':' delimiter: line 1 column 6 (char 5)"},
		{`[1 2]`, "Expecting ',' delimiter: line 1 column 4 (char 3)"},
		{`[1,]`, "Expecting value: line 1 column 4 (char 3)"},
		{`"abc`, "Unterminated string starting at: line 1 column 1 (char 0)"},
		{"\"a\tb\"", "Invalid control character at: line 1 column 3 (char 2)"},
		{`"\q"`, "Invalid \\escape: line 1 column 2 (char 1)"},
		{`"\u12"`, "Invalid \\uXXXX escape: line 1 column 3 (char 2)"},
		{`[] x`, "Extra data: line 1 column 4 (char 3)"},
		{"\ufeff[]", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"},
	}
	for _, tt := range tests {
		_, err := parsePyJSON("f", tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.in, err, tt.want)
		}
	}
	n, err := parsePyJSON("f", `{"a": [1, 2.5, "x", null, true, -1e2, NaN], "a": {"__ansible_unsafe": "{{ x }}"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if a := n.get("a"); a == nil || !a.unsafe || a.pyType != pyUnsafe {
		t.Errorf("duplicate key / unsafe: %#v", a)
	}
}

func TestExtendedErrorHints(t *testing.T) {
	src := []byte("- hosts: all\n  tasks:\n    - debug: msg={{ x }}\n\t- x\n")
	ext, excerpt := extendedError("/f.yml", src, 3, 7)
	if !strings.Contains(ext, yamlCommonUnquotedVariableError) || excerpt != "  tasks:\n    - debug: msg={{ x }}\n      ^ here" {
		t.Errorf("unquoted variable hint missing:\n%s", ext)
	}
	ext, _ = extendedError("/f.yml", src, 4, 1)
	if !strings.Contains(ext, yamlCommonLeadingTabError) {
		t.Errorf("tab hint missing:\n%s", ext)
	}
	ext, _ = extendedError("/f.yml", nil, 1, 1)
	if !strings.HasSuffix(ext, "\n(could not open file to display line)") {
		t.Errorf("unreadable file: %q", ext)
	}
	ext, _ = extendedError("/f.yml", []byte(""), 1, 1)
	if !strings.HasSuffix(ext, "\n(specified line no longer in file, maybe it changed?)") {
		t.Errorf("empty file: %q", ext)
	}
	ext, _ = extendedError("/f.yml", []byte("- copy: src=a dest=b\n    mode: 0644\n"), 2, 9)
	if !strings.Contains(ext, "line 1, column 12") || !strings.HasSuffix(ext, yamlAndShorthandError) {
		t.Errorf("k=v hint:\n%s", ext)
	}
}
