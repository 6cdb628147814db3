// Package natstest starts a real embedded NATS server with JetStream for
// tests, with gorun's queue and job-record store opened on it, all stopped in
// t.Cleanup.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/gorun/gorun/broker"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// Env is a running NATS server with the queue and the store on it.
type Env struct {
	Server *broker.Server
	Conn   *queue.Conn
	Queue  *queue.Queue
	Store  *status.Store
	Dir    string
}

// Option changes the queue or store configuration.
type Option func(*queue.Config, *status.Config)

// AckWait sets the queue's ack wait.
func AckWait(d time.Duration) Option {
	return func(q *queue.Config, _ *status.Config) { q.AckWait = d }
}

// MaxDeliver sets the queue's max deliveries.
func MaxDeliver(n int) Option {
	return func(q *queue.Config, _ *status.Config) { q.MaxDeliver = n }
}

// Start starts a server listening on a random loopback port (so separate
// processes can join it) and opens the queue and store.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	dir := t.TempDir()
	srv, err := broker.Start(broker.Config{StoreDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatalf("starting embedded NATS: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{InProcess: srv, Name: t.Name()})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(conn.Close)
	var qc queue.Config
	var sc status.Config
	for _, o := range opts {
		o(&qc, &sc)
	}
	q, err := queue.Open(ctx, conn, qc)
	if err != nil {
		t.Fatalf("opening queue: %v", err)
	}
	st, err := status.Open(ctx, conn.JetStream(), sc)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(st.Close)
	return &Env{Server: srv, Conn: conn, Queue: q, Store: st, Dir: dir}
}

// Connect opens another client connection (like a second process) with its
// own queue and store handles.
func (e *Env) Connect(t testing.TB, opts ...Option) (*queue.Queue, *status.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: e.Server.ClientURL(), Name: t.Name() + "-2"})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(conn.Close)
	var qc queue.Config
	var sc status.Config
	for _, o := range opts {
		o(&qc, &sc)
	}
	q, err := queue.Open(ctx, conn, qc)
	if err != nil {
		t.Fatalf("opening queue: %v", err)
	}
	st, err := status.Open(ctx, conn.JetStream(), sc)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(st.Close)
	return q, st
}
