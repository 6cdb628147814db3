// Package status keeps gorun's job records in a NATS JetStream key-value
// bucket, one record per job id. State changes are compare-and-swap on the
// key's revision, so a stale writer loses; readers get records with Get, list
// them, or follow them through one shared watch per process (see Watcher).
package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/queue"
)

// DefaultBucket is the name of the job-record bucket.
const DefaultBucket = "gorun_jobs"

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: no record for that job id (never existed, expired, or cleaned up).
	ErrNotFound = errors.New("job record not found")
	// ErrConflict: the record changed since it was read (compare-and-swap lost).
	ErrConflict = errors.New("job record changed concurrently")
	// ErrExists: a record with that job id already exists.
	ErrExists = errors.New("job record already exists")
)

// DefaultMaxOutput is Config.MaxOutput's default: 256 KiB each of stdout
// and stderr.
const DefaultMaxOutput = 256 << 10

// Config describes the bucket. Zero values take the documented defaults.
type Config struct {
	// Bucket is the KV bucket name (default gorun_jobs).
	Bucket string
	// Replicas is 1 (single server) or 3 (cluster); default 1.
	Replicas int
	// Retention is how long a record is kept after its last change
	// (default 7 days).
	Retention time.Duration
	// Memory keeps the bucket in memory instead of files (tests only).
	Memory bool
	// MaxOutput caps stdout and stderr stored in a record, each (default
	// 256 KiB), measured as stored (JSON-encoded), so that no output makes
	// a record too large to write; larger output is cut with a marker.
	MaxOutput int
	// Assets says whether to create, update or only bind to the bucket
	// (default queue.Ensure).
	Assets queue.Assets
}

func (c *Config) validate() error {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	switch {
	case strings.Trim(c.Bucket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "":
		return fmt.Errorf("status: bucket name %q may hold only letters, digits, '_' and '-'", c.Bucket)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("status: replicas must be 1..5, got %d", c.Replicas)
	case c.Retention < time.Second:
		return fmt.Errorf("status: retention %s is too short (at least 1s)", c.Retention)
	case c.MaxOutput < 1024:
		return fmt.Errorf("status: max output %d is too small (at least 1024 bytes)", c.MaxOutput)
	}
	return nil
}

// Store is the bucket of job records.
type Store struct {
	cfg Config
	kv  jetstream.KeyValue

	wmu sync.Mutex
	w   *watcher // the process's one watch, started on first Subscribe

	watchLag atomic.Pointer[func(time.Duration)]

	keys keyring // seal keys of the runs this process works for (see UseSealKey)
}

// OnWatchLag sets f to be told, for every followed record version the
// watch delivers, how long after its write (server time) it arrived.
func (s *Store) OnWatchLag(f func(time.Duration)) { s.watchLag.Store(&f) }

// Open creates or updates the bucket and returns the store.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "gorun job records, key = job id",
		History:     1,
		TTL:         cfg.Retention,
		Storage:     storage,
		Replicas:    cfg.Replicas,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, kv: kv}, nil
}

// Config returns the store's effective configuration.
func (s *Store) Config() Config { return s.cfg }

// Entry is a record with the revision it was read at.
type Entry struct {
	Record   *job.Record
	Revision uint64
}

func (s *Store) encode(r *job.Record) ([]byte, error) {
	capOutput(r, s.cfg.MaxOutput)
	out, err := s.stored(r)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding record %s: %w", r.JID, err)
	}
	return data, nil
}

// TruncationMarker ends output that was cut to fit a record.
const TruncationMarker = "\n[... output truncated by gorun ...]"

func capOutput(r *job.Record, limit int) {
	cut := func(s string) string {
		n, over := encodedPrefix(s, limit)
		if !over {
			return s
		}
		r.Truncated = true
		return s[:n] + TruncationMarker
	}
	r.Stdout, r.Stderr = cut(r.Stdout), cut(r.Stderr)
}

// Decode decodes a record as stored in the bucket (a no_log record as it
// is there: censored, its values sealed).
func Decode(data []byte) (*job.Record, error) {
	var r job.Record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding job record: %w", err)
	}
	for k, v := range r.Result {
		r.Result[k] = numbers(v)
	}
	if r.JID == "" || !r.State.Valid() {
		return nil, fmt.Errorf("decoding job record: missing jid or bad state %q", r.State)
	}
	return &r, nil
}

// numbers turns the json.Numbers of a decoded value into int (integral
// values) or float64, the data model the rest of gorun uses. A number out
// of float64's range (1e700) stays a json.Number: as ±Inf it could not be
// encoded again.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(n)
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// Create stores a new record; ErrExists if the job id is taken.
func (s *Store) Create(ctx context.Context, r *job.Record) (uint64, error) {
	data, err := s.encode(r)
	if err != nil {
		return 0, err
	}
	var rev uint64
	err = queue.Retry(ctx, func(ctx context.Context) (err error) {
		rev, err = s.kv.Create(ctx, r.JID, data)
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("creating record %s: %w", r.JID, ErrExists)
		}
		return 0, fmt.Errorf("creating record %s: %w", r.JID, err)
	}
	return rev, nil
}

// Get reads a record; ErrNotFound if there is none.
func (s *Store) Get(ctx context.Context, jid string) (Entry, error) {
	e, err := s.entry(ctx, jid)
	if err != nil {
		return Entry{}, err
	}
	r, err := s.decode(e.Value())
	if err != nil {
		return Entry{}, fmt.Errorf("record %s: %w", jid, err)
	}
	return Entry{Record: r, Revision: e.Revision()}, nil
}

// entry reads a record's KV entry; ErrNotFound if there is none.
func (s *Store) entry(ctx context.Context, jid string) (jetstream.KeyValueEntry, error) {
	var e jetstream.KeyValueEntry
	err := queue.Retry(ctx, func(ctx context.Context) (err error) {
		e, err = s.kv.Get(ctx, jid)
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return nil, fmt.Errorf("reading record %s: %w", jid, ErrNotFound)
		}
		return nil, fmt.Errorf("reading record %s: %w", jid, err)
	}
	return e, nil
}

// Update replaces the record if it is still at revision rev (compare-and-swap);
// ErrConflict if another writer changed it first.
func (s *Store) Update(ctx context.Context, r *job.Record, rev uint64) (uint64, error) {
	data, err := s.encode(r)
	if err != nil {
		return 0, err
	}
	var nrev uint64
	err = queue.Retry(ctx, func(ctx context.Context) (err error) {
		nrev, err = s.kv.Update(ctx, r.JID, data, rev)
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			return 0, fmt.Errorf("updating record %s at revision %d: %w", r.JID, rev, ErrConflict)
		}
		return 0, fmt.Errorf("updating record %s: %w", r.JID, err)
	}
	return nrev, nil
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Modify applies change to the current record and writes it back with
// compare-and-swap, retrying on conflict. change returns false to leave the
// record alone (for example, because it is already terminal).
func (s *Store) Modify(ctx context.Context, jid string, change func(*job.Record) bool) (Entry, error) {
	for {
		e, err := s.Get(ctx, jid)
		if err != nil {
			return Entry{}, err
		}
		if !change(e.Record) {
			return e, nil
		}
		rev, err := s.Update(ctx, e.Record, e.Revision)
		if err == nil {
			return Entry{Record: e.Record, Revision: rev}, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Entry{}, err
		}
		if ctx.Err() != nil {
			return Entry{}, ctx.Err()
		}
	}
}

// Delete removes a record.
func (s *Store) Delete(ctx context.Context, jid string) error {
	if err := queue.Retry(ctx, func(ctx context.Context) error { return s.kv.Purge(ctx, jid) }); err != nil {
		return fmt.Errorf("deleting record %s: %w", jid, err)
	}
	return nil
}

// Filter selects records in List and WatchAll; empty fields match everything.
type Filter struct {
	RunID string
	Host  string
	State job.State
	// HideErased leaves out the records async_status mode=cleanup erased
	// (tombstones that read as missing), as gorun jobs does.
	HideErased bool
}

func (f Filter) match(r *job.Record) bool {
	return (f.RunID == "" || r.RunID == f.RunID) && (f.Host == "" || r.Host == f.Host) &&
		(f.State == "" || r.State == f.State) && (!f.HideErased || r.Erased.IsZero())
}

// Ping reads the bucket's status: nil when the bucket answers.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.kv.Status(ctx); err != nil {
		return fmt.Errorf("bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}
