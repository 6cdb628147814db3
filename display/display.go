// Package display prints a run the way ansible-playbook's default callback
// does (PLAY/TASK banners, ok/changed/failed/fatal lines, ASYNC POLL, FAILED
// - RETRYING, PLAY RECAP), or as one JSON document for machines.
package display

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/playbook"
)

// ANSI colours, as Ansible's defaults.
const (
	colorOK          = "0;32"
	colorChanged     = "0;33"
	colorError       = "0;31"
	colorSkip        = "0;36"
	colorUnreachable = "1;31"
	colorWarn        = "1;35"
	colorDebug       = "0;90"
	colorHighlight   = "0;37"
)

// Censored replaces a no_log result.
const Censored = job.Censored

// Options configures the default output.
type Options struct {
	// Verbosity is the number of -v.
	Verbosity int
	// Color turns ANSI colours on (only on a TTY, unless forced).
	Color bool
	// Columns is the terminal width; 0 means 80 (as off a TTY).
	Columns int
	// Progress turns on the progress line of long tasks: only for a
	// terminal, since it writes "\r" and escape codes (see progress.go).
	// Without it the output is exactly ansible-playbook's.
	Progress bool
	// PlayHosts, if not nil, returns the hosts a play runs on, for the
	// progress line's count of hosts.
	PlayHosts func(play *playbook.Play) []string
}

// Default is the human-readable output of ansible-playbook's default callback.
type Default struct {
	out, err io.Writer
	opt      Options
	mu       sync.Mutex
	lastTask string
	prog     *progress // nil without Options.Progress
}

// NewDefault returns the default output writing to out (results) and err
// (warnings).
func NewDefault(out, err io.Writer, opt Options) *Default {
	d := &Default{out: out, err: err, opt: opt}
	if opt.Progress {
		d.initProgress()
	}
	return d
}

func (d *Default) color(code, s string) string {
	if !d.opt.Color || code == "" {
		return s
	}
	return "\033[" + code + "m" + s + "\033[0m"
}

func (d *Default) println(code, s string) {
	fmt.Fprintln(d.out, d.color(code, s))
}

func (d *Default) banner(msg string) {
	cols := 79
	if d.opt.Columns > 0 {
		cols = max(79, d.opt.Columns-1)
	}
	msg = strings.TrimSpace(msg)
	stars := cols - len([]rune(msg))
	if stars <= 3 {
		stars = 3
	}
	fmt.Fprintf(d.out, "\n%s %s\n", msg, strings.Repeat("*", stars))
}

// PlaybookStart implements dispatcher.Callback.
func (d *Default) PlaybookStart(pb *playbook.Playbook) {}

// PlayStart implements dispatcher.Callback.
func (d *Default) PlayStart(play *playbook.Play, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.progressPlay(play)
	d.banner("PLAY [" + name + "]")
	d.lastTask = ""
}

// NoHostsMatched implements dispatcher.Callback.
func (d *Default) NoHostsMatched() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.progressEnd()
	d.println(colorSkip, "skipping: no hosts matched")
}

// TaskStart implements dispatcher.Callback.
func (d *Default) TaskStart(name string, handler bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prefix := "TASK"
	if handler {
		prefix = "RUNNING HANDLER"
	}
	d.banner(prefix + " [" + name + "]")
	d.lastTask = name
	d.progressTask()
}

// NoMoreHosts implements dispatcher.Callback.
func (d *Default) NoMoreHosts() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.progressEnd()
	d.banner("NO MORE HOSTS LEFT")
}

// Warning implements dispatcher.Callback.
func (d *Default) Warning(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprint(d.err, d.color(colorWarn, wrap("[WARNING]: "+strings.TrimSpace(msg), 79))+"\n")
}

// Error prints an ERROR! message (parse errors and the like) to err.
func (d *Default) Error(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintln(d.err, d.color(colorError, msg))
}

// wrap wraps text at width as Python's textwrap.wrap + join does.
func wrap(s string, width int) string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		line := ""
		for _, w := range words {
			switch {
			case line == "":
				line = w
			case len([]rune(line))+1+len([]rune(w)) <= width:
				line += " " + w
			default:
				lines = append(lines, line)
				line = w
			}
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// AsyncPoll implements dispatcher.Callback.
func (d *Default) AsyncPoll(host, jid string, started, finished any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.println(colorDebug, fmt.Sprintf("ASYNC POLL on %s: jid=%s started=%s finished=%s", host, jid,
		jinja.PyStr(started), jinja.PyStr(finished)))
}

// AsyncDone implements dispatcher.Callback.
func (d *Default) AsyncDone(host, jid string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	word := "OK"
	if !ok {
		word = "FAILED"
	}
	d.println(colorDebug, fmt.Sprintf("ASYNC %s on %s: jid=%s", word, host, jid))
}

// Retry implements dispatcher.Callback.
func (d *Default) Retry(ev *dispatcher.Event, retriesLeft int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := fmt.Sprintf("FAILED - RETRYING: [%s]: %s (%d retries left).", ev.Host, ev.TaskName, retriesLeft)
	if d.opt.Verbosity >= 2 {
		msg += "Result was: " + d.dump(Clean(ev.Result, ev.Action, false), false)
	}
	d.println(colorDebug, msg)
}

// HostResult implements dispatcher.Callback.
func (d *Default) HostResult(ev *dispatcher.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.progressResult(ev)
	res := Clean(ev.Result, ev.Action, true)
	verbose := (d.opt.Verbosity > 0 || ev.Result["_ansible_verbose_always"] == true) &&
		ev.Result["_ansible_verbose_override"] != true
	host := ev.Host
	// A no_log loop's results are censored as a whole: Ansible then
	// reports the task as a plain result after its items.
	noLog := ev.Result["_ansible_no_log"] == true
	if ev.Item {
		label := itemLabel(ev.Result)
		switch ev.Status {
		case dispatcher.StatusOK, dispatcher.StatusChanged:
			code, word := colorOK, "ok"
			if ev.Status == dispatcher.StatusChanged {
				code, word = colorChanged, "changed"
			}
			msg := fmt.Sprintf("%s: [%s] => (item=%s)", word, host, label)
			if verbose {
				msg += " => " + d.dump(res, ev.Result["_ansible_verbose_always"] == true)
			}
			d.println(code, msg)
		case dispatcher.StatusSkipped:
			msg := fmt.Sprintf("skipping: [%s] => (item=%s) ", host, label)
			if verbose {
				msg += " => " + d.dump(res, false)
			}
			d.println(colorSkip, msg)
		case dispatcher.StatusFailed:
			if !noLog {
				d.exception(ev.Result)
			}
			d.println(colorError, fmt.Sprintf("failed: [%s] (item=%s) => %s", host, label, d.dump(res, ev.Result["_ansible_verbose_always"] == true)))
		}
		return
	}
	if !noLog {
		d.warnings(ev.Result)
	}
	switch ev.Status {
	case dispatcher.StatusOK, dispatcher.StatusChanged:
		if ev.Loop && !noLog {
			return
		}
		code, word := colorOK, "ok"
		if ev.Status == dispatcher.StatusChanged {
			code, word = colorChanged, "changed"
		}
		msg := fmt.Sprintf("%s: [%s]", word, host)
		if verbose {
			msg += " => " + d.dump(res, ev.Result["_ansible_verbose_always"] == true)
		}
		d.println(code, msg)
	case dispatcher.StatusSkipped:
		msg := fmt.Sprintf("skipping: [%s]", host)
		if verbose {
			msg += " => " + d.dump(res, false)
		}
		d.println(colorSkip, msg)
	case dispatcher.StatusUnreachable:
		d.println(colorUnreachable, fmt.Sprintf("fatal: [%s]: UNREACHABLE! => %s", host, d.dump(res, false)))
	case dispatcher.StatusFailed:
		if !ev.Loop || noLog {
			if !noLog {
				d.exception(ev.Result)
			}
			d.println(colorError, fmt.Sprintf("fatal: [%s]: FAILED! => %s", host, d.dump(res, ev.Result["_ansible_verbose_always"] == true)))
		}
		if ev.Ignored {
			d.println(colorSkip, "...ignoring")
		}
	}
}

func (d *Default) exception(res map[string]any) {
	exc, ok := res["exception"].(string)
	if !ok || d.opt.Verbosity >= 3 {
		return
	}
	lines := strings.Split(strings.TrimSpace(exc), "\n")
	msg := "An exception occurred during task execution. To see the full traceback, use -vvv. The error was: " + lines[len(lines)-1]
	d.println(colorError, msg)
}

func (d *Default) warnings(res map[string]any) {
	if ws, ok := res["warnings"].([]any); ok {
		for _, w := range ws {
			fmt.Fprint(d.err, d.color(colorWarn, wrap("[WARNING]: "+jinja.PyStr(w), 79))+"\n")
		}
	}
}

func (d *Default) dump(res map[string]any, verboseAlways bool) string {
	indent := 0
	if verboseAlways || d.opt.Verbosity > 2 {
		indent = 4
	}
	return PyJSON(res, indent)
}

func itemLabel(res map[string]any) string {
	if res["_ansible_no_log"] == true {
		// ansible-core 2.14 labels the censored copy of the result,
		// which has no label left
		return "None"
	}
	if l, ok := res["_ansible_item_label"]; ok {
		return jinja.PyStr(l)
	}
	return jinja.PyStr(res["item"])
}

// Clean returns a result as Ansible displays it: censored when no_log,
// without failed/skipped (top level, when top is true), internal keys,
// invocation and exception; debug results keep only what was asked for.
func Clean(res map[string]any, action string, top bool) map[string]any {
	if res["_ansible_no_log"] == true {
		out := map[string]any{"censored": Censored}
		for _, k := range []string{"attempts", "changed", "retries"} {
			if v, ok := res[k]; ok {
				out[k] = v
			}
		}
		return out
	}
	out := make(map[string]any, len(res))
	for k, v := range res {
		if strings.HasPrefix(k, "_ansible") || strings.HasPrefix(k, "_gorun") || k == "invocation" || k == "exception" {
			continue
		}
		if top && (k == "failed" || k == "skipped") {
			continue
		}
		if k == "results" {
			if l, ok := v.([]any); ok {
				cl := make([]any, len(l))
				for i, e := range l {
					if m, ok := e.(map[string]any); ok {
						cl[i] = Clean(m, "", false)
					} else {
						cl[i] = e
					}
				}
				v = cl
			}
		}
		out[k] = v
	}
	if isDebug(action) {
		if _, ok := out["msg"]; ok {
			for k := range out {
				if k != "msg" && k != "warnings" && k != "deprecations" {
					delete(out, k)
				}
			}
		} else {
			for _, k := range []string{"changed", "failed", "skipped", "invocation", "skip_reason"} {
				delete(out, k)
			}
		}
	}
	return out
}

func isDebug(action string) bool {
	return action == "debug" || action == "ansible.builtin.debug" || action == "ansible.legacy.debug"
}

// Recap implements dispatcher.Callback.
func (d *Default) Recap(r *dispatcher.Recap) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.progressEnd()
	d.banner("PLAY RECAP")
	hosts := append([]string{}, r.Hosts...)
	sort.Strings(hosts)
	for _, h := range hosts {
		s := r.Stats[h]
		hostCode := colorOK
		switch {
		case s.Failed > 0 || s.Unreachable > 0:
			hostCode = colorError
		case s.Changed > 0:
			hostCode = colorChanged
		}
		hostCol := fmt.Sprintf("%-26s", h)
		if d.opt.Color {
			hostCol = fmt.Sprintf("%-37s", d.color(hostCode, h))
		}
		fmt.Fprintf(d.out, "%s : %s %s %s %s %s %s %s\n", hostCol,
			d.stat("ok", s.OK, colorOK), d.stat("changed", s.Changed, colorChanged),
			d.stat("unreachable", s.Unreachable, colorUnreachable), d.stat("failed", s.Failed, colorError),
			d.stat("skipped", s.Skipped, colorSkip), d.stat("rescued", s.Rescued, colorOK),
			d.stat("ignored", s.Ignored, colorWarn))
	}
	fmt.Fprintln(d.out)
}

func (d *Default) stat(name string, n int, code string) string {
	s := fmt.Sprintf("%s=%-4d", name, n)
	if n != 0 {
		return d.color(code, s)
	}
	return s
}
