package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/queue"
)

// LocksBucket is the name of the per-host lock bucket.
const LocksBucket = "gorun_locks"

// Locks are per-host named locks (the task keyword lock:), held as leases
// in a KV bucket: a holder refreshes its lease, and a lease whose holder
// died expires after the TTL.
type Locks struct {
	kv  jetstream.KeyValue
	ttl time.Duration
}

// LocksConfig describes the lock bucket.
type LocksConfig struct {
	// TTL is how long a lease outlives its holder's last refresh; default
	// 45 s, longer than the queue's ack wait, so that an executor that
	// re-attaches to a job after its first executor died takes its lock
	// over before anyone else can.
	TTL      time.Duration
	Replicas int
	Memory   bool
	Assets   queue.Assets
}

// OpenLocks creates or binds the lock bucket.
func OpenLocks(ctx context.Context, js jetstream.JetStream, cfg LocksConfig) (*Locks, error) {
	if cfg.TTL == 0 {
		cfg.TTL = 45 * time.Second
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.TTL < 2*time.Second {
		return nil, fmt.Errorf("status: lock TTL %s is too short (at least 2s)", cfg.TTL)
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: LocksBucket, Description: "gorun per-host locks (leases)", History: 1, TTL: cfg.TTL,
		LimitMarkerTTL: time.Second, Storage: storage, Replicas: cfg.Replicas,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	if st, err := kv.Status(ctx); err == nil && st.TTL() > 0 {
		cfg.TTL = st.TTL()
	}
	return &Locks{kv: kv, ttl: cfg.TTL}, nil
}

// lease is the value of a held lock.
type lease struct {
	JID      string    `json:"jid"`
	Holder   string    `json:"holder"`
	Acquired time.Time `json:"acquired"`
}

// LockKey is the key of lock name on host.
func LockKey(host, name string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '=' {
				return r
			}
			return '_'
		}, s)
	}
	return clean(host) + "." + clean(name)
}

// Lease is a held lock; Release it when done.
type Lease struct {
	l    *Locks
	key  string
	mu   sync.Mutex
	rev  uint64
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Acquire blocks until the lock key is free (or held for the same job,
// which it takes over: an executor re-attaching to a job) and takes it for
// jid. While held, the lease is refreshed every TTL/3.
func (l *Locks) Acquire(ctx context.Context, key, jid, holder string) (*Lease, error) {
	val, _ := json.Marshal(lease{JID: jid, Holder: holder, Acquired: time.Now().UTC()})
	for {
		var rev uint64
		err := queue.Retry(ctx, func(ctx context.Context) (err error) {
			rev, err = l.kv.Create(ctx, key, val)
			return err
		})
		if err == nil {
			return l.hold(key, rev), nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("taking lock %s: %w", key, err)
		}
		var e jetstream.KeyValueEntry
		err = queue.Retry(ctx, func(ctx context.Context) (err error) {
			e, err = l.kv.Get(ctx, key)
			return err
		})
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading lock %s: %w", key, err)
		}
		var cur lease
		if json.Unmarshal(e.Value(), &cur) == nil && cur.JID == jid {
			rev, err := l.kv.Update(ctx, key, val, e.Revision())
			if err == nil {
				return l.hold(key, rev), nil
			}
			continue
		}
		if err := l.waitFree(ctx, key, e.Revision()); err != nil {
			return nil, err
		}
	}
}

// waitFree blocks until key changes from revision rev (released, expired
// or taken by someone else, who then is waited for in turn).
func (l *Locks) waitFree(ctx context.Context, key string, rev uint64) error {
	w, err := l.kv.Watch(ctx, key)
	if err != nil {
		return fmt.Errorf("watching lock %s: %w", key, err)
	}
	defer w.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watching lock %s: watch closed", key)
			}
			if e == nil {
				continue
			}
			if e.Operation() != jetstream.KeyValuePut || e.Revision() != rev {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *Locks) hold(key string, rev uint64) *Lease {
	ls := &Lease{l: l, key: key, rev: rev, stop: make(chan struct{}), done: make(chan struct{})}
	go ls.refresh()
	return ls
}

func (ls *Lease) refresh() {
	defer close(ls.done)
	t := time.NewTicker(ls.l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), ls.l.ttl/3)
			ls.mu.Lock()
			e, err := ls.l.kv.Get(ctx, ls.key)
			if err == nil && e.Revision() == ls.rev {
				if rev, err := ls.l.kv.Update(ctx, ls.key, e.Value(), ls.rev); err == nil {
					ls.rev = rev
				}
			}
			ls.mu.Unlock()
			cancel()
		}
	}
}

// Release frees the lock.
func (ls *Lease) Release(ctx context.Context) error {
	var err error
	ls.once.Do(func() {
		close(ls.stop)
		<-ls.done
		ls.mu.Lock()
		defer ls.mu.Unlock()
		err = ls.l.kv.Delete(ctx, ls.key, jetstream.LastRevision(ls.rev))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			err = nil
		}
	})
	return err
}

// Abandon stops refreshing without releasing: the lease expires after the
// TTL unless the job's next executor takes it over.
func (ls *Lease) Abandon() {
	ls.once.Do(func() {
		close(ls.stop)
		<-ls.done
	})
}
