package status_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/status"
)

func newRecord(jid string) *job.Record {
	return job.NewRecord(&job.Job{ID: jid, RunID: "r1", Task: "t", Module: "command",
		Target: job.Target{Host: "h1", Password: "secret"}, Created: time.Now().UTC()})
}

func TestCreateGetUpdateConflict(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	st := env.Store
	rec := newRecord("j1.1")
	if rec.Target.Password != "" {
		t.Fatal("NewRecord kept the password")
	}
	rev, err := st.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, rec); !errors.Is(err, status.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	e, err := st.Get(ctx, "j1.1")
	if err != nil || e.Revision != rev || e.Record.State != job.StateQueued {
		t.Fatalf("get = %+v, %v", e, err)
	}
	e.Record.State = job.StateRunning
	rev2, err := st.Update(ctx, e.Record, rev)
	if err != nil {
		t.Fatal(err)
	}
	// a stale writer (old revision) loses
	e.Record.State = job.StateFinished
	if _, err := st.Update(ctx, e.Record, rev); !errors.Is(err, status.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if _, err := st.Update(ctx, e.Record, rev2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "j9.9"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if err := st.Delete(ctx, "j1.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "j1.1"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

func TestOutputCapped(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	rec := newRecord("j2.1")
	rec.Stdout = strings.Repeat("é", 300<<10)
	if _, err := env.Store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e, err := env.Store.Get(ctx, "j2.1")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Record.Truncated || !strings.HasSuffix(e.Record.Stdout, status.TruncationMarker) {
		t.Fatalf("not truncated: len %d", len(e.Record.Stdout))
	}
	if len(e.Record.Stdout) > 256<<10+len(status.TruncationMarker) {
		t.Fatalf("too long: %d", len(e.Record.Stdout))
	}
}

func TestWatchFanOut(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := env.Store
	const n = 50
	var wg sync.WaitGroup
	got := make([]*job.Record, n)
	errs := make([]error, n)
	subs := make([]*status.Subscription, n)
	for i := 0; i < n; i++ {
		jid := "j3." + strconv.Itoa(i)
		sub, err := st.Follow(jid)
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer subs[i].Close()
			got[i], errs[i] = subs[i].WaitTerminal(ctx, nil)
		}(i)
	}
	// a second process's store writes the changes
	_, other := env.Connect(t)
	for i := 0; i < n; i++ {
		rec := newRecord("j3." + strconv.Itoa(i))
		rev, err := other.Create(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		rec.State = job.StateFinished
		if _, err := other.Update(ctx, rec, rev); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || got[i].State != job.StateFinished {
			t.Fatalf("job %d: %v %+v", i, errs[i], got[i])
		}
	}
}

func TestSubscribeSeesCurrent(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := newRecord("j4.1")
	rec.State = job.StateFailed
	if _, err := env.Store.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	r, err := env.Store.WaitTerminal(ctx, "j4.1", nil)
	if err != nil || r.State != job.StateFailed {
		t.Fatalf("%v %+v", err, r)
	}
	recs, err := env.Store.List(ctx, status.Filter{RunID: "r1"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("list: %v %d", err, len(recs))
	}
}

// TestFollowCancelAndSkip checks the two narrowed subscriptions: a
// follower skipping a version it knows (it wrote it), and an executor
// following only cancel requests (the versions without one are not
// delivered).
func TestFollowCancelAndSkip(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := env.Store
	rec := newRecord("j7.1")
	rev, err := st.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.Follow("j7.1")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	cancels, err := st.FollowCancel("j7.1")
	if err != nil {
		t.Fatal(err)
	}
	defer cancels.Close()
	// the bucket's one writer: the next version is the next revision
	all.Skip(rev + 1)
	rec.State = job.StateRunning
	if rev, err = st.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	rec.CancelRequested = true
	if _, err = st.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	for name, sub := range map[string]*status.Subscription{"all": all, "cancels": cancels} {
		// the running version is skipped by one and not wanted by the
		// other: the cancel request is the first (and only) version seen
		select {
		case r := <-sub.C():
			if !r.CancelRequested || r.State != job.StateRunning {
				t.Fatalf("%s: got %+v", name, r)
			}
		case <-ctx.Done():
			t.Fatalf("%s: nothing delivered", name)
		}
		select {
		case r := <-sub.C():
			t.Fatalf("%s: a second version %+v", name, r)
		default:
		}
	}
}

// TestStoredState checks the state read from a stored record without
// decoding it, with values made to look like a state key before it.
func TestStoredState(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	tricky := `x","state":"finished","y":"` + "\"state\":\"failed\""
	for i, st := range []job.State{job.StateQueued, job.StateRunning, job.StateFinished, job.StateTimeout} {
		rec := job.NewRecord(&job.Job{ID: "j8." + strconv.Itoa(i), RunID: tricky, Task: tricky, Module: "command",
			Target: job.Target{Host: tricky}, Created: time.Now().UTC()})
		rec.State = st
		rec.Result = map[string]any{"state": "started", "msg": tricky}
		if _, err := env.Store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		raw, err := env.Store.Raw(ctx, rec.JID)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := status.StoredState(raw); !ok || got != st {
			t.Errorf("state %q: read %q (%v) from %s", st, got, ok, raw)
		}
	}
}
