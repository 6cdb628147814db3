package status_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// retention is a natstest option: the job bucket keeps records for d.
func retention(d time.Duration) natstest.Option {
	return func(_ *queue.Config, c *status.Config) { c.Retention = d }
}

// complete reports what is missing from a listed record, "" if nothing.
func complete(r *job.Record) string {
	switch {
	case !job.ValidID(r.JID):
		return "jid"
	case r.RunID == "" || r.Host == "" || r.Task == "":
		return "run, host or task"
	case !r.State.Valid():
		return "state"
	case r.Queued.IsZero():
		return "queued time"
	}
	return ""
}

// Records expire after the configured retention: listings show each record
// whole until it is gone, never one deleted or erased (with HideErased), and
// end even while records expire under them.
func TestRecordsExpireAfterRetention(t *testing.T) {
	env := natstest.Start(t, retention(2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := env.Store
	if d, err := st.Retention(ctx); err != nil || d != 2*time.Second {
		t.Fatalf("Retention() = %v, %v; want 2s", d, err)
	}
	const n = 40
	for i := range n {
		r := newRecord(fmt.Sprintf("j7.%d", i))
		r.State = job.StateFinished
		if _, err := st.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Modify(ctx, "j7.1", func(r *job.Record) bool { r.Erased = time.Now(); return true }); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "j7.2"); err != nil {
		t.Fatal(err)
	}
	created := time.Now()

	seen, polls := 0, 0
	deadline := time.Now().Add(15 * time.Second)
	for {
		lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
		recs, err := st.List(lctx, status.Filter{RunID: "r1", HideErased: true})
		lcancel()
		if err != nil {
			t.Fatalf("listing (poll %d, %s after the writes): %v", polls, time.Since(created).Round(time.Millisecond), err)
		}
		polls++
		for _, r := range recs {
			if what := complete(r); what != "" {
				t.Fatalf("listed record %s without its %s: %+v", r.JID, what, r)
			}
			if r.JID == "j7.1" || r.JID == "j7.2" {
				t.Fatalf("listed %s, erased or deleted", r.JID)
			}
		}
		if len(recs) > 0 {
			seen++
		}
		if len(recs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records still listed %s after they were written, retention 2s", len(recs), time.Since(created))
		}
		time.Sleep(50 * time.Millisecond) // between polls
	}
	if seen == 0 {
		t.Fatal("the records expired before the first listing: retention not applied as configured?")
	}
	if age := time.Since(created); age < 1500*time.Millisecond {
		t.Fatalf("records gone %s after they were written, retention 2s", age)
	}
	for _, jid := range []string{"j7.0", "j7.1", "j7.39"} {
		if _, err := st.Stat(ctx, jid); !errors.Is(err, status.ErrNotFound) {
			t.Errorf("Stat(%s) after retention: %v, want ErrNotFound", jid, err)
		}
	}
	// an empty, expired bucket lists at once
	start := time.Now()
	if recs, err := st.List(ctx, status.Filter{}); err != nil || len(recs) != 0 {
		t.Fatalf("after expiry: %d records, %v", len(recs), err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("listing an expired bucket took %s", d)
	}
}

// Stat gives a record's revision and write time; DeleteIf deletes only the
// revision it was given.
func TestStatDeleteIf(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := env.Store
	before := time.Now().Add(-time.Second)
	rev, err := st.Create(ctx, newRecord("j8.1"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Stat(ctx, "j8.1")
	if err != nil || l.Revision != rev || l.Record.JID != "j8.1" || l.Written.Before(before) || l.Written.After(time.Now().Add(time.Second)) {
		t.Fatalf("Stat = %+v, %v (revision %d)", l, err, rev)
	}
	rec := l.Record
	rec.State = job.StateFinished
	rev2, err := st.Update(ctx, rec, rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rev  uint64
		want error
	}{
		{"stale revision", rev, status.ErrConflict},
		{"current revision", rev2, nil},
		{"gone", rev2, status.ErrConflict},
	} {
		if err := st.DeleteIf(ctx, "j8.1", tc.rev); !errors.Is(err, tc.want) {
			t.Errorf("%s: DeleteIf = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := st.Stat(ctx, "j8.1"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("after DeleteIf: %v", err)
	}
	if d, err := st.Retention(ctx); err != nil || d != 7*24*time.Hour {
		t.Fatalf("default retention: %v, %v", d, err)
	}
}

// WatchAll with HideErased: a record that async_status cleanup erases
// leaves the view like a deleted one.
func TestWatchAllHidesErased(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := env.Store
	for _, jid := range []string{"j9.1", "j9.2"} {
		if _, err := st.Create(ctx, newRecord(jid)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Modify(ctx, "j9.2", func(r *job.Record) bool { r.Erased = time.Now(); return true }); err != nil {
		t.Fatal(err)
	}
	ch, err := st.WatchAll(ctx, status.Filter{HideErased: true})
	if err != nil {
		t.Fatal(err)
	}
	next := func() status.Change {
		t.Helper()
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			return c
		case <-ctx.Done():
			t.Fatal("no change")
		}
		return status.Change{}
	}
	if c := next(); c.JID != "j9.1" || c.Record == nil {
		t.Fatalf("first change: %+v", c)
	}
	if c := next(); !c.Ready {
		t.Fatalf("want Ready after the current records, got %+v", c)
	}
	if _, err := st.Modify(ctx, "j9.1", func(r *job.Record) bool { r.Erased = time.Now(); return true }); err != nil {
		t.Fatal(err)
	}
	if c := next(); c.JID != "j9.1" || c.Record != nil {
		t.Fatalf("erasing j9.1: %+v, want a change without record", c)
	}
}
