package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
)

// Listed is a record as a listing (Scan) or Stat found it.
type Listed struct {
	Record *job.Record
	// Revision is the bucket revision of the record (see DeleteIf).
	Revision uint64
	// Written is when the record was last written, by the server's clock:
	// the bucket's retention counts from it.
	Written time.Time
}

// listStall is how long a listing waits for the watch's next record before
// it asks the bucket whether any is still to come.
const listStall = 500 * time.Millisecond

// Scan calls fn with each record matching f that the bucket holds, in
// bucket order (least recently written first), until fn returns false.
//
// A listing never shows a record half: one deleted, purged or erased by
// retention before the scan reaches it is left out, and one that cannot be
// decoded is skipped. The scan ends even when the records still to come
// expire before they are sent (a bare watch would wait for a write that may
// never come).
func (s *Store) Scan(ctx context.Context, f Filter, fn func(Listed) bool) error {
	// opening the watch is retried while the cluster settles (a node lost):
	// the watch lives as long as ctx, not a try's deadline
	var w jetstream.KeyWatcher
	err := queue.Retry(ctx, func(context.Context) (err error) {
		w, err = s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
		return err
	})
	if err != nil {
		return fmt.Errorf("listing records: %w", err)
	}
	defer w.Stop()
	stall := time.NewTimer(listStall)
	defer stall.Stop()
	var last uint64
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("listing records: watch closed")
			}
			if e == nil {
				return nil
			}
			last = max(last, e.Revision())
			stall.Reset(listStall)
			r, err := Decode(e.Value())
			if err != nil || !f.match(r) {
				continue // a record we cannot read is skipped, not fatal for a listing
			}
			if !fn(Listed{Record: r, Revision: e.Revision(), Written: e.Created()}) {
				return nil
			}
		case <-stall.C:
			if s.caughtUp(ctx, last) {
				return nil
			}
			stall.Reset(listStall)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// List returns the records matching f, oldest queued first (see Scan).
func (s *Store) List(ctx context.Context, f Filter) ([]*job.Record, error) {
	var out []*job.Record
	if err := s.Scan(ctx, f, func(l Listed) bool {
		out = append(out, l.Record)
		return true
	}); err != nil {
		return nil, err
	}
	sortRecords(out)
	return out, nil
}

// caughtUp reports whether a watch that has delivered up to revision last
// has seen everything the bucket holds: the bucket is empty, or holds
// nothing written after last. A watch's end-of-current-records marker never
// comes when the last records it was to send expire first (retention).
func (s *Store) caughtUp(ctx context.Context, last uint64) bool {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return false
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return false
	}
	state := bs.StreamInfo().State
	// Retention removes the oldest messages first, and a bucket of one
	// revision per key removes a key's older revision only when a newer
	// one is written: while the bucket is not empty, its last sequence is
	// a message still to be delivered, or one delivered already.
	return state.Msgs == 0 || state.LastSeq <= last
}
