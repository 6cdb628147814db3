package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gorun/gorun/display"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/status"
)

var statusOpts = append([]*opt{
	{long: []string{"json"}, help: "print the record as JSON"},
	{short: "h", long: []string{"help"}, help: "show this help message and exit"},
}, natsOpts...)

func cmdStatus(ctx context.Context, e *env, args []string) int {
	p, err := parseOpts(args, statusOpts)
	if err != nil {
		return usageFail(e, "status", "JID", statusOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("status", "JID", statusOpts))
		return 0
	}
	if len(p.args) != 1 {
		return usageFail(e, "status", "JID|RUNID", statusOpts, "expected exactly one job id or run id")
	}
	jid := p.args[0]
	be, err := openBackend(ctx, e, p, 0, logger(e, 0))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
	if isRunID(jid) {
		return runStatus(ctx, e, be, jid, p.has("json"))
	}
	ent, err := be.Store.Get(ctx, jid)
	if err != nil {
		if errors.Is(err, status.ErrNotFound) {
			return fail(e, 1, fmt.Sprintf("ERROR! could not find job %s", jid))
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	rec := ent.Record
	if !rec.State.Terminal() && rec.Async > 0 && be.executorGone(ctx, rec.Executor) {
		// No executor follows this job any more: look at it on its target.
		agents := executor.NewAgentPool(be.node.Pool, logger(e, 0))
		defer agents.Close()
		if r, err := executor.Check(ctx, be.Store, agents, jid); err == nil {
			rec = r
		} else {
			fmt.Fprintf(e.stderr, "[WARNING]: could not check job %s on %s: %v\n", jid, rec.Host, err)
		}
	}
	if p.has("json") {
		b, _ := json.MarshalIndent(viewRecord(rec), "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return 0
	}
	printRecord(e, rec)
	return 0
}

// viewRecord is a record as shown to people: no_log results censored
// (they are in the bucket already, their values sealed; the sealed blob is
// left out too).
func viewRecord(r *job.Record) *job.Record {
	if !r.NoLog {
		return r
	}
	c := *r
	c.Stdout, c.Stderr, c.Args, c.Sealed = "", "", nil, nil
	c.Result = map[string]any{"censored": display.Censored}
	if c.Msg != "" {
		c.Msg = display.Censored
	}
	return &c
}

func printRecord(e *env, r *job.Record) {
	r = viewRecord(r)
	row := func(k string, v any) { fmt.Fprintf(e.stdout, "%-10s %v\n", k+":", v) }
	row("jid", r.JID)
	row("run", r.RunID)
	row("host", r.Host)
	row("task", r.Task)
	row("module", r.Module)
	row("state", r.State)
	if r.RC != nil {
		row("rc", *r.RC)
	}
	if r.Async > 0 {
		row("async", fmt.Sprintf("%ds (poll %ds)", r.Async, r.Poll))
	}
	if r.Executor != "" {
		row("executor", r.Executor)
	}
	if r.Remote != nil {
		row("pid", r.Remote.PID)
		row("job dir", r.Remote.Dir)
	}
	row("queued", r.Queued.Local().Format(time.RFC3339))
	if !r.Started.IsZero() {
		row("started", r.Started.Local().Format(time.RFC3339))
	}
	if !r.Ended.IsZero() {
		row("ended", r.Ended.Local().Format(time.RFC3339))
		if !r.Started.IsZero() {
			row("duration", r.Ended.Sub(r.Started).Round(time.Millisecond))
		}
	}
	if r.Msg != "" {
		row("msg", r.Msg)
	}
	if r.Stdout != "" {
		fmt.Fprintf(e.stdout, "stdout:\n%s\n", r.Stdout)
	}
	if r.Stderr != "" {
		fmt.Fprintf(e.stdout, "stderr:\n%s\n", r.Stderr)
	}
}

func runStatus(ctx context.Context, e *env, be *backend, runID string, asJSON bool) int {
	rs, err := be.RunStore(ctx)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	ent, err := rs.Get(ctx, runID)
	if err != nil {
		if errors.Is(err, status.ErrNotFound) {
			return fail(e, 1, fmt.Sprintf("ERROR! could not find run %s", runID))
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	r := ent.Run
	if asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return 0
	}
	row := func(k string, v any) { fmt.Fprintf(e.stdout, "%-11s %v\n", k+":", v) }
	row("run", r.RunID)
	row("state", describeRun(r))
	if r.ExitCode != nil {
		row("exit code", *r.ExitCode)
	}
	row("playbooks", strings.Join(r.Playbooks, " "))
	if r.Submitter != "" {
		row("submitter", r.Submitter)
	}
	if r.Dispatcher != "" {
		row("dispatcher", fmt.Sprintf("%s (attempt %d)", r.Dispatcher, r.Attempt))
	}
	row("submitted", r.Submitted.Local().Format(time.RFC3339))
	if !r.Started.IsZero() {
		row("started", r.Started.Local().Format(time.RFC3339))
	}
	if !r.Ended.IsZero() {
		row("ended", r.Ended.Local().Format(time.RFC3339))
	}
	if r.Msg != "" {
		row("msg", r.Msg)
	}
	if len(r.Recap) > 0 {
		hosts := make([]string, 0, len(r.Recap))
		for h := range r.Recap {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts)
		fmt.Fprintln(e.stdout, "recap:")
		for _, h := range hosts {
			s := r.Recap[h]
			fmt.Fprintf(e.stdout, "  %-26s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d rescued=%-4d ignored=%-4d\n",
				h, s.OK, s.Changed, s.Unreachable, s.Failed, s.Skipped, s.Rescued, s.Ignored)
		}
	}
	return 0
}
