package dispatcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/playbook"
)

// playRun is the state of one play.
type playRun struct {
	r       *Runner
	book    int // index of the playbook in the run
	index   int // index of the play in its playbook
	flushes int // handler flushes so far (handlers may run once per flush)
	pb      *playbook.Playbook
	play    *playbook.Play
	vars    map[string]any // play vars and vars_files, unrendered
	hosts   []*hostState   // the play's hosts, inventory order
	names   []any          // their names, for ansible_play_hosts_all

	mu            sync.Mutex
	notified      map[string]map[string]bool // handler name → hosts
	hostVarsCache sync.Map                   // *playbook.Task → bool (mentions hostvars)

	groupsOnce sync.Once
	groups     map[string]any // the groups magic variable (see groupsVar)

	active             []any // see activeNames (under mu)
	activeN, activeSum int
}

func (r *Runner) runPlay(ctx context.Context, book, index int, pb *playbook.Playbook, play *playbook.Play) error {
	pr := &playRun{r: r, book: book, index: index, pb: pb, play: play, notified: map[string]map[string]bool{}}
	pr.vars = map[string]any{}
	for k, v := range play.Vars {
		pr.vars[k] = v
	}
	base := map[string]any{}
	for k, v := range r.cfg.ExtraVars {
		base[k] = v
	}
	for k, v := range pr.vars {
		if _, ok := base[k]; !ok {
			base[k] = v
		}
	}
	for _, vf := range play.VarsFiles {
		name, err := r.tmpl.String(vf, base)
		if err != nil {
			return fmt.Errorf("vars_files %q: %w", vf, err)
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(pb.Dir, name)
		}
		m, err := loadVarsFile(name)
		if err != nil {
			return err
		}
		for k, v := range m {
			pr.vars[k] = v
		}
	}

	pattern := play.Hosts
	if v, err := r.tmpl.String(pattern, base); err == nil {
		pattern = v
	}
	names, warns, err := r.inv.Select(pattern)
	if err != nil {
		return &patternError{err: err}
	}
	for _, w := range warns {
		r.cb.Warning(w)
	}
	name := play.Name
	if name == "" {
		name = pattern
	} else if v, err := r.tmpl.String(name, base); err == nil {
		name = v
	}
	for _, h := range names {
		if r.limit != nil && !r.limit[h] {
			continue
		}
		hs := r.host(h)
		if hs.done() {
			continue
		}
		pr.hosts = append(pr.hosts, hs)
		pr.names = append(pr.names, h)
	}
	r.cb.PlayStart(play, name)
	if len(pr.hosts) == 0 {
		r.cb.NoHostsMatched()
		return nil
	}
	if gatherFacts(play) {
		pr.runTaskOn(ctx, &scoped{task: factsTask(play)}, pr.hosts, false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for _, section := range [][]*playbook.Task{play.PreTasks, play.Tasks, play.PostTasks} {
		if len(section) == 0 {
			continue
		}
		if stop := pr.runList(ctx, section, nil, pr.hosts); stop {
			break
		}
		pr.flushHandlers(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return ctx.Err()
}

func gatherFacts(play *playbook.Play) bool {
	return play.GatherFacts == nil || *play.GatherFacts
}

// factsTask is the implicit "Gathering Facts" task.
func factsTask(play *playbook.Play) *playbook.Task {
	return &playbook.Task{Pos: play.Pos, Name: "Gathering Facts", Action: "gather_facts", Module: "setup",
		Args: map[string]any{}}
}

func loadVarsFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading vars file: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("vars file %s: %w", path, err)
	}
	return normalize(m).(map[string]any), nil
}

// normalize turns YAML-decoded values into the data model (map[string]any,
// []any, int, float64, string, bool, nil).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case int64:
		return int(x)
	case uint64:
		return int(x)
	case nil:
		return nil
	}
	if v == nil {
		return map[string]any{}
	}
	return v
}

// activeHosts returns the hosts that may still run tasks.
func activeHosts(hosts []*hostState) []*hostState {
	out := make([]*hostState, 0, len(hosts))
	for _, h := range hosts {
		if !h.done() {
			out = append(out, h)
		}
	}
	return out
}

// scoped is a task with the blocks it sits in (innermost last), from which
// it inherits keywords.
type scoped struct {
	task    *playbook.Task
	parents []*playbook.Task
	handler bool
	flush   int // which handler flush, for handlers
}

// jobID returns the id of the job of this task on host, for loop item item
// (-1: no loop) and attempt: the same position in the same run always gives
// the same id (see job.IDFor).
func (pr *playRun) jobID(st *scoped, host string, item, attempt int) string {
	parts := []string{pr.r.cfg.RunID, strconv.Itoa(pr.book), strconv.Itoa(pr.index)}
	for _, p := range append(append([]*playbook.Task{}, st.parents...), st.task) {
		file := strings.TrimPrefix(p.Pos.File, pr.r.cfg.SourceRoot)
		parts = append(parts, fmt.Sprintf("%s:%d:%d:%s", file, p.Pos.Line, p.Pos.Col, p.Module))
	}
	if st.handler {
		parts = append(parts, "handler"+strconv.Itoa(st.flush))
	}
	return job.IDFor(append(parts, host, strconv.Itoa(item), strconv.Itoa(attempt))...)
}

// runList runs tasks in order on hosts (linear strategy: every host finishes
// a task before the next starts). It returns true when no host is left.
func (pr *playRun) runList(ctx context.Context, tasks []*playbook.Task, parents []*playbook.Task, hosts []*hostState) bool {
	if strings.EqualFold(pr.play.Strategy, "free") && len(parents) == 0 {
		return pr.runFree(ctx, tasks, hosts)
	}
	for _, t := range tasks {
		if ctx.Err() != nil {
			return true
		}
		active := activeHosts(hosts)
		if len(active) == 0 {
			return true
		}
		if t.Block != nil || t.Rescue != nil || t.Always != nil {
			pr.runBlock(ctx, t, parents, active)
		} else {
			pr.runTaskOn(ctx, &scoped{task: t, parents: parents}, active, false)
		}
		if len(activeHosts(pr.hosts)) == 0 {
			// (ansible-core's linear strategy announces NO MORE HOSTS LEFT
			// only for any_errors_fatal and max_fail_percentage)
			return true
		}
	}
	return false
}

// runFree runs every host through the tasks independently (strategy: free).
func (pr *playRun) runFree(ctx context.Context, tasks []*playbook.Task, hosts []*hostState) bool {
	var wg sync.WaitGroup
	for _, h := range activeHosts(hosts) {
		wg.Add(1)
		go func(h *hostState) {
			defer wg.Done()
			for _, t := range tasks {
				if ctx.Err() != nil || h.done() {
					return
				}
				if t.Block != nil || t.Rescue != nil || t.Always != nil {
					pr.runBlockOn(ctx, t, nil, []*hostState{h})
					continue
				}
				pr.runTaskOn(ctx, &scoped{task: t}, []*hostState{h}, true)
			}
		}(h)
	}
	wg.Wait()
	return len(activeHosts(pr.hosts)) == 0
}

// runBlock runs a block: its tasks; for hosts that fail in it, the rescue
// tasks; then the always tasks for every host that entered it.
func (pr *playRun) runBlock(ctx context.Context, b *playbook.Task, parents []*playbook.Task, hosts []*hostState) {
	pr.runBlockOn(ctx, b, parents, hosts)
}

func (pr *playRun) runBlockOn(ctx context.Context, b *playbook.Task, parents []*playbook.Task, hosts []*hostState) {
	chain := append(append([]*playbook.Task{}, parents...), b)
	pr.runList(ctx, b.Block, chain, hosts)
	var failedHere []*hostState
	for _, h := range hosts {
		h.mu.Lock()
		if h.failed && !h.unreachable {
			failedHere = append(failedHere, h)
		}
		h.mu.Unlock()
	}
	if len(b.Rescue) > 0 && len(failedHere) > 0 {
		for _, h := range failedHere {
			h.mu.Lock()
			h.failed = false
			h.stats.Failed--
			h.mu.Unlock()
		}
		pr.runList(ctx, b.Rescue, chain, failedHere)
		for _, h := range failedHere {
			h.mu.Lock()
			if !h.failed && !h.unreachable {
				h.stats.Rescued++
			} else if h.failed {
				// failed again in rescue: counted by that failure
			}
			h.mu.Unlock()
		}
	}
	if len(b.Always) > 0 {
		var always []*hostState
		var refail []*hostState
		for _, h := range hosts {
			h.mu.Lock()
			if !h.unreachable {
				always = append(always, h)
				if h.failed {
					refail = append(refail, h)
					h.failed = false
				}
			}
			h.mu.Unlock()
		}
		pr.runList(ctx, b.Always, chain, always)
		for _, h := range refail {
			h.mu.Lock()
			h.failed = true
			h.mu.Unlock()
		}
	}
}

// notify records that hosts changed a task that notifies handlers.
func (pr *playRun) notify(names []string, host string) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, n := range names {
		m := pr.notified[n]
		if m == nil {
			m = map[string]bool{}
			pr.notified[n] = m
		}
		m[host] = true
	}
}

// flushHandlers runs the notified handlers, in the order they are defined.
func (pr *playRun) flushHandlers(ctx context.Context) {
	for {
		pr.mu.Lock()
		if len(pr.notified) == 0 {
			pr.mu.Unlock()
			return
		}
		notified := pr.notified
		pr.notified = map[string]map[string]bool{}
		pr.flushes++
		pr.mu.Unlock()
		for _, hd := range pr.play.Handlers {
			want := map[string]bool{}
			for _, key := range append([]string{hd.Name}, hd.Listen...) {
				for h := range notified[key] {
					want[h] = true
				}
			}
			if len(want) == 0 {
				continue
			}
			var hosts []*hostState
			for _, h := range activeHosts(pr.hosts) {
				if want[h.name] {
					hosts = append(hosts, h)
				}
			}
			if len(hosts) > 0 {
				pr.runTaskOn(ctx, &scoped{task: hd, handler: true, flush: pr.flushes}, hosts, false)
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// patternError is a play's host pattern that selects nothing Ansible can
// use (a subscript past the hosts, a bad regular expression): its message
// is Ansible's alone ("No hosts matched the subscripted pattern 'all[5]'"),
// the pattern being in it; it wraps inventory.ErrPattern.
type patternError struct{ err error }

func (e *patternError) Error() string {
	return strings.TrimPrefix(e.err.Error(), inventory.ErrPattern.Error()+": ")
}

func (e *patternError) Unwrap() error { return e.err }
