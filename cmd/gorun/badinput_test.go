package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// The bad-input catalogue: each case runs the real CLI code path on one bad
// input (files in testdata/badinput) and checks the message (file, line and
// column where the input has them), the exit code and that the rest of the
// run is unharmed. Playbook cases are also run through ansible-playbook,
// which must print the same (normalised) output and exit with the same
// code, but for the deliberate differences the README lists.

// badCase is one entry of the catalogue.
type badCase struct {
	name string
	// args are gorun's arguments; $TD is testdata/badinput (absolute), $TMP
	// the case's own temporary directory. Empty: playbook -i local.ini NAME.yml.
	args []string
	env  map[string]string
	code int
	// ansible: run the same arguments through ansible-playbook and compare.
	ansible bool
	// within bounds the run's wall time (a failure must not be a hang).
	within time.Duration
	// setup prepares $TMP before the run.
	setup func(t *testing.T, tmp string)
	// check looks further at the run (records, JSON results).
	check func(t *testing.T, r result, state string)
}

func badInputCases() []badCase {
	pb := func(name string, code int) badCase {
		return badCase{name: name, code: code, ansible: true, within: time.Minute}
	}
	return []badCase{
		// malformed playbooks: ansible-playbook's parse errors, exit 4
		pb("yaml_syntax", 4),
		pb("not_a_list", 4),
		pb("unknown_keyword", 4),
		pb("unknown_module", 4),
		pb("two_modules", 4),
		pb("async_on_block", 4),
		// wrong types and templates: the hosts concerned fail, the others go on
		pb("async_not_int", 2),
		pb("poll_negative", 0),
		pb("retries_not_int", 2),
		pb("template_syntax", 0),
		pb("undefined", 2),
		pb("host_pattern", 1),
		pb("unknown_jid", 0),
		pb("binary_output", 0),
		// inventories: an error naming the file and line (Ansible warns and
		// goes on with an empty inventory: a deliberate difference)
		{name: "inventory_missing", args: []string{"playbook", "-i", "$TD/nosuch.ini", "$TD/unknown_jid.yml"}, code: 1, within: time.Minute},
		{name: "inventory_unreadable", args: []string{"playbook", "-i", "$TMP/loop.ini", "$TD/unknown_jid.yml"}, code: 1, within: time.Minute,
			setup: func(t *testing.T, tmp string) {
				// a file that exists but cannot be read, even by root
				if err := os.Symlink("loop.ini", filepath.Join(tmp, "loop.ini")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "inventory_yaml_syntax", args: []string{"playbook", "-i", "$TD/bad_inventory.yml", "$TD/unknown_jid.yml"}, code: 1, within: time.Minute},
		{name: "inventory_ini_syntax", args: []string{"playbook", "-i", "$TD/bad_inventory.ini", "$TD/unknown_jid.yml"}, code: 1, within: time.Minute},
		// job ids that do not exist
		{name: "status_unknown_jid", args: []string{"status", "nosuchjid"}, code: 1, within: time.Minute},
		{name: "cancel_unknown_jid", args: []string{"cancel", "nosuchjid"}, code: 1, within: time.Minute},
		// NATS that cannot be used: a clear error, soon
		{name: "nats_invalid_url", args: []string{"playbook", "--nats", "nats://bad host:4222", "$TD/unknown_jid.yml"}, code: 1, within: 10 * time.Second},
		{name: "nats_invalid_url_env", args: []string{"status", "j1.1"}, env: map[string]string{"NATS_URL": "://nowhere"}, code: 1, within: 10 * time.Second},
		{name: "nats_refused", args: []string{"playbook", "--nats", "nats://$CLOSED", "$TD/unknown_jid.yml"}, code: 1, within: 10 * time.Second},
		{name: "nats_silent", args: []string{"status", "--nats", "nats://$SILENT", "j1.1"}, code: 1, within: 20 * time.Second},
		// output too big for a job record
		{name: "big_output", args: []string{"playbook", "--json", "-i", "$TD/local.ini", "$TD/big_output.yml"}, code: 0, within: time.Minute,
			check: checkBigOutput},
	}
}

// TestBadInput runs the catalogue.
func TestBadInput(t *testing.T) {
	td, err := filepath.Abs(filepath.Join("testdata", "badinput"))
	if err != nil {
		t.Fatal(err)
	}
	ansible, _ := exec.LookPath("ansible-playbook")
	closed, silent := closedAddr(t), silentAddr(t)
	for _, tc := range badInputCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, tmp)
			}
			args := tc.args
			if len(args) == 0 {
				args = []string{"playbook", "-i", "$TD/local.ini", "$TD/" + tc.name + ".yml"}
			}
			repl := strings.NewReplacer("$TD", td, "$TMP", tmp, "$CLOSED", closed, "$SILENT", silent)
			args = append([]string{}, args...)
			for i := range args {
				args[i] = repl.Replace(args[i])
			}
			var ar *ansibleRun
			var wg sync.WaitGroup
			if tc.ansible && ansible != "" {
				wg.Add(1)
				go func() { defer wg.Done(); ar = runAnsible(t, ansible, args[1:]) }()
			}
			state := filepath.Join(tmp, "state")
			start := time.Now()
			r := gorun(t, state, tc.env, args...)
			took := time.Since(start)
			wg.Wait()
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if took > tc.within {
				t.Errorf("took %s, more than %s", took, tc.within)
			}
			norm := func(s string) string {
				return normalizeRun(strings.NewReplacer(td, "$TD", tmp, "$TMP", closed, "$CLOSED", silent, "$SILENT").Replace(s))
			}
			if tc.check != nil {
				tc.check(t, r, state)
			} else {
				golden(t, filepath.Join("badinput", tc.name+".golden"),
					"exit: "+itoa(r.code)+"\n--- stdout\n"+norm(r.stdout)+"--- stderr\n"+norm(r.stderr))
			}
			if ar != nil {
				if ar.code != r.code {
					t.Errorf("exit code: gorun %d, ansible-playbook %d", r.code, ar.code)
				}
				if g, a := norm(r.stdout), norm(ansibleOnly(ar.stdout)); g != a {
					t.Errorf("stdout differs from ansible-playbook's\n--- gorun\n%s--- ansible-playbook\n%s", g, a)
				}
				if g, a := norm(r.stderr), norm(ar.stderr); g != a {
					t.Errorf("stderr differs from ansible-playbook's\n--- gorun\n%s--- ansible-playbook\n%s", g, a)
				}
			}
		})
	}
}

// ansibleRun is what one ansible-playbook run printed and returned.
type ansibleRun struct {
	code           int
	stdout, stderr string
}

func runAnsible(t *testing.T, bin string, args []string) *ansibleRun {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOWS=1", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_CONFIG="+filepath.Join(t.TempDir(), "none.cfg"))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return &ansibleRun{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

var (
	jidRE       = regexp.MustCompile(`\bj\d+\.\d+\b`)
	surrogateRE = regexp.MustCompile(`\\\\udc[89a-f][0-9a-f]`)
)

// ansibleOnly turns what ansible-playbook prints differently on purpose
// (README, "Differences from Ansible") into gorun's form: a byte of output
// that is not UTF-8 is a lone surrogate there, U+FFFD here.
func ansibleOnly(s string) string {
	return surrogateRE.ReplaceAllString(s, `\\ufffd`)
}

// normalizeRun makes a run's output comparable: job ids and times masked,
// blank lines and ASYNC POLL lines dropped (gorun sees a job's end at once,
// so it may print fewer), and the results under each banner sorted by
// their first line (hosts finish in any order; a result's following lines,
// "...ignoring" included, stay with it).
func normalizeRun(s string) string {
	s = mask(jidRE.ReplaceAllString(s, "JID"))
	var out []string
	var entries [][]string
	flush := func() {
		sort.SliceStable(entries, func(i, j int) bool { return entries[i][0] < entries[j][0] })
		for _, e := range entries {
			out = append(out, e...)
		}
		entries = nil
	}
	banner := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "ASYNC POLL on "), strings.TrimSpace(line) == "":
			continue
		case strings.HasSuffix(line, "***"):
			flush()
			out = append(out, line)
			banner = true
			continue
		}
		if !banner { // before any banner (stderr, parse errors): as printed
			out = append(out, line)
			continue
		}
		if len(entries) > 0 && (strings.HasPrefix(line, " ") || line == "}" || line == "...ignoring") {
			entries[len(entries)-1] = append(entries[len(entries)-1], line)
			continue
		}
		entries = append(entries, []string{line})
	}
	flush()
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr returns the address of a listener that accepts connections
// and never says anything (a NATS client waits for the server's INFO).
func silentAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// checkBigOutput: output of 2 MB (and 1 MB on stderr, with control bytes,
// HTML characters and a byte that is not UTF-8) of a sync job, a polled
// async job and a fire-and-forget job read with async_status is kept in
// the job record and the registered result up to status' cap, ending with
// the truncation marker; no record write fails and the run goes on.
func checkBigOutput(t *testing.T, r result, state string) {
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
	var doc struct {
		RunID string `json:"run_id"`
		Plays []struct {
			Tasks []struct {
				Task  map[string]any            `json:"task"`
				Hosts map[string]map[string]any `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
		Stats map[string]map[string]int `json:"stats"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output: %v\n%.2000s", err, r.stdout)
	}
	limit := status.DefaultMaxOutput + len(status.TruncationMarker)
	for _, task := range doc.Plays[0].Tasks {
		name, _ := task.Task["name"].(string)
		for host, res := range task.Hosts {
			if name == "debug" || (name == "shell" && res["ansible_job_id"] != nil && res["finished"] == float64(0)) {
				continue // the debug after, the fire-and-forget launch
			}
			for _, k := range []string{"stdout", "stderr"} {
				s, _ := res[k].(string)
				if !strings.HasSuffix(s, status.TruncationMarker) || len(s) > limit || len(s) < 40<<10 {
					t.Errorf("%s on %s: %s of %d bytes, not cut to the cap with the marker (%q…)", name, host, k, len(s), s[:min(len(s), 40)])
				}
			}
		}
	}
	for _, h := range []string{"h1", "h2"} {
		if st := doc.Stats[h]; st["ok"] != 5 || st["failures"] != 0 {
			t.Errorf("stats of %s: %v", h, st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node := startState(t, ctx, state)
	defer node.Close(context.Background())
	recs, err := node.Store.List(ctx, status.Filter{RunID: doc.RunID})
	if err != nil {
		t.Fatal(err)
	}
	cut := 0
	for _, rec := range recs {
		if !rec.State.Terminal() || rec.State != "finished" {
			t.Errorf("record %s (%s on %s) is %s: %s", rec.JID, rec.Task, rec.Host, rec.State, rec.Msg)
		}
		if rec.Truncated {
			cut++
			if !strings.HasSuffix(rec.Stdout, status.TruncationMarker) || !strings.HasSuffix(rec.Stderr, status.TruncationMarker) {
				t.Errorf("record %s: truncated without the marker", rec.JID)
			}
		}
	}
	if cut != 6 { // 3 shell jobs × 2 hosts
		t.Errorf("%d records cut, want 6 (of %d)", cut, len(recs))
	}
}

// TestBadInputTargetWithoutTools: a target whose PATH lacks commands the
// async wrapper needs (setsid on one host, all but setsid and mkdir on
// another) fails the async task at once, naming them; the same host still
// runs sync tasks, and a complete host runs everything.
func TestBadInputTargetWithoutTools(t *testing.T) {
	tools := t.TempDir()
	noSetsid, partial := filepath.Join(tools, "nosetsid"), filepath.Join(tools, "partial")
	for _, d := range []string{noSetsid, partial} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"/usr/bin", "/bin"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "setsid" {
				_ = os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(noSetsid, e.Name()))
			}
		}
	}
	for _, c := range []string{"setsid", "mkdir"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(partial, c)); err != nil {
			t.Fatal(err)
		}
	}
	f := sshtest.Start(t, 3, sshtest.WithSessionEnv(0, "PATH="+noSetsid), sshtest.WithSessionEnv(1, "PATH="+partial))
	dir := t.TempDir()
	pb := writeFile(t, dir, "p.yml", `
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo sync
    - shell: echo async
      async: 30
      poll: 1
      ignore_errors: true
    - shell: echo fired
      async: 30
      poll: 0
    - debug: msg=after
`)
	start := time.Now()
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", "-i", f.InventoryINI(t), pb)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s", took)
	}
	if r.code != 2 {
		t.Errorf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	secs := sections(r.stdout)
	want := map[string]string{
		"h01": `"msg": "not found on the target (PATH=` + noSetsid + `): setsid; gorun's async wrapper needs them (setsid: util-linux or busybox)"`,
		"h02": `"msg": "not found on the target (PATH=` + partial + `): mv, rm, cat, wc, sleep; gorun's async wrapper needs them (setsid: util-linux or busybox)"`,
	}
	for _, sec := range []string{"TASK [shell] #2", "TASK [shell] #3"} {
		text := strings.Join(secs[sec], "\n")
		for h, msg := range want {
			if !strings.Contains(text, "fatal: ["+h+"]: FAILED! => ") || !strings.Contains(text, msg) {
				t.Errorf("%s: no clear failure on %s (want %s):\n%s", sec, h, msg, text)
			}
		}
		if !strings.Contains(text, "changed: [h03]") {
			t.Errorf("%s: h03 did not run it:\n%s", sec, text)
		}
	}
	expectSection(t, secs, "TASK [shell]", "changed: [h01]", "changed: [h02]", "changed: [h03]")
	expectSection(t, secs, "TASK [debug]", `ok: [h03] => {`, `    "msg": "after"`, `}`)
}
