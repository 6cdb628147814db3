package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
)

// An executor died after it read a polled job's end and kept it in the
// record, before the record was terminal (the job's directory removed, or
// not yet): the executor that takes the job over records that end, and
// removes the directory, instead of finding the job gone without a trace.
func TestTakeoverRecordsCollectedEnd(t *testing.T) {
	cases := []struct {
		name    string
		dirLeft bool // the first executor died before removing the directory
		state   job.State
		rc      int
	}{
		{"directory removed", false, job.StateFinished, 0},
		{"directory left", true, job.StateFinished, 0},
		{"failed job", false, job.StateFailed, 3},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := natstest.Start(t, natstest.AckWait(500*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			jid := "j31." + string(rune('0'+i))
			asyncDir := filepath.Join(t.TempDir(), "async")
			dir := filepath.Join(asyncDir, jid)
			if tc.dirLeft {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "rc"), []byte("0\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			j := &job.Job{ID: jid, RunID: "r31", Module: "shell", Args: map[string]any{"_raw_params": "echo kept"},
				Target: job.Target{Host: "localhost", Connection: "local"}, Async: 30, Poll: 1, AsyncDir: asyncDir,
				Created: time.Now().UTC()}
			rec := job.NewRecord(j)
			rc := tc.rc
			rec.State, rec.Executor, rec.Attempt = job.StateRunning, "dead-executor", 1
			rec.Remote = &job.Remote{Dir: dir, PID: 999999, ResultsFile: dir, Launched: time.Now().UTC(), Collected: tc.state}
			rec.RC, rec.Stdout, rec.Output, rec.Ended = &rc, "kept", true, time.Now().UTC()
			rec.Result = map[string]any{"changed": true, "failed": tc.state == job.StateFailed}
			if _, err := env.Store.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if err := env.Queue.Publish(ctx, j); err != nil {
				t.Fatal(err)
			}
			// the dead executor's delivery: taken, never acked
			takeUnacked(ctx, t, env.Queue, 1)

			start(t, env, 1)
			got, err := env.Store.WaitTerminal(ctx, jid, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.state || got.RC == nil || *got.RC != tc.rc || got.Stdout != "kept" || got.Executor != "ex-test" {
				t.Fatalf("record %s rc=%v stdout=%q executor=%s msg=%q, want %s rc=%d stdout=\"kept\" by ex-test",
					got.State, got.RC, got.Stdout, got.Executor, got.Msg, tc.state, tc.rc)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the job directory is still there (%v)", err)
			}
		})
	}
}

// Check (gorun status of a job whose executor is gone) records the end an
// executor collected and kept in the record before it died, and removes
// the job's directory.
func TestCheckRecordsCollectedEnd(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "j32.1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	j := &job.Job{ID: "j32.1", RunID: "r32", Module: "shell", Args: map[string]any{"_raw_params": "echo kept"},
		Target: job.Target{Host: "localhost", Connection: "local"}, Async: 30, Poll: 1, AsyncDir: filepath.Dir(dir),
		Created: time.Now().UTC()}
	rec := job.NewRecord(j)
	rc := 0
	rec.State, rec.Executor, rec.Attempt = job.StateRunning, "dead-executor", 1
	rec.Remote = &job.Remote{Dir: dir, PID: 999999, ResultsFile: dir, Launched: time.Now().UTC(), Collected: job.StateFinished}
	rec.RC, rec.Stdout, rec.Output, rec.Ended = &rc, "kept", true, time.Now().UTC()
	rec.Result = map[string]any{"changed": true}
	if _, err := env.Store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	pool, err := connection.NewPool(connection.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	agents := executor.NewAgentPool(pool, nil)
	t.Cleanup(agents.Close)
	got, err := executor.Check(ctx, env.Store, agents, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := env.Store.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*job.Record{got, stored.Record} {
		if r.State != job.StateFinished || r.Stdout != "kept" || r.RC == nil || *r.RC != 0 {
			t.Fatalf("record %s rc=%v stdout=%q msg=%q, want finished rc=0 stdout=\"kept\"", r.State, r.RC, r.Stdout, r.Msg)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the job directory is still there (%v)", err)
	}
}

// A delivery of the very message a running job was claimed from, whose
// count did not go up (as after a consumer leader change), is left to the
// job's holder, not acked: with the holder gone, the message comes back
// counted higher and is taken over. (A second message for the job is
// acked: TestDuplicateDeliveryFenced.)
func TestHeldMessageLeftToItsHolder(t *testing.T) {
	env := natstest.Start(t, natstest.AckWait(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j := &job.Job{ID: "j33.1", RunID: "r33", Module: "command", Args: map[string]any{"_raw_params": "echo taken over"},
		Target: job.Target{Host: "localhost", Connection: "local"}, Created: time.Now().UTC()}
	rec := job.NewRecord(j)
	// claimed from this message (the stream's first) by an executor that
	// is gone, at the count the server will deliver it with again
	rec.State, rec.Executor, rec.Attempt, rec.Seq, rec.Started = job.StateRunning, "gone-executor", 1, 1, time.Now().UTC()
	if _, err := env.Store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := env.Queue.Publish(ctx, j); err != nil {
		t.Fatal(err)
	}
	start(t, env, 1)
	got, err := env.Store.WaitTerminal(ctx, j.ID, nil)
	if err != nil {
		t.Fatalf("the job was never taken over (its message acked?): %v", err)
	}
	if got.State != job.StateFinished || got.Stdout != "taken over" || got.Executor != "ex-test" || got.Attempt < 2 || got.Seq != 1 {
		t.Fatalf("record %s stdout=%q executor=%s attempt=%d seq=%d", got.State, got.Stdout, got.Executor, got.Attempt, got.Seq)
	}
}
