// Package executor runs jobs: it pulls task messages from the shared queue
// consumer with at most Forks jobs in hand, runs each job's module on its
// target, and records every state change of the job in its KV record with
// compare-and-swap, acknowledging the message only once the record is
// terminal.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorun/gorun/agent"
	"github.com/gorun/gorun/become"
	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// Connector hands out connections to targets (connection.Pool implements it).
type Connector interface {
	Get(ctx context.Context, t job.Target) (connection.Conn, error)
}

// becoming wraps the connections of targets that ask for privilege
// escalation, so that modules and agents run as the become user.
type becoming struct{ Connector }

func (b becoming) Get(ctx context.Context, t job.Target) (connection.Conn, error) {
	c, err := b.Connector.Get(ctx, t)
	if err != nil {
		return nil, err
	}
	return become.Wrap(c, t)
}

// NewAgentPool returns a pool of async agents on conns, with privilege
// escalation applied, for processes that check on jobs (see Check).
func NewAgentPool(conns Connector, log *slog.Logger) *agent.Pool {
	return agent.NewPool(becoming{conns}, log)
}

// Config configures an executor. Zero values take the documented defaults.
type Config struct {
	// ID names this executor in job records; default <hostname>-<pid>.
	ID string
	// Forks is how many jobs run at once; default 5.
	Forks int
	// Heartbeat is how often a running job's message is marked in progress;
	// default a third of the queue's ack wait.
	Heartbeat time.Duration
	// Logger receives the executor's logs; default discards.
	Logger *slog.Logger
	// Registry, if set, is where the executor says it is alive, so that
	// other processes can tell its running jobs from orphans.
	Registry *status.Registry
	// Locks, if set, hold the per-host locks of jobs with a lock keyword
	// (jobs with one fail without it).
	Locks *status.Locks
	// Metrics, if set, counts the executor's jobs (see docs/metrics.md).
	Metrics *metrics.Executor
}

func (c *Config) validate(q *queue.Queue) error {
	if c.ID == "" {
		h, _ := os.Hostname()
		c.ID = h + "-" + strconv.Itoa(os.Getpid())
	}
	c.ID = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=", r) {
			return r
		}
		return '_'
	}, c.ID)
	if c.Forks == 0 {
		c.Forks = 5
	}
	if c.Forks < 1 {
		return fmt.Errorf("executor: forks must be at least 1, got %d", c.Forks)
	}
	if c.Heartbeat < 0 {
		return fmt.Errorf("executor: heartbeat %s must be positive", c.Heartbeat)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Executor pulls and runs jobs.
type Executor struct {
	cfg   Config
	q     *queue.Queue
	st    *status.Store
	conns Connector
	log   *slog.Logger

	agents    *agent.Pool
	monitors  sync.WaitGroup // async job monitors
	stopping  chan struct{}  // closed by Stop
	beatDone  chan struct{}  // closed when the liveness beat has stopped
	async     atomic.Int64   // async jobs followed
	started   time.Time
	puller    *queue.Puller
	jobCtx    context.Context // cancelled by the hard stop
	hardStop  context.CancelFunc
	wg        sync.WaitGroup
	busy      atomic.Int64
	startOnce sync.Once
	stopOnce  sync.Once

	fmu       sync.Mutex
	following map[string]chan struct{} // async jobs followed here: closed when superseded
}

// New returns an executor; Start starts it.
func New(cfg Config, q *queue.Queue, st *status.Store, conns Connector) (*Executor, error) {
	if err := cfg.validate(q); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := cfg.Logger.With("executor", cfg.ID)
	conns = becoming{conns}
	return &Executor{cfg: cfg, q: q, st: st, conns: conns, log: log, agents: agent.NewPool(conns, log),
		stopping: make(chan struct{}), jobCtx: ctx, hardStop: cancel}, nil
}

// ID returns the executor's id.
func (e *Executor) ID() string { return e.cfg.ID }

// Busy returns how many forks are running a job.
func (e *Executor) Busy() int { return int(e.busy.Load()) }

// Forks returns the configured number of forks.
func (e *Executor) Forks() int { return e.cfg.Forks }

// Start starts Forks workers that pull and run jobs until Stop.
func (e *Executor) Start(ctx context.Context) error {
	var err error
	e.startOnce.Do(func() {
		e.started = time.Now().UTC()
		if err = e.q.Consumer(ctx); err != nil {
			return
		}
		ackWait := e.q.Config().AckWait
		if e.cfg.Heartbeat == 0 {
			e.cfg.Heartbeat = ackWait / 3
		}
		if e.cfg.Heartbeat >= ackWait {
			err = fmt.Errorf("executor: heartbeat %s must be shorter than the ack wait %s", e.cfg.Heartbeat, ackWait)
			return
		}
		e.puller, err = e.q.Puller()
		if err != nil {
			return
		}
		for i := 0; i < e.cfg.Forks; i++ {
			e.wg.Add(1)
			go e.worker()
		}
		if e.cfg.Registry != nil {
			e.beatDone = make(chan struct{})
			go e.beat()
		}
		go func() {
			if err := e.q.DeadLetters(e.jobCtx, e.lost); err != nil {
				e.log.Warn("not following dead letters", "err", err)
			}
		}()
		go func() {
			sctx, cancel := context.WithTimeout(e.jobCtx, time.Minute)
			defer cancel()
			if err := e.q.SweepDead(sctx, e.lost); err != nil {
				e.log.Debug("sweeping dead letters", "err", err)
			}
		}()
		e.log.Info("executor started", "forks", e.cfg.Forks)
	})
	return err
}

// Stop stops the executor in two phases: it stops pulling and lets running
// jobs finish; if ctx ends first, it cancels them (their messages are handed
// back for redelivery) and waits for the workers to return.
func (e *Executor) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		if e.puller != nil {
			e.puller.Stop()
		}
		close(e.stopping)
	})
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		e.monitors.Wait()
		e.agents.Close()
		if e.beatDone != nil {
			<-e.beatDone
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = e.cfg.Registry.Leave(lctx, e.cfg.ID)
			cancel()
		}
		close(done)
	}()
	select {
	case <-done:
		e.hardStop()
		return nil
	case <-ctx.Done():
		e.log.Warn("stop timed out; cancelling running jobs", "busy", e.Busy())
		e.hardStop()
		<-done
		return fmt.Errorf("executor %s: soft stop: %w", e.cfg.ID, ctx.Err())
	}
}

// beat tells the registry the executor is alive until it stops.
func (e *Executor) beat() {
	defer close(e.beatDone)
	host, _ := os.Hostname()
	t := time.NewTicker(e.cfg.Registry.Interval())
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Registry.Interval())
		err := e.cfg.Registry.Beat(ctx, status.Executor{ID: e.cfg.ID, Hostname: host, PID: os.Getpid(),
			Forks: e.cfg.Forks, Busy: e.Busy(), Async: int(e.async.Load()), Started: e.started})
		cancel()
		if err != nil {
			e.log.Warn("liveness beat failed", "err", err)
		}
		select {
		case <-e.stopping:
			return
		case <-t.C:
		}
	}
}

func (e *Executor) worker() {
	defer e.wg.Done()
	for {
		d, err := e.puller.Next(e.jobCtx)
		if err != nil {
			if errors.Is(err, queue.ErrClosed) || e.jobCtx.Err() != nil {
				return
			}
			if errors.Is(err, queue.ErrBadMessage) {
				e.log.Error("dropping bad task message", "err", err)
				continue
			}
			e.log.Warn("pull failed", "err", err)
			select {
			case <-e.jobCtx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		e.busy.Add(1)
		e.handle(d)
		e.busy.Add(-1)
	}
}

// handle runs one delivery to a terminal record, then acks it.
func (e *Executor) handle(d *queue.Delivery) {
	j := &d.Job
	log := e.log.With("jid", j.ID, "host", j.Target.Host, "module", j.Module, "delivery", d.NumDelivered)
	ctx := e.jobCtx

	stopBeat := e.heartbeat(d)
	defer stopBeat()
	defer e.useSealKey(j, log)()

	if d.NumDelivered > 1 {
		e.cfg.Metrics.Redelivered()
	}
	entry, run, err := e.claim(ctx, d)
	if errors.Is(err, errHeld) {
		return // see claim
	}
	if err != nil {
		log.Error("claiming job", "err", err)
		e.handBack(d, log)
		return
	}
	if !run {
		e.ack(ctx, d, log)
		return
	}
	rec := entry.Record
	var lease *status.Lease
	if j.Lock != "" {
		if e.cfg.Locks == nil {
			e.finishNow(ctx, d, rec, map[string]any{"failed": true, "changed": false,
				"msg": "this executor has no lock bucket: the lock keyword needs one"}, nil, log)
			return
		}
		key := status.LockKey(j.Target.Host, j.Lock)
		log.Debug("waiting for lock", "lock", key)
		if lease, err = e.cfg.Locks.Acquire(ctx, key, j.ID, e.cfg.ID); err != nil {
			log.Warn("taking lock", "lock", key, "err", err)
			e.handBack(d, log)
			return
		}
	}
	if j.Async > 0 {
		e.runAsync(ctx, d, entry, lease, log)
		return
	}
	if lease != nil {
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := lease.Release(rctx); err != nil {
				log.Warn("releasing lock", "err", err)
			}
		}()
	}
	cancelReq, stopWatch := e.watchCancel(j.ID, rec)
	defer stopWatch()
	jobCtx, cancelJob := context.WithCancel(ctx)
	defer cancelJob()
	go func() {
		select {
		case <-cancelReq:
			cancelJob()
		case <-jobCtx.Done():
		}
	}()
	result, runErr := e.runModule(jobCtx, j)
	select {
	case <-cancelReq:
		log.Info("job cancelled on request")
		result, runErr = map[string]any{"failed": true, "changed": false, "msg": CancelledMsg}, nil
		finish(rec, result, nil)
		rec.State = job.StateCancelled
	default:
		if runErr != nil && ctx.Err() != nil {
			// Hard stop: the job was interrupted; another executor takes it.
			log.Warn("job interrupted by shutdown", "err", runErr)
			e.handBack(d, log)
			return
		}
		finish(rec, result, runErr)
	}
	// the record as claimed, unless it changed since (then read it again)
	e.settle(ctx, d, rec, entry.Revision, log)
}

// useSealKey lets the store seal the record of a no_log job under its
// run's key (and open it) until the returned release is called.
func (e *Executor) useSealKey(j *job.Job, log *slog.Logger) (release func()) {
	if !j.NoLog || j.SealKey == nil {
		return func() {}
	}
	release, err := e.st.UseSealKey(j.RunID, j.SealKey)
	if err != nil {
		log.Warn("the job's seal key is unusable: its result is recorded censored, unreadable to its run", "err", err)
		return func() {}
	}
	return release
}

// lost records a job whose message exhausted its deliveries.
func (e *Executor) lost(ctx context.Context, j *job.Job, deliveries uint64) error {
	msg := fmt.Sprintf("the job's message was delivered %d times without an executor recording its end; its outcome is unknown", deliveries)
	wrote := false
	ent, err := e.st.Modify(ctx, j.ID, func(r *job.Record) bool {
		wrote = false
		if r.State.Terminal() {
			return false
		}
		r.State, r.Msg, r.Ended = job.StateLost, msg, time.Now().UTC()
		r.Result = map[string]any{"failed": true, "changed": false, "msg": msg}
		wrote = true
		return true
	})
	if errors.Is(err, status.ErrNotFound) {
		rec := job.NewRecord(j)
		rec.State, rec.Msg, rec.Ended = job.StateLost, msg, time.Now().UTC()
		_, err = e.st.Create(ctx, rec)
		ent.Record, wrote = rec, err == nil
		if errors.Is(err, status.ErrExists) {
			return e.lost(ctx, j, deliveries)
		}
	}
	if err == nil && wrote {
		e.cfg.Metrics.Finished(ent.Record)
		e.log.Warn("job lost: deliveries exhausted", "jid", j.ID, "deliveries", deliveries)
	}
	return err
}

// writeTerminal applies a terminal change to a job's record with
// compare-and-swap, unless the record moved on: already terminal (a
// cancel), or claimed by another executor or a newer delivery (newer: the
// job is not terminal and not this delivery's any more; its message then
// belongs to the newer delivery, and must not be acked here). It counts
// the job finished when it wrote.
func (e *Executor) writeTerminal(ctx context.Context, jid string, attempt int, apply func(cur *job.Record)) (wrote, newer bool, err error) {
	ent, err := e.st.Modify(ctx, jid, func(cur *job.Record) bool {
		wrote, newer = false, false
		if cur.State.Terminal() {
			return false
		}
		if cur.Executor != e.cfg.ID || cur.Attempt != attempt {
			newer = true
			return false
		}
		apply(cur)
		wrote = true
		return true
	})
	if err != nil {
		return false, false, err
	}
	if wrote {
		e.cfg.Metrics.Finished(ent.Record)
	}
	if newer {
		e.log.Info("a newer delivery owns the job; leaving its message to it", "jid", jid, "attempt", attempt)
	}
	return wrote, newer, nil
}

// follow makes the caller the one follower of job jid in this executor:
// an earlier follower is told, by its superseded channel closing, to
// leave the job alone. unfollow ends the caller's turn.
func (e *Executor) follow(jid string) (superseded <-chan struct{}, unfollow func()) {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	if e.following == nil {
		e.following = map[string]chan struct{}{}
	}
	if old, ok := e.following[jid]; ok {
		close(old)
	}
	ch := make(chan struct{})
	e.following[jid] = ch
	return ch, func() {
		e.fmu.Lock()
		defer e.fmu.Unlock()
		if e.following[jid] == ch {
			delete(e.following, jid)
		}
	}
}

// CancelledMsg is the msg of a job cancelled on request.
const CancelledMsg = "cancelled on request"

// watchCancel follows a job's record (through the process's one watch) and
// closes the returned channel when a cancel is requested.
func (e *Executor) watchCancel(jid string, rec *job.Record) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	if rec.CancelRequested {
		close(ch)
		return ch, func() {}
	}
	sub, err := e.st.FollowCancel(jid)
	if err != nil {
		e.log.Warn("following the job record for cancel requests", "jid", jid, "err", err)
		return ch, func() {}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case r := <-sub.C():
				if r.CancelRequested && !r.State.Terminal() {
					close(ch)
					return
				}
			case <-done:
				return
			}
		}
	}()
	return ch, func() { close(done); sub.Close() }
}

// errHeld says a delivery is of the very message another delivery of the
// job holds: it is left alone (see claim).
var errHeld = errors.New("the job's message is held by another delivery")

// claim moves the record to running for this executor; run is false when
// the job needs no run (already terminal), and the error errHeld when its
// message is another delivery's.
func (e *Executor) claim(ctx context.Context, d *queue.Delivery) (status.Entry, bool, error) {
	j := &d.Job
	if d.NumDelivered == 1 && j.RecordRevision > 0 {
		// The record as the dispatcher created it, at the revision it
		// said: claimed without reading it, unless it changed since (a
		// cancel request), which the compare-and-swap tells.
		rec := job.NewRecord(j)
		rec.State, rec.Executor, rec.Attempt, rec.Started = job.StateRunning, e.cfg.ID, 1, time.Now().UTC()
		rec.Seq = d.Sequence
		rev, err := e.st.Update(ctx, rec, j.RecordRevision)
		if err == nil {
			e.cfg.Metrics.Started(j.Module, d.Published)
			return status.Entry{Record: rec, Revision: rev}, true, nil
		}
		if !errors.Is(err, status.ErrConflict) {
			return status.Entry{}, false, err
		}
	}
	for {
		entry, err := e.st.Get(ctx, j.ID)
		if errors.Is(err, status.ErrNotFound) {
			// The dispatcher writes the record before publishing; it is gone
			// (expired or cleaned up): recreate it so the outcome is kept.
			if _, err := e.st.Create(ctx, job.NewRecord(j)); err != nil && !errors.Is(err, status.ErrExists) {
				return status.Entry{}, false, err
			}
			continue
		}
		if err != nil {
			return status.Entry{}, false, err
		}
		rec := entry.Record
		if rec.State.Terminal() {
			return entry, false, nil
		}
		if rec.State == job.StateRunning && rec.Executor == e.cfg.ID && rec.Attempt == int(d.NumDelivered) &&
			!rec.Started.IsZero() && rec.Remote == nil {
			// our own claim, whose confirmation was lost (a retried
			// compare-and-swap reports a conflict with itself)
			return entry, true, nil
		}
		if rec.State == job.StateRunning && int(d.NumDelivered) <= rec.Attempt {
			// A job some executor already runs from the same (or a later)
			// delivery: not ours to touch. Only a redelivery (its holder
			// stopped heartbeating) takes a job over.
			if rec.Seq != 0 && rec.Seq == d.Sequence {
				// The holder's own message, delivered again without its
				// count going up (a consumer leader change): neither acked
				// (the holder acks it, its heartbeats keep it) nor handed
				// back. Should the holder be gone, it comes back counted
				// higher and is taken over.
				e.log.Info("the message of a job another delivery runs, delivered again; left to its holder",
					"jid", j.ID, "delivery", d.NumDelivered, "seq", d.Sequence, "holder", rec.Executor, "attempt", rec.Attempt)
				return entry, false, errHeld
			}
			// a second message for the job: acked, the holder has its own
			e.log.Info("a second message for a job another delivery runs; acked", "jid", j.ID, "delivery", d.NumDelivered,
				"seq", d.Sequence, "holder", rec.Executor, "attempt", rec.Attempt)
			return entry, false, nil
		}
		rec.State = job.StateRunning
		rec.Executor = e.cfg.ID
		rec.Attempt = int(d.NumDelivered)
		rec.Seq = d.Sequence
		first := rec.Started.IsZero()
		if first {
			rec.Started = time.Now().UTC()
		}
		rev, err := e.st.Update(ctx, rec, entry.Revision)
		if errors.Is(err, status.ErrConflict) {
			continue
		}
		if err != nil {
			return status.Entry{}, false, err
		}
		if first {
			e.cfg.Metrics.Started(j.Module, d.Published)
		}
		return status.Entry{Record: rec, Revision: rev}, true, nil
	}
}

func (e *Executor) runModule(ctx context.Context, j *job.Job) (map[string]any, error) {
	info, ok := module.Lookup(j.Module)
	var conn connection.Conn
	if ok && info.Remote {
		c, err := e.conns.Get(ctx, j.Target)
		if err != nil {
			return nil, err
		}
		conn = c
	}
	return module.Run(ctx, conn, j)
}

// finish fills rec's terminal state from a module result or run error.
func finish(rec *job.Record, result map[string]any, err error) {
	rec.Ended = time.Now().UTC()
	switch {
	case err != nil && errors.Is(err, connection.ErrUnreachable):
		rec.State = job.StateUnreachable
		rec.Msg = connection.UnreachableMsg(err)
		rec.Result = map[string]any{"unreachable": true, "changed": false, "msg": rec.Msg}
		return
	case err != nil:
		rec.State = job.StateFailed
		rec.Msg = err.Error()
		rec.Result = map[string]any{"failed": true, "changed": false, "msg": rec.Msg}
		return
	}
	rec.SplitResult(result)
	if truthy(result["failed"]) {
		rec.State = job.StateFailed
		if m, ok := result["msg"].(string); ok {
			rec.Msg = m
		}
	} else {
		rec.State = job.StateFinished
	}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != "" && x != "0" && x != "false" && x != "False"
	}
	return v != nil
}

func (e *Executor) heartbeat(d *queue.Delivery) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(e.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := d.InProgress(); err != nil {
					e.log.Warn("heartbeat failed", "jid", d.Job.ID, "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (e *Executor) ack(ctx context.Context, d *queue.Delivery, log *slog.Logger) {
	actx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
	}
	if err := d.Ack(actx); err != nil {
		log.Warn("ack failed; the job will be redelivered and found terminal", "err", err)
	}
}

func (e *Executor) handBack(d *queue.Delivery, log *slog.Logger) {
	if err := d.Nak(time.Second); err != nil {
		log.Warn("nak failed; the job will be redelivered after the ack wait", "err", err)
	}
}

// Async returns how many async jobs the executor follows on their targets.
func (e *Executor) Async() int { return int(e.async.Load()) }
