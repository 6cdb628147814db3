package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/sshtest"
)

// services starts dispatchers and executors against url.
func services(t *testing.T, url string, executors, forks int) map[string]*proc {
	ps := map[string]*proc{}
	for i := 1; i <= executors; i++ {
		id := fmt.Sprintf("ex%d", i)
		ps[id] = start(t, "executor", "--nats", url, "--forks", fmt.Sprint(forks), "--id", id, "--ack-wait", "2s", "--log-level", "debug")
	}
	ps["dispatcher"] = start(t, "dispatcher", "--nats", url, "--id", "d1", "--ack-wait", "2s", "--log-level", "debug")
	waitReady(t, url)
	return ps
}

func submit(t *testing.T, url string, args ...string) string {
	t.Helper()
	code, out, errOut := gorunCmd(t, nil, append([]string{"submit", "--nats", url}, args...)...)
	if code != 0 {
		t.Fatalf("gorun submit: exit %d\n%s\n%s", code, out, errOut)
	}
	return strings.TrimSpace(out)
}

func TestSubmitWaitStatusJobs(t *testing.T) {
	nenv := natstest.Start(t)
	url := nenv.Server.ClientURL()
	services(t, url, 2, 4)
	f := sshtest.Start(t, 4)
	dir := t.TempDir()
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte(`
- hosts: targets
  gather_facts: false
  tasks:
    - shell: sleep 1; echo "hello from {{ inventory_hostname }}"
      async: 30
      poll: 0
      register: job
    - async_status: jid={{ job.ansible_job_id }}
      register: st
      until: st is finished
      retries: 20
      delay: 1
    - assert:
        that: st.stdout == "hello from " ~ inventory_hostname
`), 0o644)
	t0 := time.Now()
	runID := submit(t, url, "-i", f.InventoryINI(t), pb)
	t.Logf("gorun submit returned %s in %v", runID, time.Since(t0).Round(time.Millisecond))
	code, out, errOut := gorunCmd(t, nil, "wait", "--nats", url, runID)
	if code != 0 || !strings.Contains(out, "PLAY RECAP") {
		t.Fatalf("gorun wait: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = gorunCmd(t, nil, "status", "--json", "--nats", url, runID)
	var r job.Run
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.State != job.RunFinished || r.ExitCode == nil || *r.ExitCode != 0 || len(r.Recap) != 4 {
		t.Fatalf("gorun status %s: exit %d\n%s", runID, code, out)
	}
	code, out, _ = gorunCmd(t, nil, "jobs", "--json", "--nats", url, "--run", runID)
	var recs []job.Record
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil {
		t.Fatalf("gorun jobs: exit %d\n%s", code, out)
	}
	if len(recs) != 8 { // 4 hosts × (async job + assert)
		t.Errorf("%d job records, want 8", len(recs))
	}
	for _, rec := range recs {
		if !rec.State.Terminal() {
			t.Errorf("job %s is %s", rec.JID, rec.State)
		}
	}
}

// gorun wait returns the instant the run's record ends.
func TestWaitLatency(t *testing.T) {
	nenv := natstest.Start(t)
	url := nenv.Server.ClientURL()
	services(t, url, 1, 2)
	f := sshtest.Start(t, 1)
	dir := t.TempDir()
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte("- hosts: targets\n  gather_facts: false\n  tasks:\n    - command: sleep 1\n"), 0o644)
	runID := submit(t, url, "-i", f.InventoryINI(t), pb)
	code, _, errOut := gorunCmd(t, nil, "wait", "-q", "--nats", url, runID)
	returned := time.Now()
	if code != 0 {
		t.Fatalf("wait: exit %d: %s", code, errOut)
	}
	_, rs := client(t, url)
	e, err := rs.Get(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	lat := returned.Sub(e.Run.Ended)
	t.Logf("gorun wait returned %v after the run's end was recorded (including the process exit)", lat.Round(time.Millisecond))
	if lat < 0 || lat > 2*time.Second {
		t.Errorf("gorun wait returned %v after the run ended", lat)
	}
}

func TestCancelRun(t *testing.T) {
	nenv := natstest.Start(t)
	url := nenv.Server.ClientURL()
	services(t, url, 1, 4)
	f := sshtest.Start(t, 2)
	dir := t.TempDir()
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte(`
- hosts: targets
  gather_facts: false
  tasks:
    - shell: echo $$ > `+dir+`/pid-{{ inventory_hostname }}; sleep 60
      async: 120
      poll: 5
`), 0o644)
	runID := submit(t, url, "-i", f.InventoryINI(t), pb)
	st, _ := client(t, url)
	eventually(t, "both jobs running on their targets", 20*time.Second, func() bool {
		n := 0
		for _, r := range records(t, st, runID) {
			if r.State == job.StateRunning && r.Remote != nil {
				n++
			}
		}
		return n == 2
	})
	code, out, errOut := gorunCmd(t, nil, "cancel", "--nats", url, runID)
	if code != 0 {
		t.Fatalf("cancel: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, _ = gorunCmd(t, nil, "wait", "-q", "--timeout", "30s", "--nats", url, runID)
	if code != 99 {
		t.Errorf("wait on a cancelled run: exit %d, want 99", code)
	}
	for _, r := range records(t, st, runID) {
		if r.State != job.StateCancelled {
			t.Errorf("job %s on %s is %s, want cancelled", r.JID, r.Host, r.State)
		}
	}
	for _, h := range f.Hosts {
		pid := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(dir, "pid-"+h.Name)))))
		eventually(t, "the job's shell to be gone", 10*time.Second, func() bool {
			_, err := os.Stat("/proc/" + pid)
			return err != nil
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// gorun submit of a 100-host playbook returns its run id at once (the
// dispatcher does the work).
func TestSubmitHundredHosts(t *testing.T) {
	nenv := natstest.Start(t)
	url := nenv.Server.ClientURL()
	services(t, url, 1, 4)
	dir := t.TempDir()
	var inv strings.Builder
	inv.WriteString("[fleet]\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&inv, "web%03d ansible_host=127.0.0.1 ansible_port=1\n", i)
	}
	invPath := filepath.Join(dir, "hosts.ini")
	os.WriteFile(invPath, []byte(inv.String()), 0o644)
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte("- hosts: fleet\n  gather_facts: false\n  tasks:\n    - command: sleep 600\n      async: 900\n      poll: 0\n"), 0o644)
	var times []time.Duration
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		runID := submit(t, url, "-i", invPath, pb)
		times = append(times, time.Since(t0))
		gorunCmd(t, nil, "cancel", "--nats", url, runID)
	}
	t.Logf("gorun submit of a 100-host playbook (whole process, incl. start-up): %v", times)
	for _, d := range times {
		if d > 5*time.Second {
			t.Errorf("gorun submit took %v", d)
		}
	}
}
