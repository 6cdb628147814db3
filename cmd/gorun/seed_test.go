package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorun/gorun/sshtest"
)

// The async guide's three examples, unchanged but for yum replaced by a
// command, on 10 hosts over SSH. The first (sleep 15, async 45, poll 5)
// ends when the job ends, not at the next poll tick (20 s, as Ansible).
const seedPlaybook = `
- hosts: targets
  gather_facts: false
  tasks:
    - name: Simulate long running op (15 sec), wait for up to 45 sec, poll every 5 sec
      ansible.builtin.command: /bin/sleep 15
      async: 45
      poll: 5

    - name: Simulate long running op, allow to run for 45 sec, fire and forget
      ansible.builtin.command: /bin/sleep 15
      async: 45
      poll: 0

    - name: Run an async task
      ansible.builtin.command: /bin/sleep 5
      async: 1000
      poll: 0
      register: yum_sleeper

    - name: Check on an async task
      async_status:
        jid: "{{ yum_sleeper.ansible_job_id }}"
      register: job_result
      until: job_result.finished
      retries: 100
      delay: 10
`

func TestSeedExamplesOnTenHosts(t *testing.T) {
	f := sshtest.Start(t, 10)
	dir := t.TempDir()
	pb := writeFile(t, dir, "seed.yml", seedPlaybook)
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", "--json", "-i", f.InventoryINI(t), "-f", "10", pb)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var doc struct {
		Plays []struct {
			Tasks []struct {
				Task struct {
					Name     string
					Duration struct{ Start, End string }
				}
				Hosts map[string]map[string]any
			}
		}
		Stats map[string]map[string]int
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	first := doc.Plays[0].Tasks[0]
	start, _ := time.Parse(time.RFC3339Nano, first.Task.Duration.Start)
	end, _ := time.Parse(time.RFC3339Nano, first.Task.Duration.End)
	took := end.Sub(start)
	t.Logf("sleep 15 / async 45 / poll 5 on 10 hosts: task took %.2f s (Ansible: 20 s, the next poll tick)", took.Seconds())
	if took < 15*time.Second || took >= 19*time.Second {
		t.Errorf("the polled task took %s; want the job's 15 s plus dispatch, well before the 20 s tick", took)
	}
	if len(first.Hosts) != 10 {
		t.Errorf("%d hosts", len(first.Hosts))
	}
	for h, res := range doc.Plays[0].Tasks[3].Hosts {
		if res["finished"] != float64(1) || res["rc"] != float64(0) {
			t.Errorf("%s: async_status result %v", h, res)
		}
	}
	for h, s := range doc.Stats {
		if s["ok"] != 4 || s["failures"] != 0 {
			t.Errorf("%s: stats %v", h, s)
		}
	}
}
