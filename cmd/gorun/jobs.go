package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/status"
)

var jobsOpts = append([]*opt{
	{long: []string{"run"}, arg: "RUNID", help: "only the jobs of this run"},
	{long: []string{"host"}, arg: "HOST", help: "only the jobs on this host"},
	{long: []string{"state"}, arg: "STATE", help: "only jobs in this state (queued, running, finished, failed, timeout, cancelled, unreachable, lost)"},
	{short: "w", long: []string{"watch"}, help: "keep a live table (refreshed every second) until interrupted"},
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
	f := status.Filter{RunID: p.str("run"), Host: p.str("host"), State: job.State(p.str("state"))}
	if f.State != "" && !f.State.Valid() {
		return usageFail(e, "jobs", "", jobsOpts, fmt.Sprintf("argument --state: unknown state %q", f.State))
	}
	be, err := openBackend(ctx, e, p, 0, logger(e, 0))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
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
			if p.has("watch") && e.isTTY {
				fmt.Fprint(e.stdout, "\033[H\033[2J")
			}
			printJobs(e, recs, p.has("watch"))
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

func printJobs(e *env, recs []*job.Record, summary bool) {
	if summary {
		// state counts per run
		counts := map[string]map[job.State]int{}
		var runIDs []string
		for _, r := range recs {
			if counts[r.RunID] == nil {
				counts[r.RunID] = map[job.State]int{}
				runIDs = append(runIDs, r.RunID)
			}
			counts[r.RunID][r.State]++
		}
		sort.Strings(runIDs)
		fmt.Fprintf(e.stdout, "%s  %d jobs\n", time.Now().Format("15:04:05"), len(recs))
		for _, id := range runIDs {
			var parts []string
			for _, s := range []job.State{job.StateQueued, job.StateRunning, job.StateFinished, job.StateFailed,
				job.StateTimeout, job.StateCancelled, job.StateUnreachable, job.StateLost} {
				if n := counts[id][s]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s=%d", s, n))
				}
			}
			fmt.Fprintf(e.stdout, "run %-30s %s\n", id, strings.Join(parts, " "))
		}
		fmt.Fprintln(e.stdout)
	}
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
