package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gorun/gorun/job"
)

// all registers every gorun metric on one registry, as gorun server does.
func all(t *testing.T, opts ExecutorOptions) (*prometheus.Registry, *Executor, *Dispatcher, *Queue, *fakeExecutor) {
	t.Helper()
	reg := NewRegistry("v1.2.3")
	ex := NewExecutor(reg, opts)
	fe := &fakeExecutor{forks: 4}
	ex.Gauges(ExecutorGauges{Forks: fe.Forks, Busy: fe.Busy, Async: fe.Async, SSHOpen: fe.Open})
	return reg, ex, NewDispatcher(reg), NewQueue(reg), fe
}

type fakeExecutor struct{ forks, busy, async, open int }

func (f *fakeExecutor) Forks() int { return f.forks }
func (f *fakeExecutor) Busy() int  { return f.busy }
func (f *fakeExecutor) Async() int { return f.async }
func (f *fakeExecutor) Open() int  { return f.open }

// documented reads docs/metrics.md: metric name → type.
func documented(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `(gorun_[a-z_]+)` \\| (counter|gauge|histogram) \\|")
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = m[2]
		}
	}
	if len(out) < 20 {
		t.Fatalf("docs/metrics.md: only %d metrics found in its tables", len(out))
	}
	return out
}

// TestDocumented checks that docs/metrics.md and the registry agree: every
// documented metric is exported with its type, and nothing else is.
func TestDocumented(t *testing.T) {
	reg, ex, _, _, _ := all(t, ExecutorOptions{})
	// vectors keyed by module appear with their first job
	ex.Started("command", time.Now())
	ex.Finished(&job.Record{State: job.StateFinished, Module: "command", Started: time.Now(), Ended: time.Now()})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]string{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "gorun_") {
			exported[mf.GetName()] = strings.ToLower(mf.GetType().String())
		}
	}
	docs := documented(t)
	var problems []string
	for name, typ := range docs {
		switch got, ok := exported[name]; {
		case !ok:
			problems = append(problems, name+": documented, not exported")
		case got != typ:
			problems = append(problems, name+": documented as "+typ+", exported as "+got)
		}
	}
	for name := range exported {
		if _, ok := docs[name]; !ok {
			problems = append(problems, name+": exported, not documented")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("docs/metrics.md and the code disagree:\n%s", strings.Join(problems, "\n"))
	}
	// lint: conventional names and help texts
	lint, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lint {
		if strings.HasPrefix(p.Metric, "gorun_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestBuildInfoAndRuntimeCollectors(t *testing.T) {
	reg, _, _, _, _ := all(t, ExecutorOptions{})
	want := `
# HELP gorun_build_info Always 1; the labels say which gorun version is running, built with which Go.
# TYPE gorun_build_info gauge
gorun_build_info{go_version="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gorun_build_info"); err != nil {
		t.Fatal(err)
	}
	mfs, _ := reg.Gather()
	var goOK, procOK bool
	for _, mf := range mfs {
		goOK = goOK || mf.GetName() == "go_goroutines"
		procOK = procOK || mf.GetName() == "process_start_time_seconds"
	}
	if !goOK || !procOK {
		t.Fatalf("Go collector %v, process collector %v", goOK, procOK)
	}
}

func TestExecutorJobs(t *testing.T) {
	_, ex, _, _, _ := all(t, ExecutorOptions{})
	now := time.Now()
	ex.Started("command", now.Add(-2*time.Second))
	ex.Started("shell", time.Time{})
	if got := testutil.ToFloat64(ex.started.WithLabelValues("command")); got != 1 {
		t.Fatalf("started{command} = %v", got)
	}
	if n := histCount(t, ex.queueWait); n != 1 {
		t.Fatalf("queue wait observations = %d, want 1 (the one with a publish time)", n)
	}
	if s := histSum(t, ex.queueWait); s < 2 || s > 60 {
		t.Fatalf("queue wait sum = %v, want about 2s", s)
	}

	cases := []struct {
		state   job.State
		counter prometheus.Counter // also moved by this state, or nil
	}{
		{job.StateFinished, nil},
		{job.StateFailed, nil},
		{job.StateUnreachable, nil},
		{job.StateTimeout, ex.timeouts},
		{job.StateCancelled, ex.cancellations},
		{job.StateLost, ex.deadLettered},
	}
	for _, c := range cases {
		t.Run(string(c.state), func(t *testing.T) {
			var before float64
			if c.counter != nil {
				before = testutil.ToFloat64(c.counter)
			}
			runsBefore := histCount(t, ex.runDuration.WithLabelValues("command").(prometheus.Histogram))
			ex.Finished(&job.Record{State: c.state, Module: "command", Host: "web1",
				Started: now.Add(-3 * time.Second), Ended: now})
			if got := testutil.ToFloat64(ex.finished.WithLabelValues(string(c.state), "command")); got != 1 {
				t.Fatalf("finished{%s} = %v", c.state, got)
			}
			if c.counter != nil && testutil.ToFloat64(c.counter) != before+1 {
				t.Fatalf("the %s counter did not move", c.state)
			}
			if histCount(t, ex.runDuration.WithLabelValues("command").(prometheus.Histogram)) != runsBefore+1 {
				t.Fatal("run duration not observed")
			}
		})
	}
	ex.Reattached()
	ex.Redelivered()
	if testutil.ToFloat64(ex.reattaches) != 1 || testutil.ToFloat64(ex.redeliveries) != 1 {
		t.Fatal("reattaches / redeliveries did not count")
	}
	// timeouts are counted once per job: Finished(timeout) is the only way
	if testutil.ToFloat64(ex.timeouts) != 1 {
		t.Fatalf("timeouts = %v", testutil.ToFloat64(ex.timeouts))
	}
}

func TestExecutorHostLabel(t *testing.T) {
	reg, ex, _, _, _ := all(t, ExecutorOptions{HostLabel: true})
	ex.Finished(&job.Record{State: job.StateFinished, Module: "ping", Host: "db1"})
	want := `
# HELP gorun_jobs_finished_total Jobs an executor recorded in a terminal state (finished, failed, timeout, cancelled, unreachable, lost).
# TYPE gorun_jobs_finished_total counter
gorun_jobs_finished_total{host="db1",module="ping",state="finished"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gorun_jobs_finished_total"); err != nil {
		t.Fatal(err)
	}
}

func TestExecutorGaugesAndDials(t *testing.T) {
	reg, ex, _, _, fe := all(t, ExecutorOptions{})
	fe.busy, fe.async, fe.open = 3, 2, 7
	want := `
# HELP gorun_async_jobs_running Async jobs this executor follows on their targets.
# TYPE gorun_async_jobs_running gauge
gorun_async_jobs_running 2
# HELP gorun_executor_forks Forks configured.
# TYPE gorun_executor_forks gauge
gorun_executor_forks 4
# HELP gorun_executor_forks_busy Forks running a job now.
# TYPE gorun_executor_forks_busy gauge
gorun_executor_forks_busy 3
# HELP gorun_ssh_connections_open SSH connections open in the executor's pool.
# TYPE gorun_ssh_connections_open gauge
gorun_ssh_connections_open 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gorun_async_jobs_running",
		"gorun_executor_forks", "gorun_executor_forks_busy", "gorun_ssh_connections_open"); err != nil {
		t.Fatal(err)
	}

	ex.Dialed(2*time.Millisecond, 30*time.Millisecond, "")
	ex.Dialed(time.Millisecond, 0, "refused")
	ex.Dialed(time.Millisecond, 5*time.Millisecond, "host_key")
	if got := testutil.ToFloat64(ex.dials); got != 3 {
		t.Fatalf("dials = %v", got)
	}
	for reason, want := range map[string]float64{"refused": 1, "host_key": 1, "auth": 0, "dns": 0} {
		if got := testutil.ToFloat64(ex.dialFailures.WithLabelValues(reason)); got != want {
			t.Errorf("failures{%s} = %v, want %v", reason, got, want)
		}
	}
	for _, phase := range []string{"connect", "handshake"} {
		if n := histCount(t, ex.dialDuration.WithLabelValues(phase).(prometheus.Histogram)); n != 1 {
			t.Errorf("dial %s observations = %d, want 1 (successful dials only)", phase, n)
		}
	}
	// every reason is exported from the start, at 0
	if n := testutil.CollectAndCount(ex.dialFailures); n != len(DialFailureReasons) {
		t.Fatalf("%d failure series, want %d", n, len(DialFailureReasons))
	}
}

func TestDispatcher(t *testing.T) {
	_, _, d, _, _ := all(t, ExecutorOptions{})
	d.RunStarted()
	d.RunStarted()
	d.RunStarted()
	if got := testutil.ToFloat64(d.active); got != 3 {
		t.Fatalf("active = %v", got)
	}
	d.RunEnded("ok")
	d.RunEnded("failed")
	d.RunEnded("") // handed back
	if got := testutil.ToFloat64(d.active); got != 0 {
		t.Fatalf("active = %v", got)
	}
	for result, want := range map[string]float64{"ok": 1, "failed": 1, "cancelled": 0, "error": 0} {
		if got := testutil.ToFloat64(d.finished.WithLabelValues(result)); got != want {
			t.Errorf("finished{%s} = %v, want %v", result, got, want)
		}
	}
	d.Published()
	d.Published()
	if got := testutil.ToFloat64(d.published); got != 2 {
		t.Fatalf("published = %v", got)
	}
	d.WatchLag(15 * time.Millisecond)
	if n := histCount(t, d.watchLag); n != 1 {
		t.Fatalf("watch lag observations = %d", n)
	}
}

func TestQueuePoll(t *testing.T) {
	_, _, _, q, _ := all(t, ExecutorOptions{})
	stats := QueueStats{Pending: 5, AckPending: 3, Redelivered: 1, Waiting: 2, OldestPending: 90 * time.Second}
	fail := false
	calls := make(chan struct{}, 100)
	src := func(context.Context) (QueueStats, error) {
		calls <- struct{}{}
		if fail {
			return QueueStats{}, errors.New("nats down")
		}
		return stats, nil
	}
	if err := q.PollOnce(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	check := func(p, ap, rd, w, age float64) {
		t.Helper()
		for _, c := range []struct {
			g    prometheus.Gauge
			want float64
		}{{q.pending, p}, {q.ackPending, ap}, {q.redelivered, rd}, {q.waiting, w}, {q.oldest, age}} {
			if got := testutil.ToFloat64(c.g); got != c.want {
				t.Errorf("%s = %v, want %v", c.g.Desc(), got, c.want)
			}
		}
	}
	check(5, 3, 1, 2, 90)
	fail = true
	if err := q.PollOnce(t.Context(), src); err == nil {
		t.Fatal("no error")
	}
	check(5, 3, 1, 2, 90) // last values kept
	if testutil.ToFloat64(q.polls.WithLabelValues("ok")) != 1 || testutil.ToFloat64(q.polls.WithLabelValues("error")) != 1 {
		t.Fatal("polls not counted by result")
	}
	fail = false
	stats = QueueStats{}
	// the ticker: polls at once, then every interval
	stop := q.Poll(t.Context(), src, 10*time.Millisecond, nil)
	for range 3 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatal("the poller did not poll")
		}
	}
	stop()
	check(0, 0, 0, 0, 0)
}

func TestServer(t *testing.T) {
	reg, ex, _, _, _ := all(t, ExecutorOptions{})
	ex.Finished(&job.Record{State: job.StateFinished, Module: "command"})
	var notReady error
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Gatherer: reg,
		Ready: func(context.Context) error { return notReady }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	get := func(path, accept string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+srv.Addr()+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := get("/metrics", ""); code != 200 || !strings.Contains(body, `gorun_jobs_finished_total{module="command",state="finished"} 1`) {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	if code, ctype, body := get("/metrics", "application/openmetrics-text; version=1.0.0"); code != 200 ||
		!strings.HasPrefix(ctype, "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
		t.Fatalf("OpenMetrics: %d %s", code, ctype)
	}
	if code, _, body := get("/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _, _ := get("/readyz", ""); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	notReady = errors.New("NATS connection is reconnecting")
	if code, _, body := get("/readyz", ""); code != 503 || !strings.Contains(body, "reconnecting") {
		t.Fatalf("/readyz when not ready: %d %q", code, body)
	}
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func histSum(t *testing.T, h prometheus.Histogram) float64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleSum()
}
