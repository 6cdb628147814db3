// Command dispatcher is gorun's run service: it takes runs submitted with
// `gorun submit` from the queue, expands plays × hosts × tasks, publishes
// one job per (host, task) for the executors, follows the job records,
// and writes each run's output to its log and its outcome to its record.
// A run whose dispatcher dies is resumed by another (or the restarted one)
// without running its finished jobs again.
//
// Configuration comes from flags, the environment and an optional YAML
// file (--config); see cmd/internal/service. SIGTERM/SIGINT: the first
// signal stops taking runs and lets running ones finish (up to
// --stop-timeout, after which they are handed back to be resumed); a
// second one hands them back at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/gorun/gorun/cmd/internal/service"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/runs"
	"github.com/gorun/gorun/status"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	flags := service.NewFlags(fs)
	flags.Dispatcher()
	cfg, err := flags.Load(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "dispatcher: %v\n", err)
		return 2
	}
	log := cfg.Logger(os.Stderr)
	ctx := context.Background()
	conn, err := cfg.Connect(ctx, "gorun-dispatcher", log)
	if err != nil {
		log.Error("connecting to NATS", "err", err)
		return 1
	}
	defer conn.Close()
	assets := cfg.AssetsMode()
	q, err := queue.Open(ctx, conn, queue.Config{Replicas: cfg.Replicas, Assets: assets})
	if err != nil {
		log.Error("opening the task queue", "err", err)
		return 1
	}
	scfg := status.Config{Replicas: cfg.Replicas, Retention: cfg.Retention, Assets: assets}
	st, err := status.Open(ctx, conn.JetStream(), scfg)
	if err != nil {
		log.Error("opening the job records", "err", err)
		return 1
	}
	defer st.Close()
	rs, err := status.OpenRuns(ctx, conn.JetStream(), scfg)
	if err != nil {
		log.Error("opening the run records", "err", err)
		return 1
	}
	// the executors' liveness bucket too, so that clients can bind to
	// everything as soon as a dispatcher runs
	if _, err := status.OpenRegistry(ctx, conn.JetStream(), status.RegistryConfig{Replicas: cfg.Replicas, Assets: assets}); err != nil {
		log.Error("opening the executor registry", "err", err)
		return 1
	}
	rq, err := queue.OpenRuns(ctx, conn, queue.RunsConfig{Replicas: cfg.Replicas, Retention: cfg.Retention,
		AckWait: cfg.Dispatcher.AckWait, Assets: assets})
	if err != nil {
		log.Error("opening the run queue", "err", err)
		return 1
	}
	reg := metrics.NewRegistry(version)
	dm := metrics.NewDispatcher(reg)
	st.OnWatchLag(dm.WatchLag)
	svc, err := runs.NewService(runs.ServiceConfig{ID: cfg.Dispatcher.ID, Concurrency: cfg.Dispatcher.Concurrency,
		WorkDir: cfg.Dispatcher.WorkDir, Logger: log, Metrics: dm}, rq, q, st, rs)
	if err != nil {
		log.Error("dispatcher", "err", err)
		return 2
	}
	stopMetrics, err := cfg.ServeMetrics(reg, service.Ready(conn, q, st), log)
	if err != nil {
		log.Error("metrics", "err", err)
		return 1
	}
	defer stopMetrics(context.Background())
	if err := svc.Start(ctx); err != nil {
		log.Error("starting dispatcher", "err", err)
		return 1
	}
	if err := service.RunUntilSignal(ctx, log, cfg.StopTimeout, svc); err != nil {
		log.Warn("stopped with running runs handed back", "err", err)
	}
	log.Info("dispatcher stopped")
	return 0
}
