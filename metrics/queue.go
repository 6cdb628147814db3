package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats is a snapshot of the task queue, as its consumer reports it.
type QueueStats struct {
	// Pending is the number of jobs not yet delivered.
	Pending uint64
	// AckPending is the number of jobs delivered and not yet acknowledged.
	AckPending int
	// Redelivered is the number of unacknowledged jobs delivered more than once.
	Redelivered int
	// Waiting is the number of open pull requests (idle forks).
	Waiting int
	// OldestPending is the age of the oldest job not yet delivered; 0 when none.
	OldestPending time.Duration
}

// QueueSource reads the queue's state; one call per poll.
type QueueSource func(ctx context.Context) (QueueStats, error)

// DefaultQueuePollInterval is how often the queue is read by default.
const DefaultQueuePollInterval = 10 * time.Second

// Queue holds the task queue's gauges, set by Poll from one ticker: the
// scrape never reads NATS.
type Queue struct {
	pending, ackPending, redelivered, waiting, oldest prometheus.Gauge
	polls                                             *prometheus.CounterVec
}

// NewQueue registers the queue's metrics on reg.
func NewQueue(reg prometheus.Registerer) *Queue {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	}
	m := &Queue{
		pending:     g("queue_messages_pending", "Jobs waiting for an executor (not yet delivered)."),
		ackPending:  g("queue_messages_ack_pending", "Jobs delivered to an executor and not yet acknowledged."),
		redelivered: g("queue_messages_redelivered", "Unacknowledged jobs delivered more than once."),
		waiting:     g("queue_pull_requests_waiting", "Open pull requests: idle executor forks."),
		oldest:      g("queue_oldest_pending_age_seconds", "Age of the oldest job not yet delivered; 0 when none waits."),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "queue_polls_total",
			Help: "Reads of the task queue's state, by result (ok, error)."}, []string{"result"}),
	}
	reg.MustRegister(m.pending, m.ackPending, m.redelivered, m.waiting, m.oldest, m.polls)
	m.polls.WithLabelValues("ok")
	m.polls.WithLabelValues("error")
	return m
}

// Set sets the gauges from s.
func (m *Queue) Set(s QueueStats) {
	m.pending.Set(float64(s.Pending))
	m.ackPending.Set(float64(s.AckPending))
	m.redelivered.Set(float64(s.Redelivered))
	m.waiting.Set(float64(s.Waiting))
	m.oldest.Set(s.OldestPending.Seconds())
}

// PollOnce reads src once and sets the gauges; on error they keep their
// last values.
func (m *Queue) PollOnce(ctx context.Context, src QueueSource) error {
	s, err := src(ctx)
	if err != nil {
		m.polls.WithLabelValues("error").Inc()
		return err
	}
	m.polls.WithLabelValues("ok").Inc()
	m.Set(s)
	return nil
}

// Poll reads src every interval until ctx ends; it returns at once. The
// returned function stops it and waits for it to return.
func (m *Queue) Poll(ctx context.Context, src QueueSource, interval time.Duration, log *slog.Logger) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		failing := false
		for {
			pctx, pcancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
			err := m.PollOnce(pctx, src)
			pcancel()
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				failing = true
				if log != nil {
					log.Warn("reading the task queue's state for metrics", "err", err)
				}
			case err == nil && failing:
				failing = false
				if log != nil {
					log.Info("reading the task queue's state for metrics again")
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
