package queue_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An executor with F busy workers holds exactly F messages: nothing is
// prefetched for it.
func TestPullerBoundedByForks(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		if err := env.Queue.Publish(ctx, &job.Job{ID: "j1." + strconv.Itoa(i), RunID: "r1"}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := env.Queue.Puller()
	if err != nil {
		t.Fatal(err)
	}
	const forks = 4
	release := make(chan struct{})
	var got sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	var workers sync.WaitGroup
	for i := 0; i < forks; i++ {
		workers.Add(1)
		got.Add(1)
		go func() {
			defer workers.Done()
			first := true
			for {
				d, err := p.Next(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[d.Job.ID] = true
				mu.Unlock()
				if first {
					got.Done()
					first = false
					<-release
				}
				if err := d.Ack(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	got.Wait()
	dep, err := env.Queue.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dep.AckPending != forks || dep.Pending != 20-forks {
		t.Fatalf("depth with %d busy forks = %+v, want ack pending %d, pending %d", forks, dep, forks, 20-forks)
	}
	close(release)
	waitFor(t, "all jobs", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 20 })
	p.Stop()
	workers.Wait()
	dep, _ = env.Queue.Depth(ctx)
	if dep.Pending != 0 || dep.AckPending != 0 {
		t.Fatalf("depth after = %+v", dep)
	}
}

// Publishing the same job id twice enqueues it once.
func TestPublishDeduplicates(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	j := &job.Job{ID: "j2.1", RunID: "r.1"}
	for i := 0; i < 3; i++ {
		if err := env.Queue.Publish(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	dep, err := env.Queue.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dep.Pending != 1 {
		t.Fatalf("pending = %d, want 1", dep.Pending)
	}
}

// An unacked job comes back after the ack wait, unless kept alive.
func TestRedeliveryAndInProgress(t *testing.T) {
	env := natstest.Start(t, natstest.AckWait(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.Queue.Publish(ctx, &job.Job{ID: "j3.1", RunID: "r"}); err != nil {
		t.Fatal(err)
	}
	p, err := env.Queue.Puller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	d, err := p.Next(ctx)
	if err != nil || d.NumDelivered != 1 {
		t.Fatalf("first delivery: %v %+v", err, d)
	}
	// keep it alive past several ack waits
	for i := 0; i < 6; i++ {
		if err := d.InProgress(); err != nil {
			t.Fatal(err)
		}
		nctx, c := context.WithTimeout(ctx, 100*time.Millisecond)
		if d2, err := p.Next(nctx); err == nil {
			t.Fatalf("redelivered while in progress: %+v", d2)
		}
		c()
	}
	// then abandon it: it comes back
	d2, err := p.Next(ctx)
	if err != nil || d2.Job.ID != "j3.1" || d2.NumDelivered != 2 {
		t.Fatalf("redelivery: %v %+v", err, d2)
	}
	_ = d2.Ack(ctx)
}

// Depth reports the consumer's counters and the age of the oldest job no
// executor has taken yet; a delivered job is no longer "pending".
func TestDepthOldestPending(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := env.Queue.Depth(ctx)
	if err != nil || d.Pending != 0 || d.OldestPending != 0 {
		t.Fatalf("empty queue: %+v %v", d, err)
	}
	published := time.Now()
	for i := range 3 {
		if err := env.Queue.Publish(ctx, &job.Job{ID: "j9." + strconv.Itoa(i), RunID: "r9"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the oldest pending job to age", func() bool {
		d, err = env.Queue.Depth(ctx)
		return err == nil && d.OldestPending >= 50*time.Millisecond
	})
	if d.Pending != 3 || d.AckPending != 0 || d.OldestPending > time.Since(published)+time.Second {
		t.Fatalf("depth %+v", d)
	}
	p, err := env.Queue.Puller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	first, err := p.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Published.IsZero() || first.Published.After(time.Now()) {
		t.Fatalf("published time %v", first.Published)
	}
	waitFor(t, "the delivered job to leave the pending count", func() bool {
		d, err = env.Queue.Depth(ctx)
		return err == nil && d.Pending == 2 && d.AckPending >= 1
	})
	if d.OldestPending <= 0 {
		t.Fatalf("two jobs still pending, oldest age %v", d.OldestPending)
	}
}
