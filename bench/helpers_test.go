package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// envInt reads a positive integer from the environment, def when unset.
func envInt(b testing.TB, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// benchHosts is the number of sshd hosts (BENCH_HOSTS, default 10; the full
// measurement uses 50).
func benchHosts(b testing.TB) int { return envInt(b, "BENCH_HOSTS", 10) }

// benchJobs is the number of jobs per iteration (BENCH_JOBS, default 1,000).
func benchJobs(b testing.TB) int { return envInt(b, "BENCH_JOBS", 1000) }

// startExecutor starts an executor in this process on q and st, over a real
// connection pool, stopped when the benchmark ends.
func startExecutor(b testing.TB, q *queue.Queue, st *status.Store, forks int) *executor.Executor {
	b.Helper()
	pool, err := connection.NewPool(connection.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pool.Close() })
	ex, err := executor.New(executor.Config{ID: "bench-executor", Forks: forks}, q, st, pool)
	if err != nil {
		b.Fatal(err)
	}
	if err := ex.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = ex.Stop(ctx)
	})
	return ex
}

// outcome is what the waiter saw of one job.
type outcome struct {
	Record    *job.Record // the first terminal version seen
	Submitted time.Time   // before the record was created
	Seen      time.Time   // when the subscription delivered the terminal record
}

// runJobs submits jobs as the dispatcher does (follow the record through
// the process's one KV watch, create the queued record, publish the task
// message), at most inflight at once, and waits for each job's terminal
// record; until, if not nil, is asked of every version seen and ends the
// wait early when it returns true (the outcome then holds that version).
func runJobs(ctx context.Context, q *queue.Queue, st *status.Store, jobs []*job.Job, inflight int, until func(*job.Record) bool) ([]outcome, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make([]outcome, len(jobs))
	sem := make(chan struct{}, max(inflight, 1))
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o, err := runJob(ctx, q, st, j, until)
			if err != nil {
				cancel(err)
				return
			}
			out[i] = o
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

func runJob(ctx context.Context, q *queue.Queue, st *status.Store, j *job.Job, until func(*job.Record) bool) (outcome, error) {
	o := outcome{Submitted: time.Now()}
	if j.Created.IsZero() {
		j.Created = o.Submitted.UTC()
	}
	follow := st.Follow // as the dispatcher follows (dispatcher/task.go submit)
	if until == nil {
		follow = st.FollowEnd
	}
	sub, err := follow(j.ID)
	if err != nil {
		return o, err
	}
	defer sub.Close()
	rev, err := st.Create(ctx, job.NewRecord(j))
	if err != nil {
		return o, fmt.Errorf("creating record %s: %w", j.ID, err)
	}
	j.RecordRevision = rev // as the dispatcher does (dispatcher/task.go submit)
	sub.Skip(rev)
	if err := q.Publish(ctx, j); err != nil {
		return o, err
	}
	for {
		select {
		case r := <-sub.C():
			if r.State.Terminal() || (until != nil && until(r)) {
				o.Seen, o.Record = time.Now(), r
				return o, nil
			}
		case <-ctx.Done():
			return o, fmt.Errorf("waiting for job %s: %w", j.ID, context.Cause(ctx))
		}
	}
}

// waitDrained waits until the queue holds no message, delivered or not.
func waitDrained(ctx context.Context, q *queue.Queue) error {
	for {
		d, err := q.Depth(ctx)
		if err == nil && d.Pending == 0 && d.AckPending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("queue not drained (%+v, %v): %w", d, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// percentile returns the nearest-rank p-quantile (0 < p ≤ 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportLatencies reports p50, p99 and max of lat (sorted in place) as
// <prefix>p50-ms, <prefix>p99-ms and <prefix>max-ms.
func reportLatencies(b *testing.B, prefix string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), prefix+"p99-ms")
	b.ReportMetric(ms(percentile(lat, 1)), prefix+"max-ms")
}

// procStatusKB reads a "kB" field (VmRSS, VmHWM, ...) of /proc/<pid>/status;
// pid 0 is this process.
func procStatusKB(pid int, field string) (int64, error) {
	p := "/proc/self/status"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", p, field)
}

// resetPeakRSS resets this process's VmHWM to its current RSS (Linux ≥ 4.0),
// so that a later VmHWM is the peak of what ran in between.
func resetPeakRSS() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

const mib = 1 << 20

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapSampler samples this process's Go heap (objects, including garbage
// not yet swept) and stacks every few milliseconds and keeps the peak.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleHeap() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	read := func() {
		metrics.Read(samples)
		var v uint64
		for _, x := range samples {
			if x.Value.Kind() == metrics.KindUint64 {
				v += x.Value.Uint64()
			}
		}
		s.peak = max(s.peak, v)
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-s.stop:
				read()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak in bytes.
func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// goTool returns the path of the go command.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildCmd builds one of gorun's commands (cmd/<name>) into a temporary
// directory and returns the binary's path.
func buildCmd(b testing.TB, name string) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), name)
	cmd := exec.Command(goTool(), "build", "-o", out, "github.com/gorun/gorun/cmd/"+name)
	cmd.Dir = ".."
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building cmd/%s: %v\n%s", name, err, msg)
	}
	return out
}

// freeAddr returns a loopback address with a free TCP port.
func freeAddr(b testing.TB) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a gorun binary started by the benchmark.
type process struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	mu     *sync.Mutex
	done   chan struct{}
	err    error
}

// lockedWriter serialises writes to a buffer read while the process runs.
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// startProcess starts bin with args; stdout is discarded, stderr kept.
func startProcess(b testing.TB, bin string, env []string, args ...string) *process {
	b.Helper()
	p := &process{cmd: exec.Command(bin, args...), stderr: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = lockedWriter{p.mu, p.stderr}
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// Stderr returns what the process wrote to stderr so far.
func (p *process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits.
func (p *process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// maxRSS is the peak RSS of an exited process, in bytes.
func (p *process) maxRSS() int64 {
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // kB on Linux
	}
	return 0
}

// peakGCHeap parses GODEBUG=gctrace=1 output ("gc 7 @0.5s 3%: ... 12->14->6 MB,
// ...") and returns the largest heap size it reports, in bytes.
func peakGCHeap(trace string) int64 {
	var peak int64
	for _, line := range strings.Split(trace, "\n") {
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			parts := strings.Split(f, "->")
			if len(parts) != 3 {
				continue
			}
			for _, s := range parts {
				if n, err := strconv.ParseInt(s, 10, 64); err == nil {
					peak = max(peak, n*mib)
				}
			}
		}
	}
	return peak
}

// scrape reads the unlabelled samples of a Prometheus text endpoint.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.Contains(line, "{") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, sc.Err()
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string, p *process) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", url, ctx.Err(), p.Stderr())
		case <-p.done:
			return fmt.Errorf("process exited (%v):\n%s", p.err, p.Stderr())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errFirst keeps the first error of concurrent work.
type errFirst struct {
	mu  sync.Mutex
	err error
}

func (e *errFirst) set(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

func (e *errFirst) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// inventorySpec shapes a generated inventory.
type inventorySpec struct {
	Hosts int
}

// writeInventory writes an INI inventory of spec.Hosts hosts to dir and
// returns its path. It has what large real inventories have: host ranges
// (web-[00001:NNNNN], db-[...]), hosts listed one a line with host
// variables (cache, app), groups of groups (:children, two data centres
// and a site), group variables at every level (:vars) including templated
// ones that refer to other variables, and [all:vars].
//
//	40% web (range), 20% db (range), 20% cache (lines), 20% app (lines)
//	dc1 = web + db, dc2 = cache + app, site = dc1 + dc2
func writeInventory(b testing.TB, dir string, spec inventorySpec) string {
	b.Helper()
	n := spec.Hosts
	web, db, cache := n*4/10, n*2/10, n*2/10
	app := n - web - db - cache
	var buf bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&buf, format, a...) }
	w("# generated by bench: %d hosts\n", n)
	w("[all:vars]\nansible_user=deploy\nansible_python_interpreter=/usr/bin/python3\napp_port=8080\n")
	w("motd=\"{{ inventory_hostname }} ({{ role }}) in {{ dc }}\"\n\n")
	if web > 0 {
		w("[web]\nweb-[%05d:%05d].example.com ansible_port=22\n\n", 1, web)
	}
	if db > 0 {
		w("[db]\ndb-[%05d:%05d].example.com ansible_port=2222 db_engine=postgres\n\n", 1, db)
	}
	w("[cache]\n")
	for i := 1; i <= cache; i++ {
		w("cache-%05d.example.com ansible_host=10.1.%d.%d rack=r%02d shard=%d\n", i, i/250, i%250+1, i%40, i%16)
	}
	w("\n[app]\n")
	for i := 1; i <= app; i++ {
		w("app-%05d.example.com ansible_host=10.2.%d.%d rack=r%02d weight=%d tags='[\"blue\", \"canary\"]'\n", i, i/250, i%250+1, i%40, i%7)
	}
	w("\n[web:vars]\nrole=web\nworkers=\"{{ app_port | int // 1000 }}\"\n")
	w("\n[db:vars]\nrole=db\nbackup_window=\"02:00-04:00\"\n")
	w("\n[cache:vars]\nrole=cache\nmaxmemory=2gb\n")
	w("\n[app:vars]\nrole=app\nupstream=\"http://{{ inventory_hostname }}:{{ app_port }}\"\n")
	w("\n[dc1:children]\nweb\ndb\n\n[dc2:children]\ncache\napp\n")
	w("\n[dc1:vars]\ndc=dc1\nntp=ntp1.dc1.example.com\n\n[dc2:vars]\ndc=dc2\nntp=ntp1.dc2.example.com\n")
	w("\n[site:children]\ndc1\ndc2\n\n[site:vars]\nsite=eu-west\n")
	path := filepath.Join(dir, "inventory.ini")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}
