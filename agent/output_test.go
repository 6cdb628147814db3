package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/agent"
)

// Collect reads a job's stdout and stderr up to their first MiB each: a job
// that printed more costs no more memory, and the agent's next answers are
// whole.
func TestCollectCutsBigOutput(t *testing.T) {
	_, ap := pools(t)
	const mib = 1 << 20
	for name, tg := range targets(t) {
		t.Run(name, func(t *testing.T) {
			ctx, a := agentOn(t, ap, tg, 30*time.Second)
			dir := t.TempDir()
			cases := []struct {
				jid, script    string
				stdout, stderr int
				head           string
			}{
				{"j41.1", "echo first; head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; exit 5", mib, mib, "first\n"},
				{"j41.2", "head -c 1048576 /dev/zero | tr '\\0' a", mib, 0, "aaa"},
				{"j41.3", "echo small; echo err >&2", 6, 4, "small\n"},
			}
			for _, tc := range cases {
				h, err := a.Launch(ctx, agent.Spec{JID: tc.jid, Dir: dir, Script: tc.script, Limit: 30})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Wait(ctx, tc.jid); err != nil {
					t.Fatal(err)
				}
				out, err := a.Collect(ctx, h)
				if err != nil {
					t.Fatal(err)
				}
				if !out.Finished || len(out.Stdout) != tc.stdout || len(out.Stderr) != tc.stderr || !strings.HasPrefix(string(out.Stdout), tc.head) {
					t.Fatalf("%s: finished %v rc %d, %d bytes of stdout (%.8q…), %d of stderr; want %d (%q…), %d",
						tc.jid, out.Finished, out.RC, len(out.Stdout), out.Stdout, len(out.Stderr), tc.stdout, tc.head, tc.stderr)
				}
			}
		})
	}
}
