package executor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/sshtest"
)

// The executor's metrics move as docs/metrics.md says, through a real NATS
// server and real sshd hosts: jobs started and finished by state and module,
// run time, async timeouts, dials and their failures, forks and connections.
func TestMetrics(t *testing.T) {
	env := natstest.Start(t)
	fleet := sshtest.Start(t, 2)
	reg := prometheus.NewRegistry()
	m := metrics.NewExecutor(reg, metrics.ExecutorOptions{})
	pool, err := connection.NewPool(connection.Config{Observer: m, ConnectTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	ex, err := executor.New(executor.Config{ID: "ex-metrics", Forks: 3, Metrics: m}, env.Queue, env.Store, pool)
	if err != nil {
		t.Fatal(err)
	}
	m.Gauges(metrics.ExecutorGauges{Forks: ex.Forks, Busy: ex.Busy, Async: ex.Async, SSHOpen: pool.Open})
	if err := ex.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ex.Stop(ctx)
	})

	down := fleet.Target(1)
	fleet.Stop(1) // its port now refuses connections
	cmd := func(s string) map[string]any { return map[string]any{"_raw_params": s} }
	jobs := []*job.Job{
		{ID: "m.ok", Module: "command", Args: cmd("echo hi"), Target: fleet.Target(0)},
		{ID: "m.fail", Module: "shell", Args: cmd("exit 3"), Target: fleet.Target(0)},
		{ID: "m.down", Module: "command", Args: cmd("true"), Target: down},
		{ID: "m.async", Module: "command", Args: cmd("sleep 0.2"), Target: fleet.Target(0), Async: 30, Poll: 1},
		{ID: "m.timeout", Module: "command", Args: cmd("sleep 30"), Target: fleet.Target(0), Async: 1, Poll: 1},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, j := range jobs {
		j.RunID = "rm"
		submit(t, env, j)
	}
	states := map[string]job.State{}
	for _, j := range jobs {
		rec, err := env.Store.WaitTerminal(ctx, j.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		states[j.ID] = rec.State
	}
	want := map[string]job.State{"m.ok": job.StateFinished, "m.fail": job.StateFailed, "m.down": job.StateUnreachable,
		"m.async": job.StateFinished, "m.timeout": job.StateTimeout}
	for id, st := range want {
		if states[id] != st {
			t.Fatalf("%s ended %s, want %s", id, states[id], st)
		}
	}

	expect := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gorun_jobs_started_total", map[string]string{"module": "command"}, 4},
		{"gorun_jobs_started_total", map[string]string{"module": "shell"}, 1},
		{"gorun_jobs_finished_total", map[string]string{"module": "command", "state": "finished"}, 2},
		{"gorun_jobs_finished_total", map[string]string{"module": "shell", "state": "failed"}, 1},
		{"gorun_jobs_finished_total", map[string]string{"module": "command", "state": "unreachable"}, 1},
		{"gorun_jobs_finished_total", map[string]string{"module": "command", "state": "timeout"}, 1},
		{"gorun_async_timeouts_total", nil, 1},
		{"gorun_job_cancellations_total", nil, 0},
		{"gorun_async_reattaches_total", nil, 0},
		{"gorun_job_redeliveries_total", nil, 0},
		{"gorun_jobs_dead_lettered_total", nil, 0},
		{"gorun_ssh_dial_failures_total", map[string]string{"reason": "refused"}, 1},
		{"gorun_executor_forks", nil, 3},
		{"gorun_ssh_connections_open", nil, 1},
	}
	// the counters move right after the terminal record is written: poll
	// for them with a deadline
	var got map[string][]sample
	var wrong []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, wrong = gather(t, reg), nil
		for _, e := range expect {
			if v, ok := find(got, e.name, e.labels); !ok || v != e.want {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v (found %v), want %v", e.name, e.labels, v, ok, e.want))
			}
		}
		if v, _ := find(got, "gorun_job_run_duration_seconds_count", map[string]string{"module": "command"}); v != 4 {
			wrong = append(wrong, fmt.Sprintf("run duration observations = %v, want 4", v))
		}
		if len(wrong) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, w := range wrong {
		t.Error(w)
	}
	// one successful dial to host 0 (the connection is shared by its jobs),
	// one refused by host 1
	if v, _ := find(got, "gorun_ssh_dials_total", nil); v != 2 {
		t.Errorf("dials = %v, want 2", v)
	}
	if v, _ := find(got, "gorun_ssh_dial_duration_seconds_count", map[string]string{"phase": "handshake"}); v != 1 {
		t.Errorf("handshake observations = %v, want 1", v)
	}
	if v, _ := find(got, "gorun_job_queue_wait_seconds_count", nil); v != 5 {
		t.Errorf("queue wait observations = %v, want 5", v)
	}
	// forks busy and async jobs running fall back to 0 once everything ended
	deadline = time.Now().Add(10 * time.Second)
	for {
		got = gather(t, reg)
		busy, _ := find(got, "gorun_executor_forks_busy", nil)
		async, _ := find(got, "gorun_async_jobs_running", nil)
		if busy == 0 && async == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("busy %v, async %v after every job ended", busy, async)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gather returns the registry's samples as name → []sample.
func gather(t *testing.T, reg *prometheus.Registry) map[string][]sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]sample{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			name := mf.GetName()
			switch {
			case m.Counter != nil:
				out[name] = append(out[name], sample{labels, m.GetCounter().GetValue()})
			case m.Gauge != nil:
				out[name] = append(out[name], sample{labels, m.GetGauge().GetValue()})
			case m.Histogram != nil:
				out[name+"_count"] = append(out[name+"_count"], sample{labels, float64(m.GetHistogram().GetSampleCount())})
			}
		}
	}
	return out
}

type sample struct {
	labels map[string]string
	value  float64
}

// find returns the sum of the samples of name whose labels include want.
func find(got map[string][]sample, name string, want map[string]string) (float64, bool) {
	sum, ok := 0.0, false
next:
	for _, s := range got[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum, ok = sum+s.value, true
	}
	return sum, ok
}
