package bench

// /proc helpers of TestCompare: process trees, RSS, CPU time, the fleet's
// target processes. Every identifier starts with cmp so that the package's
// other test files can use plain names.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cmpClkTck is USER_HZ, the unit of the times in /proc/<pid>/stat and
// /proc/stat (100 on every Linux architecture Go supports).
const cmpClkTck = 100

var cmpPageSize = int64(os.Getpagesize())

// cmpStat is what TestCompare reads of /proc/<pid>/stat.
type cmpStat struct {
	pid, ppid int
	comm      string
	state     byte  // R, S, D, Z (zombie: exited, not yet reaped), ...
	cpuTicks  int64 // utime+stime+cutime+cstime
	start     int64 // starttime, clock ticks after boot
}

// cmpReadStat reads /proc/<pid>/stat.
func cmpReadStat(pid int) (cmpStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cmpStat{}, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return cmpStat{}, false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 20 {
		return cmpStat{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	return cmpStat{pid: pid, ppid: int(n(1)), comm: string(b[i+1 : j]), state: f[0][0],
		cpuTicks: n(11) + n(12) + n(13) + n(14), start: n(19)}, true
}

// cmpAll returns the stat of every process.
func cmpAll() []cmpStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]cmpStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, ok := cmpReadStat(pid); ok {
			out = append(out, s)
		}
	}
	return out
}

// cmpHasChildrenFile reports whether the kernel has
// /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN).
var cmpHasChildrenFile = func() bool {
	pid := strconv.Itoa(os.Getpid())
	_, err := os.Stat("/proc/" + pid + "/task/" + pid + "/children")
	return err == nil
}()

// cmpChildren returns the children of pid (forked by any of its threads).
func cmpChildren(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// cmpTree returns roots and all their descendants, each once.
func cmpTree(roots ...int) []int {
	seen := map[int]bool{}
	var out []int
	queue := append([]int(nil), roots...)
	var byParent map[int][]int
	if !cmpHasChildrenFile {
		byParent = map[int][]int{}
		for _, s := range cmpAll() {
			byParent[s.ppid] = append(byParent[s.ppid], s.pid)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p <= 0 || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		if byParent != nil {
			queue = append(queue, byParent[p]...)
		} else {
			queue = append(queue, cmpChildren(p)...)
		}
	}
	return out
}

// cmpRSS returns the resident set size of pid in bytes (VmRSS, from
// /proc/<pid>/statm), 0 when it is gone.
func cmpRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseInt(f[1], 10, 64)
	return v * cmpPageSize
}

// cmpTreeRSS sums the RSS of roots and their descendants.
func cmpTreeRSS(roots ...int) int64 {
	var sum int64
	for _, p := range cmpTree(roots...) {
		sum += cmpRSS(p)
	}
	return sum
}

// cmpCPU returns the CPU time (user+sys, with reaped children) of pid.
func cmpCPU(pid int) time.Duration {
	s, ok := cmpReadStat(pid)
	if !ok {
		return 0
	}
	return time.Duration(s.cpuTicks) * time.Second / cmpClkTck
}

// cmpCmdline returns the arguments of pid.
func cmpCmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// cmpEnviron returns the value of variable name in pid's initial
// environment.
func cmpEnviron(pid int, name string) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// cmpMatching returns the processes named comm whose command line contains
// sub.
func cmpMatching(comm, sub string) []cmpStat {
	var out []cmpStat
	for _, s := range cmpAll() {
		if s.comm == comm && strings.Contains(strings.Join(cmpCmdline(s.pid), " "), sub) {
			out = append(out, s)
		}
	}
	return out
}

// cmpMachine is a reading of the machine's CPU counters (/proc/stat).
type cmpMachine struct{ busy, total int64 }

func cmpReadMachine() cmpMachine {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cmpMachine{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var m cmpMachine
	for i, x := range f[1:] {
		if i >= 8 {
			break
		}
		v, _ := strconv.ParseInt(x, 10, 64)
		m.total += v
		if i != 3 && i != 4 { // idle, iowait
			m.busy += v
		}
	}
	return m
}

// cpuSince returns the CPU time all processes used since m.
func (m cmpMachine) cpuSince() time.Duration {
	return time.Duration(cmpReadMachine().busy-m.busy) * time.Second / cmpClkTck
}

// cmpBusyFraction returns the fraction of the machine's CPU used between
// two readings.
func cmpBusyFraction(a, b cmpMachine) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

// cmpBootTime returns the time the machine booted, to turn process start
// times (ticks after boot, rounded down) into wall clock times. It reads
// /proc/uptime, also in ticks rounded down, for 30 ms: the reading that
// follows a tick the closest gives the boot time to within what the loop
// takes (microseconds); the start times then come out at most one tick
// early.
func cmpBootTime() time.Time {
	var best time.Time
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
		b, err := os.ReadFile("/proc/uptime")
		now := time.Now()
		if err != nil {
			return now
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return now
		}
		up, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return now
		}
		if boot := now.Add(-time.Duration(up * float64(time.Second))); best.IsZero() || boot.Before(best) {
			best = boot
		}
	}
	return best
}

// cmpFleetScope tells the processes that run on the fleet's hosts: those
// started through one of its sshd (directly, or detached from it with
// setsid: the SSH_CONNECTION variable names the host's address and port).
type cmpFleetScope struct {
	addrs map[string]bool // "addr port" of each host
	sshd  map[int]bool    // pids of the fleet's sshd listeners
}

func cmpNewFleetScope(dir string, hostPorts [][2]string) *cmpFleetScope {
	sc := &cmpFleetScope{addrs: map[string]bool{}, sshd: map[int]bool{}}
	for _, hp := range hostPorts {
		sc.addrs[hp[0]+" "+hp[1]] = true
	}
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, f := range pidFiles {
		if b, err := os.ReadFile(f); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				sc.sshd[pid] = true
			}
		}
	}
	return sc
}

// cmpTarget is a process found on the fleet.
type cmpTarget struct {
	pid   int
	start int64 // ticks after boot
	args  []string
}

// targets returns the fleet's processes named comm.
func (sc *cmpFleetScope) targets(comm string) []cmpTarget {
	all := cmpAll()
	parent := make(map[int]int, len(all))
	for _, s := range all {
		parent[s.pid] = s.ppid
	}
	var out []cmpTarget
	for _, s := range all {
		if s.comm != comm || s.state == 'Z' || !sc.owns(s.pid, parent) {
			continue
		}
		args := cmpCmdline(s.pid)
		if len(args) == 0 { // exiting
			continue
		}
		out = append(out, cmpTarget{pid: s.pid, start: s.start, args: args})
	}
	return out
}

func (sc *cmpFleetScope) owns(pid int, parent map[int]int) bool {
	if f := strings.Fields(cmpEnviron(pid, "SSH_CONNECTION")); len(f) == 4 && sc.addrs[f[2]+" "+f[3]] {
		return true
	}
	for p, n := parent[pid], 0; p > 1 && n < 64; p, n = parent[p], n+1 {
		if sc.sshd[p] {
			return true
		}
	}
	return false
}

// alive reports whether the process t still runs: there, not a zombie,
// not a reused pid.
func (t cmpTarget) alive() bool {
	s, ok := cmpReadStat(t.pid)
	return ok && s.start == t.start && s.state != 'Z'
}

// cmpKill sends sig to every pid.
func cmpKill(sig syscall.Signal, pids ...int) {
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

func cmpArgs(t cmpTarget) string { return fmt.Sprintf("%d %s", t.pid, strings.Join(t.args, " ")) }
