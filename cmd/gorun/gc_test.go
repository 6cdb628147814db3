package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// onStore runs fn on the job records of a state directory.
func onStore(t *testing.T, state string, fn func(ctx context.Context, st *status.Store)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := startState(t, ctx, state)
	defer node.Close(ctx)
	fn(ctx, node.Store)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// processGone reports whether pid no longer runs (gone, or a zombie).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndex(s, ") ")
	return i >= 0 && strings.HasPrefix(s[i+2:], "Z")
}

func expectGC(t *testing.T, r result, code int, want, notWant []string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("gorun gc: exit %d, want %d\n%s\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("gorun gc output lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range notWant {
		if strings.Contains(r.stdout, w) {
			t.Errorf("gorun gc output has %q:\n%s", w, r.stdout)
		}
	}
}

// gorun gc on a real sshd host: it removes the directories of jobs whose
// record is gone (once older than the retention), erased or ended before
// --older-than, keeps a running job's, touches nothing with --dry-run nor
// anything that is not a job directory, and deletes the records it passed.
func TestGCRemovesEndedJobsDirectories(t *testing.T) {
	f := sshtest.Start(t, 1)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	async := filepath.Join(dir, "async")
	inv := f.InventoryINI(t, "ansible_async_dir="+async)
	pb := writeFile(t, dir, "p.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - {name: gone, command: "true", async: 30, poll: 0}
    - {name: old, command: "true", async: 30, poll: 0}
    - {name: long, command: "sleep 60", async: 120, poll: 0}
`)
	ids := playbookJobIDs(t, state, nil, inv, pb, 3)
	gone, old, long := ids[0], ids[1], ids[2]
	if w := gorun(t, state, nil, "wait", "--timeout", "60s", gone, old); w.code != 0 {
		t.Fatalf("wait: exit %d\n%s\n%s", w.code, w.stdout, w.stderr)
	}
	goneDir, oldDir, longDir := filepath.Join(async, gone), filepath.Join(async, old), filepath.Join(async, long)
	// the record of "gone" expired long ago (as the retention would have it)
	onStore(t, state, func(ctx context.Context, st *status.Store) {
		if err := st.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
	})
	longAgo := time.Now().Add(-200 * time.Hour)
	if err := os.Chtimes(goneDir, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	// what gc must leave alone: Ansible's results file, a directory that is
	// no job's, and a recent directory without a record (another gorun's?)
	writeFile(t, async, "j111.222", "{}")
	for _, d := range []string{"notajob", "j333.444"} {
		if err := os.Mkdir(filepath.Join(async, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	h := f.Hosts[0].Name
	all := []string{goneDir, oldDir, longDir, filepath.Join(async, "j111.222"), filepath.Join(async, "notajob"), filepath.Join(async, "j333.444")}

	// --dry-run says what would go, removes nothing
	r := gorun(t, state, nil, "gc", "-i", inv, "--dry-run")
	expectGC(t, r, 0,
		[]string{h + ": would remove " + goneDir + " (no job record; changed 200h", h + ": kept " + longDir + " (running, pid ",
			h + ": would delete 0 job records", "gc: would remove 1 job directories and 0 job records on 1 hosts (older than 168h0m0s)"},
		[]string{oldDir, "j333.444"})
	for _, p := range all {
		if !exists(p) {
			t.Fatalf("--dry-run removed %s", p)
		}
	}

	// with the default horizon (the retention, 7 days): only the job whose
	// record is gone and whose directory is older than that
	r = gorun(t, state, nil, "gc", "-i", inv)
	expectGC(t, r, 0,
		[]string{h + ": removed " + goneDir + " (no job record", h + ": kept " + longDir + " (running, pid ",
			"gc: removed 1 job directories and 0 job records on 1 hosts"},
		[]string{oldDir, "j333.444"})
	if exists(goneDir) {
		t.Fatalf("%s not removed", goneDir)
	}
	for _, p := range all[1:] {
		if !exists(p) {
			t.Fatalf("gc removed %s", p)
		}
	}

	// --older-than 0s: every ended job, and its record
	r = gorun(t, state, nil, "gc", "-i", inv, "--older-than", "0s")
	expectGC(t, r, 0,
		[]string{h + ": removed " + oldDir + " (finished ", h + ": removed " + filepath.Join(async, "j333.444") + " (no job record",
			h + ": kept " + longDir + " (running, pid ", "gc: removed 2 job directories and "},
		nil)
	if exists(oldDir) || !exists(longDir) {
		t.Fatalf("after gc --older-than 0s: %s exists %v, %s exists %v", oldDir, exists(oldDir), longDir, exists(longDir))
	}
	for _, p := range all[3:5] {
		if !exists(p) {
			t.Fatalf("gc removed %s", p)
		}
	}
	if s := gorun(t, state, nil, "status", old); s.code != 1 || !strings.Contains(s.stderr, "could not find job "+old) {
		t.Fatalf("record of %s after gc: exit %d\n%s%s", old, s.code, s.stdout, s.stderr)
	}
	if rec := statusOf(t, state, long); rec.State != job.StateRunning {
		t.Fatalf("running job's record after gc: %+v", rec)
	}

	// once the long job is cancelled and its process gone, its directory goes too
	pidText, err := os.ReadFile(filepath.Join(longDir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if c := gorun(t, state, nil, "cancel", long); c.code != 0 {
		t.Fatalf("cancel: exit %d\n%s\n%s", c.code, c.stdout, c.stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("job process %d still runs after cancel", pid)
		}
		time.Sleep(50 * time.Millisecond) // polling the process table
	}
	r = gorun(t, state, nil, "gc", "-i", inv, "--older-than", "0s")
	expectGC(t, r, 0, []string{h + ": removed " + longDir + " (cancelled ", "gc: removed 1 job directories and "}, []string{"kept"})
	if exists(longDir) {
		t.Fatalf("%s not removed", longDir)
	}
	for _, p := range all[3:5] {
		if !exists(p) {
			t.Fatalf("gc removed %s", p)
		}
	}
}

// Records really expire after the retention gorun is given (an embedded
// state directory with GORUN_RETENTION=2s); gorun gc then removes the
// directory of the expired job, a host gc cannot reach makes it exit 4, and
// gorun jobs never shows an erased record or a record half while they
// expire.
func TestRetentionExpiresRecordsAndGCRemovesTheirDirectories(t *testing.T) {
	f := sshtest.Start(t, 2)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	async := filepath.Join(dir, "async")
	inv := f.InventoryINI(t, "ansible_async_dir="+async)
	env := map[string]string{"GORUN_RETENTION": "2s"}
	pb := writeFile(t, dir, "p.yml", `
- hosts: h01
  gather_facts: false
  tasks:
    - {command: "true", async: 30, poll: 1}
`)
	ids := playbookJobIDs(t, state, env, inv, pb, 1)
	jid := ids[0]
	// a polled job's directory is removed when it is reported: put one back,
	// as a job whose end went unreported would leave it
	jobDir := filepath.Join(async, jid)
	if err := os.MkdirAll(jobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, jobDir, "rc", "0\n")
	start := time.Now()

	// some records, one of them erased by async_status cleanup
	onStore(t, state, func(ctx context.Context, st *status.Store) {
		for i := range 20 {
			rec := &job.Record{JID: "j5." + strconv.Itoa(i), RunID: "r20261128T120000-000009", Host: "h01", Task: "t",
				Module: "command", State: job.StateFinished, Queued: time.Now(), Started: time.Now(), Ended: time.Now()}
			if i == 3 {
				rec.Erased = time.Now()
			}
			if _, err := st.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	})
	polls, listed := 0, 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := gorun(t, state, env, "jobs")
		if r.code != 0 {
			t.Fatalf("gorun jobs: exit %d\n%s", r.code, r.stderr)
		}
		polls++
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "JID ") {
			t.Fatalf("gorun jobs header:\n%s", r.stdout)
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) < 6 || !job.ValidID(f[0]) || !job.State(f[3]).Valid() {
				t.Fatalf("gorun jobs row %q is not a whole record:\n%s", l, r.stdout)
			}
			if f[0] == "j5.3" {
				t.Fatalf("gorun jobs shows the erased record:\n%s", r.stdout)
			}
		}
		listed += len(lines) - 1
		if len(lines) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records still listed %s after they were written, retention 2s:\n%s", time.Since(start), r.stdout)
		}
		time.Sleep(100 * time.Millisecond) // between polls
	}
	if listed == 0 {
		t.Fatal("gorun jobs never listed the records")
	}
	if s := gorun(t, state, env, "status", jid); s.code != 1 || !strings.Contains(s.stderr, "could not find job") {
		t.Fatalf("status of an expired job: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	var js []any
	if r := gorun(t, state, env, "jobs", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &js) != nil || len(js) != 0 {
		t.Fatalf("gorun jobs --json after expiry: exit %d\n%s", r.code, r.stdout)
	}

	// gc's horizon is the retention: the expired job's directory goes
	f.Stop(1)
	r := gorun(t, state, env, "gc", "-i", inv)
	expectGC(t, r, 4, []string{"h01: removed " + jobDir + " (no job record", "h02: UNREACHABLE! ", "(older than 2s)"}, nil)
	if exists(jobDir) {
		t.Fatalf("%s not removed", jobDir)
	}
	// only the reachable host: exit 0
	r = gorun(t, state, env, "gc", "-i", inv, "-l", "h01")
	expectGC(t, r, 0, []string{"gc: removed 0 job directories and 0 job records on 1 hosts (older than 2s)"}, []string{"h02"})
}

// The records gc deletes are those of the selected hosts that ended before
// the horizon: not running ones, not other hosts'.
func TestGCRecordsPastHorizon(t *testing.T) {
	nenv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := nenv.Store
	for _, tc := range []struct {
		jid   string
		host  string
		state job.State
	}{{"j1.1", "a", job.StateFinished}, {"j1.2", "a", job.StateRunning}, {"j1.3", "b", job.StateFailed}, {"j1.4", "a", job.StateTimeout}} {
		if _, err := st.Create(ctx, &job.Record{JID: tc.jid, RunID: "r", Host: tc.host, Task: "t", State: tc.state, Queued: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		olderThan time.Duration
		dryRun    bool
		deleted   int
		left      []string
	}{
		{"within the horizon", time.Hour, false, 0, []string{"j1.1", "j1.2", "j1.3", "j1.4"}},
		{"dry run", 0, true, 2, []string{"j1.1", "j1.2", "j1.3", "j1.4"}},
		{"past the horizon", 0, false, 2, []string{"j1.2", "j1.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gcRun{st: st, olderThan: tc.olderThan, dryRun: tc.dryRun, now: time.Now(), recs: map[string][]gcRecord{}}
			if err := st.Scan(ctx, status.Filter{}, func(l status.Listed) bool {
				if l.Record.Host == "a" {
					g.recs["a"] = append(g.recs["a"], newGCRecord(l))
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
			res := &gcResult{host: "a"}
			g.deleteRecords(ctx, res, map[string]bool{})
			if res.deleted != tc.deleted || res.failed {
				t.Fatalf("deleted %d (failed %v), want %d: %v", res.deleted, res.failed, tc.deleted, res.lines)
			}
			recs, err := st.List(ctx, status.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, r := range recs {
				left = append(left, r.JID)
			}
			if strings.Join(left, " ") != strings.Join(tc.left, " ") {
				t.Fatalf("records left: %v, want %v", left, tc.left)
			}
		})
	}
}

// --retention (or GORUN_RETENTION) sets the embedded buckets' retention,
// existing ones too; a bad value is an error naming the option.
func TestRetentionOption(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want time.Duration
		msg  string
	}{
		{"default", nil, []string{"jobs"}, 0, 7 * 24 * time.Hour, ""},
		{"flag updates the bucket", nil, []string{"jobs", "--retention", "90m"}, 0, 90 * time.Minute, ""},
		{"environment", map[string]string{"GORUN_RETENTION": "36h"}, []string{"jobs"}, 0, 36 * time.Hour, ""},
		{"flag over environment", map[string]string{"GORUN_RETENTION": "36h"}, []string{"jobs", "--retention=2h"}, 0, 2 * time.Hour, ""},
		{"without it, left as it is", nil, []string{"jobs"}, 0, 2 * time.Hour, ""},
		{"bad value", nil, []string{"jobs", "--retention", "7 days"}, 1, 2 * time.Hour, `ERROR! retention "7 days": want a duration of at least 1s`},
		{"too short", map[string]string{"GORUN_RETENTION": "10ms"}, []string{"jobs"}, 1, 2 * time.Hour, `ERROR! retention "10ms"`},
		{"server", nil, []string{"server", "--retention", "x"}, 2, 2 * time.Hour, `gorun server: error: argument --retention: retention "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gorun(t, state, tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			onStore(t, state, func(ctx context.Context, st *status.Store) {
				if d, err := st.Retention(ctx); err != nil || d != tc.want {
					t.Fatalf("bucket retention %v, %v; want %v", d, err, tc.want)
				}
			})
		})
	}
}
