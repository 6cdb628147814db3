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
	// A watch is a consumer on one server, created through the meta
	// leader: while a node is lost, starting one may go unanswered and a
	// running one may stall without closing. So the record is also read
	// at once and every WatchCheck, and the watch is (re)started in the
	// background; fn sees each revision once, in order.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan jetstream.KeyValueEntry, 16)
	go s.watchLoop(ctx, runID, updates)
	var last uint64
	deliver := func(r *job.Run, rev uint64) bool {
		if rev <= last {
			return true
		}
		last = rev
		return fn(r)
	}
	read := func() bool {
		gctx, gcancel := context.WithTimeout(ctx, WatchCheck)
		defer gcancel()
		e, err := s.Get(gctx, runID)
		return err != nil || deliver(e.Run, e.Revision)
	}
	if !read() {
		return nil
	}
	t := time.NewTicker(WatchCheck)
	defer t.Stop()
	for {
		select {
		case e := <-updates:
			r, err := decodeRun(e.Value())
			if err == nil && !deliver(r, e.Revision()) {
				return nil
			}
		case <-t.C:
			if !read() {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WatchCheck is how often Watch reads the run record besides watching it.
const WatchCheck = 2 * time.Second

// watchLoop keeps a watch of runID going until ctx ends, passing its
// record versions on.
func (s *RunStore) watchLoop(ctx context.Context, runID string, out chan<- jetstream.KeyValueEntry) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		w, stop, err := startWatch(ctx, func(ctx context.Context) (jetstream.KeyWatcher, error) {
			return s.kv.Watch(ctx, runID)
		})
		if err == nil {
			backoff = 100 * time.Millisecond
			for e := range w.Updates() {
				if e == nil || e.Operation() != jetstream.KeyValuePut {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					break
				}
			}
			stop()
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
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
