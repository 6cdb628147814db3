package service

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// ServeMetrics serves /metrics, /healthz and /readyz on c.MetricsAddr,
// unless it is empty; the returned function stops the server.
func (c *Config) ServeMetrics(reg *prometheus.Registry, ready metrics.ReadyCheck, log *slog.Logger) (stop func(context.Context), err error) {
	if c.MetricsAddr == "" {
		return func(context.Context) {}, nil
	}
	srv, err := metrics.Listen(metrics.ServerConfig{Addr: c.MetricsAddr, Gatherer: reg, Ready: ready, Logger: log})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) { _ = srv.Close(ctx) }, nil
}

// Ready is the readiness check of a service: connected to NATS, the task
// stream and the job records bucket answer.
func Ready(conn *queue.Conn, q *queue.Queue, st *status.Store) metrics.ReadyCheck {
	return func(ctx context.Context) error {
		if conn != nil {
			if err := conn.Connected(); err != nil {
				return err
			}
		}
		return errors.Join(q.Ping(ctx), st.Ping(ctx))
	}
}

// QueueSource reads the task queue's state for metrics.
func QueueSource(q *queue.Queue) metrics.QueueSource {
	return func(ctx context.Context) (metrics.QueueStats, error) {
		d, err := q.Depth(ctx)
		if err != nil {
			return metrics.QueueStats{}, err
		}
		return metrics.QueueStats{Pending: d.Pending, AckPending: d.AckPending, Redelivered: d.Redelivered,
			Waiting: d.Waiting, OldestPending: d.OldestPending}, nil
	}
}
