package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorun/gorun/agent"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/runs"
	"github.com/gorun/gorun/status"
)

var cancelOpts = append([]*opt{
	{short: "h", long: []string{"help"}, help: "show this help message and exit"},
}, natsOpts...)

// cmdCancel cancels jobs (killing their process group on the target) or a
// run (its dispatcher stops it and cancels its jobs).
func cmdCancel(ctx context.Context, e *env, args []string) int {
	const positional = "JID|RUNID [...]"
	p, err := parseOpts(args, cancelOpts)
	if err != nil {
		return usageFail(e, "cancel", positional, cancelOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("cancel", positional, cancelOpts))
		return 0
	}
	if len(p.args) == 0 {
		return usageFail(e, "cancel", positional, cancelOpts, "expected job ids or run ids")
	}
	be, err := openBackend(ctx, e, p, 0, logger(e, 0))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
	agents := executor.NewAgentPool(poolOf(be), logger(e, 0))
	defer agents.Close()
	code := 0
	for _, id := range p.args {
		var err error
		if isRunID(id) {
			err = cancelRun(ctx, e, be, id)
		} else {
			err = cancelJob(ctx, e, be, agents, id)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "ERROR! cancelling %s: %v\n", id, err)
			code = 1
		}
	}
	return code
}

func cancelRun(ctx context.Context, e *env, be *backend, runID string) error {
	rs, err := be.RunStore(ctx)
	if err != nil {
		return err
	}
	r, err := rs.Modify(ctx, runID, func(r *job.Run) bool {
		if r.State.Terminal() {
			return false
		}
		r.CancelRequested = true
		if r.State == job.RunQueued {
			// its dispatcher, when it gets it, finds it cancelled
			r.State, r.Msg, r.Ended = job.RunCancelled, "cancelled before it started", time.Now().UTC()
		}
		return true
	})
	if errors.Is(err, status.ErrNotFound) {
		return fmt.Errorf("could not find run %s", runID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s %s\n", runID, describeRun(r))
	return nil
}

func describeRun(r *job.Run) string {
	switch {
	case r.State.Terminal():
		return string(r.State)
	case r.CancelRequested:
		return "cancelling"
	}
	return string(r.State)
}

func cancelJob(ctx context.Context, e *env, be *backend, agents *agent.Pool, jid string) error {
	rec, err := runs.CancelJob(ctx, be.Store, jid)
	if errors.Is(err, status.ErrNotFound) {
		return fmt.Errorf("could not find job %s", jid)
	}
	if err != nil {
		return err
	}
	if !rec.State.Terminal() && be.executorGone(ctx, rec.Executor) {
		// nobody follows it: do the executor's part here
		if rec, err = executor.CancelOrphan(ctx, be.Store, agents, jid); err != nil {
			return err
		}
	}
	state := string(rec.State)
	if !rec.State.Terminal() {
		// wait a little for the executor to act
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if r, err := be.Store.WaitTerminal(wctx, jid, nil); err == nil {
			state = string(r.State)
		} else {
			state = "cancelling"
		}
	}
	fmt.Fprintf(e.stdout, "%s %s %s\n", jid, rec.Host, state)
	return nil
}
