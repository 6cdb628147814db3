package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/status"
)

var jobsOpts = append([]*opt{
	{long: []string{"run"}, arg: "RUNID", help: "only the jobs of this run"},
	{long: []string{"host"}, arg: "HOST", help: "only the jobs on this host"},
	{long: []string{"state"}, arg: "STATE", help: "only jobs in this state (queued, running, finished, failed, timeout, cancelled, unreachable, lost)"},
	{short: "w", long: []string{"watch"}, help: "keep a live view until interrupted: state counts per run and the running jobs (refreshed every second)"},
	{long: []string{"json"}, help: "print the records as JSON"},
	{short: "h", long: []string{"help"}, help: "show this help message and exit"},
}, natsOpts...)

// cmdJobs lists job records.
func cmdJobs(ctx context.Context, e *env, args []string) int {
	p, err := parseOpts(args, jobsOpts)
	if err != nil {
		return usageFail(e, "jobs", "", jobsOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("jobs", "", jobsOpts))
		return 0
	}
	f := status.Filter{RunID: p.str("run"), Host: p.str("host"), State: job.State(p.str("state")), HideErased: true}
	if f.State != "" && !f.State.Valid() {
		return usageFail(e, "jobs", "", jobsOpts, fmt.Sprintf("argument --state: unknown state %q", f.State))
	}
	be, err := openBackend(ctx, e, p, 0, logger(e, 0))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
	if p.has("watch") && !p.has("json") {
		return watchJobs(ctx, e, be.Store, f)
	}
	for {
		recs, err := be.Store.List(ctx, f)
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			return fail(e, 1, "ERROR! "+err.Error())
		}
		if p.has("json") {
			out := make([]*job.Record, len(recs))
			for i, r := range recs {
				out[i] = viewRecord(r)
			}
			b, _ := json.MarshalIndent(out, "", "  ")
			fmt.Fprintln(e.stdout, string(b))
		} else {
			printJobs(e, recs)
		}
		if !p.has("watch") {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Second):
		}
	}
}

func printJobs(e *env, recs []*job.Record) {
	fmt.Fprintf(e.stdout, "%-22s %-26s %-16s %-11s %4s %9s  %s\n", "JID", "RUN", "HOST", "STATE", "RC", "ELAPSED", "TASK")
	for _, r := range recs {
		rc := ""
		if r.RC != nil {
			rc = fmt.Sprint(*r.RC)
		}
		fmt.Fprintf(e.stdout, "%-22s %-26s %-16s %-11s %4s %9s  %s\n", r.JID, r.RunID, r.Host, r.State, rc, elapsed(r), r.Task)
	}
}

func elapsed(r *job.Record) string {
	if r.Started.IsZero() {
		return ""
	}
	end := r.Ended
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(r.Started).Round(100 * time.Millisecond).String()
}
