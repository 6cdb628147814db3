package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gorun/gorun/agent"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// killGrace is how long a killed async job has between SIGTERM and SIGKILL.
const killGrace = 2 * time.Second

// runAsync launches (or re-attaches to) an async job and hands it to a
// monitor goroutine, so the fork is free again as soon as the job runs on
// its target. It returns false when the job ended at once (the caller then
// records the result and acks).
func (e *Executor) runAsync(ctx context.Context, d *queue.Delivery, entry status.Entry, lease *status.Lease, log *slog.Logger) {
	j := &d.Job
	rec := entry.Record
	handedOff := false
	if lease != nil {
		// the lease goes with the monitor; released here if the job ends
		// without one
		defer func() {
			if !handedOff {
				release(lease, log)
			}
		}()
	}
	// one monitor per job in this executor: a newer delivery of the job
	// takes over from an older one still following it here
	superseded, unfollow := e.follow(j.ID)
	defer func() {
		if !handedOff {
			unfollow()
		}
	}()
	form, failed, err := module.AsyncOf(j)
	if err != nil {
		e.finishNow(ctx, d, rec, map[string]any{"failed": true, "changed": false, "msg": err.Error()}, nil, log)
		return
	}
	if failed != nil {
		e.finishNow(ctx, d, rec, failed, nil, log)
		return
	}
	if rec.Remote != nil && rec.Remote.Collected != "" {
		e.finishCollected(ctx, d, rec, entry.Revision, log)
		return
	}
	a, err := e.agents.Get(ctx, j.Target)
	if err != nil {
		e.finishNow(ctx, d, rec, nil, err, log)
		return
	}
	var h agent.Handle
	reattach := false
	// rev is the record's revision as rec holds it, while known (0: read
	// it before writing)
	rev := entry.Revision
	if rec.Remote != nil && rec.Remote.PID > 0 {
		h = agent.Handle{JID: j.ID, Dir: rec.Remote.Dir, PID: rec.Remote.PID}
		reattach = true
	} else if d.NumDelivered > 1 {
		// A previous executor may have launched it and died before saying so.
		ph, pid, err := a.Probe(ctx, j.ID, j.AsyncDir)
		if err != nil {
			log.Warn("probing for an earlier launch", "err", err)
			e.handBack(d, log)
			return
		}
		if pid > 0 {
			h, reattach = ph, true
		}
	}
	if reattach {
		log.Info("re-attaching to a running async job", "pid", h.PID, "dir", h.Dir)
		if err := a.Follow(ctx, h); err != nil {
			log.Warn("re-attaching", "err", err)
			e.handBack(d, log)
			return
		}
		e.cfg.Metrics.Reattached()
		if rec.Remote == nil || rec.Remote.PID != h.PID {
			if _, r, err := e.setRemote(ctx, j.ID, rec, rev, h, time.Now().UTC(), log); err == nil {
				rev = r
			} else {
				rev = 0
			}
		}
	} else {
		if form.Precheck != nil {
			conn, err := e.conns.Get(ctx, j.Target)
			if err != nil {
				e.finishNow(ctx, d, rec, nil, err, log)
				return
			}
			res, err := form.Precheck(ctx, conn)
			if err != nil || res != nil {
				e.finishNow(ctx, d, rec, res, err, log)
				return
			}
		}
		h, err = a.Launch(ctx, agent.Spec{JID: j.ID, Dir: j.AsyncDir, Script: form.Script, Portable: form.Portable, Stdin: form.Stdin, Limit: j.Async})
		if err != nil {
			var le *agent.LaunchError
			if errors.As(err, &le) {
				res := map[string]any{"failed": 1, "changed": true, "msg": le.Msg}
				if le.Exception != "" {
					res["exception"] = le.Exception
				}
				e.finishNow(ctx, d, rec, res, nil, log)
				return
			}
			log.Warn("launching async job", "err", err)
			e.handBack(d, log)
			return
		}
		log.Debug("async job launched", "pid", h.PID, "dir", h.Dir)
		set, r, err := e.setRemote(ctx, j.ID, rec, rev, h, time.Now().UTC(), log)
		rev = r
		switch {
		case err != nil:
			// The job runs on: whoever takes its message next finds it
			// through its directory.
			a.Forget(j.ID)
			e.handBack(d, log)
			return
		case set == remoteEnded:
			// The record ended meanwhile (cancelled): kill what we started.
			_ = a.Kill(ctx, h, killGrace, "cancelled")
			e.ack(ctx, d, log)
			return
		case set == remoteNewer:
			// A newer delivery took the job over meanwhile: it follows the
			// job through its directory, and its message is its own.
			log.Info("a newer delivery took the job over while it was launched; leaving it to that one")
			a.Forget(j.ID)
			return
		}
	}
	e.monitors.Add(1)
	e.async.Add(1)
	handedOff = true
	releaseKey := e.useSealKey(j, log) // the monitor writes the job's end
	go func() {
		defer releaseKey()
		defer e.monitors.Done()
		defer e.async.Add(-1)
		defer unfollow()
		e.monitor(d, rec, rev, form, h, lease, superseded, log)
	}()
}

func release(lease *status.Lease, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		log.Warn("releasing lock", "err", err)
	}
}

// remoteSet says how setRemote went.
type remoteSet int

const (
	remoteRecorded remoteSet = iota // the handle is in the record
	remoteEnded                     // the record is terminal (cancelled)
	remoteNewer                     // another delivery claimed the job
)

// setRemote records the job's handle on its target, unless the record is
// no longer this delivery's (ended, or claimed by another); an error if it
// could not be written. rec is the record at revision rev (0: unknown):
// written over without reading it first, unless it changed since (a
// cancel request, a newer delivery), which the compare-and-swap tells.
// The revision returned is rec's once recorded.
func (e *Executor) setRemote(ctx context.Context, jid string, rec *job.Record, rev uint64, h agent.Handle, launched time.Time, log *slog.Logger) (remoteSet, uint64, error) {
	if rev > 0 && rec.Remote == nil {
		r := *rec
		r.Remote = remoteOf(h, launched)
		nrev, err := e.st.Update(ctx, &r, rev)
		if err == nil {
			*rec = r
			return remoteRecorded, nrev, nil
		}
		if !errors.Is(err, status.ErrConflict) {
			log.Warn("recording the job's handle", "err", err)
			return remoteRecorded, 0, err
		}
	}
	set := remoteRecorded
	ent, err := e.st.Modify(ctx, jid, func(cur *job.Record) bool {
		switch {
		case cur.State.Terminal():
			set = remoteEnded
			return false
		case cur.State != job.StateRunning || cur.Executor != e.cfg.ID || cur.Attempt != rec.Attempt:
			set = remoteNewer
			return false
		}
		set = remoteRecorded
		if cur.Remote != nil && cur.Remote.PID == h.PID && !cur.Remote.Launched.IsZero() {
			launched = cur.Remote.Launched
		}
		cur.Remote = remoteOf(h, launched)
		*rec = *cur
		return true
	})
	if err != nil {
		log.Warn("recording the job's handle", "err", err)
		return set, 0, err
	}
	if set != remoteRecorded {
		return set, 0, nil
	}
	return set, ent.Revision, nil
}

// remoteOf is the record's handle of a job launched (at launched) as h.
func remoteOf(h agent.Handle, launched time.Time) *job.Remote {
	return &job.Remote{Dir: h.Dir, PID: h.PID, ResultsFile: h.Dir, Launched: launched}
}

// monitor follows a launched async job until it ends, kills it at its time
// limit, records the outcome and acks the message. On a stop it hands the
// message back so that another executor re-attaches.
func (e *Executor) monitor(d *queue.Delivery, rec *job.Record, rev uint64, form *module.Async, h agent.Handle, lease *status.Lease, superseded <-chan struct{}, log *slog.Logger) {
	j := &d.Job
	// The lease is released when the job ends here, and abandoned (left to
	// expire, or to be taken over by the executor that re-attaches) when
	// the job is handed back.
	handedBack := false
	giveBack := func(now bool) {
		handedBack = true
		if now {
			e.handBackNow(d, log)
		} else {
			e.handBack(d, log)
		}
	}
	if lease != nil {
		defer func() {
			if handedBack {
				lease.Abandon()
			} else {
				release(lease, log)
			}
		}()
	}
	stopBeat := e.heartbeat(d)
	defer stopBeat()
	launched := time.Now()
	if rec.Remote != nil && !rec.Remote.Launched.IsZero() {
		launched = rec.Remote.Launched
	}
	var limit <-chan time.Time
	if j.Async > 0 {
		t := time.NewTimer(time.Until(launched.Add(time.Duration(j.Async) * time.Second)))
		defer t.Stop()
		limit = t.C
	}
	ctx := e.jobCtx
	cancelReq, stopWatch := e.watchCancel(j.ID, rec)
	defer stopWatch()
	for {
		a, err := e.agents.Get(ctx, j.Target)
		if err != nil {
			if ctx.Err() != nil {
				giveBack(false)
				return
			}
			log.Warn("agent unavailable; retrying", "err", err)
			select {
			case <-time.After(time.Second):
				continue
			case <-e.stopping:
				giveBack(false)
				return
			case <-ctx.Done():
				giveBack(false)
				return
			}
		}
		wctx, cancel := context.WithCancel(ctx)
		type waited struct {
			o   agent.Outcome
			err error
		}
		wc := make(chan waited, 1)
		go func() {
			o, err := a.Wait(wctx, j.ID)
			wc <- waited{o, err}
		}()
		select {
		case w := <-wc:
			cancel()
			if errors.Is(w.err, agent.ErrLost) {
				// The session died (connection lost); the job goes on: follow
				// it again through a new agent.
				if ctx.Err() != nil {
					giveBack(false)
					return
				}
				na, err := e.agents.Get(ctx, j.Target)
				if err == nil {
					err = na.Follow(ctx, h)
				}
				if err != nil {
					log.Warn("re-following after a lost agent", "err", err)
				}
				continue
			}
			if w.err != nil {
				giveBack(false)
				return
			}
			log.Debug("async job ended", "kind", w.o.Kind, "rc", w.o.RC)
			if !e.complete(d, rec, rev, form, h, a, w.o, log) {
				// the end is kept for the newer follower otherwise
				a.Forget(j.ID)
			}
			return
		case <-limit:
			cancel()
			a.Forget(j.ID)
			e.timeout(d, rec, h, a, log)
			return
		case <-cancelReq:
			cancel()
			a.Forget(j.ID)
			log.Info("async job cancelled on request", "jid", j.ID)
			if err := a.Kill(ctx, h, killGrace, "cancelled"); err != nil {
				log.Warn("killing cancelled job", "err", err)
			}
			e.recordEnd(d, rec, job.StateCancelled,
				map[string]any{"failed": true, "changed": false, "msg": CancelledMsg, "child_pid": h.PID}, log)
			return
		case <-superseded:
			cancel()
			log.Info("a newer delivery of this job follows it in this executor; leaving it to that one")
			handedBack = true // the lease goes with the job
			return
		case <-e.stopping:
			cancel()
			a.Forget(j.ID)
			log.Info("handing a running async job back on stop", "jid", j.ID)
			giveBack(true)
			return
		case <-ctx.Done():
			cancel()
			giveBack(true)
			return
		}
	}
}

// complete records how an async job ended; newer says a newer delivery
// owns the job (nothing was recorded or acked).
func (e *Executor) complete(d *queue.Delivery, rec *job.Record, rev uint64, form *module.Async, h agent.Handle, a *agent.Agent, o agent.Outcome, log *slog.Logger) (newer bool) {
	ctx := e.jobCtx
	j := &d.Job
	// The record as this delivery last wrote it (at rev), or as it is now:
	// still this delivery's, it is written at that revision without
	// reading it again; should it have changed since (a cancel request, a
	// newer delivery), the compare-and-swap fails and recordEnd decides.
	var cur status.Entry
	mine := true
	if rev > 0 {
		r := *rec
		if r.Remote != nil {
			rm := *r.Remote
			r.Remote = &rm
		}
		cur = status.Entry{Record: &r, Revision: rev}
	} else {
		cur, mine = e.owned(ctx, j.ID, rec.Attempt)
	}
	var out agent.Output
	if o.Output != nil {
		out = *o.Output // no output: told with the end, nothing to collect
	} else {
		var err error
		if out, err = a.Collect(ctx, h); err != nil {
			log.Warn("collecting async job output", "err", err)
			e.handBack(d, log)
			return false
		}
	}
	var result map[string]any
	state := job.StateFinished
	switch {
	case out.Finished:
		result = form.Finish(module.Output{RC: out.RC, Stdout: out.Stdout, Stderr: out.Stderr, Start: out.Start, End: out.End})
		if truthy(result["failed"]) {
			state = job.StateFailed
		}
	case out.TimedOut || o.Kind == agent.Timeout:
		state = job.StateTimeout
		result = map[string]any{"failed": true, "changed": false, "msg": "Timeout exceeded", "child_pid": h.PID}
	default:
		state = job.StateFailed
		result = map[string]any{"failed": true, "changed": false,
			"msg": fmt.Sprintf("async job process %d ended without an exit status", h.PID)}
	}
	if mine && j.Poll > 0 && o.Kind != agent.Timeout && cur.Record.Remote != nil {
		// A polled job's files go before the job is reported, as Ansible
		// removes its results file when the poll ends: the next task may
		// look for them. Its end is kept in the record first, so that an
		// executor taking the job over, should this one die before the
		// end is written, finds it there rather than a job gone without a
		// trace (see finishCollected).
		for read := rev == 0; ; read = true {
			r := cur.Record
			terminal(r, state, result)
			r.State, r.Remote.Collected = job.StateRunning, state
			nrev, err := e.st.Update(ctx, r, cur.Revision)
			if err == nil {
				if err := a.Remove(ctx, h.Dir); err != nil {
					log.Debug("removing job directory", "err", err)
				}
				cur = status.Entry{Record: r, Revision: nrev}
				break
			}
			if !read && errors.Is(err, status.ErrConflict) {
				// changed since this delivery wrote it (a cancel request,
				// say): read it as it is now
				if cur, mine = e.owned(ctx, j.ID, rec.Attempt); mine && cur.Record.Remote != nil {
					continue
				}
			}
			mine = false // changed since: decided below
			break
		}
	}
	if mine {
		r := cur.Record
		terminal(r, state, result)
		if _, err := e.st.Update(ctx, r, cur.Revision); err == nil {
			*rec = *r
			e.cfg.Metrics.Finished(r)
			e.ack(ctx, d, log)
			return false
		}
		// changed since (a cancel request, a newer delivery): decided below
	}
	return e.recordEnd(d, rec, state, result, log)
}

// finishCollected records the end of a job that an executor read from its
// target and kept in the record, then died before the record was terminal:
// the job's directory is removed (again: a target that cannot be reached
// keeps it), and the end kept is recorded.
func (e *Executor) finishCollected(ctx context.Context, d *queue.Delivery, rec *job.Record, rev uint64, log *slog.Logger) {
	log.Info("recording the end an earlier executor collected", "state", rec.Remote.Collected)
	a, err := e.agents.Get(ctx, d.Job.Target)
	if err == nil {
		err = a.Remove(ctx, rec.Remote.Dir)
	}
	if err != nil {
		log.Warn("removing the job directory", "dir", rec.Remote.Dir, "err", err)
	}
	rec.State = rec.Remote.Collected
	e.settle(ctx, d, rec, rev, log)
}

// owned returns the job's record when it is still this delivery's: not
// terminal, claimed by this executor at this attempt.
func (e *Executor) owned(ctx context.Context, jid string, attempt int) (status.Entry, bool) {
	ent, err := e.st.Get(ctx, jid)
	if err != nil {
		return status.Entry{}, false
	}
	r := ent.Record
	return ent, !r.State.Terminal() && r.Executor == e.cfg.ID && r.Attempt == attempt
}

// timeout kills an async job at its limit and records it.
func (e *Executor) timeout(d *queue.Delivery, rec *job.Record, h agent.Handle, a *agent.Agent, log *slog.Logger) {
	ctx := e.jobCtx
	if err := a.Kill(ctx, h, killGrace, "timeout"); err != nil {
		log.Warn("killing timed-out job", "err", err)
	}
	e.recordEnd(d, rec, job.StateTimeout,
		map[string]any{"failed": true, "changed": false, "msg": "Timeout exceeded", "child_pid": h.PID}, log)
}

// recordEnd writes an async job's terminal state unless the record moved
// on, then settles its message: acked once the record is terminal (by this
// write, or a cancel's before it); left to a newer delivery that claimed
// the job (newer), whose holder acks it; handed back when the write failed
// (a NATS node lost, say), so that whoever takes the job next records its
// end rather than the record staying running with no message left.
func (e *Executor) recordEnd(d *queue.Delivery, rec *job.Record, state job.State, result map[string]any, log *slog.Logger) (newer bool) {
	ctx := e.jobCtx
	_, newer, err := e.writeTerminal(ctx, d.Job.ID, rec.Attempt, func(cur *job.Record) {
		terminal(cur, state, result)
		*rec = *cur
	})
	switch {
	case err != nil:
		log.Error("recording async result; handing the job back", "err", err)
		e.handBack(d, log)
	case !newer:
		e.ack(ctx, d, log)
	}
	return newer
}

// terminal makes r the record of a job ended in state with result.
func terminal(r *job.Record, state job.State, result map[string]any) {
	r.Ended = time.Now().UTC()
	r.SplitResult(result)
	r.State = state
	if m, _ := result["msg"].(string); m != "" && state != job.StateFinished {
		r.Msg = m
	}
}

// finishNow records a result reached without a launch (or a run error).
func (e *Executor) finishNow(ctx context.Context, d *queue.Delivery, rec *job.Record, result map[string]any, runErr error, log *slog.Logger) {
	finish(rec, result, runErr)
	e.settle(ctx, d, rec, 0, log)
}

// settle writes rec, a terminal record of this delivery, then acks the
// job; at rev, when the record's revision is known (rev > 0), it is
// written without reading it first, unless it changed since. On a write
// error the job is handed back; when a newer delivery owns the job, its
// message is left to it.
func (e *Executor) settle(ctx context.Context, d *queue.Delivery, rec *job.Record, rev uint64, log *slog.Logger) {
	err := status.ErrConflict
	if rev > 0 {
		if _, err = e.st.Update(ctx, rec, rev); err == nil {
			e.cfg.Metrics.Finished(rec)
		}
	}
	newer := false
	if errors.Is(err, status.ErrConflict) {
		_, newer, err = e.writeTerminal(ctx, d.Job.ID, rec.Attempt, func(cur *job.Record) { *cur = *rec })
	}
	if newer {
		return
	}
	if err != nil {
		log.Error("recording result", "err", err)
		e.handBack(d, log)
		return
	}
	log.Debug("job done", "state", rec.State)
	e.ack(ctx, d, log)
}

// handBackNow hands a job back on stop, for another executor (or a later
// process) to re-attach to.
func (e *Executor) handBackNow(d *queue.Delivery, log *slog.Logger) {
	if err := d.Nak(queue.HandBackDelay); err != nil {
		log.Warn("nak failed; the job will be redelivered after the ack wait", "err", err)
	}
}
