// Package metrics provides gorun's Prometheus metrics: the collectors of
// executors, dispatchers and the task queue on an explicit registry, and the
// HTTP server of /metrics, /healthz and /readyz. docs/metrics.md lists every
// metric; the names are fixed here, in one place.
//
// The instruments are nil-safe: a nil *Executor or *Dispatcher records
// nothing, so the engines need no metrics to run (tests, the CLI).
package metrics

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gorun/gorun/job"
)

// Namespace prefixes every gorun metric.
const Namespace = "gorun"

// Buckets of job run time: seconds to hours.
var runBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}

// Buckets of queue wait: milliseconds to an hour.
var waitBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// Buckets of SSH dial phases and KV watch lag.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// NewRegistry returns a registry with the Go and process collectors and
// gorun_build_info{version,go_version}. An empty version is read from the
// binary's build information.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if version == "" || version == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	if version == "" {
		version = "dev"
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels say which gorun version is running, built with which Go.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()}})
	info.Set(1)
	reg.MustRegister(info)
	return reg
}

// ExecutorOptions tune the executor's metrics.
type ExecutorOptions struct {
	// HostLabel adds a host label to gorun_jobs_finished_total: one series
	// per host and state, so off by default.
	HostLabel bool
}

// Executor holds an executor's instruments. Its methods are safe for
// concurrent use, and do nothing on a nil *Executor.
type Executor struct {
	hostLabel bool

	started       *prometheus.CounterVec
	finished      *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	queueWait     prometheus.Histogram
	timeouts      prometheus.Counter
	cancellations prometheus.Counter
	reattaches    prometheus.Counter
	redeliveries  prometheus.Counter
	deadLettered  prometheus.Counter

	dials        prometheus.Counter
	dialDuration *prometheus.HistogramVec
	dialFailures *prometheus.CounterVec

	reg prometheus.Registerer
}

// DialFailureReasons are the values of gorun_ssh_dial_failures_total's
// reason label.
var DialFailureReasons = []string{"dns", "refused", "timeout", "unreachable", "reset", "closed", "host_key", "auth", "other"}

// NewExecutor registers the executor's metrics on reg. Gauges that read
// the executor's state are added with Gauges once it exists.
func NewExecutor(reg prometheus.Registerer, opts ExecutorOptions) *Executor {
	finishedLabels := []string{"state", "module"}
	if opts.HostLabel {
		finishedLabels = append(finishedLabels, "host")
	}
	m := &Executor{
		hostLabel: opts.HostLabel,
		reg:       reg,
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "jobs_started_total",
			Help: "Jobs an executor started running (claimed and launched)."}, []string{"module"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "jobs_finished_total",
			Help: "Jobs an executor recorded in a terminal state (finished, failed, timeout, cancelled, unreachable, lost)."}, finishedLabels),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "job_run_duration_seconds",
			Help: "Time from a job's start to its terminal record (an async job: its whole life on the target).", Buckets: runBuckets}, []string{"module"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "job_queue_wait_seconds",
			Help: "Time from a job's message being published to an executor claiming it.", Buckets: waitBuckets}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "async_timeouts_total",
			Help: "Async jobs killed for exceeding their async limit."}),
		cancellations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "job_cancellations_total",
			Help: "Running jobs this executor cancelled on request."}),
		reattaches: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "async_reattaches_total",
			Help: "Async jobs this executor re-attached to after another executor died or stopped."}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "job_redeliveries_total",
			Help: "Deliveries of a job message beyond its first."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "jobs_dead_lettered_total",
			Help: "Jobs whose message exhausted its deliveries, recorded lost."}),
		dials: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "ssh_dials_total",
			Help: "SSH dials attempted (TCP connect, handshake and authentication)."}),
		dialDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "ssh_dial_duration_seconds",
			Help: "Time of each phase of successful SSH dials: connect (TCP), handshake (key exchange, host key check, authentication).", Buckets: latencyBuckets}, []string{"phase"}),
		dialFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "ssh_dial_failures_total",
			Help: "Failed SSH dials by reason."}, []string{"reason"}),
	}
	reg.MustRegister(m.started, m.finished, m.runDuration, m.queueWait, m.timeouts, m.cancellations,
		m.reattaches, m.redeliveries, m.deadLettered, m.dials, m.dialDuration, m.dialFailures)
	for _, r := range DialFailureReasons {
		m.dialFailures.WithLabelValues(r)
	}
	for _, p := range []string{"connect", "handshake"} {
		m.dialDuration.WithLabelValues(p)
	}
	return m
}

// ExecutorGauges are read at scrape time.
type ExecutorGauges struct {
	Forks, Busy, Async, SSHOpen func() int
}

// Gauges registers the gauges that read the executor's state: forks
// configured and busy, async jobs followed, SSH connections open.
func (m *Executor) Gauges(g ExecutorGauges) {
	if m == nil {
		return
	}
	gauge := func(name, help string, f func() int) {
		if f == nil {
			return
		}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	gauge("executor_forks", "Forks configured.", g.Forks)
	gauge("executor_forks_busy", "Forks running a job now.", g.Busy)
	gauge("async_jobs_running", "Async jobs this executor follows on their targets.", g.Async)
	gauge("ssh_connections_open", "SSH connections open in the executor's pool.", g.SSHOpen)
}

// Started counts a job started for the first time (a redelivery that
// takes a job over is not a new start), and how long its message waited
// since published.
func (m *Executor) Started(module string, published time.Time) {
	if m == nil {
		return
	}
	m.started.WithLabelValues(module).Inc()
	if !published.IsZero() {
		m.queueWait.Observe(max(time.Since(published).Seconds(), 0))
	}
}

// Redelivered counts a delivery of a job message beyond its first.
func (m *Executor) Redelivered() {
	if m == nil {
		return
	}
	m.redeliveries.Inc()
}

// Finished counts a job this executor recorded in a terminal state.
func (m *Executor) Finished(r *job.Record) {
	if m == nil || r == nil {
		return
	}
	labels := []string{string(r.State), r.Module}
	if m.hostLabel {
		labels = append(labels, r.Host)
	}
	m.finished.WithLabelValues(labels...).Inc()
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		m.runDuration.WithLabelValues(r.Module).Observe(max(r.Ended.Sub(r.Started).Seconds(), 0))
	}
	switch r.State {
	case job.StateTimeout:
		m.timeouts.Inc()
	case job.StateCancelled:
		m.cancellations.Inc()
	case job.StateLost:
		m.deadLettered.Inc()
	}
}

// Reattached counts an async job re-attached to.
func (m *Executor) Reattached() {
	if m == nil {
		return
	}
	m.reattaches.Inc()
}

// Dialed records an SSH dial: the time of its TCP connect and of its
// handshake, and the reason of its failure ("" when it succeeded). It
// satisfies connection.Observer.
func (m *Executor) Dialed(connect, handshake time.Duration, reason string) {
	if m == nil {
		return
	}
	m.dials.Inc()
	if reason != "" {
		m.dialFailures.WithLabelValues(reason).Inc()
		return
	}
	m.dialDuration.WithLabelValues("connect").Observe(connect.Seconds())
	m.dialDuration.WithLabelValues("handshake").Observe(handshake.Seconds())
}

// Dispatcher holds a dispatcher's instruments. Its methods are safe for
// concurrent use, and do nothing on a nil *Dispatcher.
type Dispatcher struct {
	active    prometheus.Gauge
	finished  *prometheus.CounterVec
	published prometheus.Counter
	watchLag  prometheus.Histogram
}

// RunResults are the values of gorun_runs_finished_total's result label.
var RunResults = []string{"ok", "failed", "cancelled", "error"}

// NewDispatcher registers the dispatcher's metrics on reg.
func NewDispatcher(reg prometheus.Registerer) *Dispatcher {
	m := &Dispatcher{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "runs_active",
			Help: "Runs this dispatcher is running now."}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "runs_finished_total",
			Help: "Runs this dispatcher ended, by result (ok, failed, cancelled, error)."}, []string{"result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "tasks_published_total",
			Help: "Job messages published to the task stream."}),
		watchLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "kv_watch_lag_seconds",
			Help: "Time from a job record's write (NATS server time) to the dispatcher's KV watch delivering it.", Buckets: latencyBuckets}),
	}
	reg.MustRegister(m.active, m.finished, m.published, m.watchLag)
	for _, r := range RunResults {
		m.finished.WithLabelValues(r)
	}
	return m
}

// RunStarted counts a run taken.
func (m *Dispatcher) RunStarted() {
	if m == nil {
		return
	}
	m.active.Inc()
}

// RunEnded counts a run ended with result (one of RunResults), or handed
// back unfinished when result is "".
func (m *Dispatcher) RunEnded(result string) {
	if m == nil {
		return
	}
	m.active.Dec()
	if result != "" {
		m.finished.WithLabelValues(result).Inc()
	}
}

// Published counts a job message published.
func (m *Dispatcher) Published() {
	if m == nil {
		return
	}
	m.published.Inc()
}

// WatchLag records the delay of a KV watch update.
func (m *Dispatcher) WatchLag(d time.Duration) {
	if m == nil {
		return
	}
	m.watchLag.Observe(max(d.Seconds(), 0))
}
