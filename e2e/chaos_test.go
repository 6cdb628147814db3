package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/sshtest"
	"github.com/gorun/gorun/status"
)

// chaosConfig sizes a chaos run. CI runs the defaults; make chaos sets the
// full size through the environment:
//
//	GORUN_CHAOS_JOBS   async jobs (CI 1,000; make chaos 10,000)
//	GORUN_CHAOS_HOSTS  sshd hosts (CI 20; make chaos 50)
//	GORUN_CHAOS_SOAK   1: the soak test runs at the same size as the chaos test
//	                   (else a short version: a tenth of the jobs)
type chaosConfig struct {
	jobs, hosts int
	executors   int
	forks       int
	// killEvery is the mean time between two executor kills; down is how
	// long a killed executor stays down before it is started again.
	killEvery, down time.Duration
	// natsEvery, if set, is how often a NATS node is killed (kill -9) and
	// restarted (the soak variant).
	natsEvery time.Duration
	// timeout bounds the whole run.
	timeout time.Duration
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// What executors log (executor/) when they re-attach to a job through its
// directory; when they record the end an executor killed before writing it
// had collected; when a job's message is delivered again while another
// delivery holds it, and when a second message for a running job comes.
const (
	reattachLog  = "re-attaching to a running async job"
	collectedLog = "recording the end an earlier executor collected"
	heldLog      = "delivered again; left to its holder"
	secondLog    = "a second message for a job another delivery runs"
)

// chaosFigures is what a chaos run measured.
type chaosFigures struct {
	jobs, hosts, kills, natsKills       int
	lost, duplicated, neverRun, wrong   int
	terminalTwice                       int
	reattached, reattachedJobs, redeliv int
	collected, held, second             int
	states                              map[job.State]int
	wall                                time.Duration
}

func (c chaosFigures) String() string {
	var st []string
	for s, n := range c.states {
		st = append(st, fmt.Sprintf("%s=%d", s, n))
	}
	sort.Strings(st)
	return fmt.Sprintf("jobs=%d hosts=%d executor_kills=%d nats_kills=%d lost=%d duplicated=%d never_run=%d wrong_outcome=%d terminal_twice=%d reattached=%d (jobs %d) collected_end_recorded=%d left_to_holder=%d second_message_acked=%d redelivered=%d wall=%s states[%s]",
		c.jobs, c.hosts, c.kills, c.natsKills, c.lost, c.duplicated, c.neverRun, c.wrong, c.terminalTwice,
		c.reattached, c.reattachedJobs, c.collected, c.held, c.second, c.redeliv, c.wall.Round(100*time.Millisecond), strings.Join(st, " "))
}

// Chaos: short async jobs over sshd hosts through 3 executors on a 3-node
// cluster while an executor is killed (kill -9) every few seconds and
// started again. Every job must end finished, once, with its own output,
// launched exactly once on its target (a marker line per launch).
func TestChaosExecutorKills(t *testing.T) {
	cfg := chaosConfig{
		jobs:      envInt(t, "GORUN_CHAOS_JOBS", 1000),
		hosts:     envInt(t, "GORUN_CHAOS_HOSTS", 20),
		executors: 3, forks: 8,
		killEvery: 3 * time.Second, down: time.Second,
	}
	cfg.timeout = 2*time.Minute + time.Duration(cfg.jobs)*60*time.Millisecond
	runChaos(t, cfg)
}

// The soak variant: executor kills as above, and a NATS node of the
// 3-node cluster killed (kill -9) and restarted every 10 s. Under make
// chaos (GORUN_CHAOS_SOAK=1) it runs at the chaos size; in CI a tenth of it.
func TestChaosSoakNATSRestarts(t *testing.T) {
	jobs, hosts := envInt(t, "GORUN_CHAOS_JOBS", 1000), envInt(t, "GORUN_CHAOS_HOSTS", 20)
	if os.Getenv("GORUN_CHAOS_SOAK") != "1" {
		jobs, hosts = max(jobs/10, 1), max(hosts/4, 1)
	}
	cfg := chaosConfig{
		jobs: jobs, hosts: hosts,
		executors: 3, forks: 8,
		killEvery: 3 * time.Second, down: time.Second,
		natsEvery: 10 * time.Second,
	}
	cfg.timeout = 3*time.Minute + time.Duration(cfg.jobs)*100*time.Millisecond
	runChaos(t, cfg)
}

// chaosExecutor starts executor id against the cluster (the flags of
// clusterServices, at info level: a chaos run logs a lot).
func chaosExecutor(t *testing.T, urls, id string, forks int) *proc {
	return start(t, "executor", "--nats", urls, "--replicas", "3", "--forks", strconv.Itoa(forks), "--id", id,
		"--ack-wait", "3s", "--log-level", "info")
}

func runChaos(t *testing.T, cfg chaosConfig) {
	c := natstest.StartCluster(t, 3)
	urls := c.URLs()
	// the dispatcher creates the R3 assets, as in production; it stays idle
	start(t, "dispatcher", "--nats", urls, "--replicas", "3", "--id", "d1", "--ack-wait", "3s")
	waitReady(t, urls)
	ids := make([]string, cfg.executors)
	ps := map[string]*proc{}
	var all []*proc // every executor process started, for their logs
	for i := range ids {
		ids[i] = fmt.Sprintf("ex%d", i+1)
		ps[ids[i]] = chaosExecutor(t, urls, ids[i], cfg.forks)
		all = append(all, ps[ids[i]])
	}
	f := sshtest.Start(t, cfg.hosts)
	st, _ := client(t, urls)
	q := chaosQueue(t, urls)

	dir := t.TempDir()
	markers, asyncDir := filepath.Join(dir, "markers"), filepath.Join(dir, "async")
	if err := os.MkdirAll(markers, 0o755); err != nil {
		t.Fatal(err)
	}
	runID := "chaos-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	jobs := make([]*job.Job, cfg.jobs)
	for i := range jobs {
		h := i % cfg.hosts
		jid := job.IDFor("chaos", runID, strconv.Itoa(i))
		// one line per launch in the host's marker file, then a short
		// sleep (0-2 s) and the job's own output
		jobs[i] = &job.Job{ID: jid, RunID: runID, Task: "chaos", Module: "shell",
			Args: map[string]any{"_raw_params": fmt.Sprintf("echo %s >> %s; sleep %d; echo ok %s",
				jid, filepath.Join(markers, f.Hosts[h].Name), i%3, jid)},
			Target: f.Target(h), Async: 120, Poll: i % 2, AsyncDir: asyncDir}
	}

	w := watchTerminal(t, st, runID, cfg.jobs)
	t0 := time.Now()
	published := make(chan struct{})
	go queueJobs(t, st, q, jobs, published)

	// The chaos loop, in the test's goroutine: kill a random executor every
	// killEvery (±50 %), start it again after down; kill a NATS node every
	// natsEvery and restart it (waiting until the cluster is whole again).
	rng := rand.New(rand.NewPCG(uint64(t0.UnixNano()), 7))
	jitter := func(d time.Duration) time.Duration { return d/2 + time.Duration(rng.Int64N(int64(d))) }
	var fig chaosFigures
	deadline := time.NewTimer(cfg.timeout)
	defer deadline.Stop()
	// the first executor and the first node go early, while the backlog is
	// large: a NATS node's restart holds the loop (until the cluster is
	// whole again), and on a loaded machine a short run could end meanwhile
	// with no executor killed
	nextKill := time.Now().Add(jitter(min(cfg.killEvery, time.Second)))
	var nextNATS time.Time
	if cfg.natsEvery > 0 {
		nextNATS = time.Now().Add(2 * time.Second)
	}
	downID, upAt := "", time.Time{}
	timedOut := false
loop:
	for {
		next := nextKill
		if downID != "" && upAt.Before(next) {
			next = upAt
		}
		if !nextNATS.IsZero() && nextNATS.Before(next) {
			next = nextNATS
		}
		tm := time.NewTimer(time.Until(next))
		select {
		case <-w.done:
			tm.Stop()
			break loop
		case <-deadline.C:
			tm.Stop()
			t.Errorf("chaos run not over after %s: %d of %d jobs terminal; %d executor kills, %d NATS node kills",
				cfg.timeout, w.terminal(), cfg.jobs, fig.kills, fig.natsKills)
			timedOut = true
			break loop
		case <-tm.C:
		}
		now := time.Now()
		switch {
		case downID != "" && !now.Before(upAt):
			ps[downID] = chaosExecutor(t, urls, downID, cfg.forks)
			all = append(all, ps[downID])
			downID = ""
		case !nextNATS.IsZero() && !now.Before(nextNATS):
			n := rng.IntN(c.Size())
			t.Logf("%s: kill -9 NATS node %d (%d/%d jobs terminal)", time.Since(t0).Round(time.Millisecond), n, w.terminal(), cfg.jobs)
			c.Kill(n)
			fig.natsKills++
			// down for a while, then back; the next node is killed only
			// once the cluster is whole again (a quorum is kept)
			select {
			case <-time.After(2 * time.Second):
			case <-w.done:
			}
			c.Restart(t, n)
			c.WaitHealthy(t)
			nextNATS = time.Now().Add(cfg.natsEvery)
		case !now.Before(nextKill):
			if downID == "" {
				downID = ids[rng.IntN(len(ids))]
				ps[downID].kill()
				fig.kills++
				upAt = now.Add(cfg.down)
			}
			nextKill = now.Add(jitter(cfg.killEvery))
		}
	}
	fig.wall = time.Since(t0)
	<-published
	if downID != "" {
		ps[downID] = chaosExecutor(t, urls, downID, cfg.forks)
		all = append(all, ps[downID])
	}
	w.stop()

	fig.jobs, fig.hosts = cfg.jobs, cfg.hosts
	if fig.kills == 0 || cfg.natsEvery > 0 && fig.natsKills == 0 {
		t.Errorf("the run ended before the chaos began (%d executor kills, %d NATS node kills): make it longer", fig.kills, fig.natsKills)
	}
	checkChaos(t, st, runID, jobs, markers, w, all, &fig)
	t.Logf("chaos summary: %s", fig)
	if timedOut {
		t.FailNow()
	}
	// nothing left in the queue: every message was acked
	eventually(t, "the task queue to drain", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := q.Depth(ctx)
		return err == nil && d.Pending == 0 && d.AckPending == 0
	})
}

// chaosQueue opens the task queue (bound, as a client) on urls.
func chaosQueue(t *testing.T, urls string) *queue.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: urls, Name: t.Name() + "-publisher"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	q, err := queue.Open(ctx, conn, queue.Config{Assets: queue.Bind})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// queueJobs queues the jobs as the dispatcher does (the record first,
// then the message carrying the record's revision), from 8 goroutines.
func queueJobs(t *testing.T, st *status.Store, q *queue.Queue, jobs []*job.Job, done chan<- struct{}) {
	defer close(done)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				j.Created = time.Now().UTC()
				rev, err := st.Create(ctx, job.NewRecord(j))
				if errors.Is(err, status.ErrExists) {
					// a create whose answer was lost (a node killed) and
					// was tried again: as the dispatcher does, a queued
					// record is published
					var e status.Entry
					if e, err = st.Get(ctx, j.ID); err == nil && e.Record.State == job.StateQueued {
						rev = e.Revision
					}
				}
				if err == nil {
					j.RecordRevision = rev
					err = q.Publish(ctx, j)
				}
				cancel()
				if err != nil {
					t.Errorf("queueing job %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// terminalWatch follows the run's records through a watch of the bucket:
// how many are terminal, and every terminal revision of each job (a job
// recorded terminal twice would show two).
type terminalWatch struct {
	mu       sync.Mutex
	state    map[string]job.State
	termRevs map[string]map[uint64]job.State
	n        int
	done     chan struct{} // closed once every job is terminal
	closed   bool
	cancel   context.CancelFunc
	finished chan struct{}
}

func watchTerminal(t *testing.T, st *status.Store, runID string, n int) *terminalWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &terminalWatch{state: map[string]job.State{}, termRevs: map[string]map[uint64]job.State{}, n: n,
		done: make(chan struct{}), cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		for ctx.Err() == nil {
			ch, err := st.WatchAll(ctx, status.Filter{RunID: runID})
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond): // a node down: try again
				}
				continue
			}
			for c := range ch {
				if c.Record != nil {
					w.see(c.JID, c.Record.State, c.Revision)
				}
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *terminalWatch) see(jid string, s job.State, rev uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state[jid] = s
	if s.Terminal() {
		if w.termRevs[jid] == nil {
			w.termRevs[jid] = map[uint64]job.State{}
		}
		w.termRevs[jid][rev] = s
	}
	if !w.closed && w.countLocked() >= w.n {
		w.closed = true
		close(w.done)
	}
}

func (w *terminalWatch) countLocked() int {
	k := 0
	for _, s := range w.state {
		if s.Terminal() {
			k++
		}
	}
	return k
}

func (w *terminalWatch) terminal() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.countLocked()
}

func (w *terminalWatch) stop() {
	w.cancel()
	<-w.finished
}

// checkChaos counts what the run left: the records (every job terminal,
// finished with its own output), the markers (each job launched exactly
// once), the watch (terminal exactly once) and the executors' logs
// (re-attaches); it fails the test on any job lost, run twice or wrong.
func checkChaos(t *testing.T, st *status.Store, runID string, jobs []*job.Job, markers string, w *terminalWatch, all []*proc, fig *chaosFigures) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := st.List(ctx, status.Filter{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	byJID := map[string]*job.Record{}
	fig.states = map[job.State]int{}
	for _, r := range recs {
		byJID[r.JID] = r
		fig.states[r.State]++
	}
	launches := map[string]int{}
	entries, err := os.ReadDir(markers)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for _, jid := range lines(filepath.Join(markers, e.Name())) {
			launches[jid]++
		}
	}
	var bad []string
	report := func(format string, args ...any) {
		if len(bad) < 20 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	for _, j := range jobs {
		r := byJID[j.ID]
		switch {
		case r == nil || !r.State.Terminal() || r.State == job.StateLost:
			fig.lost++
			if r == nil {
				report("%s: no record", j.ID)
			} else {
				report("%s on %s: %s %s", j.ID, r.Host, r.State, r.Msg)
			}
		case r.State != job.StateFinished || r.Stdout != "ok "+j.ID || r.RC == nil || *r.RC != 0:
			fig.wrong++
			report("%s on %s (poll %d): %s rc=%v stdout=%q msg=%q (attempt %d, executor %s)", j.ID, r.Host, j.Poll, r.State, r.RC, r.Stdout, r.Msg, r.Attempt, r.Executor)
		}
		if r != nil && r.Attempt > 1 {
			fig.redeliv++
		}
		switch n := launches[j.ID]; {
		case n == 0:
			fig.neverRun++
			report("%s: never launched", j.ID)
		case n > 1:
			fig.duplicated++
			report("%s: launched %d times", j.ID, n)
		}
		if revs := len(w.termRevs[j.ID]); revs > 1 {
			fig.terminalTwice++
			report("%s: recorded terminal %d times: %v", j.ID, revs, w.termRevs[j.ID])
		}
	}
	jids := map[string]bool{}
	for _, p := range all {
		data, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, collectedLog) {
				fig.collected++
			}
			if strings.Contains(l, heldLog) {
				fig.held++
			}
			if strings.Contains(l, secondLog) {
				fig.second++
			}
			if strings.Contains(l, reattachLog) {
				fig.reattached++
				if i := strings.Index(l, "jid="); i >= 0 {
					jids[strings.Fields(l[i:])[0]] = true
				}
			}
		}
	}
	fig.reattachedJobs = len(jids)
	if fig.lost+fig.duplicated+fig.neverRun+fig.wrong+fig.terminalTwice > 0 {
		t.Errorf("chaos run: %s\n%s", fig, strings.Join(bad, "\n"))
	}
}
