package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// bin returns the path of a gorun binary (gorun, dispatcher, executor),
// built once for the test process.
func bin(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binDir, buildErr = os.MkdirTemp("", "gorun-e2e-bin")
		if buildErr != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", binDir+"/", "github.com/gorun/gorun/cmd/...").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building binaries: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// proc is a running service process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start starts a service binary; it is killed at the end of the test.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, bin(t, name), args...)
}

// startCmd starts the program at path (a service binary, or a shell that
// execs one) as service name; it is killed at the end of the test.
func startCmd(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	logf := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("GORUN_E2E_KEEP_LOGS") != "" {
			// a goroutine dump in the log, for the post-mortem
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
			}
		}
		p.kill()
		if t.Failed() {
			data, _ := os.ReadFile(logf)
			if keep := os.Getenv("GORUN_E2E_KEEP_LOGS"); keep != "" {
				os.MkdirAll(keep, 0o755)
				os.WriteFile(filepath.Join(keep, fmt.Sprintf("%s-%d.log", name, cmd.Process.Pid)), data, 0o644)
			}
			if len(data) > 4000 {
				data = data[len(data)-4000:]
			}
			t.Logf("%s log (tail):\n%s", name, data)
		}
	})
	return p
}

// kill sends SIGKILL (kill -9) and waits for the process to go.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// gorunCmd runs the gorun CLI and returns its exit code and output.
func gorunCmd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin(t, "gorun"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running gorun: %v", err)
		}
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// client opens the job and run stores on a NATS URL, to look at records.
func client(t *testing.T, url string) (*status.Store, *status.RunStore) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: url, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	st, err := status.Open(ctx, conn.JetStream(), status.Config{Assets: queue.Bind})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	rs, err := status.OpenRuns(ctx, conn.JetStream(), status.Config{Assets: queue.Bind})
	if err != nil {
		t.Fatal(err)
	}
	return st, rs
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// records returns the records of a run.
func records(t *testing.T, st *status.Store, runID string) []*job.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := st.List(ctx, status.Filter{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func lines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(strings.TrimSpace(string(data)))
}

// waitReady waits until the services have created the NATS assets (the
// CLI only binds to them).
func waitReady(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: url, Name: t.Name() + "-ready"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	eventually(t, "the services to create their streams and buckets", 60*time.Second, func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := queue.Open(c, conn, queue.Config{Assets: queue.Bind}); err != nil {
			return false
		}
		if _, err := queue.OpenRuns(c, conn, queue.RunsConfig{Assets: queue.Bind}); err != nil {
			return false
		}
		if _, err := status.OpenRuns(c, conn.JetStream(), status.Config{Assets: queue.Bind}); err != nil {
			return false
		}
		_, err := status.OpenRegistry(c, conn.JetStream(), status.RegistryConfig{Assets: queue.Bind})
		return err == nil
	})
}
