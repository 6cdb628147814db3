package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	osuser "os/user"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/status"
)

// runOnce runs one attempt of a task on a host. final is true when the
// result must not be retried nor post-processed (errors raised before the
// module ran, as Ansible returns them early).
func (pr *playRun) runOnce(ctx context.Context, st *scoped, h *hostState, vars map[string]any, ev *Event, a attrs, jid string) (res map[string]any, final bool) {
	t := st.task
	info, ok := module.Lookup(t.Module)
	if !ok {
		return map[string]any{"failed": true, "msg": fmt.Sprintf("The module %s was not found in configured module paths", t.Action)}, true
	}
	asyncVal, poll, err := pr.asyncParams(t, vars)
	if err != nil {
		return map[string]any{"failed": true, "msg": err.Error()}, true
	}
	if asyncVal > 0 && !info.Async {
		return map[string]any{"failed": true, "changed": false, "msg": "async is not supported for this task.",
			"exception": "NoneType: None\n"}, true
	}
	check := pr.checkMode(st, vars)
	if asyncVal > 0 && check {
		return map[string]any{"failed": true, "changed": false, "msg": "check mode and async cannot be used on same task.",
			"exception": "NoneType: None\n"}, true
	}
	args, err := pr.renderArgs(t, vars)
	if err != nil {
		if !errors.Is(err, jinja.ErrUndefined) && jinja.Cause(err) != "" {
			// a syntax or type error: Ansible's templating error as it is
			return map[string]any{"failed": true, "msg": templateErr(err)}, true
		}
		return map[string]any{"failed": true, "msg": fmt.Sprintf(
			"The task includes an option with an undefined variable. The error was: %s\n\n%s", templateErr(err), playbook.ErrorContext(t.Pos))}, true
	}
	if info.Controller {
		return pr.controller(ctx, st, info, args, vars)
	}
	if res := pr.prepareAction(t.Module, args, vars); res != nil {
		return res, false
	}
	env, err := pr.environment(st, vars)
	if err != nil {
		return map[string]any{"failed": true, "msg": err.Error()}, true
	}
	target, err := pr.target(h.name, vars, st)
	if err != nil {
		return map[string]any{"failed": true, "msg": err.Error()}, true
	}
	asyncDir := pr.r.cfg.AsyncDir
	if s := firstString(vars, "ansible_async_dir"); s != "" {
		asyncDir = s
	}
	j := &job.Job{
		ID: jid, RunID: pr.r.cfg.RunID, Task: ev.TaskName, Module: info.Name, Args: args, Env: env,
		Target: target, NoLog: a.noLog, Async: asyncVal, Poll: poll, AsyncDir: asyncDir,
		CheckMode: check, Created: time.Now().UTC(),
	}
	if t.Lock != "" {
		name, err := pr.r.tmpl.String(t.Lock, vars)
		if err != nil {
			return map[string]any{"failed": true, "msg": "lock: " + templateErr(err)}, true
		}
		j.Lock = name
	}
	if asyncVal > 0 {
		return pr.runAsync(ctx, j, h, ev)
	}
	rec, err := pr.r.runJob(ctx, j, nil)
	if err != nil {
		return map[string]any{"failed": true, "msg": "gorun: " + err.Error()}, true
	}
	res = recordResult(rec)
	switch info.Name {
	case "debug":
		res["_ansible_verbose_always"] = true
	case "assert":
		if quiet, _ := toBool(args["quiet"]); !quiet && !truthy(res["failed"]) {
			res["_ansible_verbose_always"] = true
		}
	}
	return res, false
}

// recordResult turns a terminal record into the task result.
func recordResult(rec *job.Record) map[string]any {
	switch rec.State {
	case job.StateUnreachable:
		return map[string]any{"unreachable": true, "changed": false, "msg": rec.Msg}
	case job.StateLost, job.StateCancelled:
		res := rec.FullResult()
		res["failed"] = true
		if _, ok := res["msg"]; !ok {
			res["msg"] = rec.Msg
		}
		return res
	}
	return rec.FullResult()
}

// checkMode reports whether a task runs in check mode: its (or its blocks')
// check_mode keyword, else --check.
func (pr *playRun) checkMode(st *scoped, vars map[string]any) bool {
	check := pr.r.cfg.Check
	if pr.play.CheckMode != nil {
		check = pr.flag(pr.play.CheckMode, vars)
	}
	for _, t := range append(append([]*playbook.Task{}, st.parents...), st.task) {
		if t.CheckMode != nil {
			check = pr.flag(t.CheckMode, vars)
		}
	}
	return check
}

func (pr *playRun) asyncParams(t *playbook.Task, vars map[string]any) (asyncVal, poll int, err error) {
	if t.Async != nil {
		n, err := pr.intField(t, "async_val", t.Async, vars)
		if err != nil {
			return 0, 0, err
		}
		asyncVal = n
	}
	poll = pr.r.cfg.PollInterval
	if t.Poll != nil {
		n, err := pr.intField(t, "poll", t.Poll, vars)
		if err != nil {
			return 0, 0, err
		}
		// Ansible polls only when poll > 0: a negative poll is fire-and-forget
		poll = max(n, 0)
	}
	return asyncVal, poll, nil
}

// renderArgs renders a task's module arguments and drops omitted ones.
func (pr *playRun) renderArgs(t *playbook.Task, vars map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(t.Args))
	for k, v := range t.Args {
		if t.Module == "debug" && k == "var" {
			out[k] = v // evaluated in prepareAction
			continue
		}
		if t.Module == "assert" && k == "that" {
			out[k] = v
			continue
		}
		rv, err := pr.r.tmpl.Data(v, vars)
		if err != nil {
			return nil, err
		}
		if rv == omitToken {
			continue
		}
		out[k] = dropOmitted(rv)
	}
	return out, nil
}

func dropOmitted(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == omitToken {
				delete(x, k)
			} else {
				x[k] = dropOmitted(e)
			}
		}
	case []any:
		out := x[:0]
		for _, e := range x {
			if e != omitToken {
				out = append(out, dropOmitted(e))
			}
		}
		return out
	}
	return v
}

// prepareAction evaluates what controller-style actions need from the
// variables (the executor only shapes the result). A non-nil result ends the
// attempt without a job.
func (pr *playRun) prepareAction(mod string, args map[string]any, vars map[string]any) map[string]any {
	switch mod {
	case "debug":
		if v, ok := args["verbosity"]; ok {
			n, _ := toInt(v)
			if n > pr.r.cfg.Verbosity {
				return map[string]any{"changed": false, "skipped": true, "skipped_reason": "Verbosity threshold not met."}
			}
			delete(args, "verbosity")
		}
		if name, ok := args["var"]; ok {
			if _, has := args["msg"]; has {
				return map[string]any{"failed": true, "msg": "'msg' and 'var' are incompatible options"}
			}
			expr := jinja.PyStr(name)
			tpl := expr
			if !jinja.IsTemplate(expr) {
				tpl = "{{ " + expr + " }}"
			}
			val, err := pr.r.tmpl.Value(tpl, vars)
			switch {
			case err == nil:
				args["_value"] = pr.recursiveRender(val, vars)
			case errors.Is(err, jinja.ErrUndefined):
				// leave _value unset: VARIABLE IS NOT DEFINED!
			default:
				args["_value"] = err.Error()
			}
			args["var"] = expr
		}
	case "assert":
		that := args["that"]
		list, ok := that.([]any)
		if !ok {
			list = []any{that}
		}
		results := make([]any, len(list))
		for i, c := range list {
			ok, err := pr.cond(c, vars)
			if err != nil {
				return map[string]any{"failed": true, "msg": err.Error()}
			}
			results[i] = ok
		}
		args["that"] = list
		args["_results"] = results
		for _, k := range []string{"msg", "fail_msg", "success_msg"} {
			if v, ok := args[k]; ok {
				rv, err := pr.r.tmpl.Data(v, vars)
				if err == nil {
					args[k] = rv
				}
			}
		}
	}
	return nil
}

// recursiveRender renders templates left in a value that came from a
// variable (Ansible templates variable values lazily, so a var holding
// "{{ other }}" shows other's value).
func (pr *playRun) recursiveRender(v any, vars map[string]any) any {
	for i := 0; i < 5 && hasTemplate(v); i++ {
		rv, err := pr.r.tmpl.Data(v, vars)
		if err != nil {
			return v
		}
		v = rv
	}
	return v
}

// environment merges and renders the play's, blocks' and task's environment.
func (pr *playRun) environment(st *scoped, vars map[string]any) (map[string]string, error) {
	var env map[string]string
	add := func(v any) error {
		if v == nil {
			return nil
		}
		rv, err := pr.r.tmpl.Data(v, vars)
		if err != nil {
			return fmt.Errorf("environment: %s", templateErr(err))
		}
		m, ok := rv.(map[string]any)
		if !ok {
			return fmt.Errorf("environment must be a dictionary, received %s", jinja.PyStr(rv))
		}
		if env == nil {
			env = map[string]string{}
		}
		for k, v := range m {
			if v == omitToken {
				continue
			}
			env[k] = jinja.PyStr(v)
		}
		return nil
	}
	if err := add(pr.play.Environment); err != nil {
		return nil, err
	}
	for _, p := range st.parents {
		if err := add(p.Environment); err != nil {
			return nil, err
		}
	}
	if err := add(st.task.Environment); err != nil {
		return nil, err
	}
	return env, nil
}

// controller answers actions that need no job: async_status and meta.
func (pr *playRun) controller(ctx context.Context, st *scoped, info *module.Info, args map[string]any, vars map[string]any) (map[string]any, bool) {
	switch info.Name {
	case "async_status":
		return pr.asyncStatus(ctx, st, args, vars), false
	case "meta":
		action := jinja.PyStr(args["_raw_params"])
		switch action {
		case "noop", "flush_handlers", "refresh_inventory", "clear_facts", "clear_host_errors", "end_play", "end_host", "reset_connection":
			return map[string]any{"changed": false, "skipped": false, "_gorun_meta": action}, false
		}
		return map[string]any{"failed": true, "msg": fmt.Sprintf("invalid meta action requested: %s", action)}, true
	}
	return map[string]any{"failed": true, "msg": "unsupported action " + info.Name}, true
}

// asyncStatus answers async_status from the job's KV record: no round trip
// to the target.
func (pr *playRun) asyncStatus(ctx context.Context, st *scoped, args map[string]any, vars map[string]any) map[string]any {
	jid := jinja.PyStr(args["jid"])
	mode := "status"
	if m, ok := args["mode"]; ok {
		mode = jinja.PyStr(m)
	}
	for k := range args {
		if k != "jid" && k != "mode" && k != "_async_dir" {
			return map[string]any{"failed": true, "changed": false, "exception": "NoneType: None\n",
				"msg": fmt.Sprintf("Unsupported parameters for (async_status) module: %s. Supported parameters include: _async_dir, jid, mode.", k)}
		}
	}
	if _, ok := args["jid"]; !ok || jid == "" {
		return map[string]any{"failed": true, "changed": false, "exception": "NoneType: None\n", "msg": "missing required arguments: jid"}
	}
	if mode != "status" && mode != "cleanup" {
		return map[string]any{"failed": true, "changed": false, "exception": "NoneType: None\n", "msg": "value of mode must be one of: status, cleanup, got: " + mode}
	}
	dir := pr.r.cfg.AsyncDir
	if s := firstString(vars, "ansible_async_dir"); s != "" {
		dir = s
	}
	base := map[string]any{"ansible_job_id": jid, "started": 0, "finished": 0, "stdout": "", "stderr": "",
		"stdout_lines": []any{}, "stderr_lines": []any{}, "changed": false}
	e, err := pr.r.st.Get(ctx, jid)
	found := err == nil
	if err != nil && !errors.Is(err, status.ErrNotFound) {
		return map[string]any{"failed": true, "changed": false, "msg": "reading job record: " + err.Error()}
	}
	var rec *job.Record
	file := joinDir(pr.expandHome(dir, vars, st), jid)
	if found {
		rec = e.Record
		if rec.NoLog {
			// Shown censored, as the job's own result was (Ansible shows
			// it in clear); registered as it is. A record of another run
			// is read censored: its values are sealed under that run's key.
			base["_ansible_no_log"] = true
		}
		if rec.Async == 0 || !rec.Erased.IsZero() {
			found = false // a synchronous job, or one erased by cleanup
		} else if rec.Remote != nil && rec.Remote.ResultsFile != "" {
			file = rec.Remote.ResultsFile
		}
	}
	if mode == "cleanup" {
		base["erased"] = file
		if !found {
			base["failed"], base["finished"], base["started"], base["msg"] = true, 1, 1, "could not find job"
			return base
		}
		if err := pr.cleanup(ctx, st, rec, file, vars); err != nil {
			return map[string]any{"failed": true, "changed": false, "msg": err.Error()}
		}
		return base
	}
	base["results_file"] = file
	base["started"] = 1
	if !found {
		base["failed"] = true
		base["finished"] = 1
		base["msg"] = "could not find job"
		return base
	}
	switch {
	case !rec.State.Terminal():
		return base
	case rec.State == job.StateTimeout:
		base["failed"] = true
		base["finished"] = 1
		base["msg"] = "Timeout exceeded"
		if rec.Remote != nil && rec.Remote.PID > 0 {
			base["child_pid"] = rec.Remote.PID
		}
		return base
	}
	res := recordResult(rec)
	for k, v := range res {
		base[k] = v
	}
	base["finished"] = 1
	base["started"] = 1
	base["ansible_job_id"] = jid
	base["results_file"] = file
	return base
}

// cleanup erases an async job: its record becomes a tombstone that reads as
// missing, and a job on the record's host removes its directory.
func (pr *playRun) cleanup(ctx context.Context, st *scoped, rec *job.Record, dir string, vars map[string]any) error {
	if _, err := pr.r.st.Modify(ctx, rec.JID, func(cur *job.Record) bool {
		cur.Erased = time.Now().UTC()
		return true
	}); err != nil {
		return fmt.Errorf("erasing job record %s: %w", rec.JID, err)
	}
	if rec.Remote == nil {
		return nil // never launched: nothing on the target
	}
	target, err := pr.target(rec.Host, vars, st)
	if err != nil {
		return err
	}
	j := &job.Job{ID: job.IDFor(pr.r.cfg.RunID, "cleanup", rec.JID), RunID: pr.r.cfg.RunID, Task: "async_status cleanup", Module: module.CleanupModule,
		Args: map[string]any{"path": dir}, Target: target, Created: time.Now().UTC()}
	done, err := pr.r.runJob(ctx, j, nil)
	if err != nil {
		return fmt.Errorf("removing job directory %s: %w", dir, err)
	}
	if done.State != job.StateFinished {
		return fmt.Errorf("removing job directory %s: %s", dir, done.Msg)
	}
	return nil
}

func joinDir(dir, jid string) string {
	return path.Join(dir, jid)
}

// expandHome expands a leading ~ of a target path the way Ansible's
// controller does (~ is the remote user's home). gorun does not ask the
// target: root's home is /root, the local user's is known, others are
// taken to be /home/<user>.
func (pr *playRun) expandHome(dir string, vars map[string]any, st *scoped) string {
	if dir != "~" && !strings.HasPrefix(dir, "~/") {
		return dir
	}
	user := firstString(vars, "ansible_user", "ansible_ssh_user")
	if user == "" {
		user = pr.r.cfg.RemoteUser
	}
	if firstString(vars, "ansible_connection") == "local" {
		user = ""
	}
	var t job.Target
	pr.becomeSettings(&t, vars, st)
	if t.Become {
		user = t.BecomeUser
	}
	var home string
	switch {
	case user == "root":
		home = "/root"
	case user == "" || user == currentUser():
		h, err := os.UserHomeDir()
		if err != nil {
			return dir
		}
		home = h
	default:
		home = "/home/" + user
	}
	return home + strings.TrimPrefix(dir, "~")
}

func currentUser() string {
	if u, err := osuser.Current(); err == nil {
		return u.Username
	}
	return ""
}

// runAsync runs an async job: with poll 0 it returns once the job runs on
// its target; otherwise it follows the record, reporting ASYNC POLL every
// poll seconds, until the job ends or its time limit passes. The job's end
// is seen the instant its record changes.
func (pr *playRun) runAsync(ctx context.Context, j *job.Job, h *hostState, ev *Event) (map[string]any, bool) {
	resultsFile := joinDir(j.AsyncDir, j.ID)
	launched := func(rec *job.Record) bool { return rec.State.Terminal() || rec.Remote != nil }
	shownJID := j.ID // in ASYNC OK/FAILED: None for a no_log job, as Ansible's censored result has no job id
	if j.NoLog {
		shownJID = "None"
	}
	if j.Poll == 0 {
		rec, err := pr.r.runJob(ctx, j, launched)
		if err != nil {
			return map[string]any{"failed": true, "msg": "gorun: " + err.Error()}, true
		}
		if rec.Remote == nil {
			// ended before it ran on the target: a launch failure or an
			// unreachable host
			return recordResult(rec), false
		}
		return map[string]any{"ansible_job_id": j.ID, "started": 1, "finished": 0, "results_file": rec.Remote.ResultsFile,
			"changed": true, "failed": 0}, false
	}
	sub, err := pr.r.submit(ctx, j, false)
	if err != nil {
		return map[string]any{"failed": true, "msg": "gorun: " + err.Error()}, true
	}
	defer sub.Close()
	timeout := func() (map[string]any, bool) {
		pr.r.cb.AsyncDone(h.name, shownJID, false)
		return map[string]any{"failed": true, "changed": false,
			"msg": fmt.Sprintf("async task did not complete within the requested time - %ds", j.Async),
			"async_result": map[string]any{"ansible_job_id": j.ID, "finished": 0, "started": 1,
				"results_file": resultsFile, "stdout": "", "stderr": "", "stdout_lines": []any{}, "stderr_lines": []any{}}}, false
	}
	// Ansible checks at most ceil(async/poll) times, every poll seconds from
	// the launch; gorun prints the same ASYNC POLL lines but sees the end at
	// once.
	var ticker *time.Ticker
	var tick <-chan time.Time
	var deadline <-chan time.Time
	var last *job.Record
	for {
		select {
		case rec := <-sub.C():
			pr.r.log.Debug("job record", "jid", rec.JID, "state", rec.State, "remote", rec.Remote != nil)
			last = rec
			if rec.Remote != nil {
				resultsFile = rec.Remote.ResultsFile
				if ticker == nil {
					ticker = time.NewTicker(time.Duration(j.Poll) * time.Second)
					defer ticker.Stop()
					tick = ticker.C
					// a guard in case no executor records the time limit
					dl := time.NewTimer(time.Until(rec.Remote.Launched.Add(time.Duration(j.Async)*time.Second + 10*time.Second)))
					defer dl.Stop()
					deadline = dl.C
				}
			}
			if !rec.State.Terminal() {
				continue
			}
			switch {
			case rec.State == job.StateTimeout:
				return timeout()
			case rec.State == job.StateUnreachable, rec.Remote == nil:
				return recordResult(rec), false
			}
			res := recordResult(rec)
			res["ansible_job_id"], res["started"], res["finished"], res["results_file"] = j.ID, 1, 1, resultsFile
			pr.r.cb.AsyncDone(h.name, shownJID, !truthy(res["failed"]))
			return res, false
		case <-tick:
			if last != nil && !last.State.Terminal() {
				pr.r.cb.AsyncPoll(h.name, j.ID, 1, 0)
			}
		case <-deadline:
			return timeout()
		case <-ctx.Done():
			return map[string]any{"failed": true, "msg": "interrupted"}, true
		}
	}
}

func sortStrings(s []string) { sort.Strings(s) }

// sequence implements with_sequence ("start=1 end=5 stride=1 format=%d" or "1-5").
func sequence(spec string) ([]any, error) {
	start, end, stride, format := 1, 0, 1, "%d"
	fields := strings.Fields(spec)
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			if a, b, ok := strings.Cut(f, "-"); ok {
				start, _ = strconv.Atoi(a)
				end, _ = strconv.Atoi(b)
			} else {
				end, _ = strconv.Atoi(f)
			}
			continue
		}
		n, _ := strconv.Atoi(v)
		switch k {
		case "start":
			start = n
		case "end":
			end = n
		case "count":
			end = start + n - 1
		case "stride":
			stride = n
		case "format":
			format = v
		}
	}
	if stride == 0 {
		return nil, errors.New("with_sequence: stride must not be 0")
	}
	var out []any
	for i := start; (stride > 0 && i <= end) || (stride < 0 && i >= end); i += stride {
		out = append(out, fmt.Sprintf(format, i))
		if len(out) > 100000 {
			return nil, errors.New("with_sequence: too many items")
		}
	}
	return out, nil
}
