// Command executor is gorun's horizontally scaled worker: it pulls task
// messages from the JetStream consumer all executors share, runs at most
// --forks jobs at once over SSH (or locally), follows async jobs on their
// targets, and records every state change in the job records bucket.
//
// Configuration comes from flags, the environment and an optional YAML
// file (--config); see cmd/internal/service. Stop it with SIGTERM or
// SIGINT: the first signal stops pulling and lets running jobs finish (up
// to --stop-timeout; async jobs are handed back for another executor to
// re-attach to, not killed); a second one cancels them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/gorun/gorun/cmd/internal/service"
	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	flags := service.NewFlags(fs)
	flags.Executor()
	cfg, err := flags.Load(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "executor: %v\n", err)
		return 2
	}
	log := cfg.Logger(os.Stderr)
	ctx := context.Background()
	conn, err := cfg.Connect(ctx, "gorun-executor", log)
	if err != nil {
		log.Error("connecting to NATS", "err", err)
		return 1
	}
	defer conn.Close()
	assets := cfg.AssetsMode()
	q, err := queue.Open(ctx, conn, queue.Config{AckWait: cfg.Executor.AckWait, Replicas: cfg.Replicas,
		MaxAckPending: cfg.Executor.MaxAckPending, Assets: assets})
	if err != nil {
		log.Error("opening the task queue", "err", err)
		return 1
	}
	st, err := status.Open(ctx, conn.JetStream(), status.Config{Replicas: cfg.Replicas, Retention: cfg.Retention, Assets: assets})
	if err != nil {
		log.Error("opening the job records", "err", err)
		return 1
	}
	defer st.Close()
	registry, err := status.OpenRegistry(ctx, conn.JetStream(), status.RegistryConfig{Replicas: cfg.Replicas, Assets: assets})
	if err != nil {
		log.Error("opening the executor registry", "err", err)
		return 1
	}
	locks, err := status.OpenLocks(ctx, conn.JetStream(), status.LocksConfig{Replicas: cfg.Replicas, Assets: assets})
	if err != nil {
		log.Error("opening the lock bucket", "err", err)
		return 1
	}
	reg := metrics.NewRegistry(version)
	em := metrics.NewExecutor(reg, metrics.ExecutorOptions{HostLabel: cfg.Executor.MetricsHostLabel})
	// a command's output is kept up to four times what its record keeps:
	// records are cut as before, and a command printing gigabytes costs
	// the executor no more than that per fork
	pool, err := connection.NewPool(connection.Config{Logger: log, Observer: em, MaxOutput: 4 * st.Config().MaxOutput})
	if err != nil {
		log.Error("connection pool", "err", err)
		return 1
	}
	defer pool.Close()
	ex, err := executor.New(executor.Config{ID: cfg.Executor.ID, Forks: cfg.Executor.Forks, Logger: log,
		Registry: registry, Locks: locks, Metrics: em}, q, st, pool)
	if err != nil {
		log.Error("executor", "err", err)
		return 2
	}
	em.Gauges(metrics.ExecutorGauges{Forks: ex.Forks, Busy: ex.Busy, Async: ex.Async, SSHOpen: pool.Open})
	stopPoll := metrics.NewQueue(reg).Poll(ctx, service.QueueSource(q), cfg.QueuePollInterval, log)
	defer stopPoll()
	stopMetrics, err := cfg.ServeMetrics(reg, service.Ready(conn, q, st), log)
	if err != nil {
		log.Error("metrics", "err", err)
		return 1
	}
	defer stopMetrics(context.Background())
	if err := ex.Start(ctx); err != nil {
		log.Error("starting executor", "err", err)
		return 1
	}
	if err := service.RunUntilSignal(ctx, log, cfg.StopTimeout, ex); err != nil {
		log.Warn("stopped with running jobs cancelled", "err", err)
	}
	log.Info("executor stopped")
	return 0
}
