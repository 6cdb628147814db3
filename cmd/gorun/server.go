package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gorun/gorun/cmd/internal/service"
	"github.com/gorun/gorun/embedded"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/runs"
)

var serverOpts = []*opt{
	{long: []string{"listen"}, arg: "ADDR", help: "address NATS clients connect to (default 127.0.0.1:4222)"},
	{long: []string{"token"}, arg: "TOKEN", help: "require this token from NATS clients (default $GORUN_SERVER_TOKEN; none)"},
	{short: "f", long: []string{"forks"}, arg: "FORKS", help: "executor forks (default 20)"},
	{long: []string{"concurrency"}, arg: "N", help: "runs the dispatcher runs at once (default 4)"},
	{long: []string{"state-dir"}, arg: "DIR", help: "state directory (default $GORUN_STATE_DIR, $XDG_STATE_HOME/gorun or ~/.local/state/gorun)"},
	{long: []string{"retention"}, arg: "DURATION", help: "how long job and run records are kept after their last change, e.g. 168h (default $GORUN_RETENTION or 168h)"},
	{long: []string{"stop-timeout"}, arg: "DURATION", help: "how long the first signal waits for running work (default 5m)"},
	{long: []string{"metrics-addr"}, arg: "ADDR", help: "address of /metrics, /healthz and /readyz (default $GORUN_METRICS_ADDR or 127.0.0.1:9468; off: none)"},
	{long: []string{"metrics-host-label"}, help: "add a host label to gorun_jobs_finished_total (one series per host)"},
	{long: []string{"queue-poll-interval"}, arg: "DURATION", help: "how often the task queue's state is read for metrics (default 10s)"},
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
	pollEvery := metrics.DefaultQueuePollInterval
	if v := p.str("queue-poll-interval"); v != "" {
		if pollEvery, err = time.ParseDuration(v); err != nil {
			return usageFail(e, "server", "", serverOpts, fmt.Sprintf("argument --queue-poll-interval: %v", err))
		}
	}
	metricsAddr := orEnv(p, e, "metrics-addr", "GORUN_METRICS_ADDR")
	switch metricsAddr {
	case "":
		metricsAddr = "127.0.0.1:9468"
	case "off", "none":
		metricsAddr = ""
	}
	if metricsAddr != "" {
		if _, _, err := net.SplitHostPort(metricsAddr); err != nil {
			return usageFail(e, "server", "", serverOpts, fmt.Sprintf("argument --metrics-addr: %q is not host:port", metricsAddr))
		}
	}
	sc, err := embeddedStore(p, e)
	if err != nil {
		return usageFail(e, "server", "", serverOpts, "argument --retention: "+err.Error())
	}
	log := logger(e, max(p.count["verbose"], 3))
	reg := metrics.NewRegistry(version)
	em := metrics.NewExecutor(reg, metrics.ExecutorOptions{HostLabel: p.has("metrics-host-label")})
	node, err := embedded.Start(ctx, embedded.Config{StateDir: dir, Forks: forks, Listen: listen,
		Token: orEnv(p, e, "token", "GORUN_SERVER_TOKEN"), Logger: log, Metrics: em, Store: sc, Runs: true})
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if !node.Owner() {
		node.Close(context.Background())
		return fail(e, 1, "ERROR! another gorun process owns "+dir+"; stop it first or use --state-dir")
	}
	em.Gauges(metrics.ExecutorGauges{Forks: node.Executor.Forks, Busy: node.Executor.Busy, Async: node.Executor.Async, SSHOpen: node.Pool.Open})
	dm := metrics.NewDispatcher(reg)
	node.Store.OnWatchLag(dm.WatchLag)
	stopPoll := metrics.NewQueue(reg).Poll(ctx, service.QueueSource(node.Queue), pollEvery, log)
	defer stopPoll()
	metricsMsg := ""
	if metricsAddr != "" {
		srv, err := metrics.Listen(metrics.ServerConfig{Addr: metricsAddr, Gatherer: reg,
			Ready: service.Ready(node.Conn, node.Queue, node.Store), Logger: log})
		if err != nil {
			node.Close(context.Background())
			return fail(e, 1, "ERROR! "+err.Error()+" (use --metrics-addr ADDR, or off)")
		}
		defer srv.Close(context.Background())
		metricsMsg = "; metrics on http://" + srv.Addr() + "/metrics"
	}
	svc, err := runs.NewService(runs.ServiceConfig{Concurrency: concurrency, Logger: log, Metrics: dm}, node.Runs, node.Queue, node.Store, node.RunStore)
	if err == nil {
		err = svc.Start(ctx)
	}
	if err != nil {
		node.Close(context.Background())
		return fail(e, 1, "ERROR! "+err.Error())
	}
	fmt.Fprintf(e.stderr, "gorun server: NATS on %s, %d forks, %d runs at once; state in %s%s\n", listen, forks, concurrency, dir, metricsMsg)
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
