package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/sshtest"
)

// rounds is how many times each fault is injected.
const rounds = 5

// kill -9 of the executor that runs a 5 s async job: another executor
// re-attaches to the job through its directory on the target; the job ends
// once, with its real rc and output, launched exactly once.
func TestKillExecutorDuringAsyncJob(t *testing.T) {
	url := natstest.StartCluster(t, 3).URLs()
	ps := clusterServices(t, url, 2, 4)
	f := sshtest.Start(t, 1)
	inv := f.InventoryINI(t)
	st, _ := client(t, url)
	var reattached int
	for round := 1; round <= rounds; round++ {
		dir := t.TempDir()
		marker := filepath.Join(dir, "launches")
		pb := filepath.Join(dir, "p.yml")
		os.WriteFile(pb, []byte(`
- hosts: targets
  gather_facts: false
  tasks:
    - shell: echo launched >> `+marker+`; sleep 5; echo "done $((40 + 2))"; exit 3
      async: 60
      poll: 1
      ignore_errors: true
      register: r
    - assert:
        that:
          - r.rc == 3
          - r.stdout == "done 42"
`), 0o644)
		runID := submit(t, url, "-i", inv, pb)
		var holder string
		eventually(t, "the async job to run on its target", 20*time.Second, func() bool {
			for _, r := range records(t, st, runID) {
				if r.Async > 0 && r.State == job.StateRunning && r.Remote != nil {
					holder = r.Executor
					return true
				}
			}
			return false
		})
		ps[holder].kill()
		code, out, _ := gorunCmd(t, nil, "wait", "--timeout", "60s", "--nats", url, runID)
		if code != 0 {
			t.Fatalf("round %d: wait: exit %d\n%s", round, code, out)
		}
		var asyncRec *job.Record
		for _, r := range records(t, st, runID) {
			if r.Async > 0 {
				asyncRec = r
			}
		}
		if asyncRec.State != job.StateFailed || asyncRec.RC == nil || *asyncRec.RC != 3 || asyncRec.Stdout != "done 42" {
			t.Fatalf("round %d: record %+v", round, asyncRec)
		}
		if asyncRec.Executor == holder {
			t.Fatalf("round %d: the killed executor %s recorded the end", round, holder)
		}
		if n := len(lines(marker)); n != 1 {
			t.Fatalf("round %d: the job was launched %d times", round, n)
		}
		reattached++
		// bring the killed executor back for the next round
		ps[holder] = start(t, "executor", "--nats", url, "--replicas", "3", "--forks", "4", "--id", holder, "--ack-wait", "3s", "--log-level", "debug")
	}
	t.Logf("executor kill -9 during an async job: %d rounds, %d re-attached, 0 lost, 0 launched twice", rounds, reattached)
}

// kill -9 of the dispatcher mid-run: a restarted dispatcher resumes the run
// from its records; no task is run again.
func TestKillDispatcherMidRun(t *testing.T) {
	url := natstest.StartCluster(t, 3).URLs()
	ps := clusterServices(t, url, 1, 4)
	f := sshtest.Start(t, 2)
	inv := f.InventoryINI(t)
	st, rs := client(t, url)
	for round := 1; round <= rounds; round++ {
		dir := t.TempDir()
		pb := filepath.Join(dir, "p.yml")
		os.WriteFile(pb, []byte(fmt.Sprintf(`
- hosts: targets
  gather_facts: false
  tasks:
    - shell: echo t1 >> %[1]s/t1-{{ inventory_hostname }}
    - shell: echo t2 >> %[1]s/t2-{{ inventory_hostname }}; sleep 3
    - shell: echo t3 >> %[1]s/t3-{{ inventory_hostname }}
      register: third
    - assert:
        that: third.rc == 0
`, dir)), 0o644)
		runID := submit(t, url, "-i", inv, pb)
		eventually(t, "the second task to start", 20*time.Second, func() bool {
			_, err := os.Stat(filepath.Join(dir, "t2-"+f.Hosts[0].Name))
			return err == nil
		})
		ps["dispatcher"].kill()
		ps["dispatcher"] = start(t, "dispatcher", "--nats", url, "--replicas", "3", "--id", fmt.Sprintf("d%d", round+1), "--ack-wait", "3s", "--log-level", "debug")
		code, out, _ := gorunCmd(t, nil, "wait", "-q", "--timeout", "60s", "--nats", url, runID)
		if code != 0 {
			t.Fatalf("round %d: wait: exit %d\n%s", round, code, out)
		}
		for _, h := range f.Hosts {
			for _, task := range []string{"t1", "t2", "t3"} {
				if n := len(lines(filepath.Join(dir, task+"-"+h.Name))); n != 1 {
					t.Fatalf("round %d: %s ran %d times on %s", round, task, n, h.Name)
				}
			}
		}
		e, err := rs.Get(t.Context(), runID)
		if err != nil || e.Run.Attempt < 2 || e.Run.State != job.RunFinished {
			t.Fatalf("round %d: run record %+v %v", round, e.Run, err)
		}
		for _, r := range records(t, st, runID) {
			if !r.State.Terminal() {
				t.Fatalf("round %d: job %s is %s", round, r.JID, r.State)
			}
		}
	}
	t.Logf("dispatcher kill -9 mid-run: %d rounds resumed, 0 tasks re-run", rounds)
}

// lock: serialises two fire-and-forget jobs on one host across two runs;
// the lock is freed when its holder's executor is killed.
func TestLockAcrossRuns(t *testing.T) {
	url := natstest.StartCluster(t, 3).URLs()
	ps := clusterServices(t, url, 2, 4)
	f := sshtest.Start(t, 1)
	inv := f.InventoryINI(t)
	st, _ := client(t, url)
	dir := t.TempDir()
	log := filepath.Join(dir, "intervals")
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte(`
- hosts: targets
  gather_facts: false
  tasks:
    - shell: echo "start $(date +%s.%N)" >> `+log+`; sleep 2; echo "end $(date +%s.%N)" >> `+log+`
      async: 60
      poll: 0
      lock: packages
      register: j
    - async_status: jid={{ j.ansible_job_id }}
      register: s
      until: s is finished
      retries: 30
      delay: 1
`), 0o644)
	a := submit(t, url, "-i", inv, pb)
	b := submit(t, url, "-i", inv, pb)
	for _, id := range []string{a, b} {
		if code, out, _ := gorunCmd(t, nil, "wait", "-q", "--timeout", "60s", "--nats", url, id); code != 0 {
			t.Fatalf("wait %s: exit %d\n%s", id, code, out)
		}
	}
	ev := lines(log)
	// start t end t start t end t: the intervals must not overlap
	if len(ev) != 8 || ev[0] != "start" || ev[2] != "end" || ev[4] != "start" || ev[6] != "end" || ev[5] < ev[3] {
		t.Fatalf("the two locked jobs overlapped: %v", ev)
	}

	// the holder's executor is killed: its job is re-attached and ends,
	// and the lock goes to the next job
	os.Remove(log)
	a = submit(t, url, "-i", inv, pb)
	var holder string
	eventually(t, "the locked job to run", 20*time.Second, func() bool {
		for _, r := range records(t, st, a) {
			if r.Async > 0 && r.State == job.StateRunning && r.Remote != nil {
				holder = r.Executor
				return true
			}
		}
		return false
	})
	b = submit(t, url, "-i", inv, pb)
	ps[holder].kill()
	for _, id := range []string{a, b} {
		if code, out, _ := gorunCmd(t, nil, "wait", "-q", "--timeout", "90s", "--nats", url, id); code != 0 {
			t.Fatalf("wait %s after killing the lock holder: exit %d\n%s", id, code, out)
		}
	}
	ev = lines(log)
	if len(ev) != 8 || ev[0] != "start" || ev[2] != "end" || ev[4] != "start" || ev[6] != "end" || ev[5] < ev[3] {
		t.Fatalf("after the holder was killed, the locked jobs overlapped or did not run: %v", ev)
	}
}
