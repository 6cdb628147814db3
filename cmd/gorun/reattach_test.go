package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// jobIDs returns the ansible_job_id values of a --json run's results.
// playbookJobIDs runs gorun playbook --json on pb (with state and env as
// gorun does) and returns its n async job ids; it fails unless the run
// exits 0 with n of them.
func playbookJobIDs(t *testing.T, state string, env map[string]string, inv, pb string, n int) []string {
	t.Helper()
	r := gorun(t, state, env, "playbook", "--json", "-i", inv, pb)
	if r.code != 0 {
		t.Fatalf("playbook: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	ids := jobIDs(t, r.stdout)
	if len(ids) != n {
		t.Fatalf("job ids: %v", ids)
	}
	return ids
}

func jobIDs(t *testing.T, out string) []string {
	t.Helper()
	var doc struct {
		Plays []struct {
			Tasks []struct {
				Hosts map[string]map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	var ids []string
	for _, p := range doc.Plays {
		for _, tk := range p.Tasks {
			for _, r := range tk.Hosts {
				if id, ok := r["ansible_job_id"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

func statusOf(t *testing.T, state, jid string) *job.Record {
	t.Helper()
	r := gorun(t, state, nil, "status", "--json", jid)
	if r.code != 0 {
		t.Fatalf("gorun status %s: exit %d\n%s", jid, r.code, r.stderr)
	}
	var rec job.Record
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return &rec
}

// A poll-0 job started by a gorun playbook that has exited is reported
// running, then finished with its rc and stdout, by a later gorun status,
// which re-attaches through the record's host and the job directory.
func TestStatusReattachesAfterPlaybookExit(t *testing.T) {
	f := sshtest.Start(t, 1)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	pb := writeFile(t, dir, "p.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - shell: sleep 3; echo done-$((6 * 7)); exit 3
      async: 60
      poll: 0
`)
	ids := playbookJobIDs(t, state, nil, f.InventoryINI(t), pb, 1)
	jid := ids[0]
	if rec := statusOf(t, state, jid); rec.State != job.StateRunning || rec.Remote == nil {
		t.Fatalf("right after the run: %+v", rec)
	}
	deadline := time.Now().Add(30 * time.Second)
	var rec *job.Record
	for {
		rec = statusOf(t, state, jid)
		if rec.State.Terminal() || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rec.State != job.StateFailed || rec.RC == nil || *rec.RC != 3 || rec.Stdout != "done-42" {
		t.Fatalf("after the job ended: %+v", rec)
	}
	// and the human form
	h := gorun(t, state, nil, "status", jid)
	if !strings.Contains(h.stdout, "state:     failed") || !strings.Contains(h.stdout, "done-42") {
		t.Errorf("gorun status:\n%s", h.stdout)
	}
	noneRunning(t, state)
}

// A later run's async_status finds a job an earlier run left running: the
// later run's executor picks up the job's message the earlier executor
// handed back and re-attaches to it.
func TestLaterRunAsyncStatusReattaches(t *testing.T) {
	f := sshtest.Start(t, 2)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	inv := f.InventoryINI(t)
	start := writeFile(t, dir, "start.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - shell: sleep 3; echo "from {{ inventory_hostname }}"
      async: 60
      poll: 0
`)
	ids := playbookJobIDs(t, state, nil, inv, start, 2)
	check := writeFile(t, dir, "check.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - async_status:
        jid: "{{ jids[inventory_hostname] }}"
      register: st
      until: st is finished
      retries: 30
      delay: 1
    - assert:
        that:
          - st.rc == 0
          - st.stdout == "from " ~ inventory_hostname
`)
	jids, _ := json.Marshal(map[string]any{"jids": map[string]string{}})
	m := map[string]string{}
	// ids come in host order of the JSON document's map: ask each record
	for _, id := range ids {
		m[statusOf(t, state, id).Host] = id
	}
	jids, _ = json.Marshal(map[string]any{"jids": m})
	r := gorun(t, state, nil, "playbook", "-i", inv, "-e", string(jids), check)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	noneRunning(t, state)
}

// noneRunning checks that no record in the state dir says running.
func noneRunning(t *testing.T, state string) {
	t.Helper()
	ctx := context.Background()
	node := startState(t, ctx, state)
	defer node.Close(ctx)
	recs, err := node.Store.List(ctx, status.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if !rec.State.Terminal() {
			t.Errorf("record %s (%s on %s) is still %s", rec.JID, rec.Task, rec.Host, rec.State)
		}
	}
}
