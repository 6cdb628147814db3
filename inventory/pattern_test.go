package inventory

import (
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

const patternINI = `web01
web02
[web]
web03
web04
web05
[db]
db1
db2
web03
[all:vars]
x=1
`

const (
	noMatch   = "Could not match supplied host pattern, ignoring: "
	rangeWarn = "Use [x:y] inclusive subscripts instead of [x-y] which has been removed"
)

func TestSelect(t *testing.T) {
	inv := mustLoad(t, writeFile(t, t.TempDir(), "inv.ini", patternINI))
	all := []string{"web01", "web02", "web03", "web04", "web05", "db1", "db2"}
	tests := []struct {
		pattern  string
		want     []string
		warnings []string
	}{
		// Results checked against ansible 2.14 --list-hosts.
		{"all", all, nil},
		{"*", all, nil},
		{"", all, nil},
		{"[", all, nil},
		{"web", []string{"web03", "web04", "web05"}, nil},
		{"web*", []string{"web03", "web04", "web05", "web01", "web02"}, nil},
		{"a*", all, nil},
		{"ungrouped", []string{"web01", "web02"}, nil},
		{"web0?", []string{"web01", "web02", "web03", "web04", "web05"}, nil},
		{"web0[!1]", []string{"web02", "web03", "web04", "web05"}, nil},
		{"~web0[12]", []string{"web01", "web02"}, nil},
		{"~WEB", nil, []string{noMatch + "~WEB"}},
		{"web:db", []string{"web03", "web04", "web05", "db1", "db2"}, nil},
		{"web,db", []string{"web03", "web04", "web05", "db1", "db2"}, nil},
		{"web ,  db", []string{"web03", "web04", "web05", "db1", "db2"}, nil},
		{"web db", []string{"web03", "web04", "web05", "db1", "db2"}, nil},
		{"web:!db", []string{"web04", "web05"}, nil},
		{"!db:web", []string{"web04", "web05"}, nil},
		{"web:&db", []string{"web03"}, nil},
		{"&db:web", []string{"web03"}, nil},
		{"!db", []string{"web01", "web02", "web04", "web05"}, nil},
		{"&db", []string{"web03", "db1", "db2"}, nil},
		{"db1,db1,web", []string{"db1", "web03", "web04", "web05"}, nil},
		{"web:db,x", nil, []string{noMatch + "web:db", noMatch + "x"}},
		{"nomatch", nil, []string{noMatch + "nomatch"}},
		{"nomatch:web", []string{"web03", "web04", "web05"}, []string{noMatch + "nomatch"}},
		{"web01:22", nil, []string{noMatch + "web01:22"}},
		{"web[0]", []string{"web03"}, nil},
		{"web[-1]", []string{"web05"}, nil},
		{"web[1:]", []string{"web04", "web05"}, nil},
		{"web[1:9]", []string{"web04", "web05"}, nil},
		{"web[5:9]", []string{}, nil},
		{"web[2:0]", []string{"web05"}, nil},
		{"web[1-3]", []string{"web04", "web05"}, []string{rangeWarn}},
		{"web0[12]", nil, []string{noMatch + "web0"}},
		{"h0[1-3]", nil, []string{rangeWarn, noMatch + "h0"}},
		{"all[0]", []string{"web01"}, nil},
		{"ungrouped[0]", []string{"web01"}, nil},
		{"web*[0]", []string{"web03"}, nil},
		{"localhost", []string{"localhost"}, nil},
		{"127.0.0.1", []string{"127.0.0.1"}, nil},
		{"::1", []string{"::1"}, nil},
		{"all:localhost", append(slices.Clone(all), "localhost"), nil},
		{"localhost:!localhost", []string{}, nil},
		{"localhost:127.0.0.1", []string{"localhost"}, nil},
		{"localhost[0]", []string{"localhost"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			got, warnings, err := inv.Select(tc.pattern)
			if err != nil {
				t.Fatalf("Select(%q): %v", tc.pattern, err)
			}
			if len(got) != 0 || len(tc.want) != 0 {
				if !slices.Equal(got, tc.want) {
					t.Errorf("Select(%q) = %v, want %v", tc.pattern, got, tc.want)
				}
			}
			if !slices.Equal(warnings, tc.warnings) {
				t.Errorf("Select(%q) warnings = %q, want %q", tc.pattern, warnings, tc.warnings)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	inv := mustLoad(t, writeFile(t, t.TempDir(), "inv.ini", patternINI))
	for _, tc := range []struct{ pattern, want string }{
		{"web[7]", "invalid host pattern: No hosts matched the subscripted pattern 'web[7]'"},
		{"web[-9]", "invalid host pattern: No hosts matched the subscripted pattern 'web[-9]'"},
		{"!web[3]", "invalid host pattern: No hosts matched the subscripted pattern 'web[3]'"},
		{"~(", "invalid host pattern: Invalid host list pattern: ~("},
		{"!", `invalid host pattern: "!"`},
		{"web:&", `invalid host pattern: "&"`},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			_, _, err := inv.Select(tc.pattern)
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrPattern) {
				t.Errorf("Select(%q) error = %v, want %q", tc.pattern, err, tc.want)
			}
		})
	}
}

func TestSelectSpecialNames(t *testing.T) {
	dir := t.TempDir()
	inv := mustLoad(t, writeFile(t, dir, "inv.ini", `[web]
w1
[web.example.com]
w2
[other]
web
127.0.0.1
`))
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		// A name that is both a host and a group selects the host only.
		{"web", []string{"web"}},
		// ... but "!web" and "&web" resolve the group.
		{"all:!web", []string{"w2", "web", "127.0.0.1"}},
		// A dotted name also checks host names.
		{"web.example.com", []string{"w2"}},
		// localhost resolves to the localhost-like host defined.
		{"localhost", []string{"127.0.0.1"}},
		{"::1", []string{"127.0.0.1"}},
	} {
		got, _, err := inv.Select(tc.pattern)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Select(%q) = %v, %v; want %v", tc.pattern, got, err, tc.want)
		}
	}
	if w := inv.Warnings(); !slices.Contains(w, "Found both group and host with same name: web") {
		t.Errorf("Warnings() = %q", w)
	}
	if got := inv.Vars("localhost"); got == nil || got["ansible_connection"] != nil {
		t.Errorf("Vars(localhost) = %v, want the vars of 127.0.0.1", got)
	}
}

func TestImplicitLocalhost(t *testing.T) {
	inv := mustLoad(t, "h1,")
	got, _, _ := inv.Select("all")
	if !slices.Equal(got, []string{"h1"}) {
		t.Errorf("all = %v: the implicit localhost must not match all", got)
	}
	if inv.Implicit() {
		t.Error("Implicit() = true with a host defined")
	}
	if v := inv.Vars("127.0.0.1"); v["ansible_connection"] != "local" || v["ansible_python_interpreter"] != "/test/python3" {
		t.Errorf("Vars(127.0.0.1) = %v", v)
	}
	if h := inv.Host("localhost"); h == nil || h.Name != "localhost" || len(h.Groups) != 0 {
		t.Errorf("Host(localhost) = %+v", h)
	}
}

func TestFnmatch(t *testing.T) {
	// Expectations from Python 3.11's fnmatch.fnmatchcase.
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"web*", "web01", true},
		{"web*", "xweb", false},
		{"w?b", "web", true},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[!a-c]x", "dx", true},
		{"[!a-c]x", "ax", false},
		{"[]]x", "]x", true},
		{"[!]]x", "ax", true},
		{"[!]]x", "]x", false},
		{"[a-]x", "-x", true},
		{"[-a]x", "-x", true},
		{"[z-a]x", "zx", false},
		{"[z-a]x", "-x", false},
		{"[!z-a]x", "qx", true},
		{"[a-c-e]x", "dx", false},
		{"[a-c-e]x", "-x", true},
		{"[a-c-e]x", "ex", true},
		{"web[", "web[", true},
		{"a[b", "a[b", true},
		{"*.example.com", "h.example.com", true},
		{"*.example.com", "hexample.com", false},
		{`a\b`, `a\b`, true},
		{`[\]x`, `\x`, true},
		{"[^a]x", "^x", true},
		{"[^a]x", "bx", false},
		{"a**b", "ab", true},
		{"[!]", "!", false},
		{"[!]x", "[!]x", true},
		{"[?]", "?", true},
		{"[*]x", "ax", false},
		{"x[a&&b]", "x&", true},
		{"[!a-z]", "A", true},
		{"\n*", "\nx", true},
		{"*", "a\nb", true},
	} {
		re, err := regexp.Compile(`^(?s:` + fnmatchTranslate(tc.pattern) + `)\z`)
		if err != nil {
			t.Errorf("fnmatchTranslate(%q) = %q: %v", tc.pattern, fnmatchTranslate(tc.pattern), err)
			continue
		}
		if got := re.MatchString(tc.name); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v (regex %s)", tc.name, tc.pattern, got, tc.want, re)
		}
	}
}

func TestSplitHostPattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a,b[1], c[2:3] , d", []string{"a", "b[1]", "c[2:3]", "d"}},
		{"a:b:!c:&d", []string{"a", "b", "!c", "&d"}},
		{"web[1:3]", []string{"web[1:3]"}},
		{"fe80::1", []string{"fe80::1"}},
		{"[::1]:22", []string{"[::1]:22"}},
		{"host:22", []string{"host:22"}},
		{"a:b,c", []string{"a:b", "c"}},
		{"~web\\d+:db", []string{"~web\\d+", "db"}},
		{"  ", []string{}},
	} {
		if got := splitHostPattern(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitHostPattern(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	inv := mustLoad(t, writeFile(t, dir, "inv/hosts", patternINI))
	writeFile(t, dir, "play/group_vars/web.yml", "p: 1\n")
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < 50; j++ {
				if _, _, err := inv.Select("web:db:!web04"); err != nil {
					t.Error(err)
				}
				_ = inv.Vars("web03")
				_ = inv.Groups()
				_ = inv.GroupNames("db1")
			}
		}()
	}
	if err := inv.AddVarsDir(filepath.Join(dir, "play")); err != nil {
		t.Error(err)
	}
	for i := 0; i < 4; i++ {
		<-done
	}
	if inv.Vars("web03")["p"] != 1 {
		t.Errorf("Vars(web03) = %v", inv.Vars("web03"))
	}
}

func TestSelectLimit(t *testing.T) {
	dir := t.TempDir()
	inv := mustLoad(t, writeFile(t, dir, "inv.ini", patternINI))
	limitFile := writeFile(t, dir, "limit.txt", "db1\n\nweb0*\n")
	for _, tc := range []struct {
		pattern, limit string
		want           []string
		warnings       []string
	}{
		// Checked against ansible PATTERN --limit LIMIT --list-hosts.
		{"all", "", []string{"web01", "web02", "web03", "web04", "web05", "db1", "db2"}, nil},
		{"all", "web03", []string{"web03"}, nil},
		{"all", "db", []string{"web03", "db1", "db2"}, nil},
		{"all", "!web04", []string{"web01", "web02", "web03", "web05", "db1", "db2"}, nil},
		{"all", "@" + limitFile, []string{"web01", "web02", "web03", "web04", "web05", "db1"}, nil},
		{"all", "localhost", []string{}, nil},
		{"all", "nomatch", []string{}, []string{noMatch + "nomatch"}},
		{"localhost", "localhost", []string{"localhost"}, nil},
		{"web", "db", []string{"web03"}, nil},
	} {
		got, warnings, err := inv.SelectLimit(tc.pattern, tc.limit)
		if err != nil {
			t.Errorf("SelectLimit(%q, %q): %v", tc.pattern, tc.limit, err)
			continue
		}
		if !slices.Equal(got, tc.want) || !slices.Equal(warnings, tc.warnings) {
			t.Errorf("SelectLimit(%q, %q) = %v, %q; want %v, %q", tc.pattern, tc.limit, got, warnings, tc.want, tc.warnings)
		}
	}
	if _, _, err := inv.SelectLimit("all", "@"+filepath.Join(dir, "missing")); !errors.Is(err, ErrPattern) {
		t.Errorf("missing limit file: err = %v", err)
	}
}
