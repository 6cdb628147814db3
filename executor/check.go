package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorun/gorun/agent"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/status"
)

// Check looks at a running async job on its target and, if it has ended (or
// passed its time limit), records its outcome with compare-and-swap — what
// any process may do for a job whose executor is gone, so that no record
// says "running" for a job that has ended. It returns the record as it now
// stands; records that are terminal, not async, or not yet launched are
// returned unchanged, and so is a no_log job that has ended, whose sealed
// arguments this process cannot read (with an error wrapping
// status.ErrSealed).
func Check(ctx context.Context, st *status.Store, agents *agent.Pool, jid string) (*job.Record, error) {
	e, err := st.Get(ctx, jid)
	if err != nil {
		return nil, err
	}
	rec := e.Record
	if rec.State.Terminal() || rec.Async == 0 || rec.Remote == nil || rec.Remote.PID <= 0 {
		return rec, nil
	}
	if rec.Remote.Collected != "" {
		return checkCollected(ctx, st, agents, e)
	}
	a, err := agents.Get(ctx, rec.Target)
	if err != nil {
		return rec, fmt.Errorf("reaching %s to check job %s: %w", rec.Host, jid, err)
	}
	h := agent.Handle{JID: jid, Dir: rec.Remote.Dir, PID: rec.Remote.PID}
	out, err := a.Collect(ctx, h)
	if err != nil {
		return rec, fmt.Errorf("checking job %s on %s: %w", jid, rec.Host, err)
	}
	alive := true
	if !out.Finished && !out.TimedOut {
		if alive, err = a.Alive(ctx, h); err != nil {
			return rec, fmt.Errorf("checking job %s on %s: %w", jid, rec.Host, err)
		}
		if !alive {
			// it may have ended between the two looks: its exit status is
			// written before its process goes
			if out, err = a.Collect(ctx, h); err != nil {
				return rec, fmt.Errorf("checking job %s on %s: %w", jid, rec.Host, err)
			}
		}
	}
	var state job.State
	var result map[string]any
	switch {
	case out.Finished:
		if rec.Sealed != nil {
			// A no_log job's arguments, which shape its result, are sealed
			// for its run: the result is left to the executor that takes
			// the job's message again (it holds the key), rather than
			// recorded wrong or in clear.
			return rec, fmt.Errorf("job %s on %s has ended: %w; an executor records its result when it takes the job again", jid, rec.Host, status.ErrSealed)
		}
		form, failed, err := module.AsyncOf(&job.Job{ID: jid, Module: rec.Module, Args: rec.Args})
		switch {
		case err != nil:
			result = map[string]any{"failed": true, "changed": false, "msg": err.Error()}
		case failed != nil:
			result = failed
		default:
			result = form.Finish(module.Output{RC: out.RC, Stdout: out.Stdout, Stderr: out.Stderr, Start: out.Start, End: out.End})
		}
		state = job.StateFinished
		if truthy(result["failed"]) {
			state = job.StateFailed
		}
	case out.TimedOut:
		state = job.StateTimeout
		result = map[string]any{"failed": true, "changed": false, "msg": "Timeout exceeded", "child_pid": h.PID}
	default:
		if alive {
			limit := rec.Remote.Launched.Add(time.Duration(rec.Async) * time.Second)
			if rec.Remote.Launched.IsZero() || time.Now().Before(limit) {
				return rec, nil
			}
			if err := a.Kill(ctx, h, killGrace, "timeout"); err != nil {
				return rec, fmt.Errorf("killing timed-out job %s on %s: %w", jid, rec.Host, err)
			}
			state = job.StateTimeout
			result = map[string]any{"failed": true, "changed": false, "msg": "Timeout exceeded", "child_pid": h.PID}
		} else {
			state = job.StateFailed
			result = map[string]any{"failed": true, "changed": false,
				"msg": fmt.Sprintf("async job process %d ended without an exit status", h.PID)}
		}
	}
	rec.Ended = time.Now().UTC()
	rec.SplitResult(result)
	rec.State = state
	if m, _ := result["msg"].(string); m != "" && state != job.StateFinished {
		rec.Msg = m
	}
	if _, err := st.Update(ctx, rec, e.Revision); err != nil {
		if errors.Is(err, status.ErrConflict) {
			// someone else got there first: theirs stands
			if cur, err := st.Get(ctx, jid); err == nil {
				return cur.Record, nil
			}
		}
		return rec, err
	}
	if rec.Poll > 0 && state != job.StateTimeout {
		_ = a.Remove(ctx, h.Dir)
	}
	return rec, nil
}

// checkCollected records the end an executor read from the job's target
// and kept in its record before it was gone (see Remote.Collected), and
// removes the job's directory, as the executor would have.
func checkCollected(ctx context.Context, st *status.Store, agents *agent.Pool, e status.Entry) (*job.Record, error) {
	rec := e.Record
	rec.State = rec.Remote.Collected
	if _, err := st.Update(ctx, rec, e.Revision); err != nil {
		if errors.Is(err, status.ErrConflict) {
			// someone else got there first: theirs stands
			if cur, err := st.Get(ctx, rec.JID); err == nil {
				return cur.Record, nil
			}
		}
		return rec, err
	}
	if a, err := agents.Get(ctx, rec.Target); err == nil {
		_ = a.Remove(ctx, rec.Remote.Dir)
	}
	return rec, nil
}

// CancelOrphan cancels a job whose executor is gone: an async job's process
// group is killed on its target; the record says cancelled.
func CancelOrphan(ctx context.Context, st *status.Store, agents *agent.Pool, jid string) (*job.Record, error) {
	e, err := st.Get(ctx, jid)
	if err != nil {
		return nil, err
	}
	rec := e.Record
	if rec.State.Terminal() {
		return rec, nil
	}
	result := map[string]any{"failed": true, "changed": false, "msg": CancelledMsg}
	if rec.Async > 0 && rec.Remote != nil && rec.Remote.PID > 0 {
		a, err := agents.Get(ctx, rec.Target)
		if err != nil {
			return rec, fmt.Errorf("reaching %s to cancel job %s: %w", rec.Host, jid, err)
		}
		if err := a.Kill(ctx, agent.Handle{JID: jid, Dir: rec.Remote.Dir, PID: rec.Remote.PID}, killGrace, "cancelled"); err != nil {
			return rec, fmt.Errorf("killing job %s on %s: %w", jid, rec.Host, err)
		}
		result["child_pid"] = rec.Remote.PID
	}
	rec.Ended = time.Now().UTC()
	rec.SplitResult(result)
	rec.State, rec.Msg = job.StateCancelled, CancelledMsg
	if _, err := st.Update(ctx, rec, e.Revision); err != nil {
		if errors.Is(err, status.ErrConflict) {
			if cur, err := st.Get(ctx, jid); err == nil {
				return cur.Record, nil
			}
		}
		return rec, err
	}
	return rec, nil
}
