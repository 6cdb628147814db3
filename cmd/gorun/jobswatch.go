package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/status"
)

// watchJobs is gorun jobs --watch: it follows the bucket with one KV watch
// (the records present, then each change; no listing per refresh) and draws
// the view of renderJobs once a second. On a terminal the view is redrawn in
// place; otherwise a new block is printed when something changed.
func watchJobs(ctx context.Context, e *env, st *status.Store, f status.Filter) int {
	var (
		recs    map[string]*job.Record // what the view shows, once a watch was ready
		loading map[string]*job.Record // the records of a watch not ready yet
		ch      <-chan status.Change
		retry   <-chan time.Time
		changed bool
		frames  int
	)
	start := func() error {
		c, err := st.WatchAll(ctx, f)
		if err != nil {
			return err
		}
		ch, loading = c, map[string]*job.Record{}
		return nil
	}
	if err := start(); err != nil {
		if ctx.Err() != nil {
			return 0
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	draw := func() {
		width, height := termSize(e)
		note := ""
		if loading != nil || ch == nil {
			note = "(connection to the job records lost: reconnecting; the view may be stale)"
			if height > 0 {
				height--
			}
		}
		list := make([]*job.Record, 0, len(recs))
		for _, r := range recs {
			list = append(list, r)
		}
		frame := renderJobs(list, time.Now(), width, height)
		if note != "" {
			frame += note + "\n"
		}
		lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
		var b strings.Builder
		switch {
		case e.isTTY:
			// cursor home, each line cleared to its end, then the rest of
			// the screen: no blank flash between frames
			if frames == 0 {
				b.WriteString("\033[H\033[2J")
			} else {
				b.WriteString("\033[H")
			}
			for _, l := range lines {
				b.WriteString(l + "\033[K\n")
			}
			b.WriteString("\033[J")
		default:
			if frames > 0 {
				b.WriteString("\n")
			}
			b.WriteString(frame)
		}
		fmt.Fprint(e.stdout, b.String())
		frames++
		changed = false
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0
		case c, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return 0
				}
				ch, retry = nil, time.After(time.Second)
				continue
			}
			switch {
			case c.Ready:
				recs, loading = loading, nil
				changed = true
				if frames == 0 {
					draw() // the first view at once, then at the ticks
				}
			case loading != nil:
				if c.Record != nil {
					loading[c.JID] = slimRecord(c.Record)
				}
			case c.Record == nil:
				if _, ok := recs[c.JID]; ok {
					delete(recs, c.JID)
					changed = true
				}
			default:
				recs[c.JID] = slimRecord(c.Record)
				changed = true
			}
		case <-retry:
			retry = nil
			if err := start(); err != nil {
				if ctx.Err() != nil {
					return 0
				}
				retry = time.After(time.Second)
			}
		case <-tick.C:
			// on a terminal the elapsed times move on: redraw every second
			if recs != nil && (e.isTTY || changed) {
				draw()
			}
		}
	}
}

// slimRecord keeps what the view shows of a record (not its output).
func slimRecord(r *job.Record) *job.Record {
	return &job.Record{JID: r.JID, RunID: r.RunID, Host: r.Host, Task: r.Task, Module: r.Module,
		State: r.State, Queued: r.Queued, Started: r.Started, Ended: r.Ended}
}

// jobStates are the states in the order the view counts them.
var jobStates = []job.State{job.StateQueued, job.StateRunning, job.StateFinished, job.StateFailed,
	job.StateTimeout, job.StateCancelled, job.StateUnreachable, job.StateLost}

// defaultRunCap and defaultJobCap bound the view when the terminal's height
// is unknown.
const (
	defaultRunCap = 20
	defaultJobCap = 40
)

// renderJobs renders one frame of gorun jobs --watch: the time and totals,
// the state counts of each run (runs with jobs queued or running first, then
// the newest), and the running jobs, longest running first. width and height
// are the terminal's (0: unknown): lines are cut to width and the frame
// keeps to height-1 lines, the runs taking a third of them (more when few
// jobs run); with an unknown height at most defaultRunCap runs and defaultJobCap jobs are
// listed. Elided entries are counted on an "… and N more" line.
func renderJobs(recs []*job.Record, now time.Time, width, height int) string {
	type runCount struct {
		id            string
		n, done, live int
		by            map[job.State]int
	}
	runs := map[string]*runCount{}
	var running []*job.Record
	for _, r := range recs {
		rc := runs[r.RunID]
		if rc == nil {
			rc = &runCount{id: r.RunID, by: map[job.State]int{}}
			runs[r.RunID] = rc
		}
		rc.n++
		rc.by[r.State]++
		if r.State.Terminal() {
			rc.done++
		} else {
			rc.live++
		}
		if r.State == job.StateRunning {
			running = append(running, r)
		}
	}
	order := make([]*runCount, 0, len(runs))
	for _, rc := range runs {
		order = append(order, rc)
	}
	slices.SortFunc(order, func(a, b *runCount) int {
		if (a.live > 0) != (b.live > 0) {
			if a.live > 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(b.id, a.id) // run ids sort by time: newest first
	})
	slices.SortFunc(running, func(a, b *job.Record) int {
		if a.Started.IsZero() != b.Started.IsZero() {
			if a.Started.IsZero() {
				return 1 // no start time known: last
			}
			return -1
		}
		if c := a.Started.Compare(b.Started); c != 0 {
			return c // started earlier: running longer
		}
		return strings.Compare(a.JID, b.JID)
	})

	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	plural := func(n int, word string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, word)
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	add("%s  %s in %s, %d running", now.Format("15:04:05"), plural(len(recs), "job"), plural(len(runs), "run"), len(running))

	// the budget of lines: the last line of the terminal stays free
	runCap, jobCap := defaultRunCap, defaultJobCap
	if height > 0 {
		// the runs take a third of the lines, or what the jobs leave
		avail := height - 1 - 4 // header, blank, blank, table header
		runCap = max(1, avail/3, avail-len(running))
		jobCap = max(1, avail-min(runCap, len(order)))
	}
	if len(order) > 0 {
		lines = append(lines, "")
		idw, donew := 0, 0
		for _, rc := range order {
			idw = max(idw, len(rc.id))
			donew = max(donew, len(fmt.Sprintf("%d/%d", rc.done, rc.n)))
		}
		shown := order
		if len(order) > runCap {
			shown = order[:max(0, runCap-1)]
		}
		for _, rc := range shown {
			var parts []string
			for _, s := range jobStates {
				if n := rc.by[s]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s=%d", s, n))
				}
			}
			add("%-*s  %*s done  %s", idw, rc.id, donew, fmt.Sprintf("%d/%d", rc.done, rc.n), strings.Join(parts, " "))
		}
		if more := len(order) - len(shown); more > 0 {
			add("… and %s", plural(more, "more run"))
		}
	}

	lines = append(lines, "")
	if len(running) == 0 {
		add("no job running")
	} else {
		hostCap := 24
		jw, rw, hw := len("JID"), len("RUN"), len("HOST")
		for _, r := range running {
			jw, rw, hw = max(jw, len(r.JID)), max(rw, len(r.RunID)), max(hw, min(hostCap, len([]rune(r.Host))))
		}
		ew := len("ELAPSED")
		elapsed := make([]string, len(running))
		for i, r := range running {
			if !r.Started.IsZero() {
				elapsed[i] = shortDuration(now.Sub(r.Started))
				ew = max(ew, len(elapsed[i]))
			}
		}
		row := func(jid, run, host, el, task string) {
			add("%-*s  %-*s  %-*s  %*s  %s", jw, jid, rw, run, hw, cut(host, hw), ew, el, task)
		}
		row("JID", "RUN", "HOST", "ELAPSED", "TASK")
		shown := running
		if len(running) > jobCap {
			shown = running[:max(0, jobCap-1)]
		}
		for i, r := range shown {
			row(r.JID, r.RunID, r.Host, elapsed[i], r.Task)
		}
		if more := len(running) - len(shown); more > 0 {
			add("… and %d more", more)
		}
	}

	var b strings.Builder
	for _, l := range lines {
		if width > 0 {
			l = cut(l, width)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// cut shortens s to n columns (runes), marking the cut with "…".
func cut(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	if n <= 1 {
		return string(rs[:max(n, 0)])
	}
	return string(rs[:n-1]) + "…"
}

// shortDuration renders d to the second: 9s, 3m05s, 2h07m12s.
func shortDuration(d time.Duration) string {
	s := int(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm%02ds", s/3600, s/60%60, s%60)
	}
}
