package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/broker"
	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/runs"
	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// secretsPlaybook plants {{ planted }} (an extra var) in the command, the
// environment, the output (both streams) and the registered values of
// no_log tasks of every kind, then uses the registered values in when and
// failed_when of tasks that are not no_log: they pass only if the
// dispatcher sees the real results.
const secretsPlaybook = `
- hosts: targets
  gather_facts: false
  tasks:
    - name: sync, output on both streams
      shell: echo {{ planted }}; echo {{ planted }}-err >&2
      no_log: true
      register: sync_out
    - name: failed, ignored
      shell: echo $PLANTED_ENV; exit 3
      environment:
        PLANTED_ENV: "{{ planted }}"
      no_log: true
      ignore_errors: true
      register: failed_out
    - name: loop
      command: echo {{ item }}
      loop: ["{{ planted }}", other]
      no_log: true
      register: loop_out
    - name: polled async
      shell: sleep 1; echo {{ planted }}
      async: 30
      poll: 1
      no_log: true
      register: polled_out
    - name: fire and forget
      shell: echo {{ planted }}
      async: 30
      poll: 0
      no_log: true
      register: fired
    - name: status of the fired job
      async_status:
        jid: "{{ fired.ansible_job_id }}"
      register: fired_out
      until: fired_out is finished
      retries: 30
      delay: 1
    - name: debug
      debug:
        msg: "{{ planted }}"
      no_log: true
    - name: set_fact
      set_fact:
        copied: "{{ planted }}"
      no_log: true
    - name: registered values are real (when)
      command: "true"
      when: sync_out.stdout == planted
      register: used
    - name: registered values are real (failed_when)
      command: "true"
      failed_when: >-
        sync_out.stderr != planted ~ '-err' or failed_out.rc != 3 or failed_out.stdout != planted
        or loop_out.results[0].stdout != planted or polled_out.stdout != planted
        or fired_out.stdout != planted or copied != planted or used is skipped
`

// becomeTasks sudo with the -K answer (the login user is the sudoer).
const becomeTasks = `
    - name: become with a password
      command: id -un
      become: true
      register: who
      failed_when: who.stdout != "root"
`

// secretsJSON is what --json shows of each task, as ansible-playbook's
// json callback (checked against ansible-core 2.14) does for no_log
// results; "ignored" is gorun's addition to ignored failures, and the
// async_status of a no_log job is censored too (Ansible shows it).
var secretsJSON = map[string]map[string]any{
	"sync, output on both streams": {"censored": job.Censored, "changed": true, "action": "shell"},
	"failed, ignored":              {"censored": job.Censored, "changed": true, "failed": true, "ignored": true, "action": "shell"},
	"loop":                         {"censored": job.Censored, "changed": true, "action": "command"},
	"polled async":                 {"censored": job.Censored, "changed": true, "action": "shell"},
	"fire and forget":              {"censored": job.Censored, "changed": true, "action": "shell"},
	"status of the fired job":      {"censored": job.Censored, "changed": true, "action": "async_status"},
	"debug":                        {"censored": job.Censored, "changed": false, "action": "debug"},
	"set_fact":                     {"censored": job.Censored, "changed": false, "action": "set_fact"},
}

// sinks collects everything gorun wrote somewhere, by name.
type sinks struct {
	mu  sync.Mutex
	all map[string]string
}

func (s *sinks) add(name, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.all == nil {
		s.all = map[string]string{}
	}
	s.all[name] += content
}

func (s *sinks) addResult(name string, r result) {
	s.add(name+" stdout", r.stdout)
	s.add(name+" stderr", r.stderr)
}

// check fails the test for every sink that holds a planted value.
func (s *sinks) check(t *testing.T, planted map[string]string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.all))
	for n := range s.all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		content := s.all[n]
		for what, v := range planted {
			if i := strings.Index(content, v); i >= 0 {
				t.Errorf("%s shows the %s: ...%s...", n, what, content[max(0, i-300):min(len(content), i+len(v)+100)])
			}
		}
	}
	t.Logf("%d sinks checked for %d planted values", len(names), len(planted))
}

// lockedBuffer is a log destination shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func randomHex(t *testing.T) string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// bucketContents returns every value of a KV bucket, raw, by key.
func bucketContents(t *testing.T, c *queue.Conn, bucket string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := c.JetStream().KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("bucket %s: %v", bucket, err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil && !strings.Contains(err.Error(), "no keys found") {
		t.Fatalf("bucket %s: %v", bucket, err)
	}
	out := map[string]string{}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatalf("bucket %s key %s: %v", bucket, k, err)
		}
		out[k] = string(e.Value())
	}
	return out
}

// addBuckets adds the job and run records to the sinks, and returns the
// job records of no_log jobs.
func addBuckets(t *testing.T, s *sinks, name string, c *queue.Conn) []*job.Record {
	t.Helper()
	var noLog []*job.Record
	for k, v := range bucketContents(t, c, status.DefaultBucket) {
		s.add(name+" job record "+k, v)
		r, err := status.Decode([]byte(v))
		if err != nil {
			t.Fatalf("job record %s: %v", k, err)
		}
		if r.NoLog {
			noLog = append(noLog, r)
			if r.State.Terminal() && r.Result["censored"] != job.Censored {
				t.Errorf("%s: no_log record %s (%s) is not censored: %s", name, k, r.Task, v)
			}
		}
	}
	if len(noLog) == 0 {
		t.Fatalf("%s: no no_log job records", name)
	}
	for k, v := range bucketContents(t, c, status.RunsBucket) {
		s.add(name+" run record "+k, v)
	}
	return noLog
}

// viewJobs adds what gorun status and gorun jobs show of the jobs.
func viewJobs(t *testing.T, s *sinks, name, state string, env map[string]string, recs []*job.Record) {
	t.Helper()
	r := gorun(t, state, env, "jobs", "--json")
	if r.code != 0 {
		t.Fatalf("%s: gorun jobs: exit %d\n%s", name, r.code, r.stderr)
	}
	s.addResult(name+" gorun jobs --json", r)
	s.addResult(name+" gorun jobs", gorun(t, state, env, "jobs"))
	for _, rec := range recs {
		r := gorun(t, state, env, "status", "--json", rec.JID)
		if r.code != 0 {
			t.Fatalf("%s: gorun status %s: exit %d\n%s", name, rec.JID, r.code, r.stderr)
		}
		var shown job.Record
		if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
			t.Fatalf("gorun status --json: %v\n%s", err, r.stdout)
		}
		if shown.Result["censored"] != job.Censored || shown.Sealed != nil {
			t.Errorf("%s: gorun status --json %s (%s): %s", name, rec.JID, rec.Task, r.stdout)
		}
		s.addResult(name+" gorun status --json "+rec.JID, r)
		s.addResult(name+" gorun status "+rec.JID, gorun(t, state, env, "status", rec.JID))
	}
}

// TestPlantedSecretsNeverLeak runs no_log tasks of every kind holding a
// planted secret, with a become password (-K), a private key file and a
// NATS token, through the real parts (real sshd, embedded and external
// NATS, an executor and a dispatcher service), and greps every sink for
// them: console output at -vvvv, --json output, the records of the job
// and run buckets (raw), the run's log, gorun status/jobs/wait, and the
// debug logs of the CLI, the executor and the dispatcher service. The
// playbook passes only if the dispatcher still sees the real results.
func TestPlantedSecretsNeverLeak(t *testing.T) {
	planted := map[string]string{"planted secret": "gorun-planted-" + randomHex(t)}
	pbText := secretsPlaybook
	f := sshtest.Start(t, 1)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	var stdin string
	var becomeArgs []string
	if os.Geteuid() == 0 {
		testUsers(t)
		h := f.Hosts[0]
		inv = writeFile(t, dir, "inv.ini", "[targets]\n"+h.Name+" ansible_host="+h.Addr+" ansible_port="+itoa(h.Port)+
			" ansible_user="+sudoerUser+" ansible_ssh_private_key_file="+f.ClientKey+
			"\n[targets:vars]\nansible_ssh_common_args='-o UserKnownHostsFile="+f.KnownHosts+" -o StrictHostKeyChecking=yes'\n")
		pbText += becomeTasks
		stdin, becomeArgs = sudoerPasswd+"\n", []string{"-K"}
		planted["become password"] = sudoerPasswd
	} else {
		t.Log("not root: no become task (the become password is not planted)")
	}
	key, err := os.ReadFile(f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(key)), "\n"); len(lines) > 2 {
		planted["private key"] = lines[1]
	}
	pb := writeFile(t, dir, "secrets.yml", pbText)
	args := func(extra ...string) []string {
		a := append([]string{"playbook", "-vvvv", "-i", inv, "-e", "planted=" + planted["planted secret"]}, becomeArgs...)
		return append(append(a, extra...), pb)
	}
	var s sinks

	t.Run("embedded", func(t *testing.T) {
		state := filepath.Join(dir, "state")
		r := gorunIn(t, state, nil, stdin, args()...)
		s.addResult("embedded playbook", r)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, job.Censored) || !strings.Contains(r.stdout, "ASYNC OK on "+f.Hosts[0].Name+": jid=None") {
			t.Errorf("no_log results not shown censored:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "level=DEBUG") {
			t.Errorf("no debug logs at -vvvv:\n%s", r.stderr)
		}
		ctx := context.Background()
		node := startState(t, ctx, state)
		recs := addBuckets(t, &s, "embedded", node.Conn)
		node.Close(ctx)
		viewJobs(t, &s, "embedded", state, nil, recs)
	})

	t.Run("external", func(t *testing.T) {
		token := "natstoken-" + randomHex(t)
		planted["NATS token"] = token
		url, conn, logs := startTokenServer(t, token)
		envs := map[string]string{"NATS_URL": url}
		state := filepath.Join(dir, "state-ext")

		r := gorunIn(t, state, envs, stdin, args("--json")...)
		s.addResult("--json playbook", r)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		checkSecretsJSON(t, r.stdout, f.Hosts[0].Name)

		sub := gorunIn(t, state, envs, stdin, append([]string{"submit"}, args()[1:]...)...)
		s.addResult("gorun submit", sub)
		runID := strings.TrimSpace(sub.stdout)
		if sub.code != 0 || !isRunID(runID) {
			t.Fatalf("submit: exit %d\n%s\n%s", sub.code, sub.stdout, sub.stderr)
		}
		w := gorun(t, state, envs, "wait", runID)
		s.addResult("gorun wait (the run's log)", w)
		if w.code != 0 || !strings.Contains(w.stdout, job.Censored) {
			t.Fatalf("the submitted run: exit %d\n%s\n%s", w.code, w.stdout, w.stderr)
		}
		s.addResult("gorun status run", gorun(t, state, envs, "status", "--json", runID))

		recs := addBuckets(t, &s, "external", conn)
		viewJobs(t, &s, "external", state, envs, recs)

		// a server that is not there: the error names the URL without its token
		bad := gorun(t, state, map[string]string{"NATS_URL": "nats://" + token + "@127.0.0.1:1"}, "jobs")
		s.addResult("connection error", bad)
		if bad.code == 0 || !strings.Contains(bad.stderr, "***@") {
			t.Errorf("connecting to a server that is not there: exit %d\n%s", bad.code, bad.stderr)
		}
		s.add("executor and dispatcher service logs", logs.String())
		if !strings.Contains(logs.String(), "level=DEBUG") {
			t.Error("no debug logs from the services")
		}
	})
	s.check(t, planted)
}

// checkSecretsJSON checks the --json document's no_log results.
func checkSecretsJSON(t *testing.T, out, host string) {
	t.Helper()
	var doc struct {
		Plays []struct {
			Tasks []struct {
				Task  struct{ Name string }
				Hosts map[string]map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	seen := 0
	for _, task := range doc.Plays[0].Tasks {
		want, ok := secretsJSON[task.Task.Name]
		if !ok {
			continue
		}
		seen++
		got := task.Hosts[host]
		delete(got, "attempts") // as many as it took
		if !reflect.DeepEqual(got, want) {
			t.Errorf("--json task %q: %v, want %v", task.Task.Name, got, want)
		}
	}
	if seen != len(secretsJSON) {
		t.Errorf("--json shows %d of the %d no_log tasks", seen, len(secretsJSON))
	}
}

// startTokenServer starts a NATS server that wants a token, with an
// executor and a dispatcher service on it logging at debug level; it
// returns the URL with the token (as a user would give it), a connection
// of the test's own, and the services' logs.
func startTokenServer(t *testing.T, token string) (string, *queue.Conn, *lockedBuffer) {
	t.Helper()
	srv, err := broker.Start(broker.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &lockedBuffer{}
	log := debugLogger(logs)
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: srv.ClientURL(), Token: token, Logger: log, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	q, err := queue.Open(ctx, conn, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := status.Open(ctx, conn.JetStream(), status.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	reg, err := status.OpenRegistry(ctx, conn.JetStream(), status.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := status.OpenRuns(ctx, conn.JetStream(), status.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rq, err := queue.OpenRuns(ctx, conn, queue.RunsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := connection.NewPool(connection.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	ex, err := executor.New(executor.Config{ID: "secrets-executor", Forks: 4, Logger: log, Registry: reg}, q, st, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := runs.NewService(runs.ServiceConfig{ID: "secrets-dispatcher", WorkDir: t.TempDir(), Logger: log}, rq, q, st, rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = svc.Stop(sctx)
		_ = ex.Stop(sctx)
	})
	url := fmt.Sprintf("nats://%s@%s", token, strings.TrimPrefix(srv.ClientURL(), "nats://"))
	return url, conn, logs
}
