package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
)

// RunsBucket is the name of the run records bucket.
const RunsBucket = "gorun_runs"

// RunStore is the bucket of run records, key = run id.
type RunStore struct {
	kv jetstream.KeyValue
}

// OpenRuns creates or binds the run records bucket (same retention,
// replicas and storage as cfg).
func OpenRuns(ctx context.Context, js jetstream.JetStream, cfg Config) (*RunStore, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: RunsBucket, Description: "gorun run records, key = run id", History: 1, TTL: cfg.Retention,
		Storage: storage, Replicas: cfg.Replicas,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	return &RunStore{kv: kv}, nil
}

// RunEntry is a run record with the revision it was read at.
type RunEntry struct {
	Run      *job.Run
	Revision uint64
}

func decodeRun(data []byte) (*job.Run, error) {
	var r job.Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding run record: %w", err)
	}
	if r.RunID == "" {
		return nil, errors.New("decoding run record: no run id")
	}
	return &r, nil
}

// Create stores a new run record; ErrExists if the run id is taken.
func (s *RunStore) Create(ctx context.Context, r *job.Run) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := queue.Retry(ctx, func(ctx context.Context) error {
		_, err := s.kv.Create(ctx, r.RunID, data)
		return err
	}); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("creating run %s: %w", r.RunID, ErrExists)
		}
		return fmt.Errorf("creating run %s: %w", r.RunID, err)
	}
	return nil
}

// Get reads a run record; ErrNotFound if there is none.
func (s *RunStore) Get(ctx context.Context, runID string) (RunEntry, error) {
	var e jetstream.KeyValueEntry
	err := queue.Retry(ctx, func(ctx context.Context) (err error) {
		e, err = s.kv.Get(ctx, runID)
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return RunEntry{}, fmt.Errorf("reading run %s: %w", runID, ErrNotFound)
		}
		return RunEntry{}, fmt.Errorf("reading run %s: %w", runID, err)
	}
	r, err := decodeRun(e.Value())
	if err != nil {
		return RunEntry{}, err
	}
	return RunEntry{Run: r, Revision: e.Revision()}, nil
}

// Modify applies change to the run record with compare-and-swap, retrying
// on conflict; change returns false to leave it alone.
func (s *RunStore) Modify(ctx context.Context, runID string, change func(*job.Run) bool) (*job.Run, error) {
	for {
		e, err := s.Get(ctx, runID)
		if err != nil {
			return nil, err
		}
		if !change(e.Run) {
			return e.Run, nil
		}
		data, err := json.Marshal(e.Run)
		if err != nil {
			return nil, err
		}
		err = queue.Retry(ctx, func(ctx context.Context) error {
			_, err := s.kv.Update(ctx, runID, data, e.Revision)
			return err
		})
		if err == nil {
			return e.Run, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return nil, fmt.Errorf("updating run %s: %w", runID, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// Watch calls fn with the run record now and at every change until fn
// returns false or ctx ends. A watch is a server-side consumer: use it for
// one run at a time (gorun wait), not per job.
func (s *RunStore) Watch(ctx context.Context, runID string, fn func(*job.Run) bool) error {
	// A watch is a consumer on one server: when that server goes, the
	// watch may stall without closing. The record is also read every
	// WatchCheck, and the watch started again when it closes, so that no
	// change is missed for long; fn sees each revision once, in order.
	var last uint64
	deliver := func(r *job.Run, rev uint64) bool {
		if rev <= last {
			return true
		}
		last = rev
		return fn(r)
	}
	backoff := 100 * time.Millisecond
	for {
		w, err := s.kv.Watch(ctx, runID)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !queue.Transient(err) {
				return fmt.Errorf("watching run %s: %w", runID, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		done, err := s.follow(ctx, runID, w, deliver)
		w.Stop()
		if done || err != nil {
			return err
		}
	}
}

// WatchCheck is how often Watch reads the run record besides watching it.
const WatchCheck = 2 * time.Second

// follow reads w (and the record every WatchCheck) until deliver says
// stop (done), ctx ends (err), or the watch closes (neither: start another).
func (s *RunStore) follow(ctx context.Context, runID string, w jetstream.KeyWatcher, deliver func(*job.Run, uint64) bool) (done bool, err error) {
	t := time.NewTicker(WatchCheck)
	defer t.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return false, nil
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			r, err := decodeRun(e.Value())
			if err != nil {
				continue
			}
			if !deliver(r, e.Revision()) {
				return true, nil
			}
		case <-t.C:
			gctx, cancel := context.WithTimeout(ctx, WatchCheck)
			e, err := s.Get(gctx, runID)
			cancel()
			if err == nil && !deliver(e.Run, e.Revision) {
				return true, nil
			}
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// List returns the run records, oldest first.
func (s *RunStore) List(ctx context.Context) ([]*job.Run, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	defer w.Stop()
	var out []*job.Run
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("listing runs: watch closed")
			}
			if e == nil {
				sortRuns(out)
				return out, nil
			}
			if r, err := decodeRun(e.Value()); err == nil {
				out = append(out, r)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func sortRuns(rs []*job.Run) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Submitted.Before(rs[j-1].Submitted); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
