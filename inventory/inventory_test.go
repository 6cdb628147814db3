package inventory

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// writeFile writes a file under dir, creating parent directories.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, sources ...string) *Inventory {
	t.Helper()
	inv, err := LoadWithOptions(sources, Options{PythonInterpreter: "/test/python3"})
	if err != nil {
		t.Fatalf("Load(%v): %v", sources, err)
	}
	return inv
}

func TestLoadINI(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		hosts     []string
		groups    map[string][]string // checked groups only
		vars      map[string]map[string]any
		groupName map[string][]string
	}{
		{
			name:    "ungrouped and sections",
			content: "h0\n[web]\nh1\nh2\n[db]\nh2\nh3\n",
			hosts:   []string{"h0", "h1", "h2", "h3"},
			groups: map[string][]string{
				"all": {"h0", "h1", "h2", "h3"}, "ungrouped": {"h0"}, "web": {"h1", "h2"}, "db": {"h2", "h3"},
			},
			groupName: map[string][]string{"h0": {"ungrouped"}, "h2": {"db", "web"}},
		},
		{
			name:    "children before and after",
			content: "[top:children]\nmid\n[mid:children]\nleaf\n[leaf]\nl1\n[mid]\nm1\n",
			hosts:   []string{"m1", "l1"},
			groups:  map[string][]string{"top": {"m1", "l1"}, "mid": {"m1", "l1"}, "leaf": {"l1"}},
			groupName: map[string][]string{
				"l1": {"leaf", "mid", "top"},
			},
		},
		{
			name:    "ports",
			content: "[g]\nh1:2222\nh1:3333\n[::1]:22\n10.1.1.1:80 ansible_port=81\n",
			vars: map[string]map[string]any{
				"h1":       {"ansible_port": 2222},
				"::1":      {"ansible_port": 22},
				"10.1.1.1": {"ansible_port": 81},
			},
		},
		{
			name:    "host vars conversion",
			content: `[g]` + "\n" + `h a=1 b="x y" c="'123'" d="[1,'x']" e=True f=None g=1.5 h=a#comment` + "\n",
			vars: map[string]map[string]any{
				"h": {"a": 1, "b": "x y", "c": "123", "d": []any{1, "x"}, "e": true, "f": nil, "g": 1.5, "h": "a"},
			},
		},
		{
			name:    "group vars conversion",
			content: "[g]\nh\n[g:vars]\na = 23 # comment\nb=FALSE\nc = foo # comment\nd='a' 'b'\ne=\nf=x=y\n",
			vars: map[string]map[string]any{
				"h": {"a": 23, "b": "FALSE", "c": "foo # comment", "d": "ab", "e": "", "f": "x=y"},
			},
		},
		{
			name:    "precedence",
			content: "[p:children]\nc\n[c]\nh x=host\n[c:vars]\nx=c\ny=c\n[p:vars]\nx=p\ny=p\nz=p\n[all:vars]\nx=all\nw=all\n",
			vars:    map[string]map[string]any{"h": {"x": "host", "y": "c", "z": "p", "w": "all"}},
		},
		{
			name:    "group priority",
			content: "[a]\nh\n[b]\nh\n[a:vars]\nv=a\nansible_group_priority=5\n[b:vars]\nv=b\n",
			vars:    map[string]map[string]any{"h": {"v": "a"}},
		},
		{
			name:    "ranges",
			content: "[g]\nweb[01:03]\ndb-[a:c]\nx[1:10:4]\nn[0:1]-[a:b]\n",
			hosts:   []string{"web01", "web02", "web03", "db-a", "db-b", "db-c", "x1", "x5", "x9", "n0-a", "n0-b", "n1-a", "n1-b"},
		},
		{
			name:    "comments and blank lines",
			content: "# comment\n; other comment\n\n  [g]  # trailing\n  h1   # c\n",
			hosts:   []string{"h1"},
			groups:  map[string][]string{"g": {"h1"}, "ungrouped": {}},
		},
		{
			name:    "crlf and odd line breaks",
			content: "[g]\r\nh1\r\nh2\x0bh3\n",
			hosts:   []string{"h1", "h2", "h3"},
		},
		{
			name:    "localhost defined",
			content: "[g]\n127.0.0.1\n",
			hosts:   []string{"127.0.0.1"},
			vars:    map[string]map[string]any{"localhost": {}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			inv := mustLoad(t, writeFile(t, dir, "inv.ini", tc.content))
			if tc.hosts != nil && !slices.Equal(inv.Hosts(), tc.hosts) {
				t.Errorf("Hosts() = %v, want %v", inv.Hosts(), tc.hosts)
			}
			groups := inv.Groups()
			for g, want := range tc.groups {
				if got := groups[g]; !slices.Equal(got, want) {
					t.Errorf("Groups()[%s] = %v, want %v", g, got, want)
				}
			}
			for h, want := range tc.vars {
				if got := inv.Vars(h); !reflect.DeepEqual(got, want) {
					t.Errorf("Vars(%s) = %#v, want %#v", h, got, want)
				}
			}
			for h, want := range tc.groupName {
				if got := inv.GroupNames(h); !slices.Equal(got, want) {
					t.Errorf("GroupNames(%s) = %v, want %v", h, got, want)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file    string
		content string
		want    string // the error message, after "DIR/"
		is      error
	}{
		{"inv.ini", "[web]\nh1\nh2 foo\n", "inv.ini:3: Expected key=value host variable assignment, got: foo", ErrSyntax},
		{"inv.ini", "[p:children]\nundef\n", "inv.ini:2: Section [p:children] includes undefined group: undef", ErrSyntax},
		{"inv.ini", "[p:children]\nc\n[c:vars]\nx=1\n", "inv.ini:2: Section [p:children] includes undefined group: c", ErrSyntax},
		{"inv.ini", "[c:vars]\nx=1\n", "inv.ini:1: Section [c:vars] not valid for undefined group: c", ErrSyntax},
		{"inv.ini", "[web:foo]\nh1\n", "inv.ini:1: Section [web:foo] has unknown type: foo", ErrSyntax},
		{"inv.ini", "[web name]\nh1\n", "inv.ini:1: Invalid section entry: '[web name]'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters", ErrSyntax},
		{"inv.ini", "[g:children]\nbad name\n", "inv.ini:2: Expected group name, got: bad name", ErrSyntax},
		{"inv.ini", "[g:vars]\nnovalue\n", "inv.ini:2: Expected key=value, got: novalue", ErrSyntax},
		{"inv.ini", "[g]\nh1 a=\"unterminated\n", "inv.ini:2: Error parsing host definition 'h1 a=\"unterminated': No closing quotation", ErrSyntax},
		{"inv.ini", "[g]\nh1 a=b\\\n", "inv.ini:2: Error parsing host definition 'h1 a=b\\': No escaped character", ErrSyntax},
		{"inv.ini", "[g]\nweb[1:2:3:4]\n", "inv.ini:2: host range must be begin:end or begin:end:step", ErrSyntax},
		{"inv.ini", "[g]\nweb[:]\n", "inv.ini:2: host range must specify end value", ErrSyntax},
		{"inv.ini", "[g]\nweb[01:100]\n", "inv.ini:2: host range must specify equal-length begin and end formats", ErrSyntax},
		{"inv.ini", "[g]\nweb[c:a]\n", "inv.ini:2: host range must have begin <= end", ErrSyntax},
		{"inv.ini", "[g]\nweb[x:y:z]\n", "inv.ini:2: invalid literal for int() with base 10: 'x'", ErrSyntax},
		{"inv.ini", "[g]\nweb[1:3\n", "inv.ini:2: not enough values to unpack (expected 3, got 2)", ErrSyntax},
		{"inv.ini", "[g]\nweb[1:100000000]\n", `inv.ini:2: host range "web[1:100000000]" expands to too many hosts`, ErrSyntax},
		{"inv.ini", "[g]\nhost:\n", "inv.ini:2: Invalid host pattern 'host:' supplied, ending in ':' is not allowed, this character is reserved to provide a port.", ErrSyntax},
		{"inv.ini", "---\n", "inv.ini:1: Invalid host pattern '---' supplied, '---' is normally a sign this is a YAML file.", ErrSyntax},
		{"inv.ini", "[g]\nh1 x={[1]:2}\n", "inv.ini:2: unhashable type: 'list'", ErrSyntax},
		{"inv.ini", "[g:vars]\nansible_group_priority=abc\n[g]\n", "inv.ini:2: invalid literal for int() with base 10: 'abc'", ErrSyntax},
		{"inv.ini", "[a:children]\na\n", "inv.ini:2: can't add group to itself", ErrSyntax},
		{"inv.ini", "[a:children]\nb\n[b:children]\na\n", "inv.ini:4: Adding group 'a' as child to 'b' creates a recursive dependency loop.", ErrSyntax},
		{"inv.ini", "[g]\nh1\n[g:children]\nh1\n", "inv.ini:4: Section [g:children] includes undefined group: h1", ErrSyntax},
		{"inv.ini", "[g]\n\xff\xfe\n", "inv.ini:2: 'utf-8' codec can't decode line", ErrSyntax},
		{"inv.yml", "all:\n  hosts: [a, b]\n", `inv.yml:2: Invalid "hosts" entry for "all" group, requires a dictionary, found "list" instead.`, ErrSyntax},
		{"inv.yml", "all:\n  hosts:\n    5:\n", "inv.yml:3: Host pattern 5 must be a string. Enclose integers/floats in quotation marks.", ErrSyntax},
		{"inv.yml", "all:\n  hosts:\n    h1: foo\n", "inv.yml:3: Invalid data from file, expected dictionary and got:\n\nfoo", ErrSyntax},
		{"inv.yml", "5:\n  hosts:\n    h1:\n", "inv.yml:1: Unable to add group 5: Invalid group name supplied, expected a string but got <class 'int'> for 5", ErrSyntax},
		{"inv.yml", "all:\n  children:\n    web: str\n", "inv.yml:3: web is not a known host nor group", ErrSyntax},
		{"inv.yml", "- a\n- b\n", "inv.yml: YAML inventory has invalid structure, it should be a dictionary, got: list", ErrSyntax},
		{"inv.yml", "all:\n  hosts:\n    h1:\n   bad: indent\n", "inv.yml:4:4: did not find expected key", ErrSyntax},
		{"inv.yml", "all:\n  hosts:\n    h1: {a: [1, 2}\n", "inv.yml:3:18: did not find expected ',' or ']'", ErrSyntax},
		{"inv.yml", "all:\n  vars:\n    ansible_group_priority: x\n", "inv.yml:3: invalid literal for int() with base 10: 'x'", ErrSyntax},
		{"inv.yml", "web:\n  children:\n    web:\n", "inv.yml:3: can't add group to itself", ErrSyntax},
		{"inv.yml", "all:\n  hosts:\n    \"\":\n", "inv.yml:3: Invalid empty host name provided: ", ErrSyntax},
		{"inv.yml", "a: &x [*x]\n", "inv.yml:1: recursive YAML alias", ErrSyntax},
		{"inv.yml", "a: 1\n---\nb: 2\n", "inv.yml:2: expected a single document in the stream", ErrSyntax},
		{"inv.yml", "plugin: constructed\n", "inv.yml: inventory plugin configuration files (plugin: constructed) are not supported: unsupported inventory feature", ErrUnsupported},
		{"hosts", "all:\n  hosts: [a]\n", `hosts:2: Invalid "hosts" entry for "all" group, requires a dictionary, found "list" instead.`, ErrSyntax},
		{"hosts", "[g]\nh1 x\n", "hosts:2: Expected key=value host variable assignment, got: x", ErrSyntax},
		{"inv.toml", "[g]\n", "inv.toml: TOML inventories are not supported: unsupported inventory feature", ErrUnsupported},
		{"inv.ini", "$ANSIBLE_VAULT;1.1;AES256\n6162\n", "inv.ini: vault-encrypted inventories are not supported: unsupported inventory feature", ErrUnsupported},
		{"inv.yml", "all:\n  vars:\n    x: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n", "inv.yml:3: vault-encrypted values are not supported: unsupported inventory feature", ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, tc.file, tc.content)
			_, err := Load([]string{path})
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tc.want)
			}
			if got := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator)); got != tc.want {
				t.Errorf("error:\n got  %q\n want %q", got, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

func TestLoadSources(t *testing.T) {
	t.Run("no sources", func(t *testing.T) {
		inv := mustLoad(t)
		if !inv.Implicit() || len(inv.Hosts()) != 0 {
			t.Errorf("Implicit() = %v, Hosts() = %v", inv.Implicit(), inv.Hosts())
		}
		want := map[string][]string{"all": {}, "ungrouped": {}}
		if got := inv.Groups(); !reflect.DeepEqual(got, want) {
			t.Errorf("Groups() = %v, want %v", got, want)
		}
		wantVars := map[string]any{"ansible_connection": "local", "ansible_python_interpreter": "/test/python3"}
		if got := inv.Vars("localhost"); !reflect.DeepEqual(got, wantVars) {
			t.Errorf("Vars(localhost) = %v, want %v", got, wantVars)
		}
		if got := inv.GroupNames("localhost"); got == nil || len(got) != 0 {
			t.Errorf("GroupNames(localhost) = %#v, want empty", got)
		}
		if inv.Vars("other") != nil || inv.GroupNames("other") != nil || inv.Host("other") != nil {
			t.Error("unknown host should give nil")
		}
	})
	t.Run("host list", func(t *testing.T) {
		inv := mustLoad(t, "h1, h2:2222,,web[1:2],h1")
		if got, want := inv.Hosts(), []string{"h1", "h2", "web[1:2]"}; !slices.Equal(got, want) {
			t.Errorf("Hosts() = %v, want %v", got, want)
		}
		if got := inv.Vars("h2"); !reflect.DeepEqual(got, map[string]any{"ansible_port": 2222}) {
			t.Errorf("Vars(h2) = %v", got)
		}
		if inv.Implicit() {
			t.Error("Implicit() = true")
		}
		if got := inv.HostSource("h1"); got != "h1, h2:2222,,web[1:2],h1" {
			t.Errorf("HostSource(h1) = %q", got)
		}
	})
	t.Run("single host list", func(t *testing.T) {
		inv := mustLoad(t, "localhost,")
		if got := inv.Hosts(); !slices.Equal(got, []string{"localhost"}) || inv.Implicit() {
			t.Errorf("Hosts() = %v, Implicit() = %v", got, inv.Implicit())
		}
		if got := inv.Vars("localhost"); len(got) != 0 {
			t.Errorf("explicit localhost has vars %v", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := Load([]string{filepath.Join(t.TempDir(), "nope")})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("comma path that exists", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "a,b", "[g]\nreal\n")
		inv := mustLoad(t, p)
		if got := inv.Hosts(); !slices.Equal(got, []string{"real"}) {
			t.Errorf("Hosts() = %v", got)
		}
	})
	t.Run("sources kept", func(t *testing.T) {
		inv := mustLoad(t, "a,", "", "b,")
		if got := inv.Sources(); !slices.Equal(got, []string{"a,", "", "b,"}) {
			t.Errorf("Sources() = %v", got)
		}
	})
	t.Run("yaml extension holding ini", func(t *testing.T) {
		dir := t.TempDir()
		inv := mustLoad(t, writeFile(t, dir, "hosts.yml", "[g]\nh1 x=1\n"))
		if got := inv.Vars("h1"); !reflect.DeepEqual(got, map[string]any{"x": 1}) {
			t.Errorf("Vars(h1) = %v", got)
		}
	})
	t.Run("empty yaml", func(t *testing.T) {
		inv := mustLoad(t, writeFile(t, t.TempDir(), "empty.yml", "# nothing\n"))
		if !inv.Implicit() {
			t.Error("want an empty inventory")
		}
	})
	t.Run("no extension, yaml", func(t *testing.T) {
		inv := mustLoad(t, writeFile(t, t.TempDir(), "hosts", "web:\n  hosts:\n    w1:\n"))
		if got := inv.Groups()["web"]; !slices.Equal(got, []string{"w1"}) {
			t.Errorf("web = %v", got)
		}
	})
	t.Run("script", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "inv.py", "#!/usr/bin/env python3\nprint('{}')\n")
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := Load([]string{p}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("err = %v, want ErrUnsupported", err)
		}
	})
	t.Run("directory skips ignored files", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a", "[g]\nh1\n")
		writeFile(t, dir, "b.ini", "[g]\nignored\n")
		writeFile(t, dir, ".hidden", "[g]\nignored\n")
		writeFile(t, dir, "notes.txt", "garbage garbage\n")
		writeFile(t, dir, "c~", "garbage garbage\n")
		writeFile(t, dir, "group_vars/g.yml", "x: 1\n")
		writeFile(t, dir, "sub/d.yml", "g:\n  hosts:\n    h2:\n")
		inv := mustLoad(t, dir)
		if got := inv.Hosts(); !slices.Equal(got, []string{"h1", "h2"}) {
			t.Errorf("Hosts() = %v", got)
		}
		if got := inv.Vars("h2"); !reflect.DeepEqual(got, map[string]any{"x": 1}) {
			t.Errorf("Vars(h2) = %v", got)
		}
	})
}

func TestVarsFiles(t *testing.T) {
	dir := t.TempDir()
	inv := writeFile(t, dir, "inv/hosts", "[web]\nw1 own=inline\n[web:vars]\ng=inline\n[all:vars]\na=inline\n")
	writeFile(t, dir, "inv/group_vars/all", "a: file\n")
	writeFile(t, dir, "inv/group_vars/all.yml", "a: not-loaded\n") // the bare name wins
	writeFile(t, dir, "inv/group_vars/web/1.yml", "g: one\nlist: [1]\n")
	writeFile(t, dir, "inv/group_vars/web/2.json", `{"g": "two"}`)
	writeFile(t, dir, "inv/group_vars/web/x/3.yaml", "deep: true\n")
	writeFile(t, dir, "inv/group_vars/web/skip.cfg", "g: skipped\n")
	writeFile(t, dir, "inv/host_vars/w1.yaml", "own: file\nmap: {k: v}\n")
	writeFile(t, dir, "play/group_vars/web.yml", "g: play\n")
	writeFile(t, dir, "play/host_vars/w1/a.yml", "own: play\n")
	writeFile(t, dir, "play/host_vars/localhost.yml", "lv: 1\n")
	i := mustLoad(t, inv)
	want := map[string]any{"a": "file", "g": "two", "list": []any{1}, "deep": true, "own": "file", "map": map[string]any{"k": "v"}}
	if got := i.Vars("w1"); !reflect.DeepEqual(got, want) {
		t.Errorf("Vars(w1) = %v\nwant %v", got, want)
	}
	if got := i.GroupVars("web"); !reflect.DeepEqual(got, map[string]any{"g": "two", "list": []any{1}, "deep": true}) {
		t.Errorf("GroupVars(web) = %v", got)
	}
	if err := i.AddVarsDir(filepath.Join(dir, "play")); err != nil {
		t.Fatal(err)
	}
	want["g"], want["own"] = "play", "play"
	if got := i.Vars("w1"); !reflect.DeepEqual(got, want) {
		t.Errorf("after AddVarsDir, Vars(w1) = %v\nwant %v", got, want)
	}
	h := i.Host("w1")
	if !reflect.DeepEqual(h.Vars, map[string]any{"own": "play", "map": map[string]any{"k": "v"}}) || !slices.Equal(h.Groups, []string{"web"}) {
		t.Errorf("Host(w1) = %+v", h)
	}
	if got := i.Vars("localhost"); got["lv"] != 1 || got["a"] != "file" || got["ansible_connection"] != "local" {
		t.Errorf("Vars(localhost) = %v", got)
	}
	// Vars returns a fresh copy.
	v := i.Vars("w1")
	v["map"].(map[string]any)["k"] = "changed"
	if got := i.Vars("w1")["map"].(map[string]any)["k"]; got != "v" {
		t.Errorf("Vars shares state with the inventory: %v", got)
	}
	// A vars file that is not a mapping is an error.
	writeFile(t, dir, "bad/group_vars/all.yml", "- 1\n")
	writeFile(t, dir, "bad/hosts", "h\n")
	if _, err := Load([]string{filepath.Join(dir, "bad/hosts")}); !errors.Is(err, ErrSyntax) {
		t.Errorf("err = %v, want ErrSyntax", err)
	}
}

// goldenDoc is what the golden files record about an inventory.
type goldenDoc struct {
	Hosts      []string                  `json:"hosts"`
	Groups     map[string][]string       `json:"groups"`
	GroupNames map[string][]string       `json:"group_names"`
	Vars       map[string]map[string]any `json:"vars"`
	HostVars   map[string]map[string]any `json:"host_vars"`
	Localhost  map[string]any            `json:"localhost_vars"`
	Warnings   []string                  `json:"warnings"`
}

func TestGolden(t *testing.T) {
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			var srcs []string
			for _, s := range c.sources {
				if strings.Contains(s, ",") {
					srcs = append(srcs, s)
				} else {
					srcs = append(srcs, filepath.Join("testdata", s))
				}
			}
			inv := mustLoad(t, srcs...)
			if c.playDir != "" {
				if err := inv.AddVarsDir(filepath.Join("testdata", c.playDir)); err != nil {
					t.Fatal(err)
				}
			}
			doc := goldenDoc{
				Hosts: inv.Hosts(), Groups: inv.Groups(), GroupNames: map[string][]string{},
				Vars: map[string]map[string]any{}, HostVars: map[string]map[string]any{},
				Localhost: inv.Vars("localhost"), Warnings: inv.Warnings(),
			}
			for _, h := range inv.Hosts() {
				doc.GroupNames[h] = inv.GroupNames(h)
				doc.Vars[h] = inv.Vars(h)
				doc.HostVars[h] = inv.Host(h).Vars
			}
			got, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", strings.ReplaceAll(c.name, "+", "_")+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from the golden file; got:\n%s", path, got)
			}
		})
	}
}
