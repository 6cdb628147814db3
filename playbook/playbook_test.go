package playbook

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// rolesPath is the role search path the tests use (for Ansible too), so
// that role errors do not depend on the machine.
const rolesPath = "/nonexistent-gorun/roles"

func absDir(t *testing.T, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func cases(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases in %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

// checkGolden compares got with the golden file (or rewrites it with
// -update).
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("missing golden file (run go test -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch\n--- got ---\n%s\n--- want ---\n%s", golden, got, want)
	}
}

// renderError is the golden form of a load error.
func renderError(err error, dir string) []byte {
	var pe *ParseError
	if !errors.As(err, &pe) {
		return []byte(fmt.Sprintf("not a *ParseError: %T %v\n", err, err))
	}
	text := strings.ReplaceAll(pe.Ansible(), dir, "$DIR")
	return []byte(fmt.Sprintf("exit: %d\n%s", pe.ExitCode(), text))
}

// TestBadPlaybooks loads every testdata/bad/*.yml and compares the error
// (exit code and Ansible's text) with the .err golden file.
func TestBadPlaybooks(t *testing.T) {
	t.Setenv("ANSIBLE_ROLES_PATH", rolesPath)
	dir := absDir(t, "testdata/bad")
	for _, file := range cases(t, dir) {
		name := strings.TrimSuffix(filepath.Base(file), ".yml")
		t.Run(name, func(t *testing.T) {
			pb, err := Load(file, testKnown)
			if err == nil {
				t.Fatalf("loaded without error: %d plays", len(pb.Plays))
			}
			if !errors.Is(err, ErrParse) {
				t.Errorf("error does not match ErrParse: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yml")+".err", renderError(err, dir))
		})
	}
}

// prune removes empty values from a decoded JSON document.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			e = prune(e)
			switch y := e.(type) {
			case nil:
				continue
			case string:
				if y == "" {
					continue
				}
			case map[string]any:
				if len(y) == 0 && k != "Args" {
					continue
				}
			case []any:
				if len(y) == 0 && k != "Block" {
					continue
				}
			}
			out[k] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = prune(e)
		}
		return out
	}
	return v
}

// renderPlaybook is the golden form of a loaded playbook: its JSON with
// empty fields left out and the test directory replaced by $DIR.
func renderPlaybook(t *testing.T, pb *Playbook, dir string) []byte {
	t.Helper()
	raw, err := json.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(dir), []byte("$DIR"))
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(prune(doc), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestGoodPlaybooks loads every testdata/good/*.yml and compares the parsed
// structure with the .json golden file.
func TestGoodPlaybooks(t *testing.T) {
	t.Setenv("ANSIBLE_ROLES_PATH", rolesPath)
	dir := absDir(t, "testdata/good")
	for _, file := range cases(t, dir) {
		name := strings.TrimSuffix(filepath.Base(file), ".yml")
		t.Run(name, func(t *testing.T) {
			pb, err := Load(file, testKnown)
			if err != nil {
				t.Fatalf("unexpected error:\n%s", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yml")+".json", renderPlaybook(t, pb, dir))
		})
	}
}

// Ansible prints some lists from Python sets, whose order changes between
// runs; normalizeSets sorts them so texts can be compared.
var setLists = []*regexp.Regexp{
	regexp.MustCompile(`(only allowed in the following modules: )([^\n]*)`),
	regexp.MustCompile(`(Valid booleans include: )([^\n]*)`),
}

func normalizeSets(s string) string {
	for _, re := range setLists {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			parts := re.FindStringSubmatch(m)
			items := strings.Split(parts[2], ", ")
			sort.Strings(items)
			return parts[1] + strings.Join(items, ", ")
		})
	}
	return s
}

// runAnsible runs ansible-playbook --syntax-check on file and returns its
// exit code and its error text (from "ERROR! " to the end of stderr).
func runAnsible(t *testing.T, bin, file string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "--syntax-check", filepath.Base(file))
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(),
		"ANSIBLE_NOCOWS=1", "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_ROLES_PATH="+rolesPath, "ANSIBLE_DEPRECATION_WARNINGS=0",
		"ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_INVENTORY_UNPARSED_WARNING=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running %s: %v", bin, err)
		}
		code = ee.ExitCode()
	}
	text := stderr.String()
	if i := strings.Index(text, "ERROR! "); i >= 0 {
		text = text[i:]
	} else {
		text = ""
	}
	return code, text
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestAnsibleDifferential runs the real ansible-playbook --syntax-check on
// every testdata/bad/*.yml and testdata/good/*.yml (except the gorun_*
// extensions) and checks that it exits with the code gorun reports and
// prints the same error. It is skipped with -short, with
// GORUN_SKIP_ANSIBLE=1, or when ansible-playbook is not installed.
func TestAnsibleDifferential(t *testing.T) {
	if testing.Short() || os.Getenv("GORUN_SKIP_ANSIBLE") != "" {
		t.Skip("skipped in short mode / GORUN_SKIP_ANSIBLE")
	}
	bin, err := exec.LookPath("ansible-playbook")
	if err != nil {
		t.Skip("ansible-playbook not on PATH")
	}
	t.Setenv("ANSIBLE_ROLES_PATH", rolesPath)
	var files []string
	files = append(files, cases(t, absDir(t, "testdata/bad"))...)
	for _, f := range cases(t, absDir(t, "testdata/good")) {
		if !strings.HasPrefix(filepath.Base(f), "gorun_") {
			files = append(files, f)
		}
	}
	sem := make(chan struct{}, 2*runtime.NumCPU())
	var mu sync.Mutex
	t.Run("group", func(t *testing.T) {
		for _, file := range files {
			file := file
			name := filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				code, text := runAnsible(t, bin, file)
				<-sem
				mu.Lock()
				defer mu.Unlock()
				_, err := Load(file, testKnown)
				gotCode, gotText := 0, ""
				if err != nil {
					var pe *ParseError
					if !errors.As(err, &pe) {
						t.Fatalf("not a *ParseError: %v", err)
					}
					gotCode, gotText = pe.ExitCode(), pe.Ansible()
				}
				if gotCode != code {
					t.Errorf("exit code: ansible %d, gorun %d\nansible:\n%s\ngorun:\n%s", code, gotCode, text, gotText)
				}
				want, got := normalizeSets(text), normalizeSets(gotText)
				if firstLine(want) != firstLine(got) {
					t.Errorf("first line differs:\nansible: %s\ngorun:   %s", firstLine(want), firstLine(got))
				} else if want != got {
					t.Errorf("error text differs:\n--- ansible ---\n%s--- gorun ---\n%s", want, got)
				}
			})
		}
	})
}

// TestParseErrorAPI checks the ParseError contract.
func TestParseErrorAPI(t *testing.T) {
	src := "- hosts: all\n  tasks:\n    - foo:\n"
	_, err := Parse("/nonexistent/play.yml", []byte(src), testKnown)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("want *ParseError, got %T %v", err, err)
	}
	if !errors.Is(err, ErrParse) {
		t.Error("errors.Is(err, ErrParse) is false")
	}
	want := Pos{File: "/nonexistent/play.yml", Line: 3, Col: 7}
	if pe.Pos != want {
		t.Errorf("Pos = %v, want %v", pe.Pos, want)
	}
	if pe.Msg != "couldn't resolve module/action 'foo'. This often indicates a misspelling, missing collection, or incorrect module path." {
		t.Errorf("Msg = %q", pe.Msg)
	}
	if pe.Line != "  tasks:\n    - foo:\n      ^ here" {
		t.Errorf("Line = %q", pe.Line)
	}
	if pe.ExitCode() != 4 {
		t.Errorf("ExitCode = %d", pe.ExitCode())
	}
	wantText := pe.Msg + "\n\nThe error appears to be in '/nonexistent/play.yml': line 3, column 7, but may\n" +
		"be elsewhere in the file depending on the exact syntax problem.\n\nThe offending line appears to be:\n\n" +
		"  tasks:\n    - foo:\n      ^ here\n"
	if pe.Error() != wantText {
		t.Errorf("Error() =\n%s\nwant\n%s", pe.Error(), wantText)
	}
	if pe.Ansible() != "ERROR! "+wantText {
		t.Errorf("Ansible() = %q", pe.Ansible())
	}

	_, err = Load("testdata/no-such-playbook.yml", testKnown)
	if !errors.Is(err, ErrParse) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing playbook: %v", err)
	}
	if err.Error() != "the playbook: testdata/no-such-playbook.yml could not be found" {
		t.Errorf("missing playbook message: %q", err)
	}
	_, err = Load("testdata", testKnown)
	if err == nil || err.Error() != "the playbook: testdata does not appear to be a file" {
		t.Errorf("directory: %v", err)
	}
}

// TestTaskFields checks typed fields not visible in the golden JSON.
func TestTaskFields(t *testing.T) {
	src := `
- hosts: [a, b]
  gather_facts: "no"
  become: "{{ b }}"
  vars:
    raw: !unsafe "{{ x }}"
    vaulted: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      3131
  tasks:
    - command: echo hi
      when: false
      tags: [1, two]
      notify: h
      lock: l1
`
	pb, err := Parse("/nonexistent/p.yml", []byte(src), testKnown)
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if p.Hosts != "a,b" || p.GatherFacts == nil || *p.GatherFacts || p.Become != nil {
		t.Errorf("play fields: hosts=%q gather=%v become=%v", p.Hosts, p.GatherFacts, p.Become)
	}
	if p.Raw["become"] != "{{ b }}" {
		t.Errorf("Raw[become] = %#v", p.Raw["become"])
	}
	if v, ok := p.Vars["raw"].(Unsafe); !ok || v != "{{ x }}" {
		t.Errorf("unsafe var = %#v", p.Vars["raw"])
	}
	if v, ok := p.Vars["vaulted"].(Vault); !ok || !strings.HasPrefix(string(v), "$ANSIBLE_VAULT") {
		t.Errorf("vault var = %#v", p.Vars["vaulted"])
	}
	task := p.Tasks[0]
	if len(task.When) != 1 || task.When[0] != false {
		t.Errorf("When = %#v", task.When)
	}
	if strings.Join(task.Tags, ",") != "1,two" || strings.Join(task.Notify, ",") != "h" || task.Lock != "l1" {
		t.Errorf("tags=%v notify=%v lock=%q", task.Tags, task.Notify, task.Lock)
	}
	if task.FailedWhen != nil || task.Until != nil {
		t.Error("absent conditionals must be nil")
	}
	if task.IsBlock() {
		t.Error("task is not a block")
	}
}

// TestLoadTasks checks the dynamic include entry point.
func TestLoadTasks(t *testing.T) {
	dir := absDir(t, "testdata/good")
	tf, err := LoadTasks(filepath.Join(dir, "inc/tasks.yml"), dir, false, testKnown)
	if err != nil {
		t.Fatal(err)
	}
	if len(tf.Tasks) != 2 || tf.Tasks[0].Module != "ping" || tf.Tasks[1].Include != filepath.Join(dir, "inc/nested/leaf.yml") {
		t.Fatalf("unexpected tasks: %+v", tf.Tasks)
	}
	if got := tf.Tasks[1].Block[0].Module; got != "stat" {
		t.Errorf("imported module = %q", got)
	}
	tf, err = LoadTasks(filepath.Join(dir, "inc/empty.yml"), dir, false, testKnown)
	if err != nil || len(tf.Tasks) != 0 || len(tf.Warnings) != 1 {
		t.Errorf("empty file: %+v %v", tf, err)
	}
	_, err = ParseTasks("/nonexistent/t.yml", "", []byte("a: 1\n"), false, testKnown)
	if err == nil || firstLine(err.Error()) != "included task files must contain a list of tasks" {
		t.Errorf("not a list: %v", err)
	}
	tf, err = ParseTasks("/nonexistent/h.yml", "", []byte("- name: h\n  ping:\n  listen: x\n"), true, testKnown)
	if err != nil || tf.Tasks[0].Listen[0] != "x" {
		t.Errorf("handlers: %+v %v", tf, err)
	}
	tf, err = ParseTasks("/nonexistent/i.yml", "", []byte("- include: other.yml\n"), false, testKnown)
	if err != nil || tf.Tasks[0].Module != "include" {
		t.Errorf("dynamic include: %+v %v", tf, err)
	}
}

func TestNeverPanics(t *testing.T) {
	inputs := []string{
		"", "\x00", "\xff\xfe", "[", "{", "- ", "- - -", "- hosts:\n  - - -",
		"- &a [*a]\n", "a: &a [*a, *a]\n", "- hosts: all\n  tasks:\n    - action: ''\n",
		"- hosts: all\n  tasks:\n    - action: {module: 5}\n", "- hosts: all\n  tasks:\n    - local_action: {module: command, args: 5}\n",
		"- hosts: all\n  tasks:\n    - ~: 1\n", "- hosts: all\n  tasks:\n    - [1]: 1\n",
		"- hosts: all\n  tasks:\n    - block: [{block: [{block: []}]}]\n",
		strings.Repeat("[", 10000), strings.Repeat("- ", 3000) + "a",
		"- hosts: all\n  tasks:\n    - import_tasks: /dev/null\n",
		"- hosts: all\n  tasks:\n    - import_tasks: /\n",
	}
	for i, in := range inputs {
		_, err := Parse("/nonexistent/n"+strconv.Itoa(i)+".yml", []byte(in), testKnown)
		if errors.Is(err, errInternal) {
			t.Errorf("input %q: %v", in, err)
		}
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, y]\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1)
	}
	src := "- hosts: all\n  vars:\n" + indent(b.String(), "    ") + "  tasks: []\n"
	_, err := Parse("/nonexistent/bomb.yml", []byte(src), testKnown)
	if err == nil || !strings.Contains(err.Error(), "excessive use of aliases") {
		t.Fatalf("want an aliasing error, got %v", err)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func TestIncludePath(t *testing.T) {
	dir := absDir(t, "testdata/good")
	task := &Task{Pos: Pos{File: filepath.Join(dir, "inc/tasks.yml"), Line: 1, Col: 3}}
	tests := []struct{ target, want string }{
		{"/abs/x.yml", "/abs/x.yml"},
		{"nested/leaf.yml", filepath.Join(dir, "inc/nested/leaf.yml")},
		{"inc/tasks.yml", filepath.Join(dir, "inc/tasks.yml")},
		{"missing.yml", filepath.Join(dir, "missing.yml")},
	}
	for _, tt := range tests {
		if got := IncludePath(task, tt.target, dir); got != tt.want {
			t.Errorf("IncludePath(%q) = %q, want %q", tt.target, got, tt.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	pb, err := Load("testdata/good/imports.yml", testKnown)
	if err != nil {
		t.Fatal(err)
	}
	want := "file " + absDir(t, "testdata/good/inc/empty.yml") + " is empty and had no tasks to include"
	if len(pb.Warnings) != 1 || pb.Warnings[0] != want {
		t.Errorf("warnings = %q", pb.Warnings)
	}
	// The import_playbook keywords apply to the imported play.
	p := pb.Plays[1]
	if p.Name != "imported play" || len(p.When) != 1 || p.When[0] != "enabled" ||
		p.Vars["from_import_playbook"] != true || p.Vars["from_play"] != 1 || strings.Join(p.Tags, ",") != "pb" {
		t.Errorf("imported play: %+v", p)
	}
	if w := p.Tasks[0].When; len(w) != 1 || w[0] != "enabled" {
		t.Errorf("import_playbook when not prepended to tasks: %v", w)
	}
}
