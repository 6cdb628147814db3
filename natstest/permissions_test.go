package natstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/runs"
	"github.com/gorun/gorun/status"
)

// deployDir holds the cluster configuration shipped with gorun;
// $GORUN_NATS_DEPLOY_DIR points the tests at another copy (to check that
// removing any one permission breaks them).
func deployDir() string {
	if d := os.Getenv("GORUN_NATS_DEPLOY_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "deploy", "nats")
}

// The roles of deploy/nats/auth.conf; "route" is the routes' secret.
var deployRoles = []string{"admin", "dispatcher", "executor", "client", "readonly"}

// deployCluster is a cluster started from deploy/nats with test secrets.
type deployCluster struct {
	*Cluster
	mu   sync.Mutex
	pass map[string]string // role -> password
	hash map[string]string // role -> bcrypt hash in the configuration
}

func secret(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func bcryptHash(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func readDeploy(t testing.TB, name string) string {
	data, err := os.ReadFile(filepath.Join(deployDir(), name))
	if err != nil {
		t.Fatalf("reading the deploy configuration: %v", err)
	}
	return string(data)
}

// replaceAll replaces old by new in s, failing the test when old is not
// there (the deploy files changed under the test).
func replaceAll(t testing.TB, s, old, new string) string {
	if !strings.Contains(s, old) {
		t.Fatalf("deploy/nats no longer contains %q: update permissions_test.go", old)
	}
	return strings.ReplaceAll(s, old, new)
}

// render turns deploy/nats/nats-<n>.conf into a configuration for node n
// of the test cluster: includes inlined, loopback ports, the test's store
// directory and secrets.
func (d *deployCluster) render(t testing.TB, n NodeInfo) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	text := readDeploy(t, fmt.Sprintf("nats-%d.conf", n.Index+1))
	text = replaceAll(t, text, "include ./cluster.conf", readDeploy(t, "cluster.conf"))
	text = replaceAll(t, text, "include ./auth.conf", readDeploy(t, "auth.conf"))
	text = replaceAll(t, text, "server_name: nats-"+strconv.Itoa(n.Index+1), "server_name: "+n.Name)
	text = replaceAll(t, text, "0.0.0.0:4222", fmt.Sprintf("127.0.0.1:%d", n.ClientPort))
	text = replaceAll(t, text, "127.0.0.1:8222", fmt.Sprintf("127.0.0.1:%d", n.HTTPPort))
	text = replaceAll(t, text, "0.0.0.0:6222", fmt.Sprintf("127.0.0.1:%d", n.ClusterPort))
	for i, r := range n.Routes {
		port := r[strings.LastIndex(r, ":")+1:]
		text = replaceAll(t, text, fmt.Sprintf("@nats-%d:6222", i+1), "@127.0.0.1:"+port)
	}
	text = replaceAll(t, text, `"/var/lib/gorun-nats"`, strconv.Quote(n.StoreDir))
	text = replaceAll(t, text, "max_file: 10GB", "max_file: 2GB")
	for role, h := range d.hash {
		text = replaceAll(t, text, "$2a$11$CHANGE-ME-bcrypt-of-"+role+"-password", h)
	}
	text = replaceAll(t, text, "CHANGE-ME-route-password", d.pass["route"])
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") && strings.Contains(line, "CHANGE-ME") {
			t.Fatalf("a placeholder is left in the rendered configuration: %s", line)
		}
	}
	return text
}

// startDeployCluster starts 3 nodes configured by deploy/nats.
func startDeployCluster(t *testing.T) *deployCluster {
	t.Helper()
	d := &deployCluster{pass: map[string]string{}, hash: map[string]string{}}
	for _, role := range append([]string{"route"}, deployRoles...) {
		d.pass[role] = secret(t)
		d.hash[role] = bcryptHash(t, d.pass[role])
	}
	d.Cluster = StartCluster(t, 3, WithNodeConfig(func(n NodeInfo) string { return d.render(t, n) }))
	return d
}

// asyncErrors collects the errors queue.Connect reports to its logger:
// a denied publish or subscription shows up only there.
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (h *asyncErrors) Enabled(context.Context, slog.Level) bool { return true }
func (h *asyncErrors) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *asyncErrors) WithGroup(string) slog.Handler            { return h }
func (h *asyncErrors) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.errs = append(h.errs, msg)
	h.mu.Unlock()
	return nil
}

func (h *asyncErrors) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errs...)
}

// role is a connection as one of the deploy users.
type role struct {
	name string
	conn *queue.Conn
	js   jetstream.JetStream
	errs *asyncErrors
}

func (d *deployCluster) connect(t *testing.T, name string) *role {
	t.Helper()
	errs := &asyncErrors{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: d.URLs(), Name: "test-" + name,
		User: name, Password: d.pass[name], Logger: slog.New(errs)})
	if err != nil {
		t.Fatalf("connecting as %s: %v", name, err)
	}
	t.Cleanup(conn.Close)
	return &role{name: name, conn: conn, js: conn.JetStream(), errs: errs}
}

// settle waits until the server has processed everything sent so far and
// its asynchronous answers (permission errors) have been handled.
func (r *role) settle(t *testing.T) {
	t.Helper()
	if err := r.js.Conn().FlushTimeout(2 * time.Second); err != nil {
		t.Fatalf("%s: flush: %v", r.name, err)
	}
	time.Sleep(100 * time.Millisecond)
}

// clean fails the test when the connection got any asynchronous error:
// every operation of the role must be allowed entirely.
func (r *role) clean(t *testing.T) {
	t.Helper()
	r.settle(t)
	if errs := r.errs.all(); len(errs) > 0 {
		t.Fatalf("%s: unexpected asynchronous errors (a missing permission?):\n%s", r.name, strings.Join(errs, "\n"))
	}
}

// violation waits for the permission error about subject.
func (r *role) violation(subject string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		for _, e := range r.errs.all() {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, `"`+subject+`"`) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no permission violation for %q; got %q", r.name, subject, r.errs.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// createAssets creates every stream, consumer and bucket as admin, R3, with
// the functions the services call: the same configurations as a dispatcher
// and an executor started once as admin (see deploy/nats/README.md). A
// fresh cluster may refuse an R3 placement for a moment (a peer not heard
// from yet) and creation is idempotent, so it is tried a few times.
func createAssets(t *testing.T, admin *role) {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 4; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = tryCreateAssets(ctx, admin)
		cancel()
		if err == nil {
			admin.clean(t)
			return
		}
		t.Logf("creating the assets, attempt %d: %v", attempt, err)
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("creating the assets: %v", err)
}

func tryCreateAssets(ctx context.Context, admin *role) error {
	js := admin.js
	// MaxDeliver 2 and AckWait 2 s: the test makes a dead letter quickly.
	q, err := queue.Open(ctx, admin.conn, queue.Config{Replicas: 3, MaxDeliver: 2, AckWait: 2 * time.Second})
	if err != nil {
		return err
	}
	if err := q.Consumer(ctx); err != nil {
		return err
	}
	st, err := status.Open(ctx, js, status.Config{Replicas: 3})
	if err != nil {
		return err
	}
	st.Close()
	if _, err := status.OpenRuns(ctx, js, status.Config{Replicas: 3}); err != nil {
		return err
	}
	if _, err := queue.OpenRuns(ctx, admin.conn, queue.RunsConfig{Replicas: 3}); err != nil {
		return err
	}
	if _, err := status.OpenLocks(ctx, js, status.LocksConfig{Replicas: 3}); err != nil {
		return err
	}
	if _, err := status.OpenRegistry(ctx, js, status.RegistryConfig{Replicas: 3}); err != nil {
		return err
	}
	for _, name := range []string{queue.DefaultStream, queue.RunsStream, queue.LogStream, "KV_" + status.DefaultBucket,
		"KV_" + status.RunsBucket, "KV_" + status.LocksBucket, "KV_" + status.ExecutorsBucket, "OBJ_" + queue.BundlesBucket} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("looking up %s: %w", name, err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			return fmt.Errorf("%s has %d replicas, want 3", name, r)
		}
	}
	return nil
}

// makeDeadLetter queues a job and has admin take its two deliveries
// without acking (what executors dying on it would do): its message stays
// in the stream, for the next executor's sweep.
func makeDeadLetter(t *testing.T, admin *role) string {
	t.Helper()
	ctx := ctxT(t, 15*time.Second)
	q, err := queue.Open(ctx, admin.conn, queue.Config{})
	must(t, "opening the task queue", err)
	st, err := status.Open(ctx, admin.js, status.Config{})
	must(t, "opening the job records", err)
	defer st.Close()
	j := testJob("dead-1")
	j.RunID = "run-dead"
	_, err = st.Create(ctx, job.NewRecord(j))
	must(t, "creating the dead job's record", err)
	must(t, "queueing the dead job", q.Publish(ctx, j))
	cons, err := admin.js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
	must(t, "binding the executors' consumer", err)
	for i := range 2 {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
		must(t, "taking a delivery", err)
		n := 0
		for m := range batch.Messages() {
			if i == 0 {
				must(t, "handing the delivery back", m.Nak())
			} // the last one times out (the ack wait)
			n++
		}
		if n != 1 {
			t.Fatalf("got %d deliveries of the dead job, want 1 (%v)", n, batch.Error())
		}
	}
	// The server gives up on the message when it would redeliver it: a
	// pull after the ack wait makes it do so now (nobody listens to the
	// advisory yet).
	retry(t, "deliveries exhausted", 10*time.Second, func(ctx context.Context) error {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return err
		}
		for range batch.Messages() {
			return errors.New("the job was delivered a third time")
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if ci.NumAckPending != 0 {
			return fmt.Errorf("consumer still has the job: %d ack pending", ci.NumAckPending)
		}
		return nil
	})
	// The consumer's ack floor passes the dead message once a later one is
	// acked (the executors' sweep looks below the floor).
	other := testJob("after-dead")
	other.RunID = "run-dead"
	must(t, "queueing another job", q.Publish(ctx, other))
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	must(t, "taking the other job", err)
	for m := range batch.Messages() {
		must(t, "acking the other job", m.DoubleAck(ctx))
	}
	ci, err := cons.Info(ctx)
	must(t, "consumer info", err)
	t.Logf("after the dead letter: ack floor %+v, %d ack pending, %d pending", ci.AckFloor, ci.NumAckPending, ci.NumPending)
	return j.ID
}

// logTo returns a logger whose output is printed if the test fails.
func logTo(t *testing.T, name string) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("---- %s log ----\n%s", name, buf.String())
			mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startExecutor runs a real executor as r, opened as cmd/executor does;
// stop stops it and closes its store, as the binary does on exit.
func startExecutor(t *testing.T, r *role) (stop func(context.Context) error) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	q, err := queue.Open(ctx, r.conn, queue.Config{Replicas: 3})
	must(t, "executor: opening the task queue", err)
	st, err := status.Open(ctx, r.js, status.Config{Replicas: 3})
	must(t, "executor: opening the job records", err)
	reg, err := status.OpenRegistry(ctx, r.js, status.RegistryConfig{Replicas: 3})
	must(t, "executor: opening the registry", err)
	locks, err := status.OpenLocks(ctx, r.js, status.LocksConfig{Replicas: 3})
	must(t, "executor: opening the locks", err)
	pool, err := connection.NewPool(connection.Config{})
	must(t, "executor: connection pool", err)
	t.Cleanup(func() { pool.Close() })
	ex, err := executor.New(executor.Config{ID: "ex-perm", Forks: 2, Logger: logTo(t, "executor"), Registry: reg, Locks: locks}, q, st, pool)
	must(t, "executor", err)
	must(t, "starting the executor", ex.Start(ctx))
	// its /readyz and its queue metrics (cmd/internal/service)
	must(t, "executor: readiness (task stream)", q.Ping(ctx))
	must(t, "executor: readiness (job records)", st.Ping(ctx))
	_, err = q.Depth(ctx)
	must(t, "executor: reading the queue's state for metrics", err)
	return func(ctx context.Context) error {
		defer st.Close()
		return ex.Stop(ctx)
	}
}

// startDispatcher runs a real dispatcher service as r, opened as
// cmd/dispatcher does; stop stops it and closes its store.
func startDispatcher(t *testing.T, r *role) (stop func(context.Context) error) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	q, err := queue.Open(ctx, r.conn, queue.Config{Replicas: 3})
	must(t, "dispatcher: opening the task queue", err)
	st, err := status.Open(ctx, r.js, status.Config{Replicas: 3})
	must(t, "dispatcher: opening the job records", err)
	rs, err := status.OpenRuns(ctx, r.js, status.Config{Replicas: 3})
	must(t, "dispatcher: opening the run records", err)
	_, err = status.OpenRegistry(ctx, r.js, status.RegistryConfig{Replicas: 3})
	must(t, "dispatcher: opening the executor registry", err)
	rq, err := queue.OpenRuns(ctx, r.conn, queue.RunsConfig{Replicas: 3})
	must(t, "dispatcher: opening the run queue", err)
	// its /readyz (cmd/internal/service)
	must(t, "dispatcher: readiness (task stream)", q.Ping(ctx))
	must(t, "dispatcher: readiness (job records)", st.Ping(ctx))
	svc, err := runs.NewService(runs.ServiceConfig{ID: "d-perm", Concurrency: 2, WorkDir: t.TempDir(), Logger: logTo(t, "dispatcher")}, rq, q, st, rs)
	must(t, "dispatcher", err)
	must(t, "starting the dispatcher", svc.Start(ctx))
	return func(ctx context.Context) error {
		defer st.Close()
		return svc.Stop(ctx)
	}
}

// cli is what the gorun CLI opens on a NATS server (cmd/gorun/nats.go).
type cli struct {
	q   *queue.Queue
	st  *status.Store
	rq  *queue.Runs
	rs  *status.RunStore
	reg *status.Registry

	once sync.Once
}

// close ends the CLI's watch, as the CLI does when it exits.
func (c *cli) close() { c.once.Do(c.st.Close) }

func openCLI(t *testing.T, r *role) *cli {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	var c cli
	var err error
	c.q, err = queue.Open(ctx, r.conn, queue.Config{})
	must(t, r.name+": opening the task queue", err)
	c.st, err = status.Open(ctx, r.js, status.Config{})
	must(t, r.name+": opening the job records", err)
	t.Cleanup(c.close)
	c.rq, err = queue.OpenRuns(ctx, r.conn, queue.RunsConfig{})
	must(t, r.name+": opening the run queue", err)
	c.rs, err = status.OpenRuns(ctx, r.js, status.Config{})
	must(t, r.name+": opening the run records", err)
	c.reg, err = status.OpenRegistry(ctx, r.js, status.RegistryConfig{})
	must(t, r.name+": opening the registry", err)
	return &c
}

// submit does what `gorun submit` does: bundle the playbook's directory,
// create the run record, store the bundle and enqueue the run.
func (c *cli) submit(t *testing.T, runID, playbook string, extra []byte) {
	t.Helper()
	dir := t.TempDir()
	pb := filepath.Join(dir, "site.yml")
	must(t, "writing the playbook", os.WriteFile(pb, []byte(playbook), 0o644))
	if extra != nil {
		must(t, "writing a file", os.WriteFile(filepath.Join(dir, "blob.bin"), extra, 0o644))
	}
	b := runs.NewBundle()
	must(t, "bundling", b.AddTree(dir))
	data, err := b.Bytes()
	must(t, "bundling", err)
	spec := &runs.Spec{RunID: runID, Playbooks: []string{pb}, Inventory: []string{"localhost,"},
		Options: runs.Options{Connection: "local"}, Submitted: time.Now().UTC(), Submitter: "test@perm"}
	specData, err := spec.Encode()
	must(t, "encoding the spec", err)
	ctx := ctxT(t, 10*time.Second)
	must(t, "creating the run record", c.rs.Create(ctx, &job.Run{RunID: runID, State: job.RunQueued,
		Playbooks: spec.Playbooks, Submitter: spec.Submitter, Submitted: spec.Submitted}))
	must(t, "submitting the run", c.rq.Submit(ctx, runID, specData, data))
}

// start submits a run and waits until a dispatcher has taken it, and
// returns its id. A run whose dispatcher could not read its bundle right
// after the submit is submitted again under a new id: in an R3 cluster the
// object store's direct get may be answered by a replica that has not
// caught up yet ("object not found", or a digest mismatch), and the
// dispatcher (runs.Service) does not retry. That is a gorun issue outside
// these permissions; the test logs it and goes on.
func (c *cli) start(t *testing.T, runID, playbook string, extra []byte) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		id := runID
		if attempt > 1 {
			id = fmt.Sprintf("%s-retry%d", runID, attempt)
		}
		c.submit(t, id, playbook, extra)
		// Its first job record shows that the bundle was read; a run that
		// ends first tells why.
		var got *job.Run
		retry(t, id+" under way", 15*time.Second, func(ctx context.Context) error {
			e, err := c.rs.Get(ctx, id)
			if err != nil {
				return err
			}
			if got = e.Run; got.State.Terminal() {
				return nil
			}
			recs, err := c.st.List(ctx, status.Filter{RunID: id})
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return errors.New("no job yet")
			}
			return nil
		})
		stale := strings.Contains(got.Msg, "reading the bundle") &&
			(strings.Contains(got.Msg, "object not found") || strings.Contains(got.Msg, "digests do not match"))
		if got.State != job.RunFailed || !stale || attempt == 3 {
			return id
		}
		t.Logf("known gorun issue: %s failed at once: %s; submitting again", id, got.Msg)
	}
}

// wait does what `gorun wait RUN` does: follow the output to its end, then
// watch the run record until it is terminal.
func (c *cli) wait(t *testing.T, runID string) (string, *job.Run) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	_, err := c.rs.Get(ctx, runID)
	must(t, "reading the run record", err)
	var out bytes.Buffer
	must(t, "following the run output", c.rq.FollowLog(ctx, runID, func(chunk []byte, end bool, _ int) {
		if !end {
			out.Write(chunk)
		}
	}))
	var final *job.Run
	must(t, "watching the run record", c.rs.Watch(ctx, runID, func(r *job.Run) bool {
		if r.State.Terminal() {
			final = r
			return false
		}
		return true
	}))
	return out.String(), final
}

// runningJob waits until run runID has a running job and returns it.
func (c *cli) runningJob(t *testing.T, runID string) *job.Record {
	t.Helper()
	var rec *job.Record
	retry(t, "a running job in "+runID, 15*time.Second, func(ctx context.Context) error {
		recs, err := c.st.List(ctx, status.Filter{RunID: runID, State: job.StateRunning})
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return errors.New("no running job yet")
		}
		rec = recs[0]
		return nil
	})
	return rec
}

const helloPlaybook = `
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: hello
      shell: sleep 2; echo hello-from-gorun
      lock: deploy
`

const sleepPlaybook = `
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: sleep
      command: sleep 30
`

// TestDeployPermissions starts a cluster with deploy/nats's configuration,
// creates the assets as admin, and runs gorun's real code as each role: an
// executor and a dispatcher service in this process, the CLI's submit,
// wait, status, jobs and cancel, and the read-only views. Every role's
// connection must get through without a single permission error; then a
// selection of operations outside each role's job must be denied.
func TestDeployPermissions(t *testing.T) {
	start := time.Now()
	d := startDeployCluster(t)
	t.Logf("cluster from deploy/nats healthy after %s", time.Since(start).Round(time.Millisecond))

	// No anonymous access, no wrong password.
	short := ctxT(t, 3*time.Second)
	if c, err := queue.Connect(short, queue.ConnConfig{URL: d.URL(0), ConnectTimeout: time.Second}); err == nil {
		c.Close()
		t.Fatal("connected without credentials")
	} else if !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("anonymous connection: %v, want an authorization violation", err)
	}
	if c, err := queue.Connect(short, queue.ConnConfig{URL: d.URL(0), User: "executor", Password: d.pass["client"], ConnectTimeout: time.Second}); err == nil {
		c.Close()
		t.Fatal("connected with a wrong password")
	}

	admin := d.connect(t, "admin")
	createAssets(t, admin)
	t.Logf("assets created after %s", time.Since(start).Round(time.Millisecond))

	client := d.connect(t, "client")
	dispatcher := d.connect(t, "dispatcher")
	executorRole := d.connect(t, "executor")
	readonly := d.connect(t, "readonly")
	roles := []*role{admin, client, dispatcher, executorRole, readonly}

	// A job whose deliveries ran out while no executor listened: the
	// executor's start-up sweep records it lost and deletes its message.
	dead := makeDeadLetter(t, admin)
	stopExecutor := startExecutor(t, executorRole)
	stopDispatcher := startDispatcher(t, dispatcher)
	stopServices := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stopDispatcher(ctx); err != nil {
			t.Errorf("stopping the dispatcher: %v", err)
		}
		if err := stopExecutor(ctx); err != nil {
			t.Errorf("stopping the executor: %v", err)
		}
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stopServices()
		}
	})
	c := openCLI(t, client)
	var run1 string

	if !t.Run("dead letter", func(t *testing.T) {
		ctx := ctxT(t, 10*time.Second)
		rec, err := c.st.WaitTerminal(ctx, dead, nil)
		must(t, "waiting for the dead job's record", err)
		if rec.State != job.StateLost {
			t.Fatalf("dead job is %s, want lost", rec.State)
		}
		retry(t, "the dead job's message deleted", 5*time.Second, func(ctx context.Context) error {
			s, err := admin.js.Stream(ctx, queue.DefaultStream)
			if err != nil {
				return err
			}
			if n := s.CachedInfo().State.Msgs; n != 0 {
				return fmt.Errorf("%d messages in %s", n, queue.DefaultStream)
			}
			return nil
		})
	}) {
		return
	}

	if !t.Run("submit and wait", func(t *testing.T) {
		// Two runs whose jobs take the same host lock at once: run-1b's waits
		// for run-1's (lock read and watch). A bundle past 1 MB: getting it
		// needs flow control.
		blob := make([]byte, 3<<20)
		rand.Read(blob)
		run1 = c.start(t, "run-1", helloPlaybook, blob)
		run1b := c.start(t, "run-1b", helloPlaybook, nil)
		for _, id := range []string{run1, run1b} {
			out, final := c.wait(t, id)
			if final.State != job.RunFinished || final.ExitCode == nil || *final.ExitCode != 0 {
				code := "none"
				if final.ExitCode != nil {
					code = strconv.Itoa(*final.ExitCode)
				}
				t.Fatalf("%s ended %s (exit %s, %s); output:\n%s", id, final.State, code, final.Msg, out)
			}
			if !strings.Contains(out, "PLAY RECAP") || !strings.Contains(out, "localhost") {
				t.Fatalf("%s output:\n%s", id, out)
			}
		}
		ctx := ctxT(t, 10*time.Second)
		recs, err := c.st.List(ctx, status.Filter{RunID: run1}) // gorun jobs
		must(t, "listing the run's jobs", err)
		if len(recs) != 1 || recs[0].State != job.StateFinished || !strings.Contains(recs[0].Stdout, "hello-from-gorun") {
			t.Fatalf("run-1 jobs: %+v", recs)
		}
		other, err := c.st.List(ctx, status.Filter{RunID: run1b})
		must(t, "listing the run's jobs", err)
		if len(other) != 1 {
			t.Fatalf("run-1b jobs: %+v", other)
		}
		// run-1b's job was claimed while run-1's ran, then waited for the lock.
		if !other[0].Started.Before(recs[0].Ended) {
			t.Fatalf("no lock contention: run-1b's job started at %s, after run-1's ended at %s", other[0].Started, recs[0].Ended)
		}
		if gap := other[0].Ended.Sub(recs[0].Ended); gap < 1900*time.Millisecond {
			t.Fatalf("the two 2 s jobs holding the same lock ended %s apart: they overlapped", gap)
		}
		_, err = c.st.Get(ctx, recs[0].JID) // gorun status JID
		must(t, "reading a job record", err)
		sub, err := c.st.Subscribe(ctx, recs[0].JID) // gorun wait JID
		must(t, "following a job record", err)
		select {
		case r := <-sub.C():
			if !r.State.Terminal() {
				t.Fatalf("job %s is %s", r.JID, r.State)
			}
		case <-ctx.Done():
			t.Fatal("no record from the job's subscription")
		}
		sub.Close()
		if alive, err := c.reg.Alive(ctx, "ex-perm"); err != nil || !alive {
			t.Fatalf("executor liveness: %v, %v", alive, err)
		}
		must(t, "the executors' consumer", c.q.Consumer(ctx))
		_, err = c.q.Depth(ctx) // queue depth
		must(t, "task queue depth", err)
	}) {
		return
	}

	if !t.Run("cancel a job", func(t *testing.T) {
		run2 := c.start(t, "run-2", sleepPlaybook, nil)
		rec := c.runningJob(t, run2)
		ctx := ctxT(t, 15*time.Second)
		// gorun cancel JID
		rec, err := runs.CancelJob(ctx, c.st, rec.JID)
		must(t, "cancelling the job", err)
		if alive, err := c.reg.Alive(ctx, rec.Executor); err != nil || !alive {
			t.Fatalf("the job's executor %q: alive %v, %v", rec.Executor, alive, err)
		}
		rec, err = c.st.WaitTerminal(ctx, rec.JID, nil)
		must(t, "waiting for the cancelled job", err)
		if rec.State != job.StateCancelled {
			t.Fatalf("job %s is %s, want cancelled", rec.JID, rec.State)
		}
		_, final := c.wait(t, run2)
		t.Logf("run-2 (job cancelled) ended %s", final.State)
	}) {
		return
	}

	if !t.Run("cancel a run", func(t *testing.T) {
		run3 := c.start(t, "run-3", sleepPlaybook, nil)
		c.runningJob(t, run3)
		ctx := ctxT(t, 15*time.Second)
		// gorun cancel RUN
		_, err := c.rs.Modify(ctx, run3, func(r *job.Run) bool {
			r.CancelRequested = true
			return true
		})
		must(t, "cancelling the run", err)
		_, final := c.wait(t, run3)
		if final.State != job.RunCancelled {
			t.Fatalf("run-3 ended %s (%s), want cancelled", final.State, final.Msg)
		}
	}) {
		return
	}

	if !t.Run("read-only views", func(t *testing.T) {
		ctx := ctxT(t, 15*time.Second)
		// Enough record data that watching the bucket needs flow control
		// (the services' watches see it too).
		akv, err := admin.js.KeyValue(ctx, status.DefaultBucket)
		must(t, "binding the job records", err)
		big := bytes.Repeat([]byte("x"), 100<<10)
		for i := range 30 {
			_, err := akv.Put(ctx, fmt.Sprintf("big-%d", i), big)
			must(t, "putting a large value", err)
		}
		v := openCLI(t, readonly)
		recs, err := v.st.List(ctx, status.Filter{}) // gorun jobs
		must(t, "listing jobs", err)
		if len(recs) != 5 {
			t.Fatalf("listed %d job records, want 5", len(recs))
		}
		_, err = v.st.Get(ctx, recs[0].JID) // gorun status JID
		must(t, "reading a job record", err)
		_, err = v.st.WaitTerminal(ctx, recs[0].JID, nil) // gorun wait JID
		must(t, "following a job record", err)
		_, err = v.rs.Get(ctx, run1) // gorun status RUN
		must(t, "reading a run record", err)
		_, err = v.reg.Alive(ctx, "ex-perm") // is a job's executor alive?
		must(t, "executor liveness", err)
		must(t, "the executors' consumer", v.q.Consumer(ctx))
		_, err = v.q.Depth(ctx) // queue depth
		must(t, "task queue depth", err)
		rc, err := readonly.js.Consumer(ctx, queue.RunsStream, queue.RunsConsumer)
		must(t, "binding the dispatchers' consumer", err)
		_, err = rc.Info(ctx)
		must(t, "run queue depth", err)
		kv, err := readonly.js.KeyValue(ctx, status.DefaultBucket)
		must(t, "binding the job records", err)
		all, err := watchAll(ctx, kv)
		must(t, "watching 3 MB of job records", err)
		if len(all) != 35 {
			t.Fatalf("watched %d records, want 35", len(all))
		}
		v.close()
	}) {
		return
	}

	// Every role got through its work without a permission error,
	// background work (heartbeats, lock refreshes, watches, liveness
	// beats) included.
	stopServices()
	stopped = true
	c.close()
	for _, r := range roles {
		r.clean(t)
	}
	if t.Failed() {
		return
	}

	if !t.Run("forbidden", func(t *testing.T) {
		testForbidden(t, admin, client, dispatcher, executorRole, readonly)
	}) {
		return
	}

	if !t.Run("rotation", func(t *testing.T) {
		old := d.pass["readonly"]
		d.mu.Lock()
		d.pass["readonly"] = secret(t)
		d.hash["readonly"] = bcryptHash(t, d.pass["readonly"])
		d.mu.Unlock()
		for i := range d.Size() {
			d.RewriteConfig(i)
			d.Reload(i)
		}
		// A reload is asynchronous: each node takes the new password, and
		// refuses the old one, a moment after its signal.
		for i := range d.Size() {
			retry(t, fmt.Sprintf("node %d: logging in with the new password", i), 5*time.Second, func(ctx context.Context) error {
				c, err := queue.Connect(ctx, queue.ConnConfig{URL: d.URL(i), User: "readonly", Password: d.pass["readonly"], ConnectTimeout: time.Second})
				if err == nil {
					c.Close()
				}
				return err
			})
			retry(t, fmt.Sprintf("node %d: refusing the old password", i), 5*time.Second, func(ctx context.Context) error {
				c, err := queue.Connect(ctx, queue.ConnConfig{URL: d.URL(i), User: "readonly", Password: old, ConnectTimeout: time.Second})
				if err == nil {
					c.Close()
					return errors.New("the old password still works")
				}
				if !strings.Contains(err.Error(), "Authorization Violation") {
					return err
				}
				return nil
			})
		}
		// The connection made with the old password is dropped too.
		retry(t, "the old connection dropped", 5*time.Second, func(context.Context) error {
			if readonly.js.Conn().IsConnected() {
				return errors.New("still connected")
			}
			return nil
		})
	}) {
		return
	}
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

func watchAll(ctx context.Context, kv jetstream.KeyValue) (map[string][]byte, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string][]byte{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			out[e.Key()] = e.Value()
		case <-ctx.Done():
			return nil, fmt.Errorf("watch: %w after %d entries", ctx.Err(), len(out))
		}
	}
}

// testForbidden checks that operations outside each role's job fail, and
// that the server says why: a permission violation on the subject.
func testForbidden(t *testing.T, admin, client, dispatcher, executor, readonly *role) {
	ctx := ctxT(t, 20*time.Second)
	// A job waits in the queue throughout: a forbidden pull must not get it.
	aq, err := queue.Open(ctx, admin.conn, queue.Config{})
	must(t, "opening the task queue as admin", err)
	must(t, "the executors' consumer", aq.Consumer(ctx))
	must(t, "queueing a job", aq.Publish(ctx, testJob("job-waiting")))

	kvPut := func(r *role, bucket string) func(context.Context) error {
		return func(ctx context.Context) error {
			kv, err := r.js.KeyValue(ctx, bucket)
			if err != nil {
				return err
			}
			_, err = kv.Put(ctx, "forbidden", []byte("x"))
			return err
		}
	}
	publish := func(r *role, subj string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := r.js.Publish(ctx, subj, []byte("{}"), jetstream.WithMsgID("forbidden"))
			return err
		}
	}
	pull := func(r *role) func(context.Context) error {
		return func(ctx context.Context) error {
			cons, err := r.js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer)
			if err != nil {
				return err
			}
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				return err
			}
			for range batch.Messages() {
				return nil // got a job: the pull worked
			}
			if batch.Error() != nil {
				return batch.Error()
			}
			return errors.New("no message")
		}
	}
	request := func(r *role, subj string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := r.js.Conn().RequestWithContext(ctx, subj, nil)
			return err
		}
	}
	subscribe := func(r *role, subj string) func(context.Context) error {
		return func(ctx context.Context) error {
			sub, err := r.js.Conn().SubscribeSync(subj)
			if err != nil {
				return err
			}
			defer sub.Unsubscribe()
			_, err = sub.NextMsgWithContext(ctx)
			return err
		}
	}
	const next = "$JS.API.CONSUMER.MSG.NEXT.GORUN_TASKS.executors"
	cases := []struct {
		r       *role
		what    string
		subject string // the subject the violation names
		op      func(context.Context) error
	}{
		{readonly, "put a job record", "$KV.gorun_jobs.forbidden", kvPut(readonly, status.DefaultBucket)},
		{readonly, "put a run record", "$KV.gorun_runs.forbidden", kvPut(readonly, status.RunsBucket)},
		{readonly, "submit a run", "gorun.submit.x", publish(readonly, "gorun.submit.x")},
		{readonly, "pull a job", next, pull(readonly)},
		{readonly, "read the locks", "$JS.API.STREAM.INFO.KV_gorun_locks", kvPut(readonly, status.LocksBucket)},
		{readonly, "read run output", "$JS.API.CONSUMER.CREATE.GORUN_LOG.x", request(readonly, "$JS.API.CONSUMER.CREATE.GORUN_LOG.x")},
		{readonly, "list runs", "$JS.API.CONSUMER.CREATE.KV_gorun_runs.x", request(readonly, "$JS.API.CONSUMER.CREATE.KV_gorun_runs.x")},
		{readonly, "snoop on task messages", "gorun.task.>", subscribe(readonly, "gorun.task.>")},
		{readonly, "create a stream", "$JS.API.STREAM.CREATE.EVIL", request(readonly, "$JS.API.STREAM.CREATE.EVIL")},
		{executor, "submit a run", "gorun.submit.x", publish(executor, "gorun.submit.x")},
		{executor, "queue a job", "gorun.task.x", publish(executor, "gorun.task.x")},
		{executor, "write a run record", "$KV.gorun_runs.forbidden", publish(executor, "$KV.gorun_runs.forbidden")},
		{executor, "purge the task queue", "$JS.API.STREAM.PURGE.GORUN_TASKS", request(executor, "$JS.API.STREAM.PURGE.GORUN_TASKS")},
		{client, "pull a job", next, pull(client)},
		{client, "queue a job", "gorun.task.x", publish(client, "gorun.task.x")},
		{client, "take a host lock", "$KV.gorun_locks.forbidden", publish(client, "$KV.gorun_locks.forbidden")},
		{client, "fake executor liveness", "$KV.gorun_executors.forbidden", publish(client, "$KV.gorun_executors.forbidden")},
		{client, "delete the job bucket", "$JS.API.STREAM.DELETE.KV_gorun_jobs", request(client, "$JS.API.STREAM.DELETE.KV_gorun_jobs")},
		{dispatcher, "pull a job", next, request(dispatcher, next)},
		{dispatcher, "submit a run", "gorun.submit.x", publish(dispatcher, "gorun.submit.x")},
		{dispatcher, "delete the executors' consumer", "$JS.API.CONSUMER.DELETE.GORUN_TASKS.executors", request(dispatcher, "$JS.API.CONSUMER.DELETE.GORUN_TASKS.executors")},
		{dispatcher, "fake executor liveness", "$KV.gorun_executors.forbidden", publish(dispatcher, "$KV.gorun_executors.forbidden")},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cases))
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := c.op(octx); err == nil {
				errs[i] = fmt.Errorf("%s could %s", c.r.name, c.what)
				return
			}
			if err := c.r.violation(c.subject, 2*time.Second); err != nil {
				errs[i] = fmt.Errorf("%s %s: %w", c.r.name, c.what, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The waiting job is still there for the executors.
	dp, err := aq.Depth(ctx)
	must(t, "task queue depth", err)
	if dp.Pending != 1 || dp.AckPending != 0 {
		t.Errorf("task queue after the forbidden pulls: %+v, want the one job pending", dp)
	}
}

// TestDeployConfigParses checks that the shipped files are valid as they
// are, placeholders included, and define the five users in one account.
func TestDeployConfigParses(t *testing.T) {
	for i := 1; i <= 3; i++ {
		opts, err := server.ProcessConfigFile(filepath.Join(deployDir(), fmt.Sprintf("nats-%d.conf", i)))
		if err != nil {
			t.Fatalf("nats-%d.conf: %v", i, err)
		}
		if opts.ServerName != fmt.Sprintf("nats-%d", i) || !opts.JetStream || opts.Cluster.Port != 6222 || len(opts.Routes) != 3 {
			t.Fatalf("nats-%d.conf: name %q, jetstream %v, cluster port %d, %d routes", i, opts.ServerName, opts.JetStream, opts.Cluster.Port, len(opts.Routes))
		}
		var users []string
		for _, u := range opts.Users {
			if u.Account == nil || u.Account.Name != "GORUN" {
				t.Fatalf("user %s is not in account GORUN", u.Username)
			}
			if !strings.HasPrefix(u.Password, "$2a$") {
				t.Fatalf("user %s: password is not a bcrypt hash", u.Username)
			}
			users = append(users, u.Username)
		}
		if strings.Join(users, ",") != strings.Join(deployRoles, ",") {
			t.Fatalf("users %v, want %v", users, deployRoles)
		}
	}
}
