package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/queue"
)

// ExecutorsBucket is the name of the executor liveness bucket.
const ExecutorsBucket = "gorun_executors"

// Executor is what a live executor says about itself.
type Executor struct {
	ID       string    `json:"id"`
	Hostname string    `json:"hostname"`
	PID      int       `json:"pid"`
	Forks    int       `json:"forks"`
	Busy     int       `json:"busy"`
	Async    int       `json:"async"`
	Started  time.Time `json:"started"`
	Seen     time.Time `json:"seen"`
}

// RegistryConfig describes the liveness bucket.
type RegistryConfig struct {
	// TTL is how long an executor counts as alive after its last beat
	// (default 15 s); executors beat every TTL/3.
	TTL      time.Duration
	Replicas int
	Memory   bool
	Assets   queue.Assets
}

// Registry records which executors are alive: each beats a key that
// expires after TTL.
type Registry struct {
	cfg RegistryConfig
	kv  jetstream.KeyValue
}

// OpenRegistry creates or binds the liveness bucket.
func OpenRegistry(ctx context.Context, js jetstream.JetStream, cfg RegistryConfig) (*Registry, error) {
	if cfg.TTL == 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("status: executor TTL %s is too short (at least 1s)", cfg.TTL)
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: ExecutorsBucket, Description: "gorun executors alive", History: 1, TTL: cfg.TTL,
		Storage: storage, Replicas: cfg.Replicas,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	if st, err := kv.Status(ctx); err == nil && st.TTL() > 0 {
		cfg.TTL = st.TTL()
	}
	return &Registry{cfg: cfg, kv: kv}, nil
}

// Interval is how often an executor should beat.
func (r *Registry) Interval() time.Duration { return r.cfg.TTL / 3 }

// Beat records that an executor is alive.
func (r *Registry) Beat(ctx context.Context, e Executor) error {
	e.Seen = time.Now().UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := queue.Retry(ctx, func(ctx context.Context) error {
		_, err := r.kv.Put(ctx, e.ID, data)
		return err
	}); err != nil {
		return fmt.Errorf("executor %s heartbeat: %w", e.ID, err)
	}
	return nil
}

// Leave removes an executor that stops.
func (r *Registry) Leave(ctx context.Context, id string) error {
	if err := r.kv.Purge(ctx, id); err != nil {
		return fmt.Errorf("executor %s leaving: %w", id, err)
	}
	return nil
}

// Alive reports whether the executor beat within the TTL.
func (r *Registry) Alive(ctx context.Context, id string) (bool, error) {
	var e jetstream.KeyValueEntry
	err := queue.Retry(ctx, func(ctx context.Context) (err error) {
		e, err = r.kv.Get(ctx, id)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up executor %s: %w", id, err)
	}
	var ex Executor
	if err := json.Unmarshal(e.Value(), &ex); err != nil {
		return false, nil
	}
	return time.Since(ex.Seen) < r.cfg.TTL, nil
}

// List returns the live executors.
func (r *Registry) List(ctx context.Context) ([]Executor, error) {
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("listing executors: %w", err)
	}
	defer w.Stop()
	var out []Executor
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var ex Executor
		if json.Unmarshal(e.Value(), &ex) == nil && time.Since(ex.Seen) < r.cfg.TTL {
			out = append(out, ex)
		}
	}
	return out, nil
}
