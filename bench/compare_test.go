package bench

// TestCompare: the side-by-side comparison of gorun with ansible-playbook
// (make bench-compare, bench/compare.sh). BENCHMARKS.md describes the
// scenarios, what is measured and how.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorun/gorun/sshtest"
)

// cmpScenarios are the playbooks of scenarios/, in order.
var cmpScenarios = []struct{ name, desc string }{
	{"s1", "one `command: /bin/true` per host"},
	{"s2", "ten `command: /bin/true` tasks in sequence"},
	{"s3", "`command: /bin/sleep 2`, `async: 45`, `poll: 1`"},
	{"s4", "`sleep 2` with `poll: 0`, then `async_status` `until: s is finished` (retries 30, delay 1)"},
	{"s5", "`command: /bin/sleep 10`, `async: 2`, `poll: 1`, `ignore_errors: true`: every host times out"},
	{"s6", "a 20-item loop of `sleep 1` with `async: 60`, `poll: 0`, then one `async_status` loop over the results"},
}

// cmpAllRunners are the runners, in the order they alternate in a round.
var cmpAllRunners = []string{"ansible", "gorun", "gorun-warm"}

const (
	cmpSampleEvery = 25 * time.Millisecond  // RSS sampling period
	cmpScanEvery   = 250 * time.Millisecond // full /proc scans, at most this far apart
	cmpSampleMax   = 100 * time.Millisecond // the longest period between samples
	cmpRunTimeout  = 30 * time.Minute       // one playbook run
	cmpQuietWait   = 30 * time.Second       // longest wait for leftovers of a run to go
	cmpBusyWait    = 10 * time.Second       // longest wait for the CPU to calm down
	cmpQuietBusy   = 0.25                   // quiet: under a quarter of the machine's CPU busy
	cmpS5Limit     = 2 * time.Second        // s5's async limit
	cmpS5Wait      = 15 * time.Second       // how long s5's sleeps are followed after the run
	cmpMB          = 1024 * 1024.0          // bytes in the tables' MB
	cmpServerReady = 60 * time.Second       // gorun server start
	cmpServerStop  = 15 * time.Second       // gorun server stop before SIGKILL
	cmpTargetsGone = 10 * time.Second       // ControlPersist masters after SIGTERM
	cmpPollQuiet   = 100 * time.Millisecond // quiet check period
)

// cmpConfig is what the BENCH_* variables ask for.
type cmpConfig struct {
	Hosts     []int    `json:"hosts"`
	Rounds    int      `json:"rounds"`
	Scenarios []string `json:"scenarios"`
	Runners   []string `json:"runners"`
}

func cmpReadConfig(t *testing.T) cmpConfig {
	t.Helper()
	c := cmpConfig{Rounds: 3}
	hosts := cmpEnv("BENCH_HOSTS", "10,50")
	for _, f := range strings.Split(hosts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("BENCH_HOSTS=%q: want host counts between 1 and 1000, comma-separated", hosts)
		}
		c.Hosts = append(c.Hosts, n)
	}
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BENCH_ROUNDS=%q: want a positive integer", v)
		}
		c.Rounds = n
	}
	var names []string
	for _, s := range cmpScenarios {
		names = append(names, s.name)
	}
	var err error
	if c.Scenarios, err = cmpSelect(cmpEnv("BENCH_SCENARIOS", "all"), names); err != nil {
		t.Fatalf("BENCH_SCENARIOS: %v", err)
	}
	if c.Runners, err = cmpSelect(cmpEnv("BENCH_RUNNERS", strings.Join(cmpAllRunners, ",")), cmpAllRunners); err != nil {
		t.Fatalf("BENCH_RUNNERS: %v", err)
	}
	return c
}

func cmpEnv(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// cmpSelect returns the names of list (comma-separated, or all) in the
// order of known.
func cmpSelect(list string, known []string) ([]string, error) {
	if list == "all" {
		return known, nil
	}
	want := map[string]bool{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("unknown %q (known: %s, or all)", f, strings.Join(known, ","))
		}
		want[f] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func TestCompare(t *testing.T) {
	if os.Getenv("GORUN_BENCH") != "1" {
		t.Skip("the comparison with ansible-playbook takes minutes: GORUN_BENCH=1 (make bench-compare) runs it")
	}
	cfg := cmpReadConfig(t)
	if slices.Contains(cfg.Runners, "ansible") {
		if _, err := exec.LookPath("ansible-playbook"); err != nil {
			t.Fatal("ansible-playbook not found: install ansible-core (make deps does), or leave ansible out of BENCH_RUNNERS")
		}
	}
	meta := cmpMeta(t, cfg)
	gorun := cmpBuild(t)
	t.Logf("comparing %s on %v hosts, %d round(s), scenarios %s", strings.Join(cfg.Runners, ", "),
		cfg.Hosts, cfg.Rounds, strings.Join(cfg.Scenarios, ","))
	for _, n := range cfg.Hosts {
		t.Run(fmt.Sprintf("n%d", n), func(t *testing.T) { cmpCompareN(t, cfg, meta, gorun, n) })
	}
}

// cmpBench is the comparison at one fleet size.
type cmpBench struct {
	n        int
	cfg      cmpConfig
	gorun    string
	fleet    *sshtest.Fleet
	inv      string
	scope    *cmpFleetScope
	tmp      string // short-lived files
	baseEnv  []string
	ansCfg   string // ansible.cfg for the gorun runners (same settings, no control path)
	booted   time.Time
	scenario map[string]string // name -> playbook path
}

func cmpCompareN(t *testing.T, cfg cmpConfig, meta cmpMetadata, gorun string, n int) {
	b := &cmpBench{n: n, cfg: cfg, gorun: gorun, booted: cmpBootTime(), scenario: map[string]string{}}
	for _, s := range cmpScenarios {
		p, err := filepath.Abs(filepath.Join("scenarios", s.name+".yml"))
		if err != nil {
			t.Fatal(err)
		}
		b.scenario[s.name] = p
	}
	t.Logf("starting %d sshd hosts", n)
	b.fleet = sshtest.Start(t, n)
	b.inv = b.fleet.InventoryINI(t)
	var hps [][2]string
	for _, h := range b.fleet.Hosts {
		hps = append(hps, [2]string{h.Addr, strconv.Itoa(h.Port)})
	}
	b.scope = cmpNewFleetScope(b.fleet.Dir, hps)
	// short: ssh's control sockets live below it (108-byte socket paths)
	tmp, err := os.MkdirTemp("", "gbc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	b.tmp = tmp
	for _, kv := range os.Environ() {
		if !cmpDropEnv(kv) {
			b.baseEnv = append(b.baseEnv, kv)
		}
	}
	b.ansCfg = b.writeAnsibleCfg(t, filepath.Join(tmp, "gorun.cfg"), "")

	var runners []*cmpRunner
	for _, name := range cfg.Runners {
		runners = append(runners, cmpRunners[name](t, b))
	}
	// Unmeasured: the page cache warmed for every runner (binaries,
	// Python modules), and gorun-warm's connections opened by a run of
	// every scenario.
	for _, r := range runners {
		warm := []string{"s1"}
		if r.warmAll {
			warm = cfg.Scenarios
		}
		for _, sc := range warm {
			b.waitQuiet(t)
			run := b.exec(t, r, sc, false)
			t.Logf("warm-up %-10s %s: %.2f s, exit %d", r.name, sc, run.WallS, run.Exit)
			if run.Exit != 0 {
				t.Logf("warm-up output:\n%s", cmpTail(run.stdout+run.stderr, 3000))
			}
		}
	}

	var runs []*cmpRun
	var raws []cmpRaw
	for round := 1; round <= cfg.Rounds; round++ {
		// the raw x/crypto/ssh limit, in the same round as the runs it
		// bounds (BenchmarkRawSSH's one and ten)
		for _, cmds := range []int{1, 10} {
			waited, busy, _ := b.waitQuiet(t)
			raw := b.raw(t, cmds)
			raw.Round, raw.QuietWaitS, raw.BusyBefore = round, waited.Seconds(), busy
			raws = append(raws, raw)
			t.Logf("n%d round %d/%d raw x/crypto/ssh, %2d command(s) per host %6.2f s  machine cpu %6.2f s", n, round, cfg.Rounds, cmds, raw.WallS, raw.MachineCPUS)
		}
		for _, sc := range cfg.Scenarios {
			for _, r := range runners {
				waited, busy, left := b.waitQuiet(t)
				run := b.exec(t, r, sc, sc == "s5")
				run.Round, run.QuietWaitS, run.BusyBefore = round, waited.Seconds(), busy
				run.LeftBefore = left
				runs = append(runs, run)
				t.Logf("n%d round %d/%d %s %-10s %6.2f s  exit %d  cpu %6.2f s  rss %6.1f MB  machine cpu %6.2f s%s",
					n, round, cfg.Rounds, sc, r.name, run.WallS, run.Exit, run.CPUS, run.PeakRSSMB, run.MachineCPUS, run.timeoutNote())
			}
		}
	}
	rep := cmpSummarize(b, runs, raws)
	rep.Meta = meta
	rep.Meta.Hosts = n
	rep.write(t)
	for _, d := range rep.Problems {
		t.Error(d)
	}
}

// cmpRaw is one measure of the raw x/crypto/ssh limit: every host dialled
// in parallel (TCP connect, key exchange, host key checked against the
// fleet's known_hosts, public key authentication), then Cmds commands
// (/bin/true, one session each) in sequence on each host as soon as it is
// connected. In the test process itself: no process start.
type cmpRaw struct {
	Cmds  int     `json:"cmds"`
	Round int     `json:"round"`
	WallS float64 `json:"wall_s"`
	// MachineCPUS is the CPU time the whole machine spent meanwhile (the
	// fleet's sshd included).
	MachineCPUS float64 `json:"machine_cpu_s"`
	QuietWaitS  float64 `json:"quiet_wait_s"`
	BusyBefore  float64 `json:"busy_before"`
}

// raw measures the raw limit once (see cmpRaw).
func (b *cmpBench) raw(t *testing.T, cmds int) cmpRaw {
	t.Helper()
	cfg := rawSSHConfig(t, b.fleet)
	addrs := make([]string, len(b.fleet.Hosts))
	for i, h := range b.fleet.Hosts {
		addrs[i] = net.JoinHostPort(h.Addr, strconv.Itoa(h.Port))
	}
	machine := cmpReadMachine()
	start := time.Now()
	clients, err := dialAndRunAll(cfg, addrs, cmds)
	wall := time.Since(start)
	machineCPU := machine.cpuSince()
	closeAll(clients)
	if err != nil {
		t.Fatalf("raw x/crypto/ssh, %d commands per host: %v", cmds, err)
	}
	return cmpRaw{Cmds: cmds, WallS: wall.Seconds(), MachineCPUS: machineCPU.Seconds()}
}

// cmpDropEnv reports whether an inherited variable could change what a
// runner does (the runners get their settings explicitly).
func cmpDropEnv(kv string) bool {
	for _, p := range []string{"ANSIBLE_", "GORUN_", "NATS_", "BENCH_"} {
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

// writeAnsibleCfg writes the ansible.cfg of the runs: Ansible's defaults
// but for host key checking (on), forks, explicit gathering, the default
// stdout callback (and no other: callbacks_enabled is empty by default)
// and pipelining; controlDir, if set, is ssh's control_path_dir.
func (b *cmpBench) writeAnsibleCfg(t *testing.T, path, controlDir string) string {
	t.Helper()
	var s strings.Builder
	fmt.Fprintf(&s, "[defaults]\nhost_key_checking = True\nforks = %d\ngathering = explicit\nstdout_callback = default\nretry_files_enabled = False\n\n[ssh_connection]\npipelining = True\n", b.n)
	if controlDir != "" {
		fmt.Fprintf(&s, "control_path_dir = %s\n", controlDir)
	}
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cmpBuild builds cmd/gorun into a directory removed when t ends.
func cmpBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "gorun")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/gorun/gorun/cmd/gorun").CombinedOutput(); err != nil {
		t.Fatalf("building gorun: %v\n%s", err, out)
	}
	return bin
}

// cmpRunner runs a scenario one way.
type cmpRunner struct {
	name    string
	warmAll bool // warm up with every scenario, not only s1
	// prepare returns the command of one run; it is called right before
	// the run starts.
	prepare func(t *testing.T, playbook string) *cmpInvocation
}

// cmpInvocation is one run's command and its accounting.
type cmpInvocation struct {
	argv []string
	env  []string
	// roots are processes outside the runner's tree whose RSS counts
	// (gorun-warm's server).
	roots []int
	// detached names processes (comm, command line part) that the runner
	// leaves detached (ansible's ControlPersist masters): their RSS
	// counts while the run lasts.
	detachedComm, detached string
	// done accounts for what the runner's rusage misses (CPU of the
	// server, of the ControlPersist masters) and tidies up after it.
	done func(t *testing.T, r *cmpRun)
}

var cmpRunners = map[string]func(t *testing.T, b *cmpBench) *cmpRunner{
	"ansible":    cmpAnsible,
	"gorun":      cmpGorunCold,
	"gorun-warm": cmpGorunWarm,
}

// cmpAnsible: ansible-playbook with ControlPersist (its default ssh_args)
// and pipelining, each run with a fresh control path directory, whose
// masters are stopped after the run (their CPU time counts).
func cmpAnsible(t *testing.T, b *cmpBench) *cmpRunner {
	return &cmpRunner{name: "ansible", prepare: func(t *testing.T, playbook string) *cmpInvocation {
		dir, err := os.MkdirTemp(b.tmp, "a")
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, "cp")
		if err := os.Mkdir(cp, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := b.writeAnsibleCfg(t, filepath.Join(dir, "ansible.cfg"), cp)
		return &cmpInvocation{
			argv:         []string{"ansible-playbook", "-i", b.inv, "-f", strconv.Itoa(b.n), playbook},
			env:          append(slices.Clone(b.baseEnv), "ANSIBLE_CONFIG="+cfg),
			detachedComm: "ssh", detached: cp,
			done: func(t *testing.T, r *cmpRun) {
				masters := cmpMatching("ssh", cp)
				var pids []int
				for _, m := range masters {
					r.CPUS += cmpCPU(m.pid).Seconds()
					pids = append(pids, m.pid)
				}
				cmpKill(syscall.SIGTERM, pids...)
				deadline := time.Now().Add(cmpTargetsGone)
				for len(cmpMatching("ssh", cp)) > 0 {
					if time.Now().After(deadline) {
						for _, m := range cmpMatching("ssh", cp) {
							cmpKill(syscall.SIGKILL, m.pid)
						}
						break
					}
					cmpPause(cmpSampleEvery)
				}
				os.RemoveAll(dir)
			},
		}
	}}
}

// cmpGorunCold: gorun playbook with a fresh state directory, so the
// embedded NATS server and every SSH connection start from nothing.
func cmpGorunCold(t *testing.T, b *cmpBench) *cmpRunner {
	return &cmpRunner{name: "gorun", prepare: func(t *testing.T, playbook string) *cmpInvocation {
		dir, err := os.MkdirTemp(b.tmp, "g")
		if err != nil {
			t.Fatal(err)
		}
		return &cmpInvocation{
			argv: []string{b.gorun, "playbook", "-i", b.inv, "-f", strconv.Itoa(b.n), playbook},
			env:  append(slices.Clone(b.baseEnv), "ANSIBLE_CONFIG="+b.ansCfg, "GORUN_STATE_DIR="+dir),
			done: func(t *testing.T, r *cmpRun) { os.RemoveAll(dir) },
		}
	}}
}

// cmpGorunWarm: gorun playbook against a gorun server started once, whose
// connections are open (the warm-up runs every scenario once).
func cmpGorunWarm(t *testing.T, b *cmpBench) *cmpRunner {
	srv := cmpStartServer(t, b)
	url := fmt.Sprintf("nats://%s@%s", srv.token, srv.addr)
	return &cmpRunner{name: "gorun-warm", warmAll: true, prepare: func(t *testing.T, playbook string) *cmpInvocation {
		dir, err := os.MkdirTemp(b.tmp, "w")
		if err != nil {
			t.Fatal(err)
		}
		before := cmpCPU(srv.pid)
		return &cmpInvocation{
			argv:  []string{b.gorun, "playbook", "--nats", url, "-i", b.inv, "-f", strconv.Itoa(b.n), playbook},
			env:   append(slices.Clone(b.baseEnv), "ANSIBLE_CONFIG="+b.ansCfg, "GORUN_STATE_DIR="+dir),
			roots: []int{srv.pid},
			done: func(t *testing.T, r *cmpRun) {
				r.CPUS += (cmpCPU(srv.pid) - before).Seconds()
				os.RemoveAll(dir)
				select {
				case <-srv.exited:
					t.Fatalf("gorun server exited; its log:\n%s", cmpTail(srv.log(), 3000))
				default:
				}
			},
		}
	}}
}

// cmpServer is a running gorun server.
type cmpServer struct {
	pid         int
	addr, token string
	logFile     string // its stdout and stderr
	exited      chan struct{}
}

func (s *cmpServer) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// cmpStartServer starts gorun server with b.n forks and waits until it
// says it serves; it is stopped when the test ends.
func cmpStartServer(t *testing.T, b *cmpBench) *cmpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tok := make([]byte, 12)
	rand.Read(tok)
	dir := t.TempDir()
	srv := &cmpServer{addr: addr, token: hex.EncodeToString(tok), logFile: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	logf, err := os.Create(srv.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the server has its own copy
	cmd := exec.Command(b.gorun, "server", "--listen", addr, "--token", srv.token,
		"--state-dir", filepath.Join(dir, "state"), "-f", strconv.Itoa(b.n), "--metrics-addr", "off")
	cmd.Env = append(slices.Clone(b.baseEnv), "ANSIBLE_CONFIG="+b.ansCfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv.pid = cmd.Process.Pid
	go func() { cmd.Wait(); close(srv.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-srv.exited:
		case <-time.After(cmpServerStop):
			_ = syscall.Kill(-srv.pid, syscall.SIGKILL)
			<-srv.exited
		}
	})
	deadline := time.Now().Add(cmpServerReady)
	for !strings.Contains(srv.log(), "gorun server: NATS on") {
		select {
		case <-srv.exited:
			t.Fatalf("gorun server exited at start:\n%s", srv.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gorun server not ready after %v:\n%s", cmpServerReady, srv.log())
		}
		cmpPause(cmpSampleEvery)
	}
	t.Logf("gorun server on %s, %d forks", addr, b.n)
	return srv
}

// cmpPause waits d between two polls of a condition.
func cmpPause(d time.Duration) {
	tm := time.NewTimer(d)
	<-tm.C
}

// cmpRun is one measured run.
type cmpRun struct {
	Scenario    string   `json:"scenario"`
	Runner      string   `json:"runner"`
	Round       int      `json:"round"`
	WallS       float64  `json:"wall_s"`
	Exit        int      `json:"exit"`
	CPUS        float64  `json:"cpu_s"`
	PeakRSSMB   float64  `json:"peak_rss_mb"`
	MachineCPUS float64  `json:"machine_cpu_s"`
	QuietWaitS  float64  `json:"quiet_wait_s"`
	BusyBefore  float64  `json:"busy_before"`
	LeftBefore  []string `json:"left_before,omitempty"`
	// JobsAtExit are the scenario's `/bin/sleep` processes still running
	// on the fleet when the runner exited; HelpersAtExit the other `sleep`
	// processes there (the runner's own, such as a kill escalation timer).
	JobsAtExit    []string    `json:"jobs_at_exit,omitempty"`
	HelpersAtExit []string    `json:"helpers_at_exit,omitempty"`
	Recap         []string    `json:"recap"`
	Timeout       *cmpTimeout `json:"timeout,omitempty"`
	Output        string      `json:"output,omitempty"`

	stdout, stderr string
}

func (r *cmpRun) timeoutNote() string {
	if r.Timeout == nil {
		return ""
	}
	return fmt.Sprintf("  [s5: %d/%d hosts timed out, limit->recap %s, sleep 10 left at exit %d, gone %s after the limit]",
		r.Timeout.HostsTimedOut, r.Timeout.Hosts, cmpSecs(r.Timeout.LimitToRecapS), r.Timeout.LeftAtExit, cmpSecs(r.Timeout.GoneAfterLimitS))
}

// cmpTimeout is what s5 checks.
type cmpTimeout struct {
	Hosts         int `json:"hosts"`
	HostsTimedOut int `json:"hosts_timed_out"` // hosts failed with "did not complete within the requested time"
	Sleeps        int `json:"sleeps"`          // `sleep 10` processes seen on the fleet
	// LimitToRecapS is the time from the last host's limit (its `sleep
	// 10` start + 2 s) to the PLAY RECAP line; nil when no sleep was
	// seen.
	LimitToRecapS *float64 `json:"limit_to_recap_s"`
	// LastFailureS: from the last host's limit to the last timeout line.
	LastFailureS *float64 `json:"limit_to_last_failure_s"`
	// LeftAtExit counts the `sleep 10` still running when the runner
	// exited; GoneAfterLimitS is when the last went, after the last limit
	// (to within cmpSampleEvery; nil: still there cmpS5Wait after the
	// run).
	LeftAtExit      int      `json:"left_at_exit"`
	GoneAfterLimitS *float64 `json:"gone_after_limit_s"`
}

func cmpSecs(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f s", *p)
}

func cmpPtr(d time.Duration) *float64 { v := d.Seconds(); return &v }

// cmpOutput collects a runner's stdout and when some lines arrived.
type cmpOutput struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	partial   []byte
	recapAt   time.Time
	timedOut  map[string]time.Time // host -> its timeout failure line
	lastFatal time.Time
}

// cmpReTimedOut matches a host's async timeout: the controller's "async
// task did not complete within the requested time", or the target
// watchdog's "Timeout exceeded" (ansible-playbook reports either,
// depending on which noticed first).
var cmpReTimedOut = regexp.MustCompile(`^fatal: \[([^\]]+)\]: FAILED! => .*(async task did not complete within the requested time|"msg": "Timeout exceeded")`)

func (o *cmpOutput) Write(p []byte) (int, error) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := string(o.partial[:i])
		o.partial = o.partial[i+1:]
		if o.recapAt.IsZero() && strings.HasPrefix(line, "PLAY RECAP") {
			o.recapAt = now
		}
		if m := cmpReTimedOut.FindStringSubmatch(line); m != nil {
			if o.timedOut == nil {
				o.timedOut = map[string]time.Time{}
			}
			o.timedOut[m[1]] = now
			o.lastFatal = now
		}
	}
	return len(p), nil
}

// cmpRecap returns the PLAY RECAP lines of out, spaces collapsed, sorted.
func cmpRecap(out string) []string {
	_, after, ok := strings.Cut(out, "PLAY RECAP")
	if !ok {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(after, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != ":" || !strings.HasPrefix(f[2], "ok=") {
			continue
		}
		lines = append(lines, strings.Join(f, " "))
	}
	sort.Strings(lines)
	return lines
}

// cmpSamples is what the sampler saw during a run.
type cmpSamples struct {
	peakRSS int64
	sleeps  map[int]cmpTarget // s5: the fleet's `sleep 10` processes
	goneAt  time.Time         // s5: the first sample that found all sleeps gone
}

// exec runs scenario sc with runner r and measures it; with s5 set it
// follows the fleet's `sleep 10` processes.
func (b *cmpBench) exec(t *testing.T, r *cmpRunner, sc string, s5 bool) *cmpRun {
	t.Helper()
	inv := r.prepare(t, b.scenario[sc])
	out := &cmpOutput{}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	errf, err := os.CreateTemp(b.tmp, "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 64<<10)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				out.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), cmpRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, inv.argv[0], inv.argv[1:]...)
	cmd.Env = inv.env
	// the stdout pipe is ours, so that Wait returns when the runner
	// exits even if something it left behind holds the pipe
	cmd.Stdout, cmd.Stderr = pw, errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	machine := cmpReadMachine()
	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		t.Fatalf("starting %s: %v", inv.argv[0], err)
	}
	stop := make(chan struct{})
	sampled := make(chan cmpSamples, 1)
	go func() { sampled <- b.sample(cmd.Process.Pid, inv, s5, stop) }()
	werr := cmd.Wait()
	end := time.Now()
	machineCPU := machine.cpuSince()
	close(stop)
	smp := <-sampled

	run := &cmpRun{Scenario: sc, Runner: r.name, WallS: end.Sub(start).Seconds(),
		MachineCPUS: machineCPU.Seconds(), PeakRSSMB: float64(smp.peakRSS) / cmpMB}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.CPUS = (time.Duration(ru.Utime.Nano()) + time.Duration(ru.Stime.Nano())).Seconds()
	}
	run.Exit = cmd.ProcessState.ExitCode()
	if werr != nil && run.Exit < 0 {
		t.Errorf("%s %s: %v", r.name, sc, werr)
	}
	if ctx.Err() != nil {
		t.Errorf("%s %s: killed after %v", r.name, sc, cmpRunTimeout)
	}
	for _, tg := range b.scope.targets("sleep") {
		if cmpIsJob(tg) {
			run.JobsAtExit = append(run.JobsAtExit, cmpArgs(tg))
		} else {
			run.HelpersAtExit = append(run.HelpersAtExit, cmpArgs(tg))
		}
	}
	var tmo *cmpTimeout
	var goneAt time.Time
	if s5 {
		tmo, goneAt = b.followSleeps(smp.sleeps, smp.goneAt, end)
	}
	if inv.done != nil {
		inv.done(t, run)
	}
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
		t.Logf("%s %s: stdout still open 5 s after the runner exited", r.name, sc)
		pr.Close()
		<-readDone
	}
	errb, _ := os.ReadFile(errf.Name())
	out.mu.Lock()
	run.stdout, run.stderr = out.buf.String(), string(errb)
	run.Recap = cmpRecap(run.stdout)
	if tmo != nil {
		tmo.HostsTimedOut = len(out.timedOut)
		if limit, ok := b.lastLimit(smp.sleeps); ok {
			if !out.recapAt.IsZero() {
				tmo.LimitToRecapS = cmpPtr(out.recapAt.Sub(limit))
			}
			if !out.lastFatal.IsZero() {
				tmo.LastFailureS = cmpPtr(out.lastFatal.Sub(limit))
			}
			if !goneAt.IsZero() {
				tmo.GoneAfterLimitS = cmpPtr(goneAt.Sub(limit))
			}
		}
		run.Timeout = tmo
	}
	out.mu.Unlock()
	return run
}

// sample measures the peak RSS of the runner's processes every
// cmpSampleEvery until stop is closed; every cmpScanEvery it looks for
// detached processes of the runner and, with s5, for the fleet's `sleep
// 10` processes. The period grows when a sample takes more than a tenth of
// it (hundreds of processes), so that the sampler takes at most about a
// tenth of a core from the run it measures, up to cmpSampleMax: on a
// saturated machine, where a sample waits for the CPU, a longer period
// would let s5's `sleep 10` (2 s of life) go unseen.
func (b *cmpBench) sample(pid int, inv *cmpInvocation, s5 bool, stop <-chan struct{}) cmpSamples {
	s := cmpSamples{sleeps: map[int]cmpTarget{}}
	tm := time.NewTimer(0)
	defer tm.Stop()
	<-tm.C
	var detached []int
	var scanned time.Time
	for {
		began := time.Now()
		if began.Sub(scanned) >= cmpScanEvery {
			scanned = began
			if inv.detached != "" {
				detached = detached[:0]
				for _, p := range cmpMatching(inv.detachedComm, inv.detached) {
					detached = append(detached, p.pid)
				}
			}
			if s5 {
				for _, tg := range b.scope.targets("sleep") {
					if cmpIsSleep10(tg) {
						s.sleeps[tg.pid] = tg
					}
				}
			}
		}
		roots := append(append([]int{pid}, inv.roots...), detached...)
		s.peakRSS = max(s.peakRSS, cmpTreeRSS(roots...))
		if len(s.sleeps) > 0 {
			running := false
			for _, tg := range s.sleeps {
				if tg.alive() {
					running = true
					break
				}
			}
			if running {
				s.goneAt = time.Time{}
			} else if s.goneAt.IsZero() {
				s.goneAt = time.Now()
			}
		}
		took := time.Since(began)
		tm.Reset(min(max(cmpSampleEvery-took, 9*took), cmpSampleMax))
		select {
		case <-stop:
			return s
		case <-tm.C:
		}
	}
}

// cmpIsJob reports whether tg is a scenario's job: the scenarios run
// /bin/sleep by its path, the runners' own helpers run `sleep`.
func cmpIsJob(tg cmpTarget) bool { return len(tg.args) > 0 && tg.args[0] == "/bin/sleep" }

func cmpIsSleep10(tg cmpTarget) bool { return cmpIsJob(tg) && len(tg.args) == 2 && tg.args[1] == "10" }

// followSleeps counts the `sleep 10` processes alive when the runner
// exited and follows them until they are gone; it returns when the last
// went (goneAt, as the sampler saw it, when none was left at the exit;
// zero when some are still there cmpS5Wait later).
func (b *cmpBench) followSleeps(sleeps map[int]cmpTarget, goneAt, exited time.Time) (*cmpTimeout, time.Time) {
	tmo := &cmpTimeout{Hosts: b.n}
	// one more look, for sleeps started after the last scan
	for _, tg := range b.scope.targets("sleep") {
		if _, ok := sleeps[tg.pid]; !ok && cmpIsSleep10(tg) {
			sleeps[tg.pid] = tg
		}
	}
	tmo.Sleeps = len(sleeps)
	alive := func() int {
		n := 0
		for _, tg := range sleeps {
			if tg.alive() {
				n++
			}
		}
		return n
	}
	tmo.LeftAtExit = alive()
	if tmo.LeftAtExit == 0 {
		if goneAt.IsZero() {
			goneAt = exited
		}
		return tmo, goneAt
	}
	deadline := time.Now().Add(cmpS5Wait)
	for alive() > 0 {
		if time.Now().After(deadline) {
			return tmo, time.Time{}
		}
		cmpPause(cmpSampleEvery)
	}
	return tmo, time.Now()
}

// lastLimit returns when the last host's s5 job reached its limit: the
// latest `sleep 10` start plus 2 s.
func (b *cmpBench) lastLimit(sleeps map[int]cmpTarget) (time.Time, bool) {
	var last int64 = -1
	for _, tg := range sleeps {
		last = max(last, tg.start)
	}
	if last < 0 {
		return time.Time{}, false
	}
	return b.booted.Add(time.Duration(last) * time.Second / cmpClkTck).Add(cmpS5Limit), true
}

// waitQuiet waits, polling, until nothing of an earlier run is left on the
// fleet (no `sleep`, no ControlPersist master of a run) and the machine is
// mostly idle, for at most cmpQuietWait (cmpBusyWait when only the CPU is
// busy, with other work); leftovers still there then are
// killed and returned.
func (b *cmpBench) waitQuiet(t *testing.T) (time.Duration, float64, []string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(cmpQuietWait)
	prev := cmpReadMachine()
	var why string
	for {
		cmpPause(cmpPollQuiet)
		cur := cmpReadMachine()
		busy := cmpBusyFraction(prev, cur)
		prev = cur
		left := b.scope.targets("sleep")
		masters := cmpMatching("ssh", b.tmp)
		if len(left) == 0 && len(masters) == 0 && busy < cmpQuietBusy {
			if waited := time.Since(start); waited > time.Second {
				t.Logf("waited %.1f s for a quiet machine (last: %s)", waited.Seconds(), why)
			}
			return time.Since(start), busy, nil
		}
		why = fmt.Sprintf("%d sleep on the fleet, %d ssh masters, %.0f%% CPU busy", len(left), len(masters), busy*100)
		if len(left) > 0 {
			why += " (" + cmpArgs(left[0]) + ")"
		}
		onlyBusy := len(left) == 0 && len(masters) == 0
		if time.Now().After(deadline) || (onlyBusy && time.Since(start) > cmpBusyWait) {
			var desc []string
			for _, tg := range left {
				desc = append(desc, "target: "+cmpArgs(tg))
				cmpKill(syscall.SIGKILL, tg.pid)
			}
			for _, m := range masters {
				desc = append(desc, fmt.Sprintf("ssh master %d", m.pid))
				cmpKill(syscall.SIGKILL, m.pid)
			}
			if len(desc) > 0 {
				t.Logf("still there %v after the previous run (killed): %s", cmpQuietWait, strings.Join(desc, "; "))
			} else {
				t.Logf("machine still %.0f%% busy after %.0f s; measuring anyway", busy*100, time.Since(start).Seconds())
			}
			return time.Since(start), busy, desc
		}
	}
}

func cmpTail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
