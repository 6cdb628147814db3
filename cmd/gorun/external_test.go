package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// buildBinary builds a command of this module into the test's temp dir.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestExternalNATSWithSeparateExecutor: with --nats, gorun playbook only
// dispatches; a separate executor process runs the jobs.
func TestExternalNATSWithSeparateExecutor(t *testing.T) {
	bin := buildBinary(t, "github.com/gorun/gorun/cmd/executor")
	nenv := natstest.Start(t)
	url := nenv.Server.ClientURL()
	ex := exec.Command(bin, "--nats", url, "--forks", "3", "--id", "ext-executor", "--log-level", "warn")
	ex.Stderr = os.Stderr
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- ex.Wait() }()
	t.Cleanup(func() {
		_ = ex.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = ex.Process.Kill()
		}
	})
	// the executor creates the task stream and the job bucket; the CLI binds
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := status.Open(ctx, nenv.Conn.JetStream(), status.Config{Assets: queue.Bind})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the executor did not create its assets: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := sshtest.Start(t, 4)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	pb := writeFile(t, dir, "p.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - shell: echo from $(id -un)
      register: r
    - assert:
        that: r.stdout == "from " ~ ansible_user
`)
	r := gorun(t, filepath.Join(dir, "state"), map[string]string{"NATS_URL": url}, "playbook", "--json", "-i", inv, pb)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	recs, err := nenv.Store.List(context.Background(), status.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 {
		t.Fatalf("%d records, want 8", len(recs))
	}
	for _, rec := range recs {
		if rec.Executor != "ext-executor" || !rec.State.Terminal() {
			t.Errorf("record %s: executor %q state %s", rec.JID, rec.Executor, rec.State)
		}
	}
	if strings.Contains(r.stdout, "FAILED") {
		t.Errorf("output:\n%s", r.stdout)
	}
}

// A nats CLI context names the server (and credentials).
func TestNATSContext(t *testing.T) {
	nenv := natstest.Start(t)
	cfgHome := t.TempDir()
	os.MkdirAll(filepath.Join(cfgHome, "nats", "context"), 0o700)
	os.WriteFile(filepath.Join(cfgHome, "nats", "context", "lab.json"),
		[]byte(`{"url": "`+nenv.Server.ClientURL()+`"}`), 0o600)
	os.WriteFile(filepath.Join(cfgHome, "nats", "context.txt"), []byte("lab\n"), 0o600)
	// the job bucket exists on that server only
	if _, err := status.Open(context.Background(), nenv.Conn.JetStream(), status.Config{}); err != nil {
		t.Fatal(err)
	}
	r := gorun(t, t.TempDir(), map[string]string{"XDG_CONFIG_HOME": cfgHome, "NATS_CONTEXT": "lab"}, "jobs")
	if r.code != 0 || !strings.Contains(r.stdout, "JID") {
		t.Fatalf("gorun jobs with a nats context: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = gorun(t, t.TempDir(), map[string]string{"XDG_CONFIG_HOME": cfgHome}, "jobs", "--context", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "reading nats context nosuch") {
		t.Fatalf("a missing context: exit %d\n%s", r.code, r.stderr)
	}
}
