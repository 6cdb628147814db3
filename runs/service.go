package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/display"
	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// ServiceConfig configures the dispatcher service. Zero values take the
// documented defaults.
type ServiceConfig struct {
	// ID names this dispatcher in run records; default <hostname>-<pid>.
	ID string
	// Concurrency is how many runs it runs at once; default 4.
	Concurrency int
	// WorkDir is where bundles are unpacked; default the system temp dir.
	WorkDir string
	// Logger receives the service's logs.
	Logger *slog.Logger
	// Metrics, if set, counts runs and published tasks (see docs/metrics.md).
	Metrics *metrics.Dispatcher
}

// Service takes submitted runs from the queue and runs them.
type Service struct {
	cfg  ServiceConfig
	runs *queue.Runs
	q    *queue.Queue
	st   *status.Store
	rs   *status.RunStore
	log  *slog.Logger

	puller   *queue.RunPuller
	wg       sync.WaitGroup
	stopping chan struct{}
	hardCtx  context.Context
	hardStop context.CancelFunc
	once     sync.Once
	active   sync.Map // run id → struct{}
}

// NewService returns a dispatcher service; Start starts it.
func NewService(cfg ServiceConfig, runs *queue.Runs, q *queue.Queue, st *status.Store, rs *status.RunStore) (*Service, error) {
	if cfg.ID == "" {
		h, _ := os.Hostname()
		cfg.ID = h + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	if cfg.Concurrency < 1 {
		return nil, fmt.Errorf("dispatcher service: concurrency must be at least 1, got %d", cfg.Concurrency)
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, runs: runs, q: q, st: st, rs: rs, log: cfg.Logger.With("dispatcher", cfg.ID),
		stopping: make(chan struct{}), hardCtx: ctx, hardStop: cancel}, nil
}

// Start starts pulling runs.
func (s *Service) Start(ctx context.Context) error {
	p, err := s.runs.Puller()
	if err != nil {
		return err
	}
	s.puller = p
	for i := 0; i < s.cfg.Concurrency; i++ {
		s.wg.Add(1)
		go s.worker()
	}
	s.log.Info("dispatcher started", "concurrency", s.cfg.Concurrency)
	return nil
}

// Active returns how many runs are in progress.
func (s *Service) Active() int {
	n := 0
	s.active.Range(func(any, any) bool { n++; return true })
	return n
}

// Stop stops in two phases: no new runs, running ones go on until they end
// or ctx ends; then they are handed back (another dispatcher resumes them;
// their jobs keep running) and Stop waits for the workers.
func (s *Service) Stop(ctx context.Context) error {
	s.once.Do(func() {
		if s.puller != nil {
			s.puller.Stop()
		}
		close(s.stopping)
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.log.Warn("stop timed out; handing running runs back", "active", s.Active())
		s.hardStop()
		<-done
		return fmt.Errorf("dispatcher %s: soft stop: %w", s.cfg.ID, ctx.Err())
	}
}

func (s *Service) worker() {
	defer s.wg.Done()
	for {
		d, err := s.puller.Next(s.hardCtx)
		if err != nil {
			if errors.Is(err, queue.ErrClosed) || s.hardCtx.Err() != nil {
				return
			}
			s.log.Warn("pull failed", "err", err)
			select {
			case <-s.hardCtx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		lr := &liveRun{d: d}
		if v, running := s.active.LoadOrStore(d.RunID, lr); running {
			// A newer delivery of a run this dispatcher is running (its
			// heartbeats were lost for a while): the running execution
			// goes on, holding the newer delivery from now on.
			v.(*liveRun).swap(d)
			s.log.Info("a newer delivery of a run running here; the running execution takes it", "run_id", d.RunID, "delivery", d.NumDelivered)
			continue
		}
		s.handle(lr)
		s.active.Delete(d.RunID)
	}
}

// errHandBack ends a run that this dispatcher gives up (its stop timed
// out): the run is handed back, not marked done.
var errHandBack = errors.New("handed back")

// liveRun is a run this dispatcher is running, and the delivery of its
// message it holds (heartbeats, ack).
type liveRun struct {
	mu sync.Mutex
	d  *queue.RunDelivery
}

func (l *liveRun) swap(d *queue.RunDelivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = d
}

func (l *liveRun) delivery() *queue.RunDelivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d
}

func (s *Service) handle(lr *liveRun) {
	d := lr.d
	log := s.log.With("run_id", d.RunID, "delivery", d.NumDelivered)
	ctx := s.hardCtx
	spec, err := DecodeSpec(d.Spec)
	if err != nil {
		log.Error("dropping an undecodable run", "err", err)
		_ = d.Ack(ctx)
		return
	}
	// claim the run
	var attempt int
	start := true
	if _, err := s.rs.Modify(ctx, spec.RunID, func(r *job.Run) bool {
		if r.State.Terminal() {
			start = false
			return false
		}
		if r.CancelRequested {
			r.State, r.Msg, r.Ended = job.RunCancelled, "cancelled before it started", time.Now().UTC()
			start = false
			return true
		}
		r.State, r.Dispatcher = job.RunRunning, s.cfg.ID
		r.Attempt++
		attempt = r.Attempt
		if r.Started.IsZero() {
			r.Started = time.Now().UTC()
		}
		return true
	}); err != nil {
		if errors.Is(err, status.ErrNotFound) {
			// the CLI creates the record first; recreate it so the outcome is kept
			_ = s.rs.Create(ctx, &job.Run{RunID: spec.RunID, State: job.RunQueued, Playbooks: spec.Playbooks,
				Submitter: spec.Submitter, Submitted: spec.Submitted})
		}
		log.Warn("claiming run", "err", err)
		_ = d.Nak(time.Second)
		return
	}
	if !start {
		_ = d.Ack(ctx)
		return
	}
	if attempt > 1 {
		log.Info("resuming a run another dispatcher had started", "attempt", attempt)
	}
	s.cfg.Metrics.RunStarted()
	result := ""
	defer func() { s.cfg.Metrics.RunEnded(result) }()

	stopBeat := s.heartbeat(lr)
	defer stopBeat()
	lw := s.runs.LogWriter(spec.RunID, attempt)
	code, msg, err := s.execute(ctx, spec, attempt, lw, log)
	if errors.Is(err, errHandBack) {
		log.Info("handing the run back on stop")
		_ = lr.delivery().Nak(queue.HandBackDelay)
		return
	}
	state := job.RunFinished
	result = "ok"
	switch {
	case errors.Is(err, errCancelled):
		state, code, result = job.RunCancelled, 99, "cancelled"
	case err != nil:
		state, result = job.RunFailed, "error"
		if msg == "" {
			msg = err.Error()
		}
	case code != 0:
		result = "failed"
	}
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = lw.End(fctx, code)
	if _, err := s.rs.Modify(fctx, spec.RunID, func(r *job.Run) bool {
		r.State, r.Msg, r.Ended = state, msg, time.Now().UTC()
		c := code
		r.ExitCode = &c
		return true
	}); err != nil {
		log.Error("recording the run's end", "err", err)
	}
	if err := lr.delivery().Ack(fctx); err != nil {
		log.Warn("acking run", "err", err)
	}
	log.Info("run ended", "state", state, "exit_code", code)
}

// errCancelled ends a run cancelled on request.
var errCancelled = errors.New("cancelled")

// execute unpacks and runs a run; it returns the exit code and, for runs
// that could not run, a message.
func (s *Service) execute(ctx context.Context, spec *Spec, attempt int, lw *queue.LogWriter, log *slog.Logger) (int, string, error) {
	out := display.NewDefault(lw, lw, display.Options{Verbosity: spec.Options.Verbosity})
	flushCtx, stopFlush := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-flushCtx.Done():
				return
			case <-t.C:
				if err := lw.Flush(flushCtx); err != nil && flushCtx.Err() == nil {
					log.Warn("publishing run output", "err", err)
				}
			}
		}
	}()
	defer func() { stopFlush(); <-flushed }()
	if attempt > 1 {
		fmt.Fprintf(lw, "\n[gorun: resumed by dispatcher %s (attempt %d); finished jobs are not run again]\n", s.cfg.ID, attempt)
	}

	root, err := os.MkdirTemp(s.cfg.WorkDir, "gorun-run-")
	if err != nil {
		return 1, "", err
	}
	defer os.RemoveAll(root)
	data, err := s.runs.Bundle(ctx, spec.RunID)
	if err != nil {
		return 1, "", err
	}
	if err := Unpack(data, root); err != nil {
		return 1, "", err
	}
	var sources []string
	for _, src := range spec.Inventory {
		sources = append(sources, Rebase(root, src))
	}
	inv, err := inventory.Load(sources)
	if err != nil {
		msg := "ERROR! " + strings.ReplaceAll(err.Error(), root, "")
		fmt.Fprintln(lw, msg)
		return 1, msg, err
	}
	for _, w := range inv.Warnings() {
		out.Warning(w)
	}
	if inv.Implicit() {
		out.Warning("No inventory was parsed, only implicit localhost is available")
		out.Warning("provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'")
	}
	var books []*playbook.Playbook
	for _, p := range spec.Playbooks {
		pb, err := playbook.Load(Rebase(root, p), module.Known)
		if err != nil {
			code := 1
			text := "ERROR! " + err.Error()
			var pe *playbook.ParseError
			if errors.As(err, &pe) {
				code, text = pe.ExitCode(), pe.Ansible()
			}
			text = strings.ReplaceAll(text, root, "")
			fmt.Fprintln(lw, text)
			return code, firstLine(text), err
		}
		for _, w := range pb.Warnings {
			out.Warning(w)
		}
		if err := inv.AddVarsDir(pb.Dir); err != nil {
			return 1, "", err
		}
		books = append(books, pb)
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	cancelled := make(chan struct{})
	go func() {
		// follow the run record for a cancel request
		_ = s.rs.Watch(runCtx, spec.RunID, func(r *job.Run) bool {
			if r.CancelRequested {
				close(cancelled)
				cancelRun()
				return false
			}
			return true
		})
	}()
	cfg := spec.Options.Config(spec.RunID)
	cfg.SealKey = spec.SealKey // none (an older submitter): a fresh one, for this attempt only
	cfg.Logger = log
	cfg.SourceRoot = root
	runner, err := dispatcher.New(cfg, countingPublisher{s.q, s.cfg.Metrics}, s.st, inv, out)
	if err != nil {
		fmt.Fprintln(lw, "ERROR! "+err.Error())
		return 1, err.Error(), err
	}
	recap, err := runner.Run(runCtx, books)
	select {
	case <-cancelled:
		s.cancelJobs(spec.RunID, log)
		fmt.Fprintln(lw, "[ERROR]: run cancelled")
		return 99, "cancelled on request", errCancelled
	default:
	}
	if s.hardCtx.Err() != nil {
		return 0, "", errHandBack
	}
	if err != nil {
		fmt.Fprintln(lw, "ERROR! "+err.Error())
		return 1, err.Error(), err
	}
	stats := map[string]job.HostStats{}
	for h, st := range recap.Stats {
		stats[h] = job.HostStats{OK: st.OK, Changed: st.Changed, Unreachable: st.Unreachable, Failed: st.Failed,
			Skipped: st.Skipped, Rescued: st.Rescued, Ignored: st.Ignored}
	}
	code := recap.ExitCode()
	if _, err := s.rs.Modify(context.WithoutCancel(ctx), spec.RunID, func(r *job.Run) bool {
		r.Recap = stats
		return true
	}); err != nil {
		log.Warn("recording the recap", "err", err)
	}
	return code, "", nil
}

// cancelJobs asks the executors to stop every job of a run that is still
// going.
func (s *Service) cancelJobs(runID string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := s.st.List(ctx, status.Filter{RunID: runID})
	if err != nil {
		log.Warn("listing the run's jobs to cancel them", "err", err)
		return
	}
	for _, rec := range recs {
		if rec.State.Terminal() {
			continue
		}
		if _, err := CancelJob(ctx, s.st, rec.JID); err != nil {
			log.Warn("cancelling job", "jid", rec.JID, "err", err)
		}
	}
}

// CancelJob cancels a job: a queued one is recorded cancelled at once (its
// executor will skip it); a running one is asked to stop (its executor kills
// it and records it cancelled). It returns the record as it now stands.
func CancelJob(ctx context.Context, st *status.Store, jid string) (*job.Record, error) {
	e, err := st.Modify(ctx, jid, func(r *job.Record) bool {
		switch {
		case r.State.Terminal():
			return false
		case r.State == job.StateQueued:
			r.State, r.Msg, r.Ended = job.StateCancelled, "cancelled before it started", time.Now().UTC()
			r.Result = map[string]any{"failed": true, "changed": false, "msg": r.Msg}
		default:
			if r.CancelRequested {
				return false
			}
			r.CancelRequested = true
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return e.Record, nil
}

func (s *Service) heartbeat(lr *liveRun) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.runs.Config().AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = lr.delivery().InProgress()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// countingPublisher counts the job messages a run publishes.
type countingPublisher struct {
	q *queue.Queue
	m *metrics.Dispatcher
}

func (p countingPublisher) Publish(ctx context.Context, j *job.Job) error {
	if err := p.q.Publish(ctx, j); err != nil {
		return err
	}
	p.m.Published()
	return nil
}
