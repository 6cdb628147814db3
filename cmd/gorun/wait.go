package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/status"
)

var waitOpts = append([]*opt{
	{long: []string{"timeout"}, arg: "DURATION", help: "give up after DURATION (e.g. 90s, 10m) with exit code 124"},
	{short: "q", long: []string{"quiet"}, help: "do not print a run's output"},
	{short: "h", long: []string{"help"}, help: "show this help message and exit"},
}, natsOpts...)

// isRunID tells run ids from job ids.
func isRunID(id string) bool { return strings.HasPrefix(id, "r") }

// cmdWait waits for jobs (a KV watch: it returns the instant they end) or
// for a run (streaming its output), and exits with their outcome.
func cmdWait(ctx context.Context, e *env, args []string) int {
	const positional = "JID|RUNID [JID ...]"
	p, err := parseOpts(args, waitOpts)
	if err != nil {
		return usageFail(e, "wait", positional, waitOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("wait", positional, waitOpts))
		return 0
	}
	if len(p.args) == 0 {
		return usageFail(e, "wait", positional, waitOpts, "expected job ids or a run id")
	}
	if v := p.str("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usageFail(e, "wait", positional, waitOpts, fmt.Sprintf("argument --timeout: %v", err))
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	// In embedded mode with no other gorun process on the state directory,
	// an in-process executor takes over the jobs earlier processes handed
	// back, so that their end is seen as it happens.
	be, err := openBackend(ctx, e, p, 5, logger(e, 0))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
	if isRunID(p.args[0]) {
		if len(p.args) > 1 {
			return usageFail(e, "wait", positional, waitOpts, "wait takes one run id, or job ids")
		}
		return waitRun(ctx, e, be, p.args[0], p.has("quiet"))
	}
	return waitJobs(ctx, e, be, p.args)
}

func timedOut(ctx context.Context, e *env) int {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintln(e.stderr, "gorun wait: timed out")
		return 124
	}
	fmt.Fprintln(e.stderr, "[ERROR]: User interrupted execution")
	return 99
}

func waitRun(ctx context.Context, e *env, be *backend, runID string, quiet bool) int {
	rs, err := be.RunStore(ctx)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	rq, err := be.Runs(ctx)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if _, err := rs.Get(ctx, runID); err != nil {
		if errors.Is(err, status.ErrNotFound) {
			return fail(e, 1, fmt.Sprintf("ERROR! could not find run %s", runID))
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if !quiet {
		err := rq.FollowLog(ctx, runID, func(chunk []byte, end bool, code int) {
			if !end {
				e.stdout.Write(chunk)
			}
		})
		if err != nil {
			if ctx.Err() != nil {
				return timedOut(ctx, e)
			}
			return fail(e, 1, "ERROR! "+err.Error())
		}
	}
	var final *job.Run
	err = rs.Watch(ctx, runID, func(r *job.Run) bool {
		if r.State.Terminal() {
			final = r
			return false
		}
		return true
	})
	if err != nil {
		if ctx.Err() != nil {
			return timedOut(ctx, e)
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if final.ExitCode != nil {
		return *final.ExitCode
	}
	return 1
}

// waitJobs waits until every job is terminal and prints each as it ends.
// Exit code: 0 all finished, 2 any failed (or timed out, cancelled, lost),
// 4 any unreachable, 1 an unknown job.
func waitJobs(ctx context.Context, e *env, be *backend, jids []string) int {
	var mu sync.Mutex
	code := 0
	var wg sync.WaitGroup
	agents := executor.NewAgentPool(poolOf(be), logger(e, 0))
	defer agents.Close()
	for _, jid := range jids {
		wg.Add(1)
		go func(jid string) {
			defer wg.Done()
			sub, err := be.Store.Subscribe(ctx, jid)
			if err != nil {
				mu.Lock()
				fmt.Fprintf(e.stderr, "ERROR! %v\n", err)
				code = max(code, 1)
				mu.Unlock()
				return
			}
			defer sub.Close()
			seen := false
			orphanCheck := time.NewTicker(2 * time.Second)
			defer orphanCheck.Stop()
			for {
				select {
				case rec := <-sub.C():
					seen = true
					if !rec.State.Terminal() {
						continue
					}
					mu.Lock()
					rc := ""
					if rec.RC != nil {
						rc = fmt.Sprintf(" rc=%d", *rec.RC)
					}
					fmt.Fprintf(e.stdout, "%s %s %s%s\n", rec.JID, rec.Host, rec.State, rc)
					switch rec.State {
					case job.StateFinished:
					case job.StateUnreachable:
						code = max(code, 4)
					default:
						code = max(code, 2)
					}
					mu.Unlock()
					return
				case <-orphanCheck.C:
					if !seen {
						mu.Lock()
						fmt.Fprintf(e.stderr, "ERROR! could not find job %s\n", jid)
						code = max(code, 1)
						mu.Unlock()
						return
					}
					// a job whose executor is gone is checked on its target
					if cur, err := be.Store.Get(ctx, jid); err == nil && !cur.Record.State.Terminal() &&
						cur.Record.Async > 0 && be.executorGone(ctx, cur.Record.Executor) {
						_, _ = executor.Check(ctx, be.Store, agents, jid)
					}
				case <-ctx.Done():
					return
				}
			}
		}(jid)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return timedOut(ctx, e)
	}
	return code
}
