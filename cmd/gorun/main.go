// Command gorun runs Ansible-style playbooks — above all their asynchronous
// actions and polling — on fleets of SSH hosts, through NATS JetStream.
//
//	gorun playbook [-i INVENTORY] [-f FORKS] [-l LIMIT] [-e VARS] [-c ssh|local] [-v] [--json] PLAYBOOK...
//	gorun run PATTERN [-i INVENTORY] -m MODULE -a ARGS [-B SECONDS] [-P POLL] [-f FORKS]
//	gorun submit [options] PLAYBOOK...
//	gorun status [--json] JID|RUNID
//	gorun wait [--timeout D] JID...|RUNID
//	gorun jobs [--run R] [--host H] [--state S] [--watch]
//	gorun cancel JID|RUNID...
//	gorun gc [PATTERN] [-i INVENTORY] [-l LIMIT] [--older-than D] [--dry-run]
//	gorun server [--listen ADDR] [--forks N]
//	gorun version
//
// Without --nats (or NATS_URL) gorun starts an embedded NATS server with
// JetStream in its state directory and an in-process executor.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env is what a command needs from the process: arguments, streams and
// environment, so commands can be tested without a real process.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	isTTY          bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv, isTTY: isTerminal(os.Stdout)}
	stopProfile := startProfile(e)
	code := run(ctx, e, os.Args[1:])
	stopProfile()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole command to the file
// GORUN_CPUPROFILE names, if set (see BENCHMARKS.md: what dominates a
// run); the returned function ends it.
func startProfile(e *env) func() {
	path := e.getenv("GORUN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gorun: warning: GORUN_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

const topUsage = `usage: gorun COMMAND [options] [args]

commands:
  playbook    run playbooks (as ansible-playbook)
  run         run one module on hosts (as ansible: gorun run PATTERN -m MODULE -a ARGS [-B S -P S])
  submit      hand a run to the dispatcher service; prints its run id
  status      show a job or run record (gorun status [--json] JID|RUNID)
  wait        wait for jobs or a run to end (a run's output is streamed)
  jobs        list job records (--run, --host, --state, --watch)
  cancel      cancel jobs or runs
  gc          remove ended async jobs' directories on hosts, and old job records
  server      all-in-one: NATS, a dispatcher and an executor for one machine
  version     print the version

Run 'gorun COMMAND -h' for a command's options.
`

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, topUsage)
		return 2
	}
	switch args[0] {
	case "playbook":
		return cmdPlaybook(ctx, e, args[1:])
	case "run":
		return cmdRun(ctx, e, args[1:])
	case "status":
		return cmdStatus(ctx, e, args[1:])
	case "submit":
		return cmdSubmit(ctx, e, args[1:])
	case "wait":
		return cmdWait(ctx, e, args[1:])
	case "jobs":
		return cmdJobs(ctx, e, args[1:])
	case "cancel":
		return cmdCancel(ctx, e, args[1:])
	case "gc":
		return cmdGC(ctx, e, args[1:])
	case "server":
		return cmdServer(ctx, e, args[1:])
	case "version", "--version":
		fmt.Fprintf(e.stdout, "gorun %s\n", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, topUsage)
		return 0
	}
	fmt.Fprintf(e.stderr, "%sgorun: error: unknown command %q\n", topUsage, args[0])
	return 2
}

// logger returns the process logger: warnings and errors on stderr, more
// with -vvvv.
func logger(e *env, verbosity int) *slog.Logger {
	level := slog.LevelWarn
	if verbosity >= 4 {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}
