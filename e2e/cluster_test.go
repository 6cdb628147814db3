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

// clusterServices starts a dispatcher and executors against a 3-node
// cluster with R3 assets.
func clusterServices(t *testing.T, urls string, executors, forks int) map[string]*proc {
	ps := map[string]*proc{}
	// the first service creates the R3 assets
	ps["dispatcher"] = start(t, "dispatcher", "--nats", urls, "--replicas", "3", "--id", "d1", "--ack-wait", "3s", "--log-level", "debug")
	waitReady(t, urls) // the dispatcher creates the R3 assets first
	for i := 1; i <= executors; i++ {
		id := fmt.Sprintf("ex%d", i)
		ps[id] = start(t, "executor", "--nats", urls, "--replicas", "3", "--forks", fmt.Sprint(forks), "--id", id,
			"--ack-wait", "3s", "--log-level", "debug")
	}
	waitReady(t, urls)
	return ps
}

const asyncFleetPlaybook = `
- hosts: targets
  gather_facts: false
  tasks:
    - shell: echo launched >> %[1]s/launch-{{ inventory_hostname }}; sleep 2; echo "ok {{ inventory_hostname }}"
      async: 60
      poll: 0
      register: job
    - async_status: jid={{ job.ansible_job_id }}
      register: st
      until: st is finished
      retries: 60
      delay: 1
    - assert:
        that: st.stdout == "ok " ~ inventory_hostname
`

// 3 executors (4 forks each) and a dispatcher on a 3-node cluster run a
// 30-host playbook of async jobs; every job ends once.
func TestClusterRunsThirtyHosts(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	urls := c.URLs()
	clusterServices(t, urls, 3, 4)
	f := sshtest.Start(t, 30)
	dir := t.TempDir()
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte(fmt.Sprintf(asyncFleetPlaybook, dir)), 0o644)
	runID := submit(t, urls, "-i", f.InventoryINI(t), "-f", "30", pb)
	code, out, _ := gorunCmd(t, nil, "wait", "-q", "--timeout", "180s", "--nats", urls, runID)
	if code != 0 {
		t.Fatalf("wait: exit %d\n%s", code, out)
	}
	checkRunOnce(t, urls, runID, dir, f)
}

// checkRunOnce: every job of the run is terminal, the async ones finished,
// each launched exactly once on its host.
func checkRunOnce(t *testing.T, urls, runID, dir string, f *sshtest.Fleet) {
	t.Helper()
	st, _ := client(t, urls)
	recs := records(t, st, runID)
	async := 0
	for _, r := range recs {
		if !r.State.Terminal() {
			t.Errorf("job %s on %s is %s", r.JID, r.Host, r.State)
		}
		if r.Async > 0 {
			async++
			if r.State != job.StateFinished {
				t.Errorf("async job %s on %s is %s: %s", r.JID, r.Host, r.State, r.Msg)
			}
		}
	}
	if async != len(f.Hosts) {
		t.Errorf("%d async jobs, want %d", async, len(f.Hosts))
	}
	for _, h := range f.Hosts {
		if n := len(lines(filepath.Join(dir, "launch-"+h.Name))); n != 1 {
			t.Errorf("%s: launched %d times", h.Name, n)
		}
	}
}

// One node of the cluster killed mid-run: the run completes, nothing lost.
func TestClusterNodeKilledMidRun(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	urls := c.URLs()
	clusterServices(t, urls, 2, 4)
	f := sshtest.Start(t, 6)
	inv := f.InventoryINI(t)
	for round := 1; round <= rounds; round++ {
		dir := t.TempDir()
		pb := filepath.Join(dir, "p.yml")
		os.WriteFile(pb, []byte(fmt.Sprintf(asyncFleetPlaybook, dir)), 0o644)
		runID := submit(t, urls, "-i", inv, "-f", "6", pb)
		victim := round % 3
		eventually(t, "jobs to be launched", 30*time.Second, func() bool {
			n := 0
			for _, h := range f.Hosts {
				n += len(lines(filepath.Join(dir, "launch-"+h.Name)))
			}
			return n > 0
		})
		c.Kill(victim)
		code, out, errOut := gorunCmd(t, nil, "wait", "-q", "--timeout", "180s", "--nats", urls, runID)
		if code != 0 {
			t.Fatalf("round %d (node %d killed): wait: exit %d\n%s\n%s", round, victim, code, out, errOut)
		}
		checkRunOnce(t, urls, runID, dir, f)
		c.Restart(t, victim)
		c.WaitHealthy(t)
	}
	t.Logf("NATS node kill -9 mid-run: %d rounds, all runs completed, 0 jobs lost or launched twice", rounds)
}
