package module

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScriptLineLookup: the command line finds the program as Ansible's
// run_command (Python's subprocess) does, with the same result in sh and
// bash (it runs in either: see connection.PortableExecer). The wanted
// messages and codes are ansible-core 2.14's.
func TestScriptLineLookup(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(bin, "adir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\necho ran \"$@\"\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/gorun-ok", 0o755)
	write("bin/gorun-noexec", 0o644)
	write("noexec", 0o644)
	write("ok", 0o755)
	if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "broken")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		raw, stdout, msg string
		rc               int
	}{
		{raw: "gorun-ok a 'b c'", stdout: "ran a b c\n"},
		{raw: "./ok x", stdout: "ran x\n"},
		{raw: dir + "/ok", stdout: "ran\n"},
		{raw: "true"},
		{raw: "gorun-nosuch", rc: 2, msg: "[Errno 2] No such file or directory: b'gorun-nosuch'"},
		{raw: "gorun-noexec", rc: 13, msg: "[Errno 13] Permission denied: b'gorun-noexec'"},
		{raw: "adir", rc: 13, msg: "[Errno 13] Permission denied: b'adir'"},
		{raw: "./noexec", rc: 13, msg: "[Errno 13] Permission denied: b'./noexec'"},
		{raw: dir, rc: 13, msg: "[Errno 13] Permission denied: b'" + dir + "'"},
		{raw: dir + "/nosuch", rc: 2, msg: "[Errno 2] No such file or directory: b'" + dir + "/nosuch'"},
		{raw: dir + "/broken", rc: 2, msg: "[Errno 2] No such file or directory: b'" + dir + "/broken'"},
		{raw: "cd", rc: 2, msg: "[Errno 2] No such file or directory: b'cd'"},
	}
	for _, sh := range []string{"/bin/sh", "/bin/dash", "/bin/bash"} {
		if _, err := os.Stat(sh); err != nil {
			continue
		}
		for _, c := range cases {
			cmd, failed := ParseCommand(map[string]any{"_raw_params": c.raw}, nil, false)
			if failed != nil {
				t.Fatalf("%q: %v", c.raw, failed)
			}
			run := exec.Command(sh, "-c", cmd.ScriptLine())
			run.Dir = dir
			run.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
			var stdout, stderr bytes.Buffer
			run.Stdout, run.Stderr = &stdout, &stderr
			rc := 0
			if err := run.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				rc = ee.ExitCode()
			}
			r := cmd.Finish(Output{RC: rc, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()})
			msg, _ := r["msg"].(string)
			gotRC, _ := r["rc"].(int)
			if gotRC != c.rc || msg != c.msg || (c.rc == 0 && r["stdout"] != c.stdout[:max(0, len(c.stdout)-1)]) {
				t.Errorf("%s, %q: rc %v msg %q stdout %q (stderr %q), want rc %d msg %q stdout %q", sh, c.raw, r["rc"], msg, r["stdout"], stderr.String(), c.rc, c.msg, c.stdout)
			}
		}
	}
}
