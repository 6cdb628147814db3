package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzRangeLimit keeps fuzz inputs from expanding to huge host lists.
const fuzzRangeLimit = 1000

func FuzzParseINI(f *testing.F) {
	for _, seed := range []string{
		patternINI,
		"[web]\nh1 a=1 b='x y' c=\"[1, 2]\"\n[web:vars]\nx={'a': (1,)}\n[web:children]\ndb\n[db]\nd[01:03]\n",
		"[a:children]\nb\n[b]\nh\n[b:vars]\nansible_group_priority=2\n",
		"h1:22 x=1#c\n[::1]:2200\nfe80::1\n10.0.0.[1:3]\n",
		"[g]\nweb[a:c:2]-[1:2]\n",
		"[x:vars]\ny=1\n",
		"[g]\nh1 x=\"unterminated\n",
		"---\n",
		"[g]\nh x=b'\\x41' y=u'\\u00e9' z=-(1) w={1, 2}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		d := newData()
		if err := parseINI(d, "fuzz.ini", "fuzz.ini", content, fuzzRangeLimit); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.ini") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		d.reconcile()
		d.finalize()
		inv := &Inventory{d: d, python: "/usr/bin/python3"}
		hosts := inv.Hosts()
		if len(hosts) != len(d.hostOrder) {
			t.Fatalf("Hosts() has %d hosts, inventory %d", len(hosts), len(d.hostOrder))
		}
		for _, h := range hosts {
			if inv.Vars(h) == nil || inv.GroupNames(h) == nil {
				t.Fatalf("host %q has no vars or group names", h)
			}
		}
		for _, g := range d.groupOrder {
			if _, _, err := inv.Select(g.name); err != nil && !strings.Contains(err.Error(), "pattern") {
				t.Fatalf("Select(%q): %v", g.name, err)
			}
		}
		_ = inv.Groups()
	})
}

func FuzzSelect(f *testing.F) {
	for _, seed := range []string{
		"all", "*", "web", "web:!db", "web:&db", "web[0]", "web[-1]", "web[1:]", "web[1-2]", "~web\\d+", "~(",
		"localhost", "127.0.0.1:all", "!", "&", "a,b:c", "web0[!1]", "[a-", "db[", " , ", "::1", "[::1]:22",
		"web*[0]", "&web:!web", "~.*", "x[z-a]",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "inv.ini")
	if err := os.WriteFile(path, []byte(patternINI+"[nested:children]\nweb\ndb\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	inv, err := Load([]string{path})
	if err != nil {
		f.Fatal(err)
	}
	known := inv.Hosts()
	f.Fuzz(func(t *testing.T, pattern string) {
		hosts, _, err := inv.Select(pattern)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if seen[h] {
				t.Fatalf("Select(%q) = %v: duplicate %q", pattern, hosts, h)
			}
			seen[h] = true
			if !slices.Contains(known, h) && !isLocalhostName(h) {
				t.Fatalf("Select(%q) = %v: unknown host %q", pattern, hosts, h)
			}
		}
	})
}

func BenchmarkLoad10k(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	for g := 0; g < 20; g++ {
		fmt.Fprintf(&sb, "[group%02d]\n", g)
		for h := 0; h < 500; h++ {
			fmt.Fprintf(&sb, "host-%02d-%03d.example.com ansible_host=10.%d.%d.%d ansible_port=22 role=\"web server\" id=%d\n",
				g, h, g, h/250, h%250, g*500+h)
		}
		fmt.Fprintf(&sb, "[group%02d:vars]\nenv=prod\nweight=%d\n", g, g)
	}
	sb.WriteString("[all_groups:children]\n")
	for g := 0; g < 20; g++ {
		fmt.Fprintf(&sb, "group%02d\n", g)
	}
	path := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		inv, err := Load([]string{path})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(inv.Hosts()); n != 10000 {
			b.Fatalf("%d hosts", n)
		}
	}
}

func BenchmarkLoad10kYAML(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("all:\n  children:\n")
	for g := 0; g < 20; g++ {
		fmt.Fprintf(&sb, "    group%02d:\n      vars:\n        env: prod\n      hosts:\n", g)
		for h := 0; h < 500; h++ {
			fmt.Fprintf(&sb, "        host-%02d-%03d.example.com:\n          ansible_host: 10.%d.%d.%d\n          id: %d\n",
				g, h, g, h/250, h%250, g*500+h)
		}
	}
	path := filepath.Join(dir, "hosts.yml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Load([]string{path}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelect10k(b *testing.B) {
	var sb strings.Builder
	for g := 0; g < 20; g++ {
		fmt.Fprintf(&sb, "[group%02d]\nhost-%02d-[000:499]\n", g, g)
	}
	path := filepath.Join(b.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	inv, err := Load([]string{path})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := inv.Select("group0*:&~host-0\\d-1.*:!group05[0:10]"); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	for _, name := range []string{"yaml/inventory.yml", "yaml/types.yaml", "json/inventory.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("all:\n  children:\n    g: {hosts: {'h[1:3]': {x: <<}}}\n  hosts: h\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		d := newData()
		root, err := loadData("fuzz.yml", content, func(string) {})
		if err != nil {
			return
		}
		m, err := checkYAMLInventory("fuzz.yml", root)
		if err != nil {
			return
		}
		p := &yamlInvParser{d: d, file: "fuzz.yml", source: "fuzz.yml", limit: fuzzRangeLimit}
		if p.parse(m) != nil {
			return
		}
		d.reconcile()
		d.finalize()
		inv := &Inventory{d: d}
		for _, h := range inv.Hosts() {
			_ = inv.Vars(h)
		}
	})
}
