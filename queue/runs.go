package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the run submission assets, kept in one place.
const (
	RunsStream    = "GORUN_RUNS"
	RunsSubject   = "gorun.submit"
	RunsConsumer  = "dispatchers"
	LogStream     = "GORUN_LOG"
	LogSubject    = "gorun.log"
	BundlesBucket = "gorun_bundles"
)

// RunsConfig describes the run submission assets.
type RunsConfig struct {
	// Replicas is 1 or 3; default 1.
	Replicas int
	// AckWait is how long a dispatcher may go without a heartbeat before
	// its run is handed to another; default 30 s.
	AckWait time.Duration
	// Retention is how long run logs and bundles are kept; default 7 days.
	Retention time.Duration
	// Memory keeps everything in memory (tests only).
	Memory bool
	Assets Assets
}

// Runs is the queue of submitted runs, their file bundles and their output
// logs.
type Runs struct {
	cfg     RunsConfig
	js      jetstream.JetStream
	cons    jetstream.Consumer
	bundles jetstream.ObjectStore
}

// OpenRuns creates or binds the run submission stream, its consumer, the
// log stream and the bundle store.
func OpenRuns(ctx context.Context, c *Conn, cfg RunsConfig) (*Runs, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Retention == 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	st, err := EnsureStream(ctx, c.js, jetstream.StreamConfig{
		Name: RunsStream, Description: "gorun submitted runs", Subjects: []string{RunsSubject + ".>"},
		Retention: jetstream.WorkQueuePolicy, Storage: storage, Replicas: cfg.Replicas, Duplicates: 2 * time.Minute,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	cons, err := EnsureConsumer(ctx, st, jetstream.ConsumerConfig{
		Durable: RunsConsumer, Description: "gorun dispatchers (shared)", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.AckWait, MaxDeliver: -1,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	if info := cons.CachedInfo(); info != nil {
		cfg.AckWait = info.Config.AckWait
	}
	if _, err := EnsureStream(ctx, c.js, jetstream.StreamConfig{
		Name: LogStream, Description: "gorun run output", Subjects: []string{LogSubject + ".>"},
		Storage: storage, Replicas: cfg.Replicas, MaxAge: cfg.Retention,
	}, cfg.Assets); err != nil {
		return nil, err
	}
	var os jetstream.ObjectStore
	err = retrySetup(ctx, func(ctx context.Context) (err error) {
		os, err = ensureObjectStore(ctx, c.js, jetstream.ObjectStoreConfig{
			Bucket: BundlesBucket, Description: "gorun run bundles (playbooks, inventories)", TTL: cfg.Retention,
			Storage: storage, Replicas: cfg.Replicas,
		}, cfg.Assets)
		if err != nil || cfg.Assets == Bind {
			return err
		}
		// a dispatcher reads a bundle right after it was put: read from the
		// leader, not from replicas that may lag
		st, err := c.js.Stream(ctx, "OBJ_"+BundlesBucket)
		if err != nil {
			return err
		}
		if sc := st.CachedInfo().Config; sc.AllowDirect {
			sc.AllowDirect = false
			if _, err := c.js.UpdateStream(ctx, sc); err != nil {
				return fmt.Errorf("making object store %s read from its leader: %w", BundlesBucket, err)
			}
			os, err = c.js.ObjectStore(ctx, BundlesBucket)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Runs{cfg: cfg, js: c.js, cons: cons, bundles: os}, nil
}

func ensureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig, mode Assets) (jetstream.ObjectStore, error) {
	if mode == Update {
		os, err := js.CreateOrUpdateObjectStore(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("creating or updating object store %s: %w", cfg.Bucket, err)
		}
		return os, nil
	}
	os, err := js.ObjectStore(ctx, cfg.Bucket)
	if err == nil {
		return os, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("looking up object store %s: %w", cfg.Bucket, err)
	}
	if mode == Bind {
		return nil, fmt.Errorf("object store %s does not exist (assets mode bind: create it first)", cfg.Bucket)
	}
	os, err = js.CreateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		os, err = js.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("creating object store %s: %w", cfg.Bucket, err)
	}
	return os, nil
}

// Config returns the effective configuration.
func (r *Runs) Config() RunsConfig { return r.cfg }

// Submit stores a run's bundle and enqueues the run (the run id is the
// message id: submitting twice enqueues once).
func (r *Runs) Submit(ctx context.Context, runID string, spec, bundle []byte) error {
	if err := Retry(ctx, func(ctx context.Context) error {
		_, err := r.bundles.PutBytes(ctx, runID, bundle)
		return err
	}); err != nil {
		return fmt.Errorf("storing the bundle of run %s: %w", runID, err)
	}
	if err := Retry(ctx, func(ctx context.Context) error {
		_, err := r.js.Publish(ctx, RunsSubject+"."+subjectToken(runID), spec, jetstream.WithMsgID(runID))
		return err
	}); err != nil {
		return fmt.Errorf("submitting run %s: %w", runID, err)
	}
	return nil
}

// Bundle returns a run's bundle.
func (r *Runs) Bundle(ctx context.Context, runID string) ([]byte, error) {
	var b []byte
	// a bundle just put may not be visible yet on every replica: retry a
	// missing or mismatching one for a while
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for {
		err = Retry(ctx, func(ctx context.Context) (err error) {
			b, err = r.bundles.GetBytes(ctx, runID)
			return err
		})
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil ||
			!(errors.Is(err, jetstream.ErrObjectNotFound) || errors.Is(err, jetstream.ErrDigestMismatch)) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the bundle of run %s: %w", runID, err)
	}
	return b, nil
}

// RunDelivery is a run handed to a dispatcher.
type RunDelivery struct {
	RunID        string
	Spec         []byte
	NumDelivered uint64
	msg          jetstream.Msg
}

// InProgress keeps the run from being handed to another dispatcher.
func (d *RunDelivery) InProgress() error { return d.msg.InProgress() }

// Ack marks the run done.
func (d *RunDelivery) Ack(ctx context.Context) error { return d.msg.DoubleAck(ctx) }

// Nak hands the run back after delay.
func (d *RunDelivery) Nak(delay time.Duration) error {
	if delay <= 0 {
		return d.msg.Nak()
	}
	return d.msg.NakWithDelay(delay)
}

// RunPuller hands out submitted runs one at a time, without prefetch.
type RunPuller struct {
	it *iterator
}

// Puller starts pulling runs.
func (r *Runs) Puller() (*RunPuller, error) {
	it, err := newIterator(r.cons)
	if err != nil {
		return nil, fmt.Errorf("pulling runs: %w", err)
	}
	return &RunPuller{it: it}, nil
}

// Next blocks until a run is delivered, ctx ends, or the puller stops.
func (p *RunPuller) Next(ctx context.Context) (*RunDelivery, error) {
	msg, err := p.it.next(ctx)
	if err != nil {
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("pulling run: %w", err)
	}
	d := &RunDelivery{Spec: msg.Data(), msg: msg}
	if md, err := msg.Metadata(); err == nil {
		d.NumDelivered = md.NumDelivered
	}
	d.RunID = msg.Headers().Get(jetstream.MsgIDHeader)
	return d, nil
}

// Stop stops pulling.
func (p *RunPuller) Stop() { p.it.stop() }

// Log headers.
const (
	logEndHeader = "Gorun-End"       // the last message of a run's log; value: the exit code
	logSeqHeader = "Gorun-Log-Chunk" // chunk number, for dedup across dispatcher restarts
	logAttempt   = "Gorun-Attempt"
)

// LogWriter appends a run's output to its log stream.
type LogWriter struct {
	r       *Runs
	subject string
	attempt int
	mu      sync.Mutex
	buf     bytes.Buffer
	n       int
}

// LogWriter returns a writer of run runID's output; attempt numbers the
// dispatcher that writes it (a resumed run writes its log again).
func (r *Runs) LogWriter(runID string, attempt int) *LogWriter {
	return &LogWriter{r: r, subject: LogSubject + "." + subjectToken(runID), attempt: attempt}
}

// Write buffers p; whole lines are published by Flush.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Flush publishes what was written since the last flush.
func (w *LogWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 {
		return nil
	}
	m := nats.NewMsg(w.subject)
	m.Data = bytes.Clone(w.buf.Bytes())
	m.Header.Set(logAttempt, strconv.Itoa(w.attempt))
	w.n++
	m.Header.Set(logSeqHeader, strconv.Itoa(w.n))
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s.%d.%d", w.subject, w.attempt, w.n))
	if err := Retry(ctx, func(ctx context.Context) error {
		_, err := w.r.js.PublishMsg(ctx, m)
		return err
	}); err != nil {
		return fmt.Errorf("publishing run output: %w", err)
	}
	w.buf.Reset()
	return nil
}

// End flushes and marks the end of the log with the run's exit code.
func (w *LogWriter) End(ctx context.Context, exitCode int) error {
	if err := w.Flush(ctx); err != nil {
		return err
	}
	m := nats.NewMsg(w.subject)
	m.Header.Set(logEndHeader, strconv.Itoa(exitCode))
	m.Header.Set(logAttempt, strconv.Itoa(w.attempt))
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s.%d.end", w.subject, w.attempt))
	if err := Retry(ctx, func(ctx context.Context) error {
		_, err := w.r.js.PublishMsg(ctx, m)
		return err
	}); err != nil {
		return fmt.Errorf("publishing the end of the run output: %w", err)
	}
	return nil
}

// FollowLog calls fn with every chunk of run runID's output from the
// beginning, as it is written, until the end marker (fn gets end=true and
// the exit code) or ctx ends.
func (r *Runs) FollowLog(ctx context.Context, runID string, fn func(chunk []byte, end bool, exitCode int)) error {
	c, err := r.js.OrderedConsumer(ctx, LogStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{LogSubject + "." + subjectToken(runID)},
	})
	if err != nil {
		return fmt.Errorf("following the output of run %s: %w", runID, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("following the output of run %s: %w", runID, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("following the output of run %s: %w", runID, err)
		}
		if v := msg.Headers().Get(logEndHeader); v != "" {
			code, _ := strconv.Atoi(v)
			fn(nil, true, code)
			return nil
		}
		fn(msg.Data(), false, 0)
	}
}
