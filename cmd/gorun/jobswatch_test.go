package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden file (run go test -run %s -update): %v", t.Name(), err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -run %s -update to accept)\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
	}
}

var watchNow = time.Date(2026, 11, 28, 12, 30, 0, 0, time.UTC)

// watchRecords makes records of run: count jobs per state, the running ones
// started startedAgo[i] before watchNow.
func watchRecords(run string, hosts []string, task string, states map[job.State]int, startedAgo ...time.Duration) []*job.Record {
	var out []*job.Record
	i := 0
	for _, s := range jobStates {
		for k := 0; k < states[s]; k++ {
			r := &job.Record{JID: fmt.Sprintf("j%d%d.%d", len(run), i, 100+i), RunID: run,
				Host: hosts[i%len(hosts)], Task: task, Module: "command", State: s,
				Queued: watchNow.Add(-time.Hour)}
			if s != job.StateQueued {
				r.Started = watchNow.Add(-time.Hour)
			}
			if s == job.StateRunning && len(startedAgo) > 0 {
				r.Started = watchNow.Add(-startedAgo[k%len(startedAgo)])
			}
			if s.Terminal() {
				r.Ended = watchNow.Add(-time.Minute)
			}
			out = append(out, r)
			i++
		}
	}
	return out
}

func TestRenderJobsGolden(t *testing.T) {
	hosts := []string{"web01", "web02", "db01.example.internal.very-long-domain.test", "cache1"}
	two := append(
		watchRecords("r20261128T120000-000001", hosts, "Install packages",
			map[job.State]int{job.StateRunning: 3, job.StateFinished: 5, job.StateFailed: 1, job.StateQueued: 2},
			12*time.Minute+5*time.Second, 40*time.Second, 2*time.Hour+7*time.Minute+12*time.Second),
		watchRecords("r20261128T113000-000002", hosts, "Gathering Facts",
			map[job.State]int{job.StateFinished: 7, job.StateUnreachable: 1})...)
	var many []*job.Record
	for i := 0; i < 60; i++ {
		many = append(many, &job.Record{JID: fmt.Sprintf("j%03d.1", i), RunID: "r20261128T120000-000003",
			Host: fmt.Sprintf("node%03d", i), Task: "long_op", State: job.StateRunning,
			Started: watchNow.Add(-time.Duration(i) * time.Second)})
	}
	var runs []*job.Record
	for i := 0; i < 30; i++ {
		runs = append(runs, &job.Record{JID: fmt.Sprintf("j9%02d.1", i), RunID: fmt.Sprintf("r20261127T%02d0000-000000", i%24),
			Host: "h", Task: "t", State: job.StateFinished})
	}
	runs = append(runs, many[:3]...)
	for _, tc := range []struct {
		name          string
		recs          []*job.Record
		width, height int
	}{
		{"empty", nil, 0, 0},
		{"two_runs", two, 0, 0},
		{"two_runs_narrow", two, 60, 0},
		{"many_running", many, 0, 0},
		{"many_running_small_terminal", many, 100, 20},
		{"many_runs", runs, 0, 0},
		{"many_runs_small_terminal", runs, 80, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderJobs(tc.recs, watchNow, tc.width, tc.height)
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if tc.height > 0 && len(lines) > tc.height-1 {
				t.Errorf("%d lines, terminal height %d", len(lines), tc.height)
			}
			for _, l := range lines {
				if tc.width > 0 && len([]rune(l)) > tc.width {
					t.Errorf("line wider than %d: %q", tc.width, l)
				}
			}
			golden(t, "jobs_watch_"+tc.name+".txt", got)
		})
	}
}

// TestWatchJobsFollowsChanges runs the watch loop on a store: the first
// frame comes at once, changes show at the next refresh, filters apply, and
// the end of the context ends it with 0. Without a terminal no escape code
// is written.
func TestWatchJobsFollowsChanges(t *testing.T) {
	nenv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := nenv.Store
	mk := func(jid, run, host string, s job.State) *job.Record {
		return &job.Record{JID: jid, RunID: run, Host: host, Task: "sleep", Module: "command", State: s,
			Queued: time.Now(), Started: time.Now()}
	}
	if _, err := st.Create(ctx, mk("j1.1", "rA", "h1", job.StateRunning)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, mk("j2.1", "rB", "h2", job.StateRunning)); err != nil {
		t.Fatal(err)
	}
	rev, err := st.Create(ctx, mk("j3.1", "rA", "h3", job.StateRunning))
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	e := &env{stdout: out, stderr: out, getenv: func(string) string { return "" }}
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() { done <- watchJobs(wctx, e, st, status.Filter{RunID: "rA"}) }()

	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if s := out.String(); ok(s) {
				return s
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: output so far:\n%s", what, out.String())
		return ""
	}
	first := waitFor("first frame", func(s string) bool { return strings.Contains(s, "j3.1") })
	if !strings.Contains(first, "rA  0/2 done  running=2") || strings.Contains(first, "rB") || strings.Contains(first, "j2.1") {
		t.Fatalf("first frame:\n%s", first)
	}
	r := mk("j3.1", "rA", "h3", job.StateFinished)
	r.Ended = time.Now()
	if _, err := st.Update(ctx, r, rev); err != nil {
		t.Fatal(err)
	}
	waitFor("the change", func(s string) bool { return strings.Contains(s, "rA  1/2 done  running=1 finished=1") })
	wcancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end with its context")
	}
	if s := out.String(); strings.Contains(s, "\033") {
		t.Fatalf("escape codes without a terminal:\n%q", s)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
