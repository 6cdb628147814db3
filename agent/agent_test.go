package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/agent"
	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/sshtest"
)

func pools(t *testing.T) (*connection.Pool, *agent.Pool) {
	cp, err := connection.NewPool(connection.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ap := agent.NewPool(cp, nil)
	t.Cleanup(func() { ap.Close(); cp.Close() })
	return cp, ap
}

// localAgent starts an agent on this machine (connection local), with a
// context that ends with the test (20 s at most).
func localAgent(t *testing.T) (context.Context, *agent.Agent) {
	t.Helper()
	_, ap := pools(t)
	return agentOn(t, ap, job.Target{Host: "localhost", Connection: "local"}, 20*time.Second)
}

// agentOn gets ap's agent on tg, with a context that ends with the test
// (timeout at most).
func agentOn(t *testing.T, ap *agent.Pool, tg job.Target, timeout time.Duration) (context.Context, *agent.Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	a, err := ap.Get(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, a
}

func targets(t *testing.T) map[string]job.Target {
	f := sshtest.Start(t, 1)
	return map[string]job.Target{"local": {Host: "localhost", Connection: "local"}, "ssh": f.Target(0)}
}

func TestLaunchWaitCollect(t *testing.T) {
	_, ap := pools(t)
	for name, tg := range targets(t) {
		t.Run(name, func(t *testing.T) {
			ctx, a := agentOn(t, ap, tg, 20*time.Second)
			dir := t.TempDir()
			in := "input line"
			h, err := a.Launch(ctx, agent.Spec{JID: "j1.1", Dir: dir, Script: "read x; echo \"got $x\"; echo 'it''s' >&2; sleep 0.3; exit 7", Stdin: &in, Limit: 30})
			if err != nil {
				t.Fatal(err)
			}
			if h.PID <= 0 || h.Dir != filepath.Join(dir, "j1.1") {
				t.Fatalf("handle %+v", h)
			}
			// the launch is answered once the job has started (as
			// Ansible's async_wrapper): its start time is written
			if st, err := os.Stat(filepath.Join(h.Dir, "start")); err != nil || st.Size() == 0 {
				t.Fatalf("launched, but no start time: %v", err)
			}
			o, err := a.Wait(ctx, "j1.1")
			if err != nil || o.Kind != agent.Done || o.RC != 7 {
				t.Fatalf("outcome %+v %v", o, err)
			}
			out, err := a.Collect(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Finished || out.RC != 7 || string(out.Stdout) != "got input line\n" || string(out.Stderr) != "its\n" || out.TimedOut {
				t.Fatalf("output %+v", out)
			}
			if len(out.Start) != len("2006-01-02 15:04:05.000000") || out.End < out.Start {
				t.Fatalf("times %q %q", out.Start, out.End)
			}
			if err := a.Remove(ctx, h.Dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(h.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("dir not removed: %v", err)
			}
		})
	}
}

func TestJobSurvivesAgentAndReattach(t *testing.T) {
	_, ap := pools(t)
	tg := job.Target{Host: "localhost", Connection: "local"}
	ctx, a := agentOn(t, ap, tg, 20*time.Second)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	h, err := a.Launch(ctx, agent.Spec{JID: "j2.1", Dir: dir, Script: "sleep 1; echo done > " + marker + "; echo out"})
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // the executor's session goes away
	if _, err := a.Wait(ctx, "j2.1"); !errors.Is(err, agent.ErrLost) {
		t.Fatalf("wait on a closed agent: %v", err)
	}
	b, err := ap.Get(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	ph, pid, err := b.Probe(ctx, "j2.1", dir)
	if err != nil || pid != h.PID || ph.Dir != h.Dir {
		t.Fatalf("probe: %+v %d %v", ph, pid, err)
	}
	if err := b.Follow(ctx, ph); err != nil {
		t.Fatal(err)
	}
	o, err := b.Wait(ctx, "j2.1")
	if err != nil || o.Kind != agent.Done || o.RC != 0 {
		t.Fatalf("outcome %+v %v", o, err)
	}
	out, err := b.Collect(ctx, ph)
	if err != nil || string(out.Stdout) != "out\n" {
		t.Fatalf("%+v %v", out, err)
	}
	if data, _ := os.ReadFile(marker); string(data) != "done\n" {
		t.Fatalf("marker %q", data)
	}
	if _, pid, _ := b.Probe(ctx, "j9.9", dir); pid != -1 {
		t.Fatalf("probe of a missing job: %d", pid)
	}
}

func TestKillProcessGroup(t *testing.T) {
	ctx, a := localAgent(t)
	dir := t.TempDir()
	h, err := a.Launch(ctx, agent.Spec{JID: "j3.1", Dir: dir, Script: "sleep 300 & sleep 300; wait"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Kill(ctx, h, time.Second, "timeout"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for groupAlive(h.PID) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still alive", h.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := a.Collect(ctx, h)
	if err != nil || out.Finished || !out.TimedOut {
		t.Fatalf("%+v %v", out, err)
	}
}

// TestTargetWatchdog: with no executor to kill it, a job past its limit
// and grace is killed on the target, its whole process group, by the
// runner under bash and by a watchdog subshell under sh.
func TestTargetWatchdog(t *testing.T) {
	for name, path := range map[string]string{"bash": os.Getenv("PATH"), "sh": barePath(t)} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PATH", path)
			ctx, a := localAgent(t)
			h, err := a.Launch(ctx, agent.Spec{JID: "j4.1", Dir: t.TempDir(), Script: "sleep 300 & sleep 300", Limit: 1, Grace: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Follow(ctx, h); err != nil {
				t.Fatal(err)
			}
			o, err := a.Wait(ctx, "j4.1")
			if err != nil || o.Kind != agent.Timeout {
				t.Fatalf("outcome %+v %v", o, err)
			}
			if groupAlive(h.PID) {
				t.Errorf("process group %d alive after the watchdog", h.PID)
			}
		})
	}
}

func TestLaunchFailure(t *testing.T) {
	ctx, a := localAgent(t)
	_, err := a.Launch(ctx, agent.Spec{JID: "j5.1", Dir: "/proc/nope", Script: "true"})
	if !errors.Is(err, agent.ErrLaunch) || !strings.Contains(err.Error(), "could not create directory: /proc/nope - ") {
		t.Fatalf("err = %v", err)
	}
}

func groupAlive(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			_ = pid
			return true
		}
	}
	return false
}

// Several waiters of one job (an old and a new follower of a redelivered
// job in one executor) all learn its end, and so does a waiter that comes
// after it, until the job is forgotten.
func TestSeveralWaiters(t *testing.T) {
	ctx, a := localAgent(t)
	release := filepath.Join(t.TempDir(), "go")
	if _, err := a.Launch(ctx, agent.Spec{JID: "j2.1", Dir: t.TempDir(),
		Script: "while [ ! -e " + release + " ]; do sleep 0.05; done; exit 3", Limit: 30}); err != nil {
		t.Fatal(err)
	}
	type res struct {
		o   agent.Outcome
		err error
	}
	got := make(chan res, 3)
	// one waiter gives up (its context ends), two stay
	gone, giveUp := context.WithCancel(ctx)
	for _, c := range []context.Context{ctx, ctx, gone} {
		go func() {
			o, err := a.Wait(c, "j2.1")
			got <- res{o, err}
		}()
	}
	giveUp()
	if r := <-got; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("the waiter whose context ended: %+v", r)
	}
	os.WriteFile(release, nil, 0o644)
	for range 2 {
		if r := <-got; r.err != nil || r.o.Kind != agent.Done || r.o.RC != 3 {
			t.Fatalf("waiter: %+v", r)
		}
	}
	if o, err := a.Wait(ctx, "j2.1"); err != nil || o.RC != 3 {
		t.Fatalf("a waiter after the end: %+v %v", o, err)
	}
	a.Forget("j2.1")
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if _, err := a.Wait(short, "j2.1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after Forget, Wait should block: %v", err)
	}
}

// Collects and removes of jobs ending together share requests: each gets
// its own answer, and a removed directory is gone when Remove returns
// while the others stay.
func TestCollectRemoveBatched(t *testing.T) {
	_, ap := pools(t)
	for name, tg := range targets(t) {
		t.Run(name, func(t *testing.T) {
			ctx, a := agentOn(t, ap, tg, 20*time.Second)
			dir := t.TempDir()
			const n = 6
			hs := make([]agent.Handle, n)
			for i := range hs {
				jid := fmt.Sprintf("cr%d.1", i)
				var err error
				if hs[i], err = a.Launch(ctx, agent.Spec{JID: jid, Dir: dir, Script: fmt.Sprintf("echo out%d; exit %d", i, i), Limit: 30}); err != nil {
					t.Fatal(err)
				}
			}
			for i, h := range hs {
				if o, err := a.Wait(ctx, h.JID); err != nil || o.RC != i {
					t.Fatalf("job %d: %+v %v", i, o, err)
				}
			}
			outs := make([]agent.Output, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, h := range hs {
				wg.Go(func() { outs[i], errs[i] = a.Collect(ctx, h) })
			}
			wg.Wait()
			for i := range hs {
				if errs[i] != nil {
					t.Fatalf("job %d: %v", i, errs[i])
				}
				if !outs[i].Finished || outs[i].RC != i || string(outs[i].Stdout) != fmt.Sprintf("out%d\n", i) {
					t.Fatalf("job %d output %+v", i, outs[i])
				}
			}
			// Removes batch with collects.
			for i, h := range hs {
				if i%2 == 0 {
					wg.Go(func() { errs[i] = a.Remove(ctx, h.Dir) })
				} else {
					wg.Go(func() { _, errs[i] = a.Collect(ctx, h) })
				}
			}
			wg.Wait()
			for i, h := range hs {
				if errs[i] != nil {
					t.Fatalf("job %d: %v", i, errs[i])
				}
				_, err := os.Stat(h.Dir)
				if gone := errors.Is(err, os.ErrNotExist); gone != (i%2 == 0) {
					t.Fatalf("job %d: directory gone=%v, want %v (%v)", i, gone, i%2 == 0, err)
				}
			}
			// and alone.
			for i, h := range hs {
				if i%2 == 1 {
					wg.Go(func() { errs[i] = a.Remove(ctx, h.Dir) })
				}
			}
			wg.Wait()
			for i, h := range hs {
				if errs[i] != nil {
					t.Fatalf("job %d: %v", i, errs[i])
				}
				if _, err := os.Stat(h.Dir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("job %d: directory still there (%v)", i, err)
				}
			}
			for _, d := range []string{"", "/"} {
				if err := a.Remove(ctx, d); err == nil {
					t.Fatalf("Remove of %q accepted", d)
				}
			}
		})
	}
}

// TestRunnerShell checks the job runner on a target with bash (times from
// $EPOCHREALTIME) and without it (times from date): the same outcome and
// times in Ansible's format either way.
func TestRunnerShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	for _, c := range []struct {
		name, path, runner string
	}{
		{"bash", filepath.Dir(bash) + ":" + os.Getenv("PATH"), "bash"},
		{"sh", barePath(t), "sh"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PATH", c.path)
			ctx, a := localAgent(t)
			before := time.Now().Add(-time.Second)
			h, err := a.Launch(ctx, agent.Spec{JID: "j9." + c.name, Dir: t.TempDir(), Script: "cat /proc/$PPID/comm; exit 3", Limit: 30})
			if err != nil {
				t.Fatal(err)
			}
			o, err := a.Wait(ctx, h.JID)
			if err != nil || o.Kind != agent.Done || o.RC != 3 {
				t.Fatalf("outcome %+v %v", o, err)
			}
			out, err := a.Collect(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if comm := strings.TrimSpace(string(out.Stdout)); comm != c.runner && !(c.runner == "sh" && comm == "dash") {
				t.Errorf("runner %q, want %s", comm, c.runner)
			}
			const layout = "2006-01-02 15:04:05.000000"
			start, err1 := time.ParseInLocation(layout, out.Start, time.Local)
			end, err2 := time.ParseInLocation(layout, out.End, time.Local)
			if err1 != nil || err2 != nil || start.Before(before) || end.Before(start) || end.After(time.Now()) {
				t.Fatalf("times %q %q: %v %v", out.Start, out.End, err1, err2)
			}
		})
	}
}

// TestPortableScript: a portable script runs in a subshell of the runner
// ($$ is the runner's), any other under /bin/sh of its own; both with
// their stdin, output and exit status.
func TestPortableScript(t *testing.T) {
	ctx, a := localAgent(t)
	in := "in put"
	for _, portable := range []bool{true, false} {
		jid := fmt.Sprintf("j6.%d", map[bool]int{true: 1, false: 2}[portable])
		h, err := a.Launch(ctx, agent.Spec{JID: jid, Dir: t.TempDir(), Portable: portable, Stdin: &in, Limit: 30,
			Script: `read -r x < /proc/$$/comm; read -r y; printf '%s|%s' "$x" "$y"; echo oops >&2; exit 4`})
		if err != nil {
			t.Fatal(err)
		}
		o, err := a.Wait(ctx, jid)
		if err != nil || o.Kind != agent.Done || o.RC != 4 {
			t.Fatalf("portable %v: outcome %+v %v", portable, o, err)
		}
		out, err := a.Collect(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		comm, got, _ := strings.Cut(string(out.Stdout), "|")
		runner := comm == "bash" || comm == "gorun-job" || comm == "sh" || comm == "dash"
		if got != in || string(out.Stderr) != "oops\n" || (portable && !runner) || (!portable && comm != "sh" && comm != "dash") {
			t.Errorf("portable %v: stdout %q stderr %q", portable, out.Stdout, out.Stderr)
		}
		if portable && comm != "bash" {
			if _, err := exec.LookPath("bash"); err == nil {
				t.Errorf("portable: ran in %q, want the runner (bash)", comm)
			}
		}
	}
}

// barePath returns a PATH with the tools the async wrapper needs, and no
// bash.
func barePath(t *testing.T) string {
	t.Helper()
	bare := t.TempDir()
	for _, tool := range []string{"setsid", "mkdir", "mv", "rm", "cat", "wc", "sleep", "date", "head", "tr"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bare, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return bare
}

// TestQuietJobEnd: a job that writes no output tells its times with its
// end (Outcome.Output: no collect needed), the same as a collect reads,
// under bash and under sh; a job with output does not.
func TestQuietJobEnd(t *testing.T) {
	for name, path := range map[string]string{"bash": os.Getenv("PATH"), "sh": barePath(t)} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PATH", path)
			ctx, a := localAgent(t)
			for i, script := range []string{"exit 5", "echo out; exit 5"} {
				jid := fmt.Sprintf("j7.%d", i)
				h, err := a.Launch(ctx, agent.Spec{JID: jid, Dir: t.TempDir(), Script: script, Portable: true, Limit: 30})
				if err != nil {
					t.Fatal(err)
				}
				o, err := a.Wait(ctx, jid)
				if err != nil || o.Kind != agent.Done || o.RC != 5 {
					t.Fatalf("%q: outcome %+v %v", script, o, err)
				}
				out, err := a.Collect(ctx, h)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case i == 1 && o.Output != nil:
					t.Errorf("%q: told its output with its end: %+v", script, *o.Output)
				case i == 0 && o.Output == nil:
					t.Errorf("%q: no output told with the end", script)
				case i == 0 && (*o.Output).Start != out.Start || i == 0 && (*o.Output).End != out.End || i == 0 && !o.Output.Finished:
					t.Errorf("%q: told %+v, collected %+v", script, *o.Output, out)
				}
			}
		})
	}
}

// TestRunnerStatusLost: under bash, a job whose exit status cannot be read
// (the process substitution that tells it was killed on its own) is told
// as gone without an exit status, not as an exit.
func TestRunnerStatusLost(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash: the runner under sh has no process substitution")
	}
	ctx, a := localAgent(t)
	// the job's subshell kills its parent, the substitution
	script := `read -r s < /proc/$BASHPID/stat; set -- ${s##*) }; kill -9 "$2"; exit 0`
	if _, err := a.Launch(ctx, agent.Spec{JID: "j8.1", Dir: t.TempDir(), Script: script, Portable: true, Limit: 30}); err != nil {
		t.Fatal(err)
	}
	o, err := a.Wait(ctx, "j8.1")
	if err != nil || o.Kind != agent.Gone {
		t.Fatalf("outcome %+v %v, want gone", o, err)
	}
}
