package status

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
)

// Change is one event of WatchAll.
type Change struct {
	// JID is the job id of the record ("" on the Ready event).
	JID string
	// Record is the record as it now is; nil when it was deleted or purged,
	// or when it no longer matches the watch's filter.
	Record *job.Record
	// Revision is the bucket revision of the change.
	Revision uint64
	// Ready is set on the one event that follows the records present when
	// the watch started (it has no JID and no Record).
	Ready bool
}

// WatchAll follows every record matching f: first the current ones, then
// one Change with Ready set, then each change as it happens. A record that
// stops matching f (its state moved on, say) comes as a Change without a
// Record, as a deleted one does; the reader drops it if it kept it.
//
// It is a watch of its own (not the process's shared one, which is keyed by
// job id), for views of the whole bucket such as gorun jobs --watch. The
// channel is closed when ctx ends or the watch stops (connection lost): the
// caller may call WatchAll again, which starts over with the current records.
func (s *Store) WatchAll(ctx context.Context, f Filter) (<-chan Change, error) {
	kw, err := s.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watching bucket %s: %w", s.cfg.Bucket, err)
	}
	ch := make(chan Change, 64)
	go func() {
		defer close(ch)
		defer kw.Stop()
		initial := true
		// while the current records come: the end marker never comes when
		// the last of them expire before they are sent (see caughtUp)
		stall := time.NewTimer(listStall)
		defer stall.Stop()
		var last uint64
		send := func(c Change) bool {
			select {
			case ch <- c:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-kw.Updates():
				if !ok {
					return
				}
			case <-stall.C:
				if !initial {
					continue
				}
				if !s.caughtUp(ctx, last) {
					stall.Reset(listStall)
					continue
				}
				e = nil // as if the end marker had come
			}
			if e == nil { // end of the current records
				if !initial {
					continue // the watch's own marker, after a stall ended the initial records
				}
				initial = false
				stall.Stop()
				if !send(Change{Ready: true}) {
					return
				}
				continue
			}
			if initial {
				last = max(last, e.Revision())
				stall.Reset(listStall)
			}
			c := Change{JID: e.Key(), Revision: e.Revision()}
			if e.Operation() == jetstream.KeyValuePut {
				r, err := Decode(e.Value())
				if err != nil {
					continue // a record we cannot read is skipped, as List does
				}
				if f.match(r) {
					c.Record = r
				}
			}
			if c.Record == nil && initial {
				continue // nothing the reader could hold yet
			}
			if !send(c) {
				return
			}
		}
	}()
	return ch, nil
}
