package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gorun/gorun/sshtest"
)

var adhocMask = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`j\d{1,12}\.\d+`), "JID"},
	{regexp.MustCompile(`"(start|end|delta)": "[^"]*"`), `"$1": "X"`},
}

// TestAdHocMatchesAnsible runs the same ad-hoc commands with ansible and
// gorun run against the same hosts and compares their output.
func TestAdHocMatchesAnsible(t *testing.T) {
	if _, err := exec.LookPath("ansible"); err != nil {
		t.Fatal("ansible not found: make test installs ansible-core")
	}
	f := sshtest.Start(t, 2)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	cases := [][]string{
		{"-m", "command", "-a", "echo hi {{ inventory_hostname }}"},
		{"-m", "shell", "-a", "echo out; echo err >&2; exit 3"},
		{"-m", "ping"},
		{"-a", "/bin/sleep 1", "-B", "10", "-P", "1"},
		{"-a", "/bin/sleep 1", "-B", "10", "-P", "0"},
		{"-m", "nosuchmodule"},
		{"-m", "debug", "-a", "msg=hello"},
		{"-m", "command"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			args := append([]string{"targets", "-i", inv, "-f", "1"}, c...)
			cmd := exec.Command("ansible", args...)
			cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
				"ANSIBLE_SSH_CONTROL_PATH_DIR="+shortTemp(t))
			var aout strings.Builder
			var aerr strings.Builder
			cmd.Stdout, cmd.Stderr = &aout, &aerr
			_ = cmd.Run()
			acode := cmd.ProcessState.ExitCode()
			r := gorun(t, filepath.Join(dir, "state"), nil, append([]string{"run"}, args...)...)
			got, want := mask(r.stdout), mask(aout.String())
			for _, m := range adhocMask {
				got, want = m.re.ReplaceAllString(got, m.with), m.re.ReplaceAllString(want, m.with)
			}
			if r.code != acode {
				t.Errorf("exit code gorun %d, ansible %d\n%s", r.code, acode, r.stderr)
			}
			if acode == 5 { // an options error: ansible prints its usage; compare the error
				if errLine(r.stderr) != errLine(aerr.String()) {
					t.Errorf("error: gorun %q, ansible %q", errLine(r.stderr), errLine(aerr.String()))
				}
				return
			}
			if got != want {
				t.Errorf("output differs:\n--- gorun:\n%s\n--- ansible:\n%s", got, want)
			}
		})
	}
}

func errLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "ERROR!") {
			return l
		}
	}
	return ""
}

// shortTemp is a temp dir with a short path (ssh's ControlPath is a Unix
// socket, whose path length is limited).
func shortTemp(t *testing.T) string {
	d, err := os.MkdirTemp("/tmp", "cp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
