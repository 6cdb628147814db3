package bench

// The limits of gorun's two paths, as Go benchmarks (issue "Performance",
// part 2):
//
//   - BenchmarkRawSSH: the physical limit of SSH execution with
//     golang.org/x/crypto/ssh against the same sshd hosts gorun runs on,
//     the yardstick for gorun's cold and warm scenarios;
//   - BenchmarkQueuePath: the queue path alone (KV record, stream, shared
//     pull consumer, executor, CAS terminal write, ack, KV watch) with a
//     job that runs no remote command;
//   - BenchmarkCompletionLatency: how long after an async job's process
//     exits on its target a waiter sees its terminal record;
//   - BenchmarkExecutorMemory: an executor's memory with 1,000 async jobs
//     running at once;
//   - BenchmarkDispatcherInventory: a dispatcher's memory and time over a
//     10,000-host inventory.
//
// The number of hosts comes from BENCH_HOSTS (default 10; the full
// measurement uses 50), the number of jobs per iteration from BENCH_JOBS
// (default 1,000). Run them with
//
//	BENCH_HOSTS=50 go test ./bench -run '^$' -bench 'RawSSH|QueuePath|CompletionLatency|ExecutorMemory|DispatcherInventory' -benchtime=1x

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/runs"
	"github.com/gorun/gorun/sshtest"
)

// BenchmarkRawSSH measures the physical limit of SSH execution: per
// iteration, every host dialled in parallel (TCP connect, key exchange,
// host key checked against the fleet's known_hosts, public-key
// authentication with the fleet's client key), then 1 (one) or 10 (ten, in
// sequence) /bin/true per host, one session per command, all hosts in
// parallel. warm-one and warm-ten dial once before the timer and time only
// the commands.
//
// s/op is the wall time of one iteration (the limit figure: dial all hosts
// in parallel, then run the commands); cmds/s is commands run per second
// over all hosts.
func BenchmarkRawSSH(b *testing.B) {
	n := benchHosts(b)
	f := sshtest.Start(b, n)
	cfg := rawSSHConfig(b, f)
	addrs := make([]string, n)
	for i, h := range f.Hosts {
		addrs[i] = h.HostPort()
	}
	for _, c := range []struct {
		name string
		cmds int
		warm bool
	}{{"one", 1, false}, {"ten", 10, false}, {"warm-one", 1, true}, {"warm-ten", 10, true}} {
		b.Run(c.name, func(b *testing.B) {
			var clients []*ssh.Client
			if c.warm {
				var err error
				if clients, err = dialAll(cfg, addrs); err != nil {
					b.Fatal(err)
				}
				defer closeAll(clients)
			}
			var wall time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				var err error
				if c.warm {
					err = runAll(clients, c.cmds)
				} else {
					clients, err = dialAndRunAll(cfg, addrs, c.cmds)
				}
				wall += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if !c.warm {
					b.StopTimer()
					closeAll(clients)
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(wall.Seconds()/float64(b.N), "s/op")
			b.ReportMetric(float64(n*c.cmds*b.N)/wall.Seconds(), "cmds/s")
		})
	}
}

// rawSSHConfig is the client configuration of the fleet: its user and
// client key, host keys checked against its known_hosts file.
func rawSSHConfig(b testing.TB, f *sshtest.Fleet) *ssh.ClientConfig {
	b.Helper()
	pem, err := os.ReadFile(f.ClientKey)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		b.Fatal(err)
	}
	hostKeys, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		b.Fatal(err)
	}
	return &ssh.ClientConfig{
		User:              f.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}, // the fleet's host keys
		Timeout:           10 * time.Second,
	}
}

// dialAll dials every address in parallel.
func dialAll(cfg *ssh.ClientConfig, addrs []string) ([]*ssh.Client, error) {
	return dialAndRunAll(cfg, addrs, 0)
}

// dialAndRunAll dials every address in parallel and runs cmds /bin/true
// in sequence on each as soon as it is connected.
func dialAndRunAll(cfg *ssh.ClientConfig, addrs []string, cmds int) ([]*ssh.Client, error) {
	clients := make([]*ssh.Client, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			c, err := ssh.Dial("tcp", addr, cfg)
			if err != nil {
				errs[i] = fmt.Errorf("dialling %s: %w", addr, err)
				return
			}
			clients[i] = c
			errs[i] = runTrue(c, cmds)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(clients)
		return nil, err
	}
	return clients, nil
}

// runAll runs cmds /bin/true in sequence on every client, clients in
// parallel.
func runAll(clients []*ssh.Client, cmds int) error {
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { errs[i] = runTrue(c, cmds) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runTrue runs /bin/true n times in sequence, one session each.
func runTrue(c *ssh.Client, n int) error {
	for range n {
		s, err := c.NewSession()
		if err != nil {
			return err
		}
		err = s.Run("/bin/true")
		s.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func closeAll(clients []*ssh.Client) {
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
}

// BenchmarkQueuePath measures the queue path without SSH: M jobs
// (BENCH_JOBS, default 1,000) of module debug — an action the executor
// answers itself (module.Info.Remote is false: no connection, no remote
// command) — each submitted as the dispatcher submits (follow the record,
// create it queued in KV, publish the task message), all in flight at once
// (BENCH_INFLIGHT, default M: a dispatcher with forks ≥ M), pulled from the
// shared consumer by a real executor with 50 forks, claimed (CAS to
// running), run, written terminal with CAS and acked; the waiter sees each
// terminal record through its process's KV watch. The waiter and the
// executor use separate NATS connections, as separate processes would.
//
// jobs/s is the throughput; cpu-ms/job the CPU time (user + system) this
// process — NATS server, executor and waiter together — spent per job, so
// that 2 cores / cpu-ms/job is the CPU-bound ceiling; e2e-p50-ms,
// e2e-p99-ms and e2e-max-ms the time from a job's submission to its
// terminal record seen.
func BenchmarkQueuePath(b *testing.B) {
	m := benchJobs(b)
	inflight := envInt(b, "BENCH_INFLIGHT", m)
	env := natstest.Start(b)
	startExecutor(b, env.Queue, env.Store, 50)
	q, st := env.Connect(b) // the dispatcher's side
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var wall, cpu time.Duration
	var lat []time.Duration
	b.ResetTimer()
	for it := range b.N {
		jobs := make([]*job.Job, m)
		for i := range jobs {
			jobs[i] = &job.Job{ID: job.NewID(), RunID: "bench-queue-" + strconv.Itoa(it), Task: "noop", Module: "debug",
				Args: map[string]any{"msg": "hello"}, Target: job.Target{Host: "localhost", Connection: "local"}}
		}
		start, cpu0 := time.Now(), processCPU()
		outs, err := runJobs(ctx, q, st, jobs, inflight, nil)
		wall += time.Since(start)
		cpu += processCPU() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, o := range outs {
			if o.Record.State != job.StateFinished {
				b.Fatalf("job %s ended %s: %s", o.Record.JID, o.Record.State, o.Record.Msg)
			}
			lat = append(lat, o.Seen.Sub(o.Submitted))
		}
		if err := waitDrained(ctx, env.Queue); err != nil { // every ack in before the next round
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(m*b.N)/wall.Seconds(), "jobs/s")
	b.ReportMetric(ms(cpu)/float64(m*b.N), "cpu-ms/job")
	reportLatencies(b, "e2e-", lat)
}

// asyncDir is a job directory root for async jobs on the fleet's hosts
// (which log in as the current user: without it the jobs' directories
// would pile up in ~/.ansible_async).
func asyncDir(b testing.TB) string {
	b.Helper()
	d := filepath.Join(b.TempDir(), "async")
	if err := os.MkdirAll(d, 0o700); err != nil {
		b.Fatal(err)
	}
	return d
}

// targetEnd is when an async job's process exited on its target: the
// wrapper's `date` right after the command returned (the record's result
// "end", the target's local time with microseconds; loopback hosts share
// the clock).
func targetEnd(r *job.Record) (time.Time, error) {
	s, _ := r.Result["end"].(string)
	t, err := time.ParseInLocation("2006-01-02 15:04:05.000000", s, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("job %s: end %q: %w", r.JID, s, err)
	}
	return t, nil
}

// BenchmarkCompletionLatency measures how long after an async job's
// process exits on its target a waiter sees the job's terminal record:
// BENCH_JOBS (default 1,000) async jobs (command "sleep 1", async 30, poll
// 1) over the fleet's hosts, run by a real executor (50 forks) over SSH;
// the end of each is pushed by the target's wrapper to the host's agent
// session, collected, written terminal and seen through the waiter's KV
// watch (on its own NATS connection, as a dispatcher's).
//
//   - waves: one job per host at a time, as a playbook's async task runs
//     across the fleet (the jobs of a wave start and end together; 1,000
//     jobs are 20 waves at 50 hosts);
//   - burst: all the jobs submitted at once (20 per host at 50 hosts),
//     ending within the same second or so: the machine saturated.
//
// Latency = waiter sees the terminal record − the job's end on the target
// (the wrapper's timestamp, written right after the command exits: see
// targetEnd). p50-ms, p99-ms and max-ms are over all jobs of all
// iterations; rec-p99-ms is the part up to the executor's terminal write
// (record's Ended − end), watch-p99-ms the rest (KV watch delivery).
func BenchmarkCompletionLatency(b *testing.B) {
	n, m := benchHosts(b), benchJobs(b)
	f := sshtest.Start(b, n)
	env := natstest.Start(b)
	startExecutor(b, env.Queue, env.Store, 50)
	q, st := env.Connect(b)
	dir := asyncDir(b)
	for _, c := range []struct {
		name string
		wave int // jobs submitted together
	}{{"waves", n}, {"burst", m}} {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			var lat, toRec, toSeen []time.Duration
			b.ResetTimer()
			for it := range b.N {
				jobs := make([]*job.Job, m)
				for i := range jobs {
					jobs[i] = &job.Job{ID: job.NewID(), RunID: "bench-latency-" + c.name + "-" + strconv.Itoa(it), Task: "sleep", Module: "command",
						Args: map[string]any{"_raw_params": "sleep 1"}, Target: f.Target(i % n), Async: 30, Poll: 1, AsyncDir: dir}
				}
				for len(jobs) > 0 {
					wave := jobs[:min(c.wave, len(jobs))]
					jobs = jobs[len(wave):]
					outs, err := runJobs(ctx, q, st, wave, len(wave), nil)
					if err != nil {
						b.Fatal(err)
					}
					for _, o := range outs {
						if o.Record.State != job.StateFinished {
							b.Fatalf("job %s on %s ended %s: %s", o.Record.JID, o.Record.Host, o.Record.State, o.Record.Msg)
						}
						end, err := targetEnd(o.Record)
						if err != nil {
							b.Fatal(err)
						}
						lat = append(lat, o.Seen.Sub(end))
						toRec = append(toRec, o.Record.Ended.Sub(end))
						toSeen = append(toSeen, o.Seen.Sub(o.Record.Ended))
					}
				}
			}
			b.StopTimer()
			reportLatencies(b, "", lat)
			slices.Sort(toRec)
			slices.Sort(toSeen)
			b.ReportMetric(ms(percentile(toRec, 0.99)), "rec-p99-ms")
			b.ReportMetric(ms(percentile(toSeen, 0.99)), "watch-p99-ms")
			b.ReportMetric(float64(len(lat)), "jobs")
		})
	}
}

// BenchmarkExecutorMemory measures one executor's memory with BENCH_JOBS
// (default 1,000) async jobs (command "sleep 30", async 60, poll 1) spread
// over the fleet's hosts, all running at once. The executor is the real
// cmd/executor binary (50 forks), built and run as a separate process
// against the benchmark's embedded NATS server, so that its figures hold
// the executor alone: rss-MB is its VmRSS (/proc/<pid>/status) once every
// job runs on its target; heap-MB its Go heap in use plus goroutine stacks
// (go_memstats_heap_inuse_bytes + go_memstats_stack_inuse_bytes from its
// /metrics); goroutines its goroutine count; launch-s how long it took to
// launch them all. The agent multiplexes a host's async jobs on one shell
// session (jobs run detached under setsid), so 1,000 jobs need N sessions,
// not 1,000 (sshd's MaxSessions is not the limit).
//
// The jobs are then cancelled (as gorun cancel does: the executor kills
// their process groups) and the benchmark waits for every record to be
// terminal, so nothing is left running on the hosts.
func BenchmarkExecutorMemory(b *testing.B) {
	n, m := benchHosts(b), benchJobs(b)
	bin := buildCmd(b, "executor")
	f := sshtest.Start(b, n)
	env := natstest.Start(b)
	metricsAddr := freeAddr(b)
	ex := startProcess(b, bin, nil, "--nats", env.Server.ClientURL(), "--forks", "50", "--id", "bench-executor",
		"--metrics-addr", metricsAddr, "--log-level", "warn", "--queue-poll-interval", "-1s", "--stop-timeout", "10s")
	b.Cleanup(func() { ex.Stop(15 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := waitHTTP(ctx, "http://"+metricsAddr+"/readyz", ex); err != nil {
		b.Fatal(err)
	}
	dir := asyncDir(b)
	var running []*job.Job // submitted and not yet cancelled
	b.Cleanup(func() {     // on a failure, before the executor stops: kill what runs
		if len(running) > 0 {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := cancelAll(cctx, env, running); err != nil {
				b.Logf("cancelling the jobs left running: %v", err)
			}
		}
	})
	var rss, heap, goroutines, launch float64
	b.ResetTimer()
	for it := range b.N {
		jobs := make([]*job.Job, m)
		for i := range jobs {
			jobs[i] = &job.Job{ID: job.NewID(), RunID: "bench-memory-" + strconv.Itoa(it), Task: "sleep", Module: "command",
				Args: map[string]any{"_raw_params": "sleep 30"}, Target: f.Target(i % n), Async: 60, Poll: 1, AsyncDir: dir}
		}
		running = jobs
		launched := func(r *job.Record) bool { return r.State == job.StateRunning && r.Remote != nil && r.Remote.PID > 0 }
		start := time.Now()
		outs, err := runJobs(ctx, env.Queue, env.Store, jobs, m, launched)
		if err != nil {
			b.Fatal(err)
		}
		launch = max(launch, time.Since(start).Seconds())
		for _, o := range outs {
			if o.Record.State.Terminal() {
				b.Fatalf("job %s on %s ended %s before all were running: %s", o.Record.JID, o.Record.Host, o.Record.State, o.Record.Msg)
			}
		}
		// every job runs: sample the executor a few times
		for range 3 {
			time.Sleep(300 * time.Millisecond)
			kb, err := procStatusKB(ex.cmd.Process.Pid, "VmRSS")
			if err != nil {
				b.Fatal(err)
			}
			rss = max(rss, float64(kb)*1024/mib)
			met, err := scrape(ctx, "http://"+metricsAddr+"/metrics")
			if err != nil {
				b.Fatal(err)
			}
			heap = max(heap, (met["go_memstats_heap_inuse_bytes"]+met["go_memstats_stack_inuse_bytes"])/mib)
			goroutines = max(goroutines, met["go_goroutines"])
		}
		b.StopTimer()
		if err := cancelAll(ctx, env, jobs); err != nil {
			b.Fatal(err)
		}
		running = nil
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(heap, "heap-MB")
	b.ReportMetric(goroutines, "goroutines")
	b.ReportMetric(launch, "launch-s")
}

// cancelAll asks for every job to be cancelled and waits until each record
// is terminal (the executor killed it on its target).
func cancelAll(ctx context.Context, env *natstest.Env, jobs []*job.Job) error {
	var ef errFirst
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := runs.CancelJob(ctx, env.Store, j.ID); err != nil {
				ef.set(fmt.Errorf("cancelling %s: %w", j.ID, err))
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, err := env.Store.WaitTerminal(wctx, j.ID, nil); err != nil {
				ef.set(err)
			}
		})
	}
	wg.Wait()
	return ef.get()
}

// dispatcherPlaybook is the play of BenchmarkDispatcherInventory: every
// host of both data centres, one task rendered per host with inventory
// variables at every level (a host's own, its groups', its parents', a
// templated one referring to others). debug runs no remote command.
const dispatcherPlaybook = `
- name: inventory limits
  hosts: "dc1:dc2:!db-00001.example.com"
  gather_facts: false
  tasks:
    - name: render per host
      debug:
        msg: "{{ inventory_hostname }} {{ role }} {{ dc }}/{{ site }} port {{ app_port }} {{ motd }} {{ group_names | join(',') }}"
`

// BenchmarkDispatcherInventory measures the dispatcher on a generated INI
// inventory of BENCH_INV_HOSTS hosts (default 10,000; see writeInventory:
// ranges, host lines with variables, groups of groups, templated group
// variables).
//
// expand is the dispatcher's per-host work before it publishes, done in
// this process with the same packages: load and parse the inventory,
// select the play's host pattern, and for every host resolve its
// variables (inventory.Vars, group names, templated variables) and render
// the task's arguments. heap-MB is the peak Go heap (objects and stacks,
// sampled every 5 ms), rss-MB the process's peak RSS over the iteration
// (VmHWM after clear_refs: includes the test binary's baseline).
//
// playbook is the real dispatcher: cmd/gorun's "gorun playbook" run as a
// separate process against the benchmark's NATS server, the play above
// over every host, its 10,000 debug jobs run by an executor in the
// benchmark process (50 forks; debug needs no connection). rss-MB is the
// dispatcher process's peak RSS (getrusage maxrss), heap-MB its largest
// Go heap (GODEBUG=gctrace=1), s/op the run's wall time, jobs/s the rate.
// The dispatcher runs with forks BENCH_DISPATCH_FORKS (default 500).
func BenchmarkDispatcherInventory(b *testing.B) {
	hosts := envInt(b, "BENCH_INV_HOSTS", 10000)
	dir := b.TempDir()
	invPath := writeInventory(b, dir, inventorySpec{Hosts: hosts})
	pbPath := filepath.Join(dir, "play.yml")
	if err := os.WriteFile(pbPath, []byte(dispatcherPlaybook), 0o644); err != nil {
		b.Fatal(err)
	}
	want := hosts - 1 // the pattern leaves one host out

	b.Run("expand", func(b *testing.B) {
		var heapPeak, rssPeak float64
		var wall time.Duration
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			runtime.GC()
			if err := resetPeakRSS(); err != nil {
				b.Logf("cannot reset the peak RSS (%v): rss-MB is the process's peak so far", err)
			}
			s := sampleHeap()
			b.StartTimer()
			start := time.Now()
			n, err := expandPlay(invPath)
			wall += time.Since(start)
			b.StopTimer()
			heapPeak = max(heapPeak, float64(s.Stop())/mib)
			if kb, err := procStatusKB(0, "VmHWM"); err == nil {
				rssPeak = max(rssPeak, float64(kb)/1024)
			}
			b.StartTimer()
			if err != nil {
				b.Fatal(err)
			}
			if n != want {
				b.Fatalf("expanded %d hosts, want %d", n, want)
			}
		}
		b.StopTimer()
		b.ReportMetric(wall.Seconds()/float64(b.N), "s/op")
		b.ReportMetric(heapPeak, "heap-MB")
		b.ReportMetric(rssPeak, "rss-MB")
		b.ReportMetric(float64(hosts), "hosts")
	})

	b.Run("playbook", func(b *testing.B) {
		forks := envInt(b, "BENCH_DISPATCH_FORKS", 500)
		bin := buildCmd(b, "gorun")
		env := natstest.Start(b)
		startExecutor(b, env.Queue, env.Store, 50)
		var rss, heap float64
		var wall time.Duration
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			p := startProcess(b, bin, []string{"GODEBUG=gctrace=1", "ANSIBLE_NOCOLOR=1"},
				"playbook", "--nats", env.Server.ClientURL(), "-i", invPath, "-f", strconv.Itoa(forks), pbPath)
			<-p.done
			wall += time.Since(start)
			if p.err != nil {
				b.Fatalf("gorun playbook: %v\n%s", p.err, tail(p.Stderr(), 4000))
			}
			rss = max(rss, float64(p.maxRSS())/mib)
			heap = max(heap, float64(peakGCHeap(p.Stderr()))/mib)
		}
		b.StopTimer()
		b.ReportMetric(wall.Seconds()/float64(b.N), "s/op")
		b.ReportMetric(float64(want*b.N)/wall.Seconds(), "jobs/s")
		b.ReportMetric(rss, "rss-MB")
		b.ReportMetric(heap, "heap-MB")
		b.ReportMetric(float64(hosts), "hosts")
	})
}

// expandPlay does the dispatcher's work before it publishes, for the play
// of dispatcherPlaybook: load the inventory, select the hosts, and for
// each resolve its variables (inventory variables, group names, magic
// variables, templated values) and render the task's arguments. It returns
// the number of hosts rendered; the rendered jobs are kept until the end,
// as the dispatcher keeps a per-host state for the run.
func expandPlay(invPath string) (int, error) {
	inv, err := inventory.Load([]string{invPath})
	if err != nil {
		return 0, err
	}
	names, _, err := inv.Select("dc1:dc2:!db-00001.example.com")
	if err != nil {
		return 0, err
	}
	tmpl := jinja.New()
	msg := "{{ inventory_hostname }} {{ role }} {{ dc }}/{{ site }} port {{ app_port }} {{ motd }} {{ group_names | join(',') }}"
	jobs := make([]*job.Job, 0, len(names))
	for _, h := range names {
		vars := inv.Vars(h)
		vars["inventory_hostname"] = h
		groups := inv.GroupNames(h)
		gn := make([]any, len(groups))
		for i, g := range groups {
			gn[i] = g
		}
		vars["group_names"] = gn
		for k, v := range vars { // templated variables, resolved against the rest
			if s, ok := v.(string); ok && jinja.IsTemplate(s) {
				if r, err := tmpl.String(s, vars); err == nil {
					vars[k] = r
				}
			}
		}
		out, err := tmpl.String(msg, vars)
		if err != nil {
			return 0, fmt.Errorf("host %s: %w", h, err)
		}
		port, _ := vars["ansible_port"].(int)
		addr, _ := vars["ansible_host"].(string)
		user, _ := vars["ansible_user"].(string)
		jobs = append(jobs, &job.Job{ID: job.NewID(), Module: "debug", Args: map[string]any{"msg": out},
			Target: job.Target{Host: h, Address: addr, Port: port, User: user}})
	}
	return len(jobs), nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
