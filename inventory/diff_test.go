package inventory

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Differential tests: when Ansible is installed, compare this package with
// ansible-inventory and ansible on the testdata inventories.

type diffCase struct {
	name    string
	sources []string // relative to testdata
	playDir string   // relative to testdata: AddVarsDir / --playbook-dir
	// stable is false when Ansible's host order below the first level of
	// child groups is not deterministic (it walks them through a set), so
	// host lists are compared as sets.
	stable   bool
	patterns []string
}

var diffCases = []diffCase{
	{name: "basic", sources: []string{"basic.ini"}, stable: true, patterns: []string{
		"all", "web", "apache:nginx", "web:!apache", "web:&apache", "g1,g2", "~tomcat[12]",
		"web[-1]", "web[1:2]", "web[2:]", "nosuch:web", "!web", "all:localhost", "ungrouped", "a*",
		"tomcat[!1]", "web:db,x", "h*:&g*:!g2", " web , g1 ",
	}},
	{name: "values", sources: []string{"values.ini"}, stable: true, patterns: []string{"vals", "top[1-3]", "top*[0]"}},
	{name: "ranges", sources: []string{"ranges.ini"}, stable: true, patterns: []string{
		"web", "web[3]", "db-[a:c]", "db-?", "~x\\d+", "::1", "[::1]:2200", "10.0.0.*", "fe80::1", "web01:22", "web01",
	}},
	{name: "children", sources: []string{"children.ini"}, stable: false, patterns: []string{
		"all", "top", "mid", "leaf", "top:!leaf", "top:&mid", "all[0]", "shared",
	}},
	{name: "priority", sources: []string{"priority.ini"}, stable: false},
	{name: "yaml", sources: []string{"yaml/inventory.yml"}, stable: true, patterns: []string{
		"all", "web", "inner", "ungrouped", "web[0:1]", "web*", "t1",
	}},
	{name: "yaml-types", sources: []string{"yaml/types.yaml"}, stable: true},
	{name: "json", sources: []string{"json/inventory.json"}, stable: true, patterns: []string{"all", "api"}},
	{name: "dir", sources: []string{"dir"}, stable: true, patterns: []string{"all", "web", "db", "localhost"}},
	{name: "dir+play", sources: []string{"dir"}, playDir: "play", stable: true},
	{name: "multi", sources: []string{"basic.ini", "yaml/inventory.yml", "h9,h10:2222", "extra.ini"}, stable: false, patterns: []string{
		"all", "web", "h9:h10", "everything", "everything:!inner",
	}},
	{name: "mixed", sources: []string{"mixed"}, stable: true, patterns: []string{"all", "ini_in_yml", "json_group[1:]"}},
	{name: "crlf", sources: []string{"crlf.ini"}, stable: true},
	{name: "layers", sources: []string{"layers/a/hosts", "layers/b/more.yml"}, playDir: "play", stable: true, patterns: []string{"g1", "g2[1]"}},
	{name: "hostlist", sources: []string{"a1, a2:2022,localhost,"}, stable: true, patterns: []string{"all", "localhost", "a*"}},
	{name: "empty", sources: nil, stable: true, patterns: []string{"all", "localhost", "127.0.0.1", "::1", "*"}},
	{name: "localhost-defined", sources: []string{"localhost.ini"}, stable: true, patterns: []string{"localhost", "127.0.0.1", "all"}},
}

func ansibleEnv(t *testing.T) []string {
	tmp := t.TempDir()
	return append(os.Environ(),
		"ANSIBLE_LOCAL_TEMP="+tmp,
		"ANSIBLE_HOME="+tmp,
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_LOCALHOST_WARNING=0",
		"ANSIBLE_INVENTORY_UNPARSED_WARNING=0",
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent",
	)
}

func runAnsible(t *testing.T, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = ansibleEnv(t)
	cmd.Dir = "testdata"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

func inventoryArgs(c diffCase) []string {
	args := []string{}
	for _, s := range c.sources {
		args = append(args, "-i", s)
	}
	if len(c.sources) == 0 {
		args = append(args, "-i", "nosuchfile-empty-inventory")
	}
	return args
}

func loadCase(t *testing.T, c diffCase) *Inventory {
	t.Helper()
	var srcs []string
	for _, s := range c.sources {
		if strings.Contains(s, ",") {
			srcs = append(srcs, s)
		} else {
			srcs = append(srcs, filepath.Join("testdata", s))
		}
	}
	inv, err := Load(srcs)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.playDir != "" {
		if err := inv.AddVarsDir(filepath.Join("testdata", c.playDir)); err != nil {
			t.Fatalf("AddVarsDir: %v", err)
		}
	}
	return inv
}

// normalize round-trips a value through JSON so that Go and Python values
// compare equal (ints and floats both become float64).
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("decoding ansible output: %v\n%s", err, s)
	}
	return unwrapUnsafe(out).(map[string]any)
}

// unwrapUnsafe replaces Ansible's JSON encoding of !unsafe strings,
// {"__ansible_unsafe": "..."}, with the string.
func unwrapUnsafe(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if s, ok := t["__ansible_unsafe"]; ok && len(t) == 1 {
			return s
		}
		for k, e := range t {
			t[k] = unwrapUnsafe(e)
		}
	case []any:
		for i, e := range t {
			t[i] = unwrapUnsafe(e)
		}
	}
	return v
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func sameHosts(stable bool, got, want []string) bool {
	if !stable {
		got, want = slices.Clone(got), slices.Clone(want)
		slices.Sort(got)
		slices.Sort(want)
	}
	return slices.Equal(got, want)
}

func requireAnsible(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the comparison with Ansible")
	}
	for _, bin := range []string{"ansible-inventory", "ansible"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not on PATH: skipping the comparison with Ansible", bin)
		}
	}
}

func TestDiffAnsibleInventoryList(t *testing.T) {
	requireAnsible(t)
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inv := loadCase(t, c)
			args := append([]string{"--list"}, inventoryArgs(c)...)
			if c.playDir != "" {
				args = append(args, "--playbook-dir", c.playDir)
			}
			out, _ := runAnsible(t, "ansible-inventory", args...)
			want := decodeJSON(t, out)

			// Groups: direct hosts and children, in order.
			for _, g := range inv.d.groupOrder {
				entry := map[string]any{}
				if g.name != "all" && len(g.hosts) > 0 {
					entry["hosts"] = toAny(hostNames(g.hosts))
				}
				if len(g.children) > 0 {
					var kids []string
					for _, k := range g.children {
						kids = append(kids, k.name)
					}
					entry["children"] = toAny(kids)
				}
				w, ok := want[g.name]
				if len(entry) == 0 {
					if ok {
						t.Errorf("group %s: empty here, ansible has %v", g.name, w)
					}
					continue
				}
				if !reflect.DeepEqual(normalize(t, entry), w) {
					t.Errorf("group %s:\n got  %v\n want %v", g.name, entry, w)
				}
			}
			for name := range want {
				if _, ok := inv.d.groups[name]; !ok && name != "_meta" {
					t.Errorf("ansible has group %s, not here", name)
				}
			}

			// Merged host vars.
			meta, _ := want["_meta"].(map[string]any)
			hostvars, _ := meta["hostvars"].(map[string]any)
			for _, h := range inv.Hosts() {
				w, ok := hostvars[h]
				if !ok {
					w = map[string]any{}
				}
				if got := normalize(t, inv.Vars(h)); !reflect.DeepEqual(got, w) {
					t.Errorf("vars of %s:\n got  %v\n want %v", h, got, w)
				}
			}
			if len(hostvars) > len(inv.Hosts()) {
				t.Errorf("ansible has vars for hosts %v, here hosts are %v", keysOf(hostvars), inv.Hosts())
			}
		})
	}
}

func TestDiffAnsibleInventoryExport(t *testing.T) {
	requireAnsible(t)
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inv := loadCase(t, c)
			args := append([]string{"--list", "--export"}, inventoryArgs(c)...)
			if c.playDir != "" {
				args = append(args, "--playbook-dir", c.playDir)
			}
			out, _ := runAnsible(t, "ansible-inventory", args...)
			want := decodeJSON(t, out)
			meta, _ := want["_meta"].(map[string]any)
			hostvars, _ := meta["hostvars"].(map[string]any)
			for _, h := range inv.Hosts() {
				w, ok := hostvars[h]
				if !ok {
					w = map[string]any{}
				}
				if got := normalize(t, inv.Host(h).Vars); !reflect.DeepEqual(got, w) {
					t.Errorf("own vars of %s:\n got  %v\n want %v", h, got, w)
				}
			}
			for name, entry := range want {
				if name == "_meta" {
					continue
				}
				e, _ := entry.(map[string]any)
				w, _ := e["vars"].(map[string]any)
				if w == nil {
					w = map[string]any{}
				}
				delete(w, "ansible_group_priority")
				if got := normalize(t, inv.GroupVars(name)); !reflect.DeepEqual(got, w) {
					t.Errorf("vars of group %s:\n got  %v\n want %v", name, got, w)
				}
			}
		})
	}
}

// magicProbe prints the groups magic var and every host's group_names.
const magicProbe = `msg={{ {"groups": groups, "group_names": dict(groups["all"] | zip(groups["all"] | map("extract", hostvars, "group_names")))} }}`

var adhocResultRE = regexp.MustCompile(`(?s)^\S+ \| SUCCESS => (\{.*\})\s*$`)

func TestDiffAnsibleMagicVars(t *testing.T) {
	requireAnsible(t)
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inv := loadCase(t, c)
			args := append(inventoryArgs(c), "localhost", "-m", "debug", "-a", magicProbe)
			out, _ := runAnsible(t, "ansible", args...)
			m := adhocResultRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("unexpected ansible output:\n%s", out)
			}
			msg, _ := decodeJSON(t, m[1])["msg"].(map[string]any)
			wantGroups, _ := msg["groups"].(map[string]any)
			gotGroups := inv.Groups()
			if len(gotGroups) != len(wantGroups) {
				t.Errorf("groups: got %v, want %v", keysOf(gotGroups), keysOf(wantGroups))
			}
			for name, hosts := range wantGroups {
				if got := gotGroups[name]; !sameHosts(c.stable, got, anyStrings(hosts)) {
					t.Errorf("groups[%s]:\n got  %v\n want %v", name, got, hosts)
				}
			}
			wantNames, _ := msg["group_names"].(map[string]any)
			for _, h := range inv.Hosts() {
				if got, want := inv.GroupNames(h), anyStrings(wantNames[h]); !slices.Equal(got, want) {
					t.Errorf("group_names of %s: got %v, want %v", h, got, want)
				}
			}
			if inv.Implicit() || !slices.Contains(inv.Hosts(), "localhost") {
				args := append(inventoryArgs(c), "--host", "localhost")
				if c.playDir != "" {
					args = append(args, "--playbook-dir", c.playDir)
				}
				out, _ := runAnsible(t, "ansible-inventory", args...)
				if got, want := normalize(t, inv.Vars("localhost")), any(decodeJSON(t, out)); !reflect.DeepEqual(got, want) {
					t.Errorf("implicit localhost vars:\n got  %v\n want %v", got, want)
				}
			}
		})
	}
}

var (
	listHostsRE = regexp.MustCompile(`(?m)^\s+hosts \((\d+)\):$`)
	noMatchRE   = regexp.MustCompile(`Could not match supplied host pattern, ignoring: (\S+)`)
)

func TestDiffAnsibleListHosts(t *testing.T) {
	requireAnsible(t)
	for _, c := range diffCases {
		for _, pat := range c.patterns {
			t.Run(c.name+"/"+pat, func(t *testing.T) {
				t.Parallel()
				inv := loadCase(t, c)
				out, errOut := runAnsible(t, "ansible", append(inventoryArgs(c), pat, "--list-hosts")...)
				loc := listHostsRE.FindStringSubmatchIndex(out)
				if loc == nil {
					t.Fatalf("unexpected output:\n%s", out)
				}
				var want []string
				for _, l := range strings.Split(out[loc[1]:], "\n") {
					if l = strings.TrimSpace(l); l != "" {
						want = append(want, l)
					}
				}
				got, warnings, err := inv.Select(pat)
				if err != nil {
					t.Fatalf("Select(%q): %v", pat, err)
				}
				if !sameHosts(c.stable, got, want) {
					t.Errorf("Select(%q):\n got  %v\n want %v", pat, got, want)
				}
				var wantWarn []string
				for _, m := range noMatchRE.FindAllStringSubmatch(strings.Join(strings.Fields(errOut), " "), -1) {
					wantWarn = append(wantWarn, "Could not match supplied host pattern, ignoring: "+m[1])
				}
				var gotWarn []string
				for _, w := range warnings {
					if strings.HasPrefix(w, "Could not match") {
						gotWarn = append(gotWarn, w)
					}
				}
				if !slices.Equal(gotWarn, wantWarn) {
					t.Errorf("warnings for %q: got %q, want %q", pat, gotWarn, wantWarn)
				}
			})
		}
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}

func keysOf[V any](m map[string]V) []string { return sortedKeys(m) }
