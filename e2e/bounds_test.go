package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/sshtest"
)

// boundsNoFile is the open-files limit (soft and hard) the executor of
// TestExecutorResourceBounds runs under: far fewer than the jobs it runs.
const boundsNoFile = 64

// An executor with F forks given a backlog of 100×F jobs (SSH and local,
// sync and async, each message carrying 64 KiB, a few printing 16 MiB)
// under ulimit -n 64: every job ends finished; its Go heap does not grow
// with the backlog (the queue stays on the server: the executor holds at
// most F messages) nor with the jobs' output (kept up to 1 MiB); it keeps
// one SSH connection per host; and its file descriptors and goroutines come
// back to where they were once the backlog is done.
func TestExecutorResourceBounds(t *testing.T) {
	const forks, hosts = 4, 4
	backlog := 100 * forks
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	f := sshtest.Start(t, hosts)
	metricsAddr := freePort(t)
	// a shell sets the limit (soft and hard: the Go runtime cannot raise
	// it) and execs the executor, which keeps its pid
	ex := startCmd(t, "executor", "/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, boundsNoFile),
		bin(t, "executor"), "--nats", url, "--forks", strconv.Itoa(forks), "--id", "bounded", "--ack-wait", "5s",
		"--metrics-addr", metricsAddr, "--queue-poll-interval", "-1s", "--log-level", "info")
	pid := ex.cmd.Process.Pid
	eventually(t, "the executor to be ready", 30*time.Second, func() bool { return httpGet(metricsAddr, "/readyz") == 200 })
	if lim := procLimit(t, pid, "Max open files"); lim != strconv.Itoa(boundsNoFile) {
		t.Fatalf("the executor's open-files limit is %q, want %d", lim, boundsNoFile)
	}

	dir := t.TempDir()
	asyncDir := filepath.Join(dir, "async")
	pad := strings.Repeat("p", 64<<10)
	// five kinds of job, round robin
	big := map[string]bool{}
	makeJobs := func(runID string, n int, bigOutput bool) []*job.Job {
		jobs := make([]*job.Job, n)
		for i := range jobs {
			jid := job.IDFor("bounds", runID, strconv.Itoa(i))
			j := &job.Job{ID: jid, RunID: runID, Task: "bounds " + pad, Module: "shell", Target: f.Target(i % hosts)}
			switch i % 5 {
			case 0: // sync over SSH, 48 KiB of output
				j.Args = map[string]any{"_raw_params": "head -c 49152 /dev/zero | tr '\\0' x"}
			case 1: // sync on the executor's machine: pipes and a process
				j.Target = job.Target{Host: "localhost", Connection: "local"}
				j.Args = map[string]any{"_raw_params": "echo " + jid}
			case 2, 3: // async over SSH, fire-and-forget and polled
				j.Args = map[string]any{"_raw_params": "echo " + jid}
				j.Async, j.Poll, j.AsyncDir = 60, i%5-2, asyncDir
			case 4: // async on the executor's machine
				j.Target = job.Target{Host: "localhost", Connection: "local"}
				j.Args = map[string]any{"_raw_params": "echo " + jid}
				j.Async, j.Poll, j.AsyncDir = 60, 1, asyncDir
			}
			if bigOutput && i%100 >= 20 && i%100 < 25 { // each kind in turn
				// now and then 16 MiB of output: a record keeps 256 KiB of
				// it, the executor no more than 1 MiB of each stream
				j.Args = map[string]any{"_raw_params": "head -c 16777216 /dev/zero | tr '\\0' y"}
				big[jid] = true
			}
			jobs[i] = j
		}
		return jobs
	}
	type sample struct {
		heap, rss, fds, goroutines, sshOpen float64
		perHost                             int
	}
	take := func() sample {
		m := scrapeMetrics(t, metricsAddr)
		s := sample{heap: m["go_memstats_heap_inuse_bytes"], goroutines: m["go_goroutines"],
			sshOpen: m["gorun_ssh_connections_open"], fds: float64(countFDs(t, pid)), rss: float64(procStatusKB(t, pid, "VmRSS")) * 1024}
		for _, h := range f.Hosts {
			s.perHost = max(s.perHost, establishedTo(t, h.Addr, h.Port))
		}
		return s
	}
	// runRound queues jobs and samples the executor until they all end
	runRound := func(runID string, n int, bigOutput bool) []sample {
		jobs := makeJobs(runID, n, bigOutput)
		w := watchTerminal(t, env.Store, runID, n)
		done := make(chan struct{})
		go queueJobs(t, env.Store, env.Queue, jobs, done)
		var samples []sample
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(3 * time.Minute)
	loop:
		for {
			select {
			case <-w.done:
				break loop
			case <-deadline:
				t.Fatalf("%s: %d of %d jobs terminal after 3 minutes", runID, w.terminal(), n)
			case <-tick.C:
				samples = append(samples, take())
			}
		}
		<-done
		w.stop()
		for _, r := range records(t, env.Store, runID) {
			if r.State != job.StateFinished || big[r.JID] != r.Truncated {
				t.Errorf("%s on %s (async %d): %s %s, output truncated %v", r.JID, r.Host, r.Async, r.State, r.Msg, r.Truncated)
			}
		}
		return samples
	}

	// warm-up: a round of 10 jobs per fork opens the connections and agents
	warm := runRound("bounds-warm", 10*forks, false)
	base := take()
	for _, s := range warm {
		base.heap = max(base.heap, s.heap)
	}
	t0 := time.Now()
	samples := runRound("bounds-backlog", backlog, true)
	took := time.Since(t0)
	if len(samples) < 6 {
		t.Fatalf("only %d samples in %s: the backlog went too fast to measure", len(samples), took)
	}
	third := len(samples) / 3
	var peak, first, last sample
	for i, s := range samples {
		peak.heap, peak.rss, peak.fds = max(peak.heap, s.heap), max(peak.rss, s.rss), max(peak.fds, s.fds)
		peak.goroutines, peak.sshOpen, peak.perHost = max(peak.goroutines, s.goroutines), max(peak.sshOpen, s.sshOpen), max(peak.perHost, s.perHost)
		if i < third {
			first.heap = max(first.heap, s.heap)
		}
		if i >= len(samples)-third {
			last.heap = max(last.heap, s.heap)
		}
	}
	mib := func(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
	t.Logf("backlog of %d jobs (%d forks, %d KiB each queued: %s in all) in %s, %d samples", backlog, forks, len(pad)>>10,
		mib(float64(backlog*len(pad))), took.Round(time.Millisecond), len(samples))
	t.Logf("heap: warm-up peak %s, backlog peak %s (first third %s, last third %s); RSS peak %s (after warm-up %s)",
		mib(base.heap), mib(peak.heap), mib(first.heap), mib(last.heap), mib(peak.rss), mib(base.rss))
	t.Logf("fds: after warm-up %v, peak %v (limit %d); goroutines: after warm-up %v, peak %v; SSH connections: open metric peak %v, per host peak %d",
		base.fds, peak.fds, boundsNoFile, base.goroutines, peak.goroutines, peak.sshOpen, peak.perHost)

	// memory: flat through the backlog
	// (measured here: +5 MiB over the warm-up, +12 MiB with 16 MiB outputs
	// four at a time; +58 MiB when output was kept whole; a backlog kept
	// in memory would add its 25 MiB)
	if limit := base.heap + 24<<20; peak.heap > limit {
		t.Errorf("heap peaked at %s with a backlog, over the warm-up's %s + 24 MiB", mib(peak.heap), mib(base.heap))
	}
	if last.heap > first.heap*1.5+8<<20 {
		t.Errorf("heap grew through the backlog: %s in its first third, %s in its last", mib(first.heap), mib(last.heap))
	}
	// SSH: one connection per host
	if peak.perHost > 1 || peak.sshOpen > hosts {
		t.Errorf("SSH connections: %d to one host, %v open in the pool (%d hosts)", peak.perHost, peak.sshOpen, hosts)
	}
	// file descriptors and goroutines: back to where they were
	eventually(t, "the executor's file descriptors and goroutines to come back to their warm-up level", 20*time.Second, func() bool {
		s := take()
		return s.fds <= base.fds && s.goroutines <= base.goroutines+5
	})
}

// scrapeMetrics reads an executor's /metrics, each metric summed over its
// series.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(l, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = l[:i]
			rest = l[strings.LastIndexByte(l, '}')+2:]
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			out[name] += v
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return out
}

// countFDs counts the open file descriptors of process pid.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// procStatusKB reads a "kB" field (VmRSS) of /proc/pid/status.
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procLimit returns the soft value of a limit in /proc/pid/limits.
func procLimit(t *testing.T, pid int, name string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no %q in /proc/%d/limits", name, pid)
	return ""
}

// establishedTo counts the established TCP connections to addr:port on
// this machine (/proc/net/tcp: the clients' ends).
func establishedTo(t *testing.T, addr string, port int) int {
	t.Helper()
	ip := net.ParseIP(addr).To4()
	if ip == nil {
		t.Fatalf("%s is not an IPv4 address", addr)
	}
	want := fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(ip), port)
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == want && f[3] == "01" {
			n++
		}
	}
	return n
}
