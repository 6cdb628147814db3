package status_test

import (
	"context"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/status"
)

// next reads one change, failing the test after a while.
func next(t *testing.T, ch <-chan status.Change) status.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change within 10s")
	}
	return status.Change{}
}

func TestWatchAll(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := env.Store
	create := func(jid, run string, state job.State) uint64 {
		t.Helper()
		r := newRecord(jid)
		r.RunID, r.State = run, state
		rev, err := st.Create(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	create("j5.1", "r1", job.StateRunning)
	create("j5.2", "r1", job.StateFinished)
	create("j5.3", "r2", job.StateRunning)
	rev4 := create("j5.4", "r1", job.StateRunning)

	ch, err := st.WatchAll(ctx, status.Filter{RunID: "r1", State: job.StateRunning})
	if err != nil {
		t.Fatal(err)
	}
	// the current matching records, then Ready
	seen := map[string]bool{}
	for {
		c := next(t, ch)
		if c.Ready {
			break
		}
		if c.Record == nil || c.Record.JID != c.JID || c.Revision == 0 {
			t.Fatalf("initial change %+v", c)
		}
		seen[c.JID] = true
	}
	if len(seen) != 2 || !seen["j5.1"] || !seen["j5.4"] {
		t.Fatalf("initial records %v, want j5.1 and j5.4", seen)
	}

	// a change that leaves the filter comes without a record
	r := newRecord("j5.4")
	r.State = job.StateFinished
	if _, err := st.Update(ctx, r, rev4); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.JID != "j5.4" || c.Record != nil {
		t.Fatalf("after update: %+v, want j5.4 without record", c)
	}
	// a change from another process that matches
	_, other := env.Connect(t)
	r = newRecord("j5.5")
	r.State = job.StateRunning
	if _, err := other.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.JID != "j5.5" || c.Record == nil || c.Record.State != job.StateRunning {
		t.Fatalf("after create: %+v", c)
	}
	// a deletion
	if err := st.Delete(ctx, "j5.1"); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.JID != "j5.1" || c.Record != nil {
		t.Fatalf("after delete: %+v", c)
	}
	// the end of the context closes the channel
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed after cancel")
		}
	}
}

func TestWatchAllEmptyBucket(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := env.Store.WatchAll(ctx, status.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); !c.Ready {
		t.Fatalf("first change of an empty bucket: %+v, want Ready", c)
	}
}
