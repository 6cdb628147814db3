// Package e2e tests gorun as its users run it: built binaries (gorun,
// dispatcher, executor) as separate processes, real NATS servers (one, or
// a 3-node cluster), and real sshd hosts on loopback; and it kills those
// processes with kill -9 to check that no job is lost or run twice.
//
// The chaos tests (chaos_test.go) run short async jobs through 3 executors
// on a 3-node cluster while a chaos loop kills (kill -9) and restarts a
// random executor every few seconds, and, in the soak variant, a NATS node
// every 10 s; then every job must be terminal once, finished with its own
// output, and launched once on its target (a marker line per launch). They
// log their figures (jobs, kills, lost, duplicated, re-attached, wall time)
// in a "chaos summary" line. Their size comes from the environment:
//
//	GORUN_CHAOS_JOBS   async jobs (default 1000; make chaos: 10000)
//	GORUN_CHAOS_HOSTS  sshd hosts (default 20; make chaos: 50)
//	GORUN_CHAOS_SOAK   1: the soak runs at that size too (default: a tenth
//	                   of the jobs, a quarter of the hosts)
//
// bounds_test.go checks an executor's resource bounds under a backlog:
// heap, SSH connections per host, file descriptors (under ulimit -n 64)
// and goroutines.
package e2e
