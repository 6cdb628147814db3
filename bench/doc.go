// Package bench holds gorun's performance measurements; it has no code of
// its own, only tests.
//
// The Go benchmarks (go test -run '^$' -bench . ./bench) measure the limits
// gorun is held to: raw SSH, the queue path, completion latency, memory.
//
// TestCompare (compare_test.go) runs the playbooks of scenarios/ with
// ansible-playbook and with gorun, cold and warm, against real sshd hosts
// started by package sshtest, and writes a side-by-side table of wall time,
// CPU time and peak RSS to results/. It is skipped unless GORUN_BENCH=1;
// compare.sh (make bench-compare) runs it. BENCHMARKS.md at the repository
// root describes the scenarios, the method and the targets.
package bench
