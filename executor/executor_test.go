package executor_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/queue"
)

func start(t *testing.T, env *natstest.Env, forks int) *executor.Executor {
	t.Helper()
	pool, err := connection.NewPool(connection.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	ex, err := executor.New(executor.Config{ID: "ex-test", Forks: forks}, env.Queue, env.Store, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ex.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return ex
}

func submit(t *testing.T, env *natstest.Env, j *job.Job) {
	t.Helper()
	ctx := context.Background()
	if j.Created.IsZero() {
		j.Created = time.Now().UTC()
	}
	if _, err := env.Store.Create(ctx, job.NewRecord(j)); err != nil {
		t.Fatal(err)
	}
	if err := env.Queue.Publish(ctx, j); err != nil {
		t.Fatal(err)
	}
}

func TestRunsJobsToTerminalRecords(t *testing.T) {
	env := natstest.Start(t)
	start(t, env, 3)
	local := job.Target{Host: "localhost", Connection: "local"}
	cases := []struct {
		name   string
		module string
		args   map[string]any
		state  job.State
		rc     int
		stdout string
	}{
		{"echo", "command", map[string]any{"_raw_params": "echo hello"}, job.StateFinished, 0, "hello"},
		{"false", "command", map[string]any{"_raw_params": "false"}, job.StateFailed, 1, ""},
		{"shell", "shell", map[string]any{"_raw_params": "echo out; echo err >&2; exit 3"}, job.StateFailed, 3, "out"},
		{"debug", "debug", map[string]any{"msg": "hi"}, job.StateFinished, -1, ""},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jid := "j10." + strconv.Itoa(i)
			submit(t, env, &job.Job{ID: jid, RunID: "r1", Module: tc.module, Args: tc.args, Target: local})
			rec, err := env.Store.WaitTerminal(ctx, jid, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != tc.state || rec.Executor != "ex-test" || rec.Started.IsZero() || rec.Ended.IsZero() {
				t.Fatalf("record = %+v", rec)
			}
			if tc.rc >= 0 && (rec.RC == nil || *rec.RC != tc.rc) {
				t.Fatalf("rc = %v, want %d", rec.RC, tc.rc)
			}
			if rec.Stdout != tc.stdout {
				t.Fatalf("stdout = %q, want %q", rec.Stdout, tc.stdout)
			}
		})
	}
	// the ack follows the terminal record: wait for it
	deadline := time.Now().Add(5 * time.Second)
	for {
		dep, err := env.Queue.Depth(ctx)
		if err == nil && dep.Pending == 0 && dep.AckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty: %+v %v", dep, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A redelivered message whose record is already terminal is acked without
// running the job again.
func TestTerminalRecordNotRunAgain(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j := &job.Job{ID: "j11.1", RunID: "r1", Module: "command", Args: map[string]any{"_raw_params": "echo again"},
		Target: job.Target{Host: "localhost", Connection: "local"}, Created: time.Now().UTC()}
	rec := job.NewRecord(j)
	rec.State = job.StateFinished
	rec.Stdout = "first"
	if _, err := env.Store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := env.Queue.Publish(ctx, j); err != nil {
		t.Fatal(err)
	}
	start(t, env, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		dep, err := env.Queue.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if dep.Pending == 0 && dep.AckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not acked: %+v", dep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e, err := env.Store.Get(ctx, "j11.1")
	if err != nil || e.Record.Stdout != "first" {
		t.Fatalf("record changed: %+v %v", e.Record, err)
	}
}

// A duplicate message for a job another executor is running (same delivery
// count) is acked without touching the job; a redelivery takes it over.
func TestDuplicateDeliveryFenced(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j := &job.Job{ID: "j12.1", RunID: "r1", Module: "command", Args: map[string]any{"_raw_params": "echo dup"},
		Target: job.Target{Host: "localhost", Connection: "local"}, Created: time.Now().UTC()}
	rec := job.NewRecord(j)
	rec.State, rec.Executor, rec.Attempt = job.StateRunning, "other-executor", 1
	if _, err := env.Store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := env.Queue.Publish(ctx, j); err != nil {
		t.Fatal(err)
	}
	start(t, env, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		dep, err := env.Queue.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if dep.Pending == 0 && dep.AckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("duplicate not acked: %+v", dep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e, err := env.Store.Get(ctx, "j12.1")
	if err != nil || e.Record.State != job.StateRunning || e.Record.Executor != "other-executor" {
		t.Fatalf("the duplicate touched the record: %+v %v", e.Record, err)
	}
}

// A job whose message exhausts its deliveries ends lost, not running.
func TestDeadLetterRecordsLost(t *testing.T) {
	env := natstest.Start(t, natstest.AckWait(200*time.Millisecond), natstest.MaxDeliver(2))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j := &job.Job{ID: "j13.1", RunID: "r1", Module: "command", Args: map[string]any{"_raw_params": "true"},
		Target: job.Target{Host: "localhost", Connection: "local"}, Created: time.Now().UTC()}
	if _, err := env.Store.Create(ctx, job.NewRecord(j)); err != nil {
		t.Fatal(err)
	}
	if err := env.Queue.Publish(ctx, j); err != nil {
		t.Fatal(err)
	}
	// an executor that takes the message twice and dies each time
	takeUnacked(ctx, t, env.Queue, 2)
	start(t, env, 1)
	rec, err := env.Store.WaitTerminal(ctx, "j13.1", nil)
	if err != nil || rec.State != job.StateLost || rec.Msg == "" {
		t.Fatalf("record %+v %v", rec, err)
	}
}

// takeUnacked takes n deliveries from q and never acks them, as an
// executor that dies holding them.
func takeUnacked(ctx context.Context, t *testing.T, q *queue.Queue, n int) {
	t.Helper()
	p, err := q.Puller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for range n {
		if _, err := p.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
