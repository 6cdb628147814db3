// Command executor is gorun's horizontally scaled worker: it pulls task
// messages from the shared JetStream consumer, runs at most --forks jobs at
// once over SSH (or locally), and records every state change in the job
// records bucket. Stop it with SIGTERM or SIGINT: the first signal stops
// pulling and lets running jobs finish (up to --stop-timeout); a second one
// cancels them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

func main() {
	os.Exit(run())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func run() int {
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	url := fs.String("nats", envOr("NATS_URL", ""), "NATS server URL(s), comma-separated ($NATS_URL)")
	creds := fs.String("creds", envOr("NATS_CREDS", ""), "NATS credentials file ($NATS_CREDS)")
	nkey := fs.String("nkey", envOr("NATS_NKEY", ""), "NATS nkey seed file ($NATS_NKEY)")
	user := fs.String("user", envOr("NATS_USER", ""), "NATS user ($NATS_USER)")
	password := fs.String("password", envOr("NATS_PASSWORD", ""), "NATS password ($NATS_PASSWORD)")
	tlsCert := fs.String("tlscert", envOr("NATS_CERT", ""), "client TLS certificate ($NATS_CERT)")
	tlsKey := fs.String("tlskey", envOr("NATS_KEY", ""), "client TLS key ($NATS_KEY)")
	tlsCA := fs.String("tlsca", envOr("NATS_CA", ""), "CA bundle for the NATS server ($NATS_CA)")
	forks := fs.Int("forks", envInt("GORUN_FORKS", 5), "jobs run at once ($GORUN_FORKS)")
	id := fs.String("id", envOr("GORUN_EXECUTOR_ID", ""), "executor id in job records (default hostname-pid)")
	ackWait := fs.Duration("ack-wait", 30*time.Second, "how long a job may go without a heartbeat before redelivery")
	replicas := fs.Int("replicas", envInt("GORUN_REPLICAS", 1), "stream and bucket replicas (1 or 3)")
	stopTimeout := fs.Duration("stop-timeout", 5*time.Minute, "how long the first signal waits for running jobs")
	logLevel := fs.String("log-level", envOr("GORUN_LOG_LEVEL", "info"), "debug, info, warn or error")
	logFormat := fs.String("log-format", envOr("GORUN_LOG_FORMAT", "text"), "text or json")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "executor: bad --log-level %q: %v\n", *logLevel, err)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch *logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	case "text":
		log = slog.New(slog.NewTextHandler(os.Stderr, hopts))
	default:
		fmt.Fprintf(os.Stderr, "executor: bad --log-format %q (text or json)\n", *logFormat)
		return 2
	}
	if *url == "" {
		fmt.Fprintln(os.Stderr, "executor: no NATS URL: use --nats URL or NATS_URL")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: *url, Name: "gorun-executor", CredsFile: *creds, NKeyFile: *nkey,
		User: *user, Password: *password, TLSCert: *tlsCert, TLSKey: *tlsKey, TLSCA: *tlsCA, Logger: log})
	if err != nil {
		log.Error("connecting to NATS", "err", err)
		return 1
	}
	defer conn.Close()
	q, err := queue.Open(ctx, conn, queue.Config{AckWait: *ackWait, Replicas: *replicas})
	if err != nil {
		log.Error("opening the task queue", "err", err)
		return 1
	}
	st, err := status.Open(ctx, conn.JetStream(), status.Config{Replicas: *replicas})
	if err != nil {
		log.Error("opening the job records", "err", err)
		return 1
	}
	defer st.Close()
	pool, err := connection.NewPool(connection.Config{Logger: log})
	if err != nil {
		log.Error("connection pool", "err", err)
		return 1
	}
	defer pool.Close()
	ex, err := executor.New(executor.Config{ID: *id, Forks: *forks, Logger: log}, q, st, pool)
	if err != nil {
		log.Error("executor", "err", err)
		return 2
	}
	if err := ex.Start(ctx); err != nil {
		log.Error("starting executor", "err", err)
		return 1
	}
	<-ctx.Done()
	stop()
	log.Info("stopping: no new jobs; waiting for running ones (signal again to cancel them)", "busy", ex.Busy())
	sctx, cancel := context.WithTimeout(context.Background(), *stopTimeout)
	defer cancel()
	second, stop2 := signal.NotifyContext(sctx, os.Interrupt, syscall.SIGTERM)
	defer stop2()
	if err := ex.Stop(second); err != nil {
		log.Warn("stopped with running jobs cancelled", "err", err)
	}
	log.Info("executor stopped")
	return 0
}
