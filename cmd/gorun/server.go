package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gorun/gorun/embedded"
	"github.com/gorun/gorun/runs"
)

var serverOpts = []*opt{
	{long: []string{"listen"}, arg: "ADDR", help: "address NATS clients connect to (default 127.0.0.1:4222)"},
	{long: []string{"token"}, arg: "TOKEN", help: "require this token from NATS clients (default $GORUN_SERVER_TOKEN; none)"},
	{short: "f", long: []string{"forks"}, arg: "FORKS", help: "executor forks (default 20)"},
	{long: []string{"concurrency"}, arg: "N", help: "runs the dispatcher runs at once (default 4)"},
	{long: []string{"state-dir"}, arg: "DIR", help: "state directory (default $GORUN_STATE_DIR, $XDG_STATE_HOME/gorun or ~/.local/state/gorun)"},
	{long: []string{"stop-timeout"}, arg: "DURATION", help: "how long the first signal waits for running work (default 5m)"},
	{short: "v", long: []string{"verbose"}, help: "more logs (-vvvv: debug)"},
	{short: "h", long: []string{"help"}, help: "show this help message and exit"},
}

// cmdServer runs everything for a single machine: the embedded NATS
// server listening for other CLIs and executors, a dispatcher and an
// executor.
func cmdServer(ctx context.Context, e *env, args []string) int {
	p, err := parseOpts(args, serverOpts)
	if err != nil {
		return usageFail(e, "server", "", serverOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("server", "", serverOpts))
		return 0
	}
	forks, concurrency := 20, 4
	if v := p.str("forks"); v != "" {
		if forks, err = strconv.Atoi(v); err != nil || forks < 1 {
			return usageFail(e, "server", "", serverOpts, fmt.Sprintf("argument -f/--forks: invalid value '%s'", v))
		}
	}
	if v := p.str("concurrency"); v != "" {
		if concurrency, err = strconv.Atoi(v); err != nil || concurrency < 1 {
			return usageFail(e, "server", "", serverOpts, fmt.Sprintf("argument --concurrency: invalid value '%s'", v))
		}
	}
	stopTimeout := 5 * time.Minute
	if v := p.str("stop-timeout"); v != "" {
		if stopTimeout, err = time.ParseDuration(v); err != nil {
			return usageFail(e, "server", "", serverOpts, fmt.Sprintf("argument --stop-timeout: %v", err))
		}
	}
	listen := p.str("listen")
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	dir := orEnv(p, e, "state-dir", "GORUN_STATE_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = embedded.DefaultStateDir(e.getenv("XDG_STATE_HOME"), home)
	}
	log := logger(e, max(p.count["verbose"], 3))
	node, err := embedded.Start(ctx, embedded.Config{StateDir: dir, Forks: forks, Listen: listen,
		Token: orEnv(p, e, "token", "GORUN_SERVER_TOKEN"), Logger: log})
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if !node.Owner() {
		node.Close(context.Background())
		return fail(e, 1, "ERROR! another gorun process owns "+dir+"; stop it first or use --state-dir")
	}
	svc, err := runs.NewService(runs.ServiceConfig{Concurrency: concurrency, Logger: log}, node.Runs, node.Queue, node.Store, node.RunStore)
	if err == nil {
		err = svc.Start(ctx)
	}
	if err != nil {
		node.Close(context.Background())
		return fail(e, 1, "ERROR! "+err.Error())
	}
	fmt.Fprintf(e.stderr, "gorun server: NATS on %s, %d forks, %d runs at once; state in %s\n", listen, forks, concurrency, dir)
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "gorun server: stopping (signal again to cancel running work)")
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	second, stop2 := signal.NotifyContext(sctx, os.Interrupt, syscall.SIGTERM)
	defer stop2()
	_ = svc.Stop(second)
	_ = node.Close(second)
	return 0
}
