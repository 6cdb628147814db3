package display

import (
	"io"
	"sync"
	"time"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/playbook"
)

// JSON collects a run and prints it at the end as one JSON document shaped
// like Ansible's json callback: plays, their tasks, each host's result, and
// the per-host stats.
type JSON struct {
	out   io.Writer
	err   io.Writer
	mu    sync.Mutex
	plays []*jsonPlay
	warns []string
	runID string
}

type jsonPlay struct {
	Play  map[string]any `json:"play"`
	Tasks []*jsonTask    `json:"tasks"`
}

type jsonTask struct {
	Task  map[string]any `json:"task"`
	Hosts map[string]any `json:"hosts"`
}

// NewJSON returns the JSON output; the document goes to out at the end of
// the run, warnings to err.
func NewJSON(out, err io.Writer, runID string) *JSON { return &JSON{out: out, err: err, runID: runID} }

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z") }

// PlaybookStart implements dispatcher.Callback.
func (j *JSON) PlaybookStart(*playbook.Playbook) {}

// PlayStart implements dispatcher.Callback.
func (j *JSON) PlayStart(play *playbook.Play, name string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.plays = append(j.plays, &jsonPlay{Play: map[string]any{"name": name,
		"duration": map[string]any{"start": now()}}, Tasks: []*jsonTask{}})
}

// NoHostsMatched implements dispatcher.Callback.
func (j *JSON) NoHostsMatched() {}

// TaskStart implements dispatcher.Callback.
func (j *JSON) TaskStart(name string, handler bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.plays) == 0 {
		return
	}
	p := j.plays[len(j.plays)-1]
	p.Tasks = append(p.Tasks, &jsonTask{Task: map[string]any{"name": name, "handler": handler,
		"duration": map[string]any{"start": now()}}, Hosts: map[string]any{}})
}

// HostResult implements dispatcher.Callback.
func (j *JSON) HostResult(ev *dispatcher.Event) {
	if ev.Item {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.plays) == 0 || len(j.plays[len(j.plays)-1].Tasks) == 0 {
		return
	}
	p := j.plays[len(j.plays)-1]
	t := p.Tasks[len(p.Tasks)-1]
	res := Clean(ev.Result, "", false)
	// as the json callback's v2_runner_on_failed/_skipped add them (a
	// censored no_log result has no other sign of its status)
	switch ev.Status {
	case dispatcher.StatusFailed:
		res["failed"] = true
	case dispatcher.StatusSkipped:
		res["skipped"] = true
	}
	res["action"] = ev.Action
	if ev.Ignored {
		res["ignored"] = true
	}
	t.Hosts[ev.Host] = res
	t.Task["duration"].(map[string]any)["end"] = now()
}

// Retry implements dispatcher.Callback.
func (j *JSON) Retry(*dispatcher.Event, int) {}

// AsyncPoll implements dispatcher.Callback.
func (j *JSON) AsyncPoll(string, string, any, any) {}

// AsyncDone implements dispatcher.Callback.
func (j *JSON) AsyncDone(string, string, bool) {}

// NoMoreHosts implements dispatcher.Callback.
func (j *JSON) NoMoreHosts() {}

// Warning implements dispatcher.Callback.
func (j *JSON) Warning(msg string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.warns = append(j.warns, msg)
}

// Recap implements dispatcher.Callback: it prints the document.
func (j *JSON) Recap(r *dispatcher.Recap) {
	j.mu.Lock()
	defer j.mu.Unlock()
	stats := map[string]any{}
	for h, s := range r.Stats {
		stats[h] = map[string]any{"ok": s.OK, "changed": s.Changed, "unreachable": s.Unreachable,
			"failures": s.Failed, "skipped": s.Skipped, "rescued": s.Rescued, "ignored": s.Ignored}
	}
	plays := make([]any, len(j.plays))
	for i, p := range j.plays {
		p.Play["duration"].(map[string]any)["end"] = now()
		tasks := make([]any, len(p.Tasks))
		for k, t := range p.Tasks {
			tasks[k] = map[string]any{"task": t.Task, "hosts": t.Hosts}
		}
		plays[i] = map[string]any{"play": p.Play, "tasks": tasks}
	}
	doc := map[string]any{"plays": plays, "stats": stats, "run_id": j.runID, "custom_stats": map[string]any{},
		"global_custom_stats": map[string]any{}}
	if len(j.warns) > 0 {
		doc["warnings"] = j.warns
	}
	_, _ = io.WriteString(j.out, PyJSON(doc, 4)+"\n")
}
