package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/embedded"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// result is what one in-process gorun invocation printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// gorun runs the CLI in-process with its own state directory.
func gorun(t *testing.T, stateDir string, extraEnv map[string]string, args ...string) result {
	t.Helper()
	return gorunIn(t, stateDir, extraEnv, "", args...)
}

// gorunStdin is gorun with standard input.
func gorunStdin(t *testing.T, stateDir, stdin string, args ...string) result {
	t.Helper()
	return gorunIn(t, stateDir, nil, stdin, args...)
}

func itoa(n int) string { return strconv.Itoa(n) }

// startState starts an embedded node on a state directory (no executor),
// to read what runs left there; the caller closes it.
func startState(t *testing.T, ctx context.Context, state string) *embedded.Node {
	t.Helper()
	node, err := embedded.Start(ctx, embedded.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	return node
}

func gorunIn(t *testing.T, stateDir string, extraEnv map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	envs := map[string]string{"GORUN_STATE_DIR": stateDir, "ANSIBLE_NOCOWS": "1"}
	for k, v := range extraEnv {
		envs[k] = v
	}
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin), getenv: func(k string) string { return envs[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := run(ctx, e, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sections splits default-callback output into banner → lines (sorted,
// since hosts finish in any order).
func sections(out string) map[string][]string {
	m := map[string][]string{}
	cur := ""
	count := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, "***") {
			title := strings.TrimSpace(strings.TrimRight(line, "*"))
			count[title]++
			cur = title
			if count[title] > 1 {
				cur = title + " #" + string(rune('0'+count[title]))
			}
			m[cur] = []string{}
			continue
		}
		if line == "" || cur == "" {
			continue
		}
		m[cur] = append(m[cur], line)
	}
	for k := range m {
		sort.Strings(m[k])
	}
	return m
}

var maskRE = regexp.MustCompile(`"(start|end|delta)": "[^"]*"`)

func mask(s string) string { return maskRE.ReplaceAllString(s, `"$1": "X"`) }

func expectSection(t *testing.T, secs map[string][]string, title string, want ...string) {
	t.Helper()
	got, ok := secs[title]
	if !ok {
		t.Errorf("no section %q; have %v", title, keys(secs))
		return
	}
	w := append([]string{}, want...)
	sort.Strings(w)
	for i := range got {
		got[i] = mask(got[i])
	}
	if strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Errorf("section %q:\n got:\n  %s\nwant:\n  %s", title, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
	}
}

func keys(m map[string][]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func hostLines(f *sshtest.Fleet, format string) []string {
	var out []string
	for _, h := range f.Hosts {
		out = append(out, strings.ReplaceAll(format, "HOST", h.Name))
	}
	return out
}

const modulesPlaybook = `
- name: every module
  hosts: targets
  gather_facts: false
  vars:
    greeting: hello
  tasks:
    - name: command with chdir
      command: pwd
      args:
        chdir: /tmp
      register: pwd_out
    - name: command creates (skips)
      command: echo never
      args:
        creates: /etc/passwd
    - name: command with stdin
      command: cat
      args:
        stdin: "{{ greeting }} from {{ inventory_hostname }}"
      register: cat_out
    - name: shell
      shell: echo "{{ greeting }}" | tr a-z A-Z; echo err >&2
      register: sh
    - name: raw
      raw: echo raw-$((1+2))
      register: rw
    - name: ping
      ping:
    - name: set a fact
      set_fact:
        answer: "{{ 40 + 2 }}"
        words: "{{ sh.stdout | lower }}"
    - name: check results
      assert:
        that:
          - pwd_out.stdout == "/tmp"
          - pwd_out.rc == 0
          - cat_out.stdout == greeting ~ " from " ~ inventory_hostname
          - sh.stdout_lines == ["HELLO"]
          - sh.stderr == "err"
          - rw.stdout | trim == "raw-3"
          - answer | int == 42
          - words == "hello"
    - name: debug msg
      debug:
        msg: "{{ inventory_hostname }} says {{ words }}"
    - name: loop with when
      command: echo {{ item }}
      loop: [1, 2, 3]
      when: item != 2
      register: looped
    - name: failed_when and changed_when
      shell: echo boom; exit 3
      register: fw
      failed_when: "'boom' not in fw.stdout"
      changed_when: false
    - name: fail ignored
      fail:
        msg: deliberate
      ignore_errors: true
    - name: summary
      debug:
        msg: "{{ looped.results | selectattr('stdout', 'defined') | map(attribute='stdout') | list }} {{ fw.rc }} {{ fw.changed }}"
      when: inventory_hostname == "h01"
`

// TestPlaybookModulesOverSSH runs every module of this issue on 6 real sshd
// hosts with 2 forks, through the embedded JetStream, and checks the output.
func TestPlaybookModulesOverSSH(t *testing.T) {
	f := sshtest.Start(t, 6)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	pb := writeFile(t, dir, "modules.yml", modulesPlaybook)
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", "-i", inv, "-f", "2", pb)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	secs := sections(r.stdout)
	expectSection(t, secs, "PLAY [every module]")
	expectSection(t, secs, "TASK [command with chdir]", hostLines(f, "changed: [HOST]")...)
	expectSection(t, secs, "TASK [command creates (skips)]", hostLines(f, "ok: [HOST]")...)
	expectSection(t, secs, "TASK [shell]", hostLines(f, "changed: [HOST]")...)
	expectSection(t, secs, "TASK [raw]", hostLines(f, "changed: [HOST]")...)
	expectSection(t, secs, "TASK [ping]", hostLines(f, "ok: [HOST]")...)
	expectSection(t, secs, "TASK [set a fact]", hostLines(f, "ok: [HOST]")...)
	var assertLines []string
	for _, h := range f.Hosts {
		assertLines = append(assertLines, "ok: ["+h.Name+"] => {", `    "changed": false,`, `    "msg": "All assertions passed"`, "}")
	}
	expectSection(t, secs, "TASK [check results]", assertLines...)
	var loopLines []string
	for _, h := range f.Hosts {
		loopLines = append(loopLines, "changed: ["+h.Name+"] => (item=1)", "skipping: ["+h.Name+"] => (item=2) ", "changed: ["+h.Name+"] => (item=3)")
	}
	expectSection(t, secs, "TASK [loop with when]", loopLines...)
	expectSection(t, secs, "TASK [failed_when and changed_when]", hostLines(f, "ok: [HOST]")...)
	var failLines []string
	for _, h := range f.Hosts {
		failLines = append(failLines, `fatal: [`+h.Name+`]: FAILED! => {"changed": false, "msg": "deliberate"}`, "...ignoring")
	}
	expectSection(t, secs, "TASK [fail ignored]", failLines...)
	summary := []string{"ok: [h01] => {", `    "msg": "['1', '3'] 3 False"`, "}"}
	for _, h := range f.Hosts[1:] {
		summary = append(summary, "skipping: ["+h.Name+"]")
	}
	expectSection(t, secs, "TASK [summary]", summary...)
	recap := hostLines(f, "HOST                        : ok=12   changed=5    unreachable=0    failed=0    skipped=1    rescued=0    ignored=1   ")
	recap[0] = "h01                        : ok=13   changed=5    unreachable=0    failed=0    skipped=0    rescued=0    ignored=1   "
	expectSection(t, secs, "PLAY RECAP", recap...)
}

// TestUnreachableAndHostKeyMismatch: a stopped host and a host whose key does
// not match known_hosts are UNREACHABLE; the others go on; exit code 4.
func TestUnreachableAndHostKeyMismatch(t *testing.T) {
	f := sshtest.Start(t, 5, sshtest.WithWrongHostKey(2))
	f.Stop(4)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	pb := writeFile(t, dir, "p.yml", `
- hosts: all
  gather_facts: false
  tasks:
    - command: "true"
    - debug: msg=after
`)
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", "-i", inv, "-f", "3", pb)
	if r.code != 4 {
		t.Fatalf("exit %d, want 4\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	secs := sections(r.stdout)
	lines := strings.Join(secs["TASK [command]"], "\n")
	h3, h5 := f.Hosts[2], f.Hosts[4]
	if !strings.Contains(lines, "fatal: ["+h3.Name+"]: UNREACHABLE! => {\"changed\": false, \"msg\": \"Failed to connect to the host via ssh: WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!") {
		t.Errorf("host key mismatch not reported:\n%s", lines)
	}
	if !strings.Contains(lines, "fatal: ["+h5.Name+"]: UNREACHABLE! => {\"changed\": false, \"msg\": \"Failed to connect to the host via ssh: ssh: connect to host "+h5.Addr) {
		t.Errorf("stopped host not reported:\n%s", lines)
	}
	if n := len(secs["TASK [debug]"]); n != 3*3 { // 3 hosts × 3 lines
		t.Errorf("debug ran on %d lines, want 9:\n%v", n, secs["TASK [debug]"])
	}
	recap := strings.Join(secs["PLAY RECAP"], "\n")
	if !strings.Contains(recap, h3.Name+"                        : ok=0    changed=0    unreachable=1") {
		t.Errorf("recap:\n%s", recap)
	}
}

func TestParseErrorExitCode4(t *testing.T) {
	dir := t.TempDir()
	pb := writeFile(t, dir, "bad.yml", "- hosts: localhost\n  tasks:\n    - nosuchmodule:\n        a: 1\n")
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", pb)
	if r.code != 4 {
		t.Fatalf("exit %d, want 4\n%s", r.code, r.stderr)
	}
	want := "ERROR! couldn't resolve module/action 'nosuchmodule'. This often indicates a misspelling, missing collection, or incorrect module path."
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "line 3, column 7") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// TestRecapMatchesAnsible runs the same playbook with ansible-playbook and
// gorun against the same 10 hosts, host keys verified, and compares recaps.
func TestRecapMatchesAnsible(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook not found: make test installs ansible-core")
	}
	f := sshtest.Start(t, 10)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	pb := writeFile(t, dir, "p.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - command: echo {{ inventory_hostname }}
      register: out
    - shell: test {{ inventory_hostname }} != h03
      ignore_errors: true
    - command: /bin/false
      when: inventory_hostname == "h07"
    - debug: var=out.stdout
`)
	cmd := exec.Command("ansible-playbook", "-i", inv, "-f", "10", pb)
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOWS=1", "ANSIBLE_NOCOLOR=1", "ANSIBLE_PYTHON_INTERPRETER=auto_silent")
	aout, _ := cmd.CombinedOutput()
	acode := cmd.ProcessState.ExitCode()
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", "-i", inv, "-f", "10", pb)
	if r.code != acode {
		t.Errorf("exit code gorun %d, ansible %d", r.code, acode)
	}
	want := sections(string(aout))["PLAY RECAP"]
	got := sections(r.stdout)["PLAY RECAP"]
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != 10 {
		t.Errorf("recap differs:\ngorun:\n%s\nansible:\n%s\n(ansible output:\n%s)", strings.Join(got, "\n"), strings.Join(want, "\n"), aout)
	}
}

// TestEveryJobHasTerminalRecord: after a run, every job of the run is a KV
// record in a terminal state, and the run's results came from those records.
func TestEveryJobHasTerminalRecord(t *testing.T) {
	f := sshtest.Start(t, 5)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	inv := f.InventoryINI(t)
	pb := writeFile(t, dir, "p.yml", `
- hosts: targets
  gather_facts: true
  tasks:
    - command: echo {{ item }}
      loop: [a, b]
    - shell: exit {{ 1 if inventory_hostname == 'h02' else 0 }}
      ignore_errors: true
    - debug: msg="{{ ansible_distribution }} {{ ansible_hostname }}"
`)
	r := gorun(t, state, nil, "playbook", "--json", "-i", inv, "-f", "2", pb)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var doc struct {
		RunID string `json:"run_id"`
		Stats map[string]map[string]int
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if doc.Stats["h02"]["ignored"] != 1 || doc.Stats["h01"]["ok"] != 4 {
		t.Errorf("stats: %v", doc.Stats)
	}
	ctx := context.Background()
	node := startState(t, ctx, state)
	defer node.Close(ctx)
	recs, err := node.Store.List(ctx, status.Filter{RunID: doc.RunID})
	if err != nil {
		t.Fatal(err)
	}
	// 5 hosts × (facts + 2 loop items + shell + debug)
	if len(recs) != 5*5 {
		t.Errorf("%d records for run %s, want 25", len(recs), doc.RunID)
	}
	states := map[job.State]int{}
	for _, rec := range recs {
		states[rec.State]++
		if !rec.State.Terminal() {
			t.Errorf("record %s (%s on %s) is %s", rec.JID, rec.Task, rec.Host, rec.State)
		}
	}
	if states[job.StateFailed] != 1 || states[job.StateFinished] != 24 {
		t.Errorf("states: %v", states)
	}
}

// TestPlaybookLeavesRunQueueClosed: a playbook run does not create the run
// queue (GORUN_RUNS and its dispatchers' consumer, GORUN_LOG, the bundles),
// which only submitted runs use; a later OpenRuns on the state directory
// creates it.
func TestPlaybookLeavesRunQueueClosed(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	pb := writeFile(t, dir, "p.yml", "- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n    - command: /bin/true\n")
	if r := gorun(t, state, nil, "playbook", "-i", "localhost,", pb); r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	streams := filepath.Join(state, "nats", "jetstream", "$G", "streams")
	if _, err := os.Stat(filepath.Join(streams, queue.DefaultStream)); err != nil {
		t.Fatalf("no task queue in the state directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(streams, queue.RunsStream)); err == nil {
		t.Errorf("a playbook run created %s", queue.RunsStream)
	}
	ctx := context.Background()
	node := startState(t, ctx, state)
	defer node.Close(ctx)
	if _, err := node.OpenRuns(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(streams, queue.RunsStream)); err != nil {
		t.Errorf("OpenRuns: %v", err)
	}
}
