package natstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// retry calls op with a fresh short context until it succeeds or the
// deadline passes; it returns how long that took.
func retry(t *testing.T, what string, deadline time.Duration, op func(ctx context.Context) error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < deadline {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = op(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		t.Logf("%s: %s: %v", time.Since(start).Round(time.Millisecond), what, err)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %s: %v", what, deadline, err)
	return 0
}

func testJob(id string) *job.Job {
	return &job.Job{ID: id, RunID: "run-1", Task: "ping", Module: "ping",
		Target: job.Target{Host: "h1", Connection: "local"}, Created: time.Now()}
}

func TestClusterFailover(t *testing.T) {
	start := time.Now()
	c := StartCluster(t, 3)
	t.Logf("cluster of 3 healthy after %s: %s", time.Since(start).Round(time.Millisecond), c.URLs())

	ctx := ctxT(t, 30*time.Second)
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: c.URLs(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	q, err := queue.Open(ctx, conn, queue.Config{Replicas: 3, AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := status.Open(ctx, conn.JetStream(), status.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	p, err := q.Puller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)

	pull := func(want string) {
		t.Helper()
		// Long Next calls, retried on errors, as an executor does: the
		// puller notices a pull request lost with the consumer leader by
		// missing heartbeats (two intervals, reported as an error), which
		// shorter Next calls would never see.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		var d *queue.Delivery
		for {
			var err error
			d, err = p.Next(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("pulling %s: %v", want, err)
			}
			t.Logf("pulling %s: %v (retrying, as an executor does)", want, err)
		}
		if d.Job.ID != want {
			t.Fatalf("pulled job %q, want %q", d.Job.ID, want)
		}
		if err := d.InProgress(); err != nil {
			t.Fatalf("in progress: %v", err)
		}
		retry(t, "acking "+want, 10*time.Second, d.Ack)
	}

	// Before the fault: publish, record, pull, ack.
	j1 := testJob("j1")
	if err := q.Publish(ctx, j1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, job.NewRecord(j1)); err != nil {
		t.Fatal(err)
	}
	pull("j1")

	js := conn.JetStream()
	stream, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s is not R3: replicas=%d cluster=%+v", queue.DefaultStream, info.Config.Replicas, info.Cluster)
	}
	victim := c.Index(info.Cluster.Leader)
	if victim < 0 {
		t.Fatalf("stream leader %q is not a node of the cluster", info.Cluster.Leader)
	}
	t.Logf("killing node %d (%s), leader of %s", victim, info.Cluster.Leader, queue.DefaultStream)
	c.Kill(victim)
	killed := time.Now()

	// After the fault: publishing and KV reads and writes resume.
	j2 := testJob("j2")
	took := retry(t, "publishing after the kill", 15*time.Second, func(ctx context.Context) error { return q.Publish(ctx, j2) })
	t.Logf("publish resumed %s after the kill", took.Round(time.Millisecond))
	took = retry(t, "KV create after the kill", 10*time.Second, func(ctx context.Context) error {
		_, err := st.Create(ctx, job.NewRecord(j2))
		if err != nil && errors.Is(err, status.ErrExists) {
			return nil // an earlier attempt's write went through
		}
		return err
	})
	t.Logf("KV create resumed %s after the publish", took.Round(time.Millisecond))
	retry(t, "KV CAS update after the kill", 10*time.Second, func(ctx context.Context) error {
		_, err := st.Modify(ctx, "j1", func(r *job.Record) bool {
			if r.State == job.StateRunning {
				return false
			}
			r.State = job.StateRunning
			return true
		})
		return err
	})
	retry(t, "KV get after the kill", 10*time.Second, func(ctx context.Context) error {
		e, err := st.Get(ctx, "j1")
		if err == nil && e.Record.State != job.StateRunning {
			return fmt.Errorf("j1 is %s, want running", e.Record.State)
		}
		return err
	})
	pull("j2")
	t.Logf("publish, KV create/update/get and pull+ack all worked %s after the kill", time.Since(killed).Round(time.Millisecond))

	// The node comes back on the same ports and store and catches up.
	restart := time.Now()
	c.Restart(t, victim)
	t.Logf("node %d rejoined %s after its restart", victim, time.Since(restart).Round(time.Millisecond))
	j3 := testJob("j3")
	retry(t, "publishing after the restart", 10*time.Second, func(ctx context.Context) error { return q.Publish(ctx, j3) })
	retry(t, "stream replicas current after the restart", 10*time.Second, func(ctx context.Context) error {
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		return checkReplicasCurrent(info.Cluster, c.Node(victim).Name)
	})
	pull("j3")
	e, err := st.Get(ctx, "j2")
	if err != nil || e.Record.JID != "j2" {
		t.Fatalf("j2 after the restart: %+v, %v", e, err)
	}
}

// checkReplicasCurrent says whether the stream has a leader and every
// replica is current, and whether node takes part.
func checkReplicasCurrent(ci *jetstream.ClusterInfo, node string) error {
	if ci == nil || ci.Leader == "" {
		return fmt.Errorf("no stream leader: %+v", ci)
	}
	seen := ci.Leader == node
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("replica %s not current (offline=%v, lag=%d)", r.Name, r.Offline, r.Lag)
		}
		if r.Name == node {
			seen = true
		}
	}
	if !seen {
		return fmt.Errorf("%s is not among the stream's peers", node)
	}
	return nil
}

func TestClusterTLS(t *testing.T) {
	c := StartCluster(t, 3, WithTLS(true))
	ctx := ctxT(t, 20*time.Second)
	cert, key := c.ClientCert()
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: c.URLs(), Name: t.Name(), TLSCA: c.CAFile(), TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	st, err := status.Open(ctx, conn.JetStream(), status.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.Create(ctx, job.NewRecord(testJob("tls-1"))); err != nil {
		t.Fatal(err)
	}
	if e, err := st.Get(ctx, "tls-1"); err != nil || e.Record.JID != "tls-1" {
		t.Fatalf("get: %+v, %v", e, err)
	}

	// Without a client certificate, or without trusting the CA, no connection.
	short := ctxT(t, 3*time.Second)
	if conn, err := queue.Connect(short, queue.ConnConfig{URL: c.URL(0), TLSCA: c.CAFile(), ConnectTimeout: time.Second}); err == nil {
		conn.Close()
		t.Fatal("connected without a client certificate")
	}
	if conn, err := queue.Connect(short, queue.ConnConfig{URL: c.URL(0), TLSCert: cert, TLSKey: key, ConnectTimeout: time.Second}); err == nil {
		conn.Close()
		t.Fatal("connected without trusting the CA")
	}
}

// A node stopped gracefully is not an error for WaitHealthy, and comes back
// with Restart.
func TestClusterStopRestart(t *testing.T) {
	c := StartCluster(t, 3)
	c.Stop(2)
	c.WaitHealthy(t)
	ctx := ctxT(t, 20*time.Second)
	conn, err := queue.Connect(ctx, queue.ConnConfig{URL: c.URL(0), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	// Two of three nodes keep a quorum: an R3 bucket can still be made and written.
	retry(t, "an R3 bucket with a node down", 10*time.Second, func(ctx context.Context) error {
		st, err := status.Open(ctx, conn.JetStream(), status.Config{Replicas: 3})
		if err != nil {
			return err
		}
		defer st.Close()
		_, err = st.Create(ctx, job.NewRecord(testJob("stop-1")))
		if errors.Is(err, status.ErrExists) {
			return nil
		}
		return err
	})
	c.Restart(t, 2)
	if got := c.Index(c.Node(2).Name); got != 2 {
		t.Fatalf("Index(%s) = %d", c.Node(2).Name, got)
	}
}
