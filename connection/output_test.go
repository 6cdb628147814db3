package connection

import (
	"strings"
	"testing"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/sshtest"
)

// With MaxOutput, a command's output is kept up to the limit and the rest
// read and dropped (the command runs to its end and its exit status is
// kept), over SSH and locally.
func TestMaxOutput(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	f := sshtest.Start(t, 1)
	p := newPool(t, Config{MaxOutput: limit})
	conns := map[string]Conn{
		"ssh":   get(t, p, f.Target(0)),
		"local": get(t, p, job.Target{Host: "localhost", Connection: "local"}),
	}
	cases := []struct {
		name                string
		cmd                 string
		rc                  int
		stdout, stderr      int
		truncated           bool
		stdoutHead, errHead string
	}{
		{name: "under the limit", cmd: "echo hello; echo oops >&2", stdout: 6, stderr: 5, stdoutHead: "hello\n", errHead: "oops\n"},
		{name: "at the limit", cmd: "head -c 65536 /dev/zero | tr '\\0' a", stdout: limit, stdoutHead: "aaa"},
		{name: "big stdout", cmd: "echo first; head -c 5000000 /dev/zero; exit 4", rc: 4, stdout: limit, truncated: true, stdoutHead: "first\n"},
		{name: "big stderr", cmd: "echo out; (echo err; head -c 3000000 /dev/zero) >&2", stdout: 4, stderr: limit, truncated: true, stdoutHead: "out\n", errHead: "err\n"},
	}
	for name, c := range conns {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				r := mustExec(t, c, tc.cmd, nil)
				if r.RC != tc.rc || len(r.Stdout) != tc.stdout || len(r.Stderr) != tc.stderr || r.Truncated != tc.truncated {
					t.Fatalf("rc %d, %d bytes of stdout, %d of stderr, truncated %v; want rc %d, %d, %d, %v",
						r.RC, len(r.Stdout), len(r.Stderr), r.Truncated, tc.rc, tc.stdout, tc.stderr, tc.truncated)
				}
				if !strings.HasPrefix(string(r.Stdout), tc.stdoutHead) || !strings.HasPrefix(string(r.Stderr), tc.errHead) {
					t.Fatalf("stdout starts %q, stderr %q; want %q, %q", head(r.Stdout), head(r.Stderr), tc.stdoutHead, tc.errHead)
				}
			})
		}
	}
	if _, err := NewPool(Config{MaxOutput: -1}); err == nil || !strings.Contains(err.Error(), "Config.MaxOutput") {
		t.Errorf("a negative MaxOutput: %v", err)
	}
}

func head(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}
