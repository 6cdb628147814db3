package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/queue"
)

// Retention returns how long the bucket keeps a record after its last
// write, as the server has it (the bucket's TTL; 0: forever). It differs
// from Config().Retention when the bucket was made by another process with
// another setting.
func (s *Store) Retention(ctx context.Context) (time.Duration, error) {
	var st jetstream.KeyValueStatus
	err := queue.Retry(ctx, func(ctx context.Context) (err error) {
		st, err = s.kv.Status(ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reading bucket %s: %w", s.cfg.Bucket, err)
	}
	return st.TTL(), nil
}

// Stat reads a record with its revision and the time of its last write;
// ErrNotFound if there is none (never written, deleted, or expired).
func (s *Store) Stat(ctx context.Context, jid string) (Listed, error) {
	e, err := s.entry(ctx, jid)
	if err != nil {
		return Listed{}, err
	}
	r, err := Decode(e.Value())
	if err != nil {
		return Listed{}, fmt.Errorf("record %s: %w", jid, err)
	}
	return Listed{Record: r, Revision: e.Revision(), Written: e.Created()}, nil
}

// DeleteIf removes a record if it is still at revision rev (compare and
// delete); ErrConflict if it was written since, or is gone.
func (s *Store) DeleteIf(ctx context.Context, jid string, rev uint64) error {
	err := queue.Retry(ctx, func(ctx context.Context) error {
		return s.kv.Purge(ctx, jid, jetstream.LastRevision(rev))
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			return fmt.Errorf("deleting record %s at revision %d: %w", jid, rev, ErrConflict)
		}
		return fmt.Errorf("deleting record %s: %w", jid, err)
	}
	return nil
}
