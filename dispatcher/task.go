package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/status"
)

// runTaskOn runs one task on hosts: the banner, then every host at once,
// at most Forks at a time.
func (pr *playRun) runTaskOn(ctx context.Context, st *scoped, hosts []*hostState, free bool) {
	if len(hosts) == 0 {
		return
	}
	name := pr.taskName(st, hosts[0])
	pr.r.cb.TaskStart(name, st.handler)
	if runOnce(st, pr) {
		hosts = hosts[:1]
	}
	done := make(chan struct{}, len(hosts))
	started := 0
	for _, h := range hosts {
		select {
		case pr.r.forks <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		started++
		go func(h *hostState) {
			defer func() { <-pr.r.forks; done <- struct{}{} }()
			pr.runHost(ctx, st, h, name)
		}(h)
	}
	for i := 0; i < started; i++ {
		<-done
	}
}

func runOnce(st *scoped, pr *playRun) bool {
	b, _ := toBool(st.task.RunOnce)
	return b
}

// taskName is the name the banner shows: the task's name rendered with the
// first host's variables (left raw where that fails), else the action.
func (pr *playRun) taskName(st *scoped, h *hostState) string {
	t := st.task
	if t.Name == "" {
		return t.Action
	}
	if !jinja.IsTemplate(t.Name) {
		return t.Name
	}
	if s, err := pr.r.tmpl.String(t.Name, pr.taskVars(h, st)); err == nil {
		return s
	}
	return t.Name
}

// attrs are a task's keywords after inheritance from its blocks, rendered.
type attrs struct {
	when         []any
	ignoreErrors bool
	noLog        bool
}

func (pr *playRun) attrs(st *scoped, vars map[string]any) (attrs, error) {
	var a attrs
	chain := append(append([]*playbook.Task{}, st.parents...), st.task)
	for _, t := range chain {
		a.when = append(a.when, t.When...)
	}
	a.ignoreErrors = pr.flag(pr.play.IgnoreErrors, vars)
	a.noLog = pr.flag(pr.play.NoLog, vars)
	for _, t := range chain {
		if t.IgnoreErrors != nil {
			a.ignoreErrors = pr.flag(t.IgnoreErrors, vars)
		}
		if t.NoLog != nil {
			a.noLog = pr.flag(t.NoLog, vars)
		}
	}
	return a, nil
}

// flag renders a boolean keyword.
func (pr *playRun) flag(v any, vars map[string]any) bool {
	if v == nil {
		return false
	}
	if s, ok := v.(string); ok {
		rv, err := pr.r.tmpl.Value(s, vars)
		if err != nil {
			return false
		}
		v = rv
	}
	b, _ := toBool(v)
	return b
}

// runHost runs a task on one host and reports the outcome.
func (pr *playRun) runHost(ctx context.Context, st *scoped, h *hostState, name string) {
	t := st.task
	vars := pr.taskVars(h, st)
	ev := &Event{Host: h.name, Task: t, TaskName: name, Action: t.Action}
	a, _ := pr.attrs(st, vars)
	if t.Loop == nil && t.LoopKeyword == "" {
		ok, err := pr.when(a.when, vars, t)
		var res map[string]any
		switch {
		case err != nil:
			res = map[string]any{"failed": true, "msg": err.Error()}
		case !ok:
			res = skipResult()
		default:
			res = pr.attempts(ctx, st, h, vars, ev, a, -1)
		}
		pr.finish(ctx, st, h, ev, a, res)
		return
	}
	items, err := pr.loopItems(t, vars)
	if err != nil {
		pr.finish(ctx, st, h, ev, a, map[string]any{"failed": true, "msg": err.Error()})
		return
	}
	lc := t.LoopControl
	loopVar := "item"
	if s, ok := lc["loop_var"].(string); ok && s != "" {
		loopVar = s
	}
	indexVar, _ := lc["index_var"].(string)
	results := make([]any, 0, len(items))
	for i, item := range items {
		if ctx.Err() != nil {
			break
		}
		ivars := maps.Clone(vars)
		ivars[loopVar] = item
		if indexVar != "" {
			ivars[indexVar] = i
		}
		if b, _ := toBool(lc["extended"]); b {
			ivars["ansible_loop"] = loopInfo(items, i)
		}
		label := item
		if l, ok := lc["label"]; ok {
			if s, isStr := l.(string); isStr {
				if v, err := pr.r.tmpl.Value(s, ivars); err == nil {
					label = v
				}
			} else {
				label = l
			}
		}
		var res map[string]any
		ok, err := pr.when(a.when, ivars, t)
		switch {
		case err != nil:
			res = map[string]any{"failed": true, "msg": err.Error()}
		case !ok:
			res = skipResult()
		default:
			iev := &Event{Host: h.name, Task: t, TaskName: name, Action: t.Action, Item: true}
			res = pr.attempts(ctx, st, h, ivars, iev, a, i)
		}
		res[loopVar] = item
		res["ansible_loop_var"] = loopVar
		if indexVar != "" {
			res[indexVar] = i
			res["ansible_index_var"] = indexVar
		}
		if a.noLog {
			res["_ansible_no_log"] = true
		}
		res["_ansible_item_label"] = label
		iev := &Event{Host: h.name, Task: t, TaskName: name, Action: t.Action, Item: true,
			Result: res, Status: statusOf(res)}
		if iev.Status == StatusUnreachable {
			pr.finish(ctx, st, h, ev, a, res)
			return
		}
		pr.r.cb.HostResult(iev)
		results = append(results, res)
	}
	pr.finish(ctx, st, h, ev, a, loopSummary(results))
}

func loopInfo(items []any, i int) map[string]any {
	n := len(items)
	info := map[string]any{"index": i + 1, "index0": i, "revindex": n - i, "revindex0": n - i - 1,
		"first": i == 0, "last": i == n-1, "length": n, "allitems": items}
	if i > 0 {
		info["previtem"] = items[i-1]
	}
	if i < n-1 {
		info["nextitem"] = items[i+1]
	}
	return info
}

func skipResult() map[string]any {
	return map[string]any{"changed": false, "skip_reason": "Conditional result was False", "skipped": true}
}

// loopSummary is the registered result of a looped task.
func loopSummary(results []any) map[string]any {
	if len(results) == 0 {
		return map[string]any{"changed": false, "results": []any{}, "skipped": true,
			"skipped_reason": "No items in the list"}
	}
	changed, failed, allSkipped := false, false, true
	for _, r := range results {
		m := r.(map[string]any)
		if truthy(m["changed"]) {
			changed = true
		}
		if truthy(m["failed"]) {
			failed = true
		}
		if !truthy(m["skipped"]) {
			allSkipped = false
		}
	}
	sum := map[string]any{"changed": changed, "results": results, "skipped": allSkipped}
	switch {
	case failed:
		sum["failed"] = true
		sum["msg"] = "One or more items failed"
	case allSkipped:
		sum["msg"] = "All items skipped"
	default:
		sum["msg"] = "All items completed"
	}
	return sum
}

func statusOf(res map[string]any) Status {
	switch {
	case truthy(res["unreachable"]):
		return StatusUnreachable
	case truthy(res["failed"]):
		return StatusFailed
	case truthy(res["skipped"]):
		return StatusSkipped
	case truthy(res["changed"]):
		return StatusChanged
	}
	return StatusOK
}

// when evaluates conditionals (all must hold).
func (pr *playRun) when(conds []any, vars map[string]any, t *playbook.Task) (bool, error) {
	for _, c := range conds {
		ok, err := pr.cond(c, vars)
		if err != nil {
			return false, fmt.Errorf("%s\n\n%s", err.Error(), playbook.ErrorContext(t.Pos))
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// cond evaluates one conditional; errors carry Ansible's wording.
func (pr *playRun) cond(c any, vars map[string]any) (bool, error) {
	switch x := c.(type) {
	case bool:
		return x, nil
	case nil:
		return false, nil
	case int:
		return x != 0, nil
	case string:
		ok, err := pr.r.tmpl.Cond(x, vars)
		if err != nil {
			return false, fmt.Errorf("The conditional check '%s' failed. The error was: %s", x, templateErr(err))
		}
		return ok, nil
	}
	return truthy(c), nil
}

// templateErr words a template error as Ansible does: its message, then
// the message of the Jinja2 exception behind it (undefined variable, syntax
// or type error), as AnsibleError appends its orig_exc.
func templateErr(err error) string {
	msg := err.Error()
	if cause := jinja.Cause(err); cause != "" {
		return msg + ". " + cause
	}
	return msg
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// loopItems renders a task's loop into its items.
func (pr *playRun) loopItems(t *playbook.Task, vars map[string]any) ([]any, error) {
	v := t.Loop
	if s, ok := v.(string); ok {
		rv, err := pr.r.tmpl.Value(s, vars)
		if err != nil {
			return nil, errors.New(templateErr(err))
		}
		v = rv
	} else {
		rv, err := pr.r.tmpl.Data(v, vars)
		if err != nil {
			return nil, errors.New(templateErr(err))
		}
		v = rv
	}
	kw := t.LoopKeyword
	if kw == "" {
		kw = "loop"
	}
	switch kw {
	case "loop", "with_list":
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("Invalid data passed to 'loop', it requires a list, got this instead: %s. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.", jinja.PyStr(v))
		}
		return l, nil
	case "with_items":
		l, ok := v.([]any)
		if !ok {
			l = []any{v}
		}
		var out []any
		for _, e := range l {
			if sub, ok := e.([]any); ok {
				out = append(out, sub...)
			} else {
				out = append(out, e)
			}
		}
		return out, nil
	case "with_dict":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("with_dict expects a dict")
		}
		var out []any
		for _, k := range sortedKeys(m) {
			out = append(out, map[string]any{"key": k, "value": m[k]})
		}
		return out, nil
	case "with_indexed_items":
		l, _ := v.([]any)
		var out []any
		for i, e := range l {
			out = append(out, []any{i, e})
		}
		return out, nil
	case "with_sequence":
		return sequence(jinja.PyStr(v))
	}
	return nil, fmt.Errorf("gorun does not support %s yet; use loop", kw)
}

// attempts runs a task until its until condition holds (or once), applying
// changed_when and failed_when to every attempt, as Ansible 2.14 does.
func (pr *playRun) attempts(ctx context.Context, st *scoped, h *hostState, vars map[string]any, ev *Event, a attrs, item int) map[string]any {
	t := st.task
	retries := 1
	delay := 5
	// Ansible validates retries and delay whether or not there is an until
	if t.Retries != nil {
		n, err := pr.intField(t, "retries", t.Retries, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
		}
		if len(t.Until) > 0 {
			retries = max(n, 0) + 1
		}
	} else if len(t.Until) > 0 {
		retries = 4 // the retries keyword defaults to 3 in ansible-core 2.14: 3 retries after the first run
	}
	if t.Delay != nil {
		n, err := pr.intField(t, "delay", t.Delay, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": err.Error()}
		}
		delay = n
	}
	if delay < 0 {
		delay = 1
	}
	var res map[string]any
	for attempt := 1; attempt <= retries; attempt++ {
		var final bool
		res, final = pr.runOnce(ctx, st, h, vars, ev, a, pr.jobID(st, h.name, item, attempt))
		if final || truthy(res["unreachable"]) {
			return res
		}
		if _, ok := res["failed"]; !ok {
			rc, has := res["rc"]
			res["failed"] = has && rc != 0 && rc != "0"
		}
		if len(t.Until) > 0 {
			res["attempts"] = attempt
		}
		if _, ok := res["changed"]; !ok {
			res["changed"] = false
		}
		if t.Register != "" {
			vars[t.Register] = registered(res)
		}
		if !truthy(res["skipped"]) {
			pr.changedFailedWhen(t, res, vars)
		}
		if retries > 1 {
			ok, err := pr.when(anyList(t.Until), vars, t)
			if err != nil {
				return map[string]any{"failed": true, "msg": err.Error()}
			}
			if ok {
				break
			}
			if attempt < retries {
				rev := *ev
				rev.Result = res
				pr.r.cb.Retry(&rev, retries-attempt)
				select {
				case <-ctx.Done():
					return res
				case <-time.After(time.Duration(delay) * time.Second):
				}
				continue
			}
			res["attempts"] = retries - 1
			res["failed"] = true
		}
	}
	return res
}

func anyList(l []any) []any { return l }

func (pr *playRun) changedFailedWhen(t *playbook.Task, res map[string]any, vars map[string]any) {
	if len(t.ChangedWhen) > 0 {
		v, err := pr.allConds(t.ChangedWhen, vars)
		if err != nil {
			res["failed"] = true
			res["changed_when_result"] = err.Error()
			return
		}
		res["changed"] = v
		if t.Register != "" {
			vars[t.Register] = registered(res)
		}
	}
	if len(t.FailedWhen) > 0 {
		v, err := pr.allConds(t.FailedWhen, vars)
		if err != nil {
			res["failed"] = true
			res["failed_when_result"] = err.Error()
			return
		}
		res["failed"] = v
		res["failed_when_result"] = v
		if t.Register != "" {
			vars[t.Register] = registered(res)
		}
	}
}

func (pr *playRun) allConds(conds []any, vars map[string]any) (bool, error) {
	for _, c := range conds {
		ok, err := pr.cond(c, vars)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// intField is an integer task keyword (async, poll, retries, delay)
// templated and converted as Ansible's post_validate does, failing with its
// words: field is the attribute's name in Ansible (async is async_val).
func (pr *playRun) intField(t *playbook.Task, field string, raw any, vars map[string]any) (int, error) {
	withContext := func(msg string) error {
		if ctx := playbook.ErrorContext(t.Pos); ctx != "" {
			msg += "\n\n" + ctx
		}
		return errors.New(msg)
	}
	v := raw
	if s, ok := raw.(string); ok {
		rv, err := pr.r.tmpl.Value(s, vars)
		switch {
		case errors.Is(err, jinja.ErrUndefined):
			return 0, withContext(fmt.Sprintf("The field '%s' has an invalid value, which includes an undefined variable. The error was: %s", field, templateErr(err)))
		case err != nil:
			return 0, errors.New(templateErr(err))
		}
		v = rv
	}
	n, err := toInt(v)
	if err != nil {
		// Ansible shows the value as written (a template as its text)
		return 0, withContext(fmt.Sprintf("the field '%s' has an invalid value (%s), and could not be converted to an int.The error was: %v", field, jinja.PyStr(raw), err))
	}
	return n, nil
}

// registered returns the value a register keyword stores: the result
// without internal _ansible_ keys.
func registered(res map[string]any) map[string]any {
	out := make(map[string]any, len(res))
	for k, v := range res {
		if strings.HasPrefix(k, "_ansible") || strings.HasPrefix(k, "_gorun") || k == "invocation" {
			continue
		}
		if k == "results" {
			if l, ok := v.([]any); ok {
				cl := make([]any, len(l))
				for i, e := range l {
					if m, ok := e.(map[string]any); ok {
						cl[i] = registered(m)
					} else {
						cl[i] = e
					}
				}
				v = cl
			}
		}
		out[k] = v
	}
	return out
}

// finish reports a host's final result for a task: counters, register,
// facts, notified handlers, and the callback.
func (pr *playRun) finish(ctx context.Context, st *scoped, h *hostState, ev *Event, a attrs, res map[string]any) {
	t := st.task
	if a.noLog {
		res["_ansible_no_log"] = true
	}
	ev.Result = res
	ev.Status = statusOf(res)
	ev.Loop = t.Loop != nil || t.LoopKeyword != ""
	if ev.Status == StatusFailed && a.ignoreErrors {
		ev.Ignored = true
	}
	reg := registered(res)
	h.mu.Lock()
	switch ev.Status {
	case StatusUnreachable:
		h.stats.Unreachable++
		h.unreachable = true
	case StatusFailed:
		if ev.Ignored {
			h.stats.OK++
			h.stats.Ignored++
			if truthy(res["changed"]) {
				h.stats.Changed++
			}
		} else {
			h.stats.Failed++
			h.failed = true
		}
	case StatusSkipped:
		h.stats.Skipped++
	case StatusChanged:
		h.stats.OK++
		h.stats.Changed++
	default:
		h.stats.OK++
	}
	if t.Register != "" {
		h.vars[t.Register] = reg
	}
	if ev.Status != StatusFailed && ev.Status != StatusUnreachable {
		applyFacts(h, t, res)
	}
	h.mu.Unlock()
	if ev.Status == StatusChanged && len(t.Notify) > 0 {
		pr.notify(t.Notify, h.name)
	}
	pr.r.cb.HostResult(ev)
}

// applyFacts stores facts a result carries: set_fact's as host variables,
// others (setup) as ansible_facts. The caller holds h.mu.
func applyFacts(h *hostState, t *playbook.Task, res map[string]any) {
	apply := func(r map[string]any) {
		f, ok := r["ansible_facts"].(map[string]any)
		if !ok {
			return
		}
		if t.Module == "set_fact" {
			for k, v := range f {
				h.vars[k] = v
			}
			return
		}
		for k, v := range f {
			h.facts[strings.TrimPrefix(k, "ansible_")] = v
		}
	}
	apply(res)
	if l, ok := res["results"].([]any); ok {
		for _, e := range l {
			if m, ok := e.(map[string]any); ok && !truthy(m["failed"]) && !truthy(m["skipped"]) {
				apply(m)
			}
		}
	}
}

// submit starts following job j's record (only its end, with endOnly),
// then creates the record and publishes the job. A record that already
// exists (a resumed run) is followed as it is: a terminal one is the job's
// result, a queued one is published again (the queue drops it if it is
// still there).
func (r *Runner) submit(ctx context.Context, j *job.Job, endOnly bool) (*status.Subscription, error) {
	follow := r.st.Follow
	if endOnly {
		follow = r.st.FollowEnd
	}
	sub, err := follow(j.ID)
	if err != nil {
		return nil, err
	}
	rev, err := r.st.Create(ctx, job.NewRecord(j))
	if err == nil {
		j.RecordRevision = rev
		sub.Skip(rev) // the queued record, as written here
	}
	if errors.Is(err, status.ErrExists) {
		e, gerr := r.st.Get(ctx, j.ID)
		if gerr != nil {
			sub.Close()
			return nil, gerr
		}
		sub.Close()
		if sub, err = r.st.Subscribe(ctx, j.ID); err != nil {
			return nil, err
		}
		if e.Record.State != job.StateQueued {
			return sub, nil
		}
		err = nil
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	if err := r.pub.Publish(ctx, j); err != nil {
		_, _ = r.st.Modify(context.WithoutCancel(ctx), j.ID, func(cur *job.Record) bool {
			if cur.State != job.StateQueued {
				return false
			}
			cur.State, cur.Msg, cur.Ended = job.StateFailed, "could not enqueue: "+err.Error(), time.Now().UTC()
			return true
		})
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// runJob submits a job and follows its record until done says so (by
// default, until it is terminal).
func (r *Runner) runJob(ctx context.Context, j *job.Job, done func(*job.Record) bool) (*job.Record, error) {
	sub, err := r.submit(ctx, j, done == nil)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	if done == nil {
		done = func(rec *job.Record) bool { return rec.State.Terminal() }
	}
	for {
		select {
		case rec := <-sub.C():
			r.log.Debug("job record", "jid", rec.JID, "host", rec.Host, "state", rec.State)
			if done(rec) {
				return rec, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

var _ = module.Lookup
