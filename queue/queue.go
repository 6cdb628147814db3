package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
)

// Names of the NATS assets, kept in one place.
const (
	DefaultStream   = "GORUN_TASKS"
	DefaultSubject  = "gorun.task"
	DefaultConsumer = "executors"
)

// Config describes the task stream and its consumer. Zero values take the
// documented defaults.
type Config struct {
	// Stream is the stream name (default GORUN_TASKS).
	Stream string
	// Subject is the subject prefix; task messages go to <Subject>.<run id>
	// (default gorun.task).
	Subject string
	// Consumer is the durable consumer shared by all executors (default executors).
	Consumer string
	// Replicas is 1 (single server) or 3 (cluster); default 1.
	Replicas int
	// Memory keeps the stream in memory instead of files (tests only).
	Memory bool
	// AckWait is how long a pulled job may go without an ack or an
	// InProgress heartbeat before it is redelivered; default 30 s.
	AckWait time.Duration
	// MaxDeliver is how many times a job is delivered before it is
	// dead-lettered; default 5.
	MaxDeliver int
	// MaxMsgs bounds the queue; a full queue refuses new jobs
	// (back-pressure) instead of dropping old ones. Default 1,000,000.
	MaxMsgs int64
	// Duplicates is the dedup window for job ids; default 2 min.
	Duplicates time.Duration
	// MaxAckPending caps the jobs running at once across all executors
	// (a fleet-wide fork budget); 0 is no cap.
	MaxAckPending int
	// Assets says whether to create, update or only bind to the stream and
	// consumer (default Ensure).
	Assets Assets
}

func (c *Config) validate() error {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if c.MaxMsgs == 0 {
		c.MaxMsgs = 1_000_000
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	switch {
	case strings.ContainsAny(c.Stream, " .*>/\\"):
		return fmt.Errorf("queue: stream name %q may not contain spaces, '.', '*', '>', '/' or '\\'", c.Stream)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("queue: replicas must be 1..5, got %d", c.Replicas)
	case c.AckWait < 100*time.Millisecond:
		return fmt.Errorf("queue: ack wait %s is too short (at least 100ms)", c.AckWait)
	case c.MaxDeliver < 1:
		return fmt.Errorf("queue: max deliver must be at least 1, got %d", c.MaxDeliver)
	}
	return nil
}

// Queue is the work queue of task messages.
type Queue struct {
	cfg    Config
	js     jetstream.JetStream
	conn   *Conn
	stream jetstream.Stream
	mu     sync.Mutex
	cons   jetstream.Consumer // set by Consumer
}

// Open creates or updates the stream and the shared consumer, and returns
// the queue.
func Open(ctx context.Context, c *Conn, cfg Config) (*Queue, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	st, err := EnsureStream(ctx, c.js, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "gorun task messages, one per (host, task) job",
		Subjects:    []string{cfg.Subject + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxMsgs:     cfg.MaxMsgs,
		Discard:     jetstream.DiscardNew,
		Duplicates:  cfg.Duplicates,
	}, cfg.Assets)
	if err != nil {
		return nil, err
	}
	return &Queue{cfg: cfg, js: c.js, conn: c, stream: st}, nil
}

// Consumer ensures the durable consumer the executors share (only those
// who pull or read the queue's depth need it; publishers do not) and
// updates the queue's configuration from it: an existing consumer's
// settings are the ones in force.
func (q *Queue) Consumer(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cons != nil {
		return nil
	}
	maxAck := q.cfg.MaxAckPending
	if maxAck <= 0 {
		maxAck = -1
	}
	cons, err := EnsureConsumer(ctx, q.stream, jetstream.ConsumerConfig{
		Durable:       q.cfg.Consumer,
		Description:   "gorun executors (shared)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.AckWait,
		MaxDeliver:    q.cfg.MaxDeliver,
		MaxAckPending: maxAck,
		// every idle fork of every executor has a pull request open
		MaxWaiting: MaxWaiting,
	}, q.cfg.Assets)
	if err != nil {
		return err
	}
	if info := cons.CachedInfo(); info != nil {
		q.cfg.AckWait, q.cfg.MaxDeliver, q.cfg.MaxAckPending = info.Config.AckWait, info.Config.MaxDeliver, info.Config.MaxAckPending
	}
	q.cons = cons
	return nil
}

// Config returns the queue's effective configuration.
func (q *Queue) Config() Config {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cfg
}

// Publish enqueues a job. The job id is the message id, so publishing the
// same job again within the dedup window is a no-op.
func (q *Queue) Publish(ctx context.Context, j *job.Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encoding job %s: %w", j.ID, err)
	}
	subj := q.cfg.Subject + "." + subjectToken(j.RunID)
	// a retry after an ambiguous failure is safe: the job id deduplicates
	if err := Retry(ctx, func(ctx context.Context) error {
		_, err := q.js.Publish(ctx, subj, data, jetstream.WithMsgID(j.ID))
		return err
	}); err != nil {
		return fmt.Errorf("publishing job %s: %w", j.ID, err)
	}
	return nil
}

func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// Depth is a snapshot of the queue for metrics and status views.
type Depth struct {
	// Pending is the number of jobs not yet delivered to any executor.
	Pending uint64
	// AckPending is the number of jobs delivered and not yet acknowledged.
	AckPending int
	// Redelivered is the number of jobs delivered more than once, still pending.
	Redelivered int
	// Waiting is the number of open pull requests (idle forks).
	Waiting int
	// OldestPending is the age of the oldest job not yet delivered (0 when
	// none); reading it takes a second API request.
	OldestPending time.Duration
}

// Depth reads the consumer's counters, and the oldest pending message's
// time when there is one.
func (q *Queue) Depth(ctx context.Context) (Depth, error) {
	if err := q.Consumer(ctx); err != nil {
		return Depth{}, err
	}
	info, err := q.cons.Info(ctx)
	if err != nil {
		return Depth{}, fmt.Errorf("reading consumer %s info: %w", q.cfg.Consumer, err)
	}
	d := Depth{Pending: info.NumPending, AckPending: info.NumAckPending,
		Redelivered: info.NumRedelivered, Waiting: info.NumWaiting}
	if d.Pending > 0 {
		// the first message the consumer has not delivered yet
		raw, err := q.stream.GetMsg(ctx, info.Delivered.Stream+1, jetstream.WithGetMsgSubject(q.cfg.Subject+".>"))
		switch {
		case err == nil:
			d.OldestPending = max(time.Since(raw.Time), 0)
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return d, fmt.Errorf("reading the oldest pending job: %w", err)
		}
	}
	return d, nil
}

// Delivery is one job pulled from the queue, to be acknowledged once its
// record holds a terminal state.
type Delivery struct {
	// Job is the decoded task message.
	Job job.Job
	// NumDelivered counts deliveries of this message, from 1.
	NumDelivered uint64
	// Sequence is the message's stream sequence.
	Sequence uint64
	// Published is when the message was stored in the stream (server time).
	Published time.Time
	msg       jetstream.Msg
}

// InProgress tells the server the job is still being worked on, resetting
// its ack timer.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// Ack acknowledges the job, without waiting for the server to confirm
// (the job's record is terminal before it is acked: a lost ack only means
// a redelivery that finds it so); the message then leaves the queue.
func (d *Delivery) Ack(ctx context.Context) error {
	if err := d.msg.Ack(); err != nil {
		return fmt.Errorf("acking job %s: %w", d.Job.ID, err)
	}
	return nil
}

// Nak hands the job back for redelivery after delay.
func (d *Delivery) Nak(delay time.Duration) error {
	if delay <= 0 {
		return d.msg.Nak()
	}
	return d.msg.NakWithDelay(delay)
}

// Term removes the job from the queue without redelivery.
func (d *Delivery) Term(reason string) error { return d.msg.TermWithReason(reason) }

// MaxWaiting is the cap of open pull requests on the executors' consumer:
// the idle forks of the whole fleet (the server's default is 512).
const MaxWaiting = 8192

// PullExpiry is how long one pull request of a Puller waits on the server.
// A stopped Puller's last requests may linger there that long, and a
// message redelivered meanwhile could go to them; see HandBackDelay.
const PullExpiry = 2 * time.Second

// HandBackDelay is how long a job handed back on stop waits before
// redelivery: longer than PullExpiry, so that it reaches a live puller.
const HandBackDelay = PullExpiry + time.Second

// Puller hands out jobs to a fixed number of workers, pulling from the
// server only when a worker asks: each worker waiting in Next has one pull
// request for one message open on the server, so the process never holds
// more messages than it has free workers, and free workers are served in
// parallel.
type Puller struct {
	cons    jetstream.Consumer
	stopped chan struct{}
	once    sync.Once
	// open pull requests whose waiter gave up (its ctx ended): the next
	// waiter takes one over before opening another
	mu      sync.Mutex
	orphans []*pull
	open    map[*pull]struct{} // every request not yet over, cancelled by Stop
}

// pull is one open pull request for one message.
type pull struct {
	batch  jetstream.MessageBatch
	cancel context.CancelFunc // ends it on the client: unsubscribed, the server drops it
}

// iterator is a pull iterator that starts again when it closes without
// being stopped (a lost consumer leader, a reconnect).
type iterator struct {
	cons    jetstream.Consumer
	mu      sync.Mutex
	iter    jetstream.MessagesContext
	stopped bool
}

func newIterator(cons jetstream.Consumer) (*iterator, error) {
	it := &iterator{cons: cons}
	if err := it.open(); err != nil {
		return nil, err
	}
	return it, nil
}

func (it *iterator) open() error {
	m, err := it.cons.Messages(jetstream.PullMaxMessages(1), jetstream.PullExpiry(PullExpiry))
	if err != nil {
		return err
	}
	it.iter = m
	return nil
}

func (it *iterator) next(ctx context.Context) (jetstream.Msg, error) {
	for {
		it.mu.Lock()
		iter, stopped := it.iter, it.stopped
		it.mu.Unlock()
		if stopped {
			return nil, ErrClosed
		}
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err == nil {
			return msg, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Closed under us, or broken (missed heartbeats after a consumer
		// leader change, a reconnect): start a new iterator, unless stopped.
		it.mu.Lock()
		if it.stopped {
			it.mu.Unlock()
			return nil, ErrClosed
		}
		if it.iter == iter {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				iter.Stop()
			}
			if err := it.open(); err != nil {
				it.mu.Unlock()
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(250 * time.Millisecond):
				}
				continue
			}
		}
		it.mu.Unlock()
	}
}

func (it *iterator) stop() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if !it.stopped {
		it.stopped = true
		it.iter.Stop()
	}
}

// Puller starts pulling for this process.
func (q *Queue) Puller() (*Puller, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Consumer(ctx); err != nil {
		return nil, err
	}
	return &Puller{cons: q.cons, stopped: make(chan struct{}), open: map[*pull]struct{}{}}, nil
}

// ErrClosed is returned by Next after Stop.
var ErrClosed = errors.New("queue: puller stopped")

// ErrBadMessage is returned (with the delivery, already terminated) for a
// message that does not decode as a job.
var ErrBadMessage = errors.New("queue: undecodable task message")

// Next blocks until a job is delivered, ctx is done, or the puller is stopped.
func (p *Puller) Next(ctx context.Context) (*Delivery, error) {
	msg, err := p.next(ctx)
	if err != nil {
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("pulling job: %w", err)
	}
	d := &Delivery{msg: msg}
	if md, err := msg.Metadata(); err == nil {
		d.NumDelivered, d.Sequence, d.Published = md.NumDelivered, md.Sequence.Stream, md.Timestamp
	}
	if err := json.Unmarshal(msg.Data(), &d.Job); err != nil || d.Job.ID == "" {
		_ = msg.TermWithReason("undecodable task message")
		return d, fmt.Errorf("%w (seq %d): %v", ErrBadMessage, d.Sequence, err)
	}
	return d, nil
}

// next waits for one message with one pull request at a time, each open
// on the server for PullExpiry. A request whose waiter gave up is taken
// over by the next waiter; after Stop, a message that reaches one is
// handed back at once.
func (p *Puller) next(ctx context.Context) (jetstream.Msg, error) {
	for {
		select {
		case <-p.stopped:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		pl := p.orphan()
		if pl == nil {
			var err error
			if pl, err = p.fetch(); err != nil {
				return nil, err
			}
		}
		select {
		case msg, ok := <-pl.batch.Messages():
			if ok {
				p.done(pl)
				return msg, nil
			}
			p.done(pl)
			// the request expired empty, or ended with an error
			err := pl.batch.Error()
			switch {
			case err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) ||
				errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			case Transient(err):
				// no consumer leader for a moment (a node lost): try again
				select {
				case <-p.stopped:
					return nil, ErrClosed
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(250 * time.Millisecond):
				}
			default:
				return nil, err
			}
		case <-p.stopped:
			return nil, ErrClosed // Stop ends the request
		case <-ctx.Done():
			p.abandon(pl)
			return nil, ctx.Err()
		}
	}
}

// fetch opens a pull request for one message, open on the server for
// PullExpiry (the client listens a little longer: the server ends it).
func (p *Puller) fetch() (*pull, error) {
	ctx, cancel := context.WithTimeout(context.Background(), PullExpiry+PullExpiry/9)
	b, err := p.cons.Fetch(1, jetstream.FetchContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	pl := &pull{batch: b, cancel: cancel}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stopped:
		p.end(pl)
		return nil, ErrClosed
	default:
	}
	p.open[pl] = struct{}{}
	return pl, nil
}

// done forgets a request that is over.
func (p *Puller) done(pl *pull) {
	pl.cancel()
	p.mu.Lock()
	delete(p.open, pl)
	p.mu.Unlock()
}

// end cancels a request and hands back a message that reached it before.
func (p *Puller) end(pl *pull) {
	pl.cancel()
	go func() {
		for msg := range pl.batch.Messages() {
			_ = msg.Nak()
		}
	}()
}

// Stop stops pulling; Next calls then return ErrClosed. Its open pull
// requests end at once (a message that reached one is handed back).
func (p *Puller) Stop() {
	p.once.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		close(p.stopped)
		for pl := range p.open {
			p.end(pl)
		}
		p.open, p.orphans = map[*pull]struct{}{}, nil
	})
}

// orphan takes over an abandoned pull request, if there is one.
func (p *Puller) orphan() *pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.orphans); n > 0 {
		pl := p.orphans[n-1]
		p.orphans = p.orphans[:n-1]
		return pl
	}
	return nil
}

// abandon keeps a pull request its waiter gave up for the next waiter.
func (p *Puller) abandon(pl *pull) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stopped: // Stop ended it
	default:
		p.orphans = append(p.orphans, pl)
	}
}

// DeadLetters calls fn for every job that exhausted its deliveries (the
// server's max-deliveries advisory), then removes its message from the
// stream, where the server leaves it. It runs until ctx ends.
func (q *Queue) DeadLetters(ctx context.Context, fn func(ctx context.Context, j *job.Job, deliveries uint64) error) error {
	subject := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + q.cfg.Stream + "." + q.cfg.Consumer
	ch := make(chan *nats.Msg, 64)
	sub, err := q.conn.nc.ChanSubscribe(subject, ch)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, nats.ErrConnectionDraining) || errors.Is(err, nats.ErrConnectionClosed) {
			return nil // stopping before the subscription was made
		}
		return fmt.Errorf("subscribing to dead letters: %w", err)
	}
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			var adv struct {
				StreamSeq  uint64 `json:"stream_seq"`
				Deliveries uint64 `json:"deliveries"`
			}
			if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
				continue
			}
			raw, err := q.stream.GetMsg(ctx, adv.StreamSeq)
			if err != nil {
				continue // another executor handled it already
			}
			var j job.Job
			if err := json.Unmarshal(raw.Data, &j); err == nil && j.ID != "" {
				if err := fn(ctx, &j, adv.Deliveries); err != nil {
					continue // the record could not be written: keep the message for an operator
				}
			}
			_ = q.stream.DeleteMsg(ctx, adv.StreamSeq)
		}
	}
}

// SweepDead finds jobs that exhausted their deliveries while nobody
// listened to the advisory: in a work-queue stream, a message still there
// below the consumer's ack floor is one. It calls fn for each and removes
// its message.
func (q *Queue) SweepDead(ctx context.Context, fn func(ctx context.Context, j *job.Job, deliveries uint64) error) error {
	if err := q.Consumer(ctx); err != nil {
		return err
	}
	ci, err := q.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading consumer info: %w", err)
	}
	si, err := q.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading stream info: %w", err)
	}
	for seq := si.State.FirstSeq; seq > 0 && seq <= ci.AckFloor.Stream; {
		// the first message at or after seq
		raw, err := q.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(q.cfg.Subject+".>"))
		if err != nil || raw.Sequence > ci.AckFloor.Stream {
			return nil
		}
		seq = raw.Sequence + 1
		var j job.Job
		if err := json.Unmarshal(raw.Data, &j); err == nil && j.ID != "" {
			if err := fn(ctx, &j, uint64(q.cfg.MaxDeliver)); err != nil {
				continue
			}
		}
		_ = q.stream.DeleteMsg(ctx, raw.Sequence)
	}
	return nil
}

// Ping reads the task stream's info: nil when the stream answers.
func (q *Queue) Ping(ctx context.Context) error {
	if _, err := q.stream.Info(ctx); err != nil {
		return fmt.Errorf("task stream %s: %w", q.cfg.Stream, err)
	}
	return nil
}
