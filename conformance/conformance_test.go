package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gorun/gorun/sshtest"
)

var (
	buildOnce sync.Once
	gorunBin  string
	buildErr  error
)

// gorunBinary builds cmd/gorun once for the whole suite.
func gorunBinary(t *testing.T) string {
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		dir, err := os.MkdirTemp("", "gorun-conformance-bin")
		if err != nil {
			buildErr = err
			return
		}
		gorunBin = filepath.Join(dir, "gorun")
		out, err := exec.Command(goBin, "build", "-o", gorunBin, "github.com/gorun/gorun/cmd/gorun").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building gorun: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return gorunBin
}

// scenario is one playbook of scenarios/ with its directives.
type scenario struct {
	name, path string
	modes      []string // local, ssh, ssh-unreachable
	tolerate   map[string]bool
}

func loadScenarios(t *testing.T) []scenario {
	files, err := filepath.Glob("scenarios/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	sort.Strings(files)
	var out []scenario
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(f)
		sc := scenario{name: strings.TrimSuffix(filepath.Base(f), ".yml"), path: abs,
			modes: []string{"local", "ssh"}, tolerate: map[string]bool{}}
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "#") {
				break
			}
			k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "mode":
				sc.modes = strings.Fields(v)
			case "tolerate":
				for _, w := range strings.Fields(v) {
					sc.tolerate[w] = true
				}
			}
		}
		out = append(out, sc)
	}
	return out
}

// run is what one runner printed and returned.
type run struct {
	code   int
	stdout string
	stderr string
}

func runCmd(t *testing.T, env []string, name string, args ...string) run {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return run{code: code, stdout: out.String(), stderr: errb.String()}
}

var (
	reJID      = regexp.MustCompile(`j\d{1,12}\.\d+`)
	reTime     = regexp.MustCompile(`"(start|end|delta)": ("[^"]*"|null)`)
	reChildPID = regexp.MustCompile(`"child_pid": \d+`)
	rePoll     = regexp.MustCompile(`^ASYNC POLL on (\S+): jid=JID started=1 finished=0$`)
	reRetry    = regexp.MustCompile(`^FAILED - RETRYING: \[(\S+)\]: (.*) \((\d+) retries left\)\.$`)
)

// normalize turns a run's stdout into comparable lines: ids, times and paths
// masked, JSON re-encoded without "invocation", and the tolerated
// differences collapsed.
func normalize(out string, tolerate map[string]bool, home, tmp string) []string {
	out = strings.ReplaceAll(out, tmp, "TMPDIR")
	out = strings.ReplaceAll(out, home, "HOME")
	out = reJID.ReplaceAllString(out, "JID")
	lines := strings.Split(out, "\n")
	var res []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		// multi-line JSON block (debug output): "...=> {" up to a lone "}"
		if strings.HasSuffix(line, "=> {") {
			block := []string{"{"}
			j := i + 1
			for ; j < len(lines); j++ {
				block = append(block, lines[j])
				if lines[j] == "}" {
					break
				}
			}
			res = append(res, strings.TrimSuffix(line, "{")+canonJSON(strings.Join(block, "\n"), tolerate))
			i = j
			continue
		}
		if k := strings.Index(line, "=> {"); k >= 0 && strings.HasSuffix(line, "}") {
			line = line[:k+3] + canonJSON(line[k+3:], tolerate)
		}
		if rePoll.MatchString(line) {
			if tolerate["poll"] {
				continue
			}
			if len(res) > 0 && res[len(res)-1] == "ASYNC POLL (collapsed) "+rePoll.FindStringSubmatch(line)[1] {
				continue
			}
			line = "ASYNC POLL (collapsed) " + rePoll.FindStringSubmatch(line)[1]
		}
		if tolerate["retries"] && reRetry.MatchString(line) {
			continue
		}
		res = append(res, canonItem(line))
	}
	for len(res) > 0 && res[len(res)-1] == "" {
		res = res[:len(res)-1]
	}
	return res
}

var reItemDict = regexp.MustCompile(`\(item=\{(.*)\}\)`)

// canonItem sorts the keys of a dict item label ("(item={'b': 1, 'a': 2})"):
// Python keeps a dict's insertion order, gorun prints keys sorted (a listed
// difference).
func canonItem(line string) string {
	m := reItemDict.FindStringSubmatchIndex(line)
	if m == nil {
		return line
	}
	inner := line[m[2]:m[3]]
	var parts []string
	depth, start := 0, 0
	inStr := byte(0)
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case inStr != 0:
			if c == '\\' {
				i++
			} else if c == inStr {
				inStr = 0
			}
		case c == '\'' || c == '"':
			inStr = c
		case c == '{' || c == '[' || c == '(':
			depth++
		case c == '}' || c == ']' || c == ')':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(inner[start:i]))
			start = i + 1
		}
	}
	parts = append(parts, strings.TrimSpace(inner[start:]))
	sort.Strings(parts)
	return line[:m[2]] + strings.Join(parts, ", ") + line[m[3]:]
}

// canonJSON parses s, drops "invocation", masks times and pids, and
// re-encodes it with sorted keys.
func canonJSON(s string, tolerate map[string]bool) string {
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return s
	}
	v = scrub(v, tolerate)
	b, _ := json.Marshal(v)
	out := reTime.ReplaceAllString(string(b), `"$1":"X"`)
	out = reChildPID.ReplaceAllString(out, `"child_pid":PID`)
	return out
}

func scrub(v any, tolerate map[string]bool) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "invocation")
		for k, e := range x {
			switch k {
			case "start", "end", "delta":
				if e != nil {
					x[k] = "X"
				}
				continue
			case "child_pid":
				x[k] = "PID"
				continue
			case "attempts":
				if tolerate["retries"] {
					x[k] = "N"
					continue
				}
			}
			x[k] = scrub(e, tolerate)
		}
	case []any:
		for i, e := range x {
			x[i] = scrub(e, tolerate)
		}
	}
	return v
}

func TestConformance(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook not found: make test installs ansible-core")
	}
	bin := gorunBinary(t)
	scenarios := loadScenarios(t)
	if len(scenarios) < 25 {
		t.Fatalf("only %d scenarios", len(scenarios))
	}
	home, _ := os.UserHomeDir()
	fleet := sshtest.Start(t, 2)
	fleet.Stop(1) // h02 stays unreachable; only ssh-unreachable scenarios use it
	sshInv := fleet.InventoryINI(t)
	dir := t.TempDir()
	localInv := filepath.Join(dir, "local.ini")
	if err := os.WriteFile(localInv, []byte("localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		for _, mode := range sc.modes {
			t.Run(sc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				inv, limit := localInv, "all"
				switch mode {
				case "ssh":
					inv, limit = sshInv, "h01"
				case "ssh-unreachable":
					inv = sshInv
				}
				tmpA, tmpG := t.TempDir(), t.TempDir()
				// ssh's ControlPath must stay short (a Unix socket path)
				cp, err := os.MkdirTemp("/tmp", "cp")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(cp) })
				common := []string{"ANSIBLE_NOCOWS=1", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
					"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_CONFIG=" + filepath.Join(dir, "none.cfg")}
				var ar, gr run
				var wg sync.WaitGroup
				wg.Add(2)
				go func() {
					defer wg.Done()
					ar = runCmd(t, append(common, "ANSIBLE_LOCAL_TEMP="+filepath.Join(tmpA, "l"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+cp),
						"ansible-playbook", "-i", inv, "-l", limit, "-f", "1", "-e", "tmpdir="+tmpA, sc.path)
				}()
				go func() {
					defer wg.Done()
					gr = runCmd(t, append(common, "GORUN_STATE_DIR="+filepath.Join(tmpG, "state")),
						bin, "playbook", "-i", inv, "-l", limit, "-f", "1", "-e", "tmpdir="+tmpG, sc.path)
				}()
				wg.Wait()
				an := normalize(ar.stdout, sc.tolerate, home, tmpA)
				gn := normalize(gr.stdout, sc.tolerate, home, tmpG)
				if ar.code != gr.code {
					t.Errorf("exit code: ansible %d, gorun %d", ar.code, gr.code)
				}
				if ar.code == 4 && strings.Contains(ar.stderr, "ERROR!") {
					// a parse error: compare the first line of the error
					if first(ar.stderr, "ERROR!") != first(gr.stderr, "ERROR!") {
						t.Errorf("parse error:\nansible: %s\ngorun:   %s", first(ar.stderr, "ERROR!"), first(gr.stderr, "ERROR!"))
					}
				}
				if d := diff(an, gn); d != "" {
					t.Errorf("output differs (- ansible, + gorun):\n%s\n--- gorun stderr:\n%s", d, gr.stderr)
				}
			})
		}
	}
}

func first(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// diff is a small line diff (longest common subsequence).
func diff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	changed := false
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+ "+b[j])
			j++
			changed = true
		default:
			out = append(out, "- "+a[i])
			i++
			changed = true
		}
	}
	if !changed {
		return ""
	}
	return strings.Join(out, "\n")
}
