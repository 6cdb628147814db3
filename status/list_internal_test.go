package status

import (
	"context"
	"testing"
	"time"

	"github.com/gorun/gorun/broker"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
)

// caughtUp, which ends a listing whose last records expired before the
// watch sent them, says so only when nothing newer than what was delivered
// is left in the bucket.
func TestCaughtUp(t *testing.T) {
	srv, err := broker.Start(broker.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := queue.Connect(ctx, queue.ConnConfig{InProcess: srv, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	st, err := Open(ctx, conn.JetStream(), Config{Retention: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if !st.caughtUp(ctx, 0) {
		t.Fatal("empty bucket: not caught up")
	}
	var revs []uint64
	for _, jid := range []string{"j1.1", "j1.2"} {
		rev, err := st.Create(ctx, &job.Record{JID: jid, RunID: "r", Host: "h", State: job.StateFinished})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	for _, tc := range []struct {
		last uint64
		want bool
	}{{0, false}, {revs[0], false}, {revs[1], true}} {
		if got := st.caughtUp(ctx, tc.last); got != tc.want {
			t.Errorf("caughtUp(%d) with records up to %d = %v, want %v", tc.last, revs[1], got, tc.want)
		}
	}
	// once the records expired, nothing is left to wait for
	deadline := time.Now().Add(10 * time.Second)
	for !st.caughtUp(ctx, 0) {
		if time.Now().After(deadline) {
			t.Fatal("records did not expire after 1s retention")
		}
		time.Sleep(50 * time.Millisecond) // polling the bucket's state
	}
}
