package display

import (
	"fmt"
	"io"
	"sync"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/playbook"
)

// Minimal is the output of ad-hoc commands (`gorun run`), as Ansible's
// minimal callback: one block per host, "host | STATE | rc=N >>" and the
// output for commands, "host | STATE => {json}" otherwise.
type Minimal struct {
	out, err io.Writer
	color    bool
	mu       sync.Mutex
	d        *Default // for warnings and colours
}

// NewMinimal returns the ad-hoc output.
func NewMinimal(out, err io.Writer, color bool) *Minimal {
	return &Minimal{out: out, err: err, color: color, d: NewDefault(out, err, Options{Color: color})}
}

// commandModules print their output raw (Ansible's MODULE_NO_JSON).
var commandModules = map[string]bool{"command": true, "shell": true, "raw": true, "win_command": true, "win_shell": true, "script": true}

func isCommand(action string) bool {
	for _, p := range []string{"", "ansible.builtin.", "ansible.legacy."} {
		if len(action) > len(p) && action[:len(p)] == p && commandModules[action[len(p):]] {
			return true
		}
	}
	return false
}

func (m *Minimal) commandMsg(host string, res map[string]any, caption string) string {
	rc := any(-1)
	if v, ok := res["rc"]; ok {
		rc = v
	}
	s := fmt.Sprintf("%s | %s | rc=%s >>\n", host, caption, jinja.PyStr(rc))
	for _, k := range []string{"stdout", "stderr", "msg"} {
		if v, ok := res[k].(string); ok {
			s += v
		}
	}
	return s
}

// HostResult implements dispatcher.Callback.
func (m *Minimal) HostResult(ev *dispatcher.Event) {
	if ev.Item {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	res := Clean(ev.Result, ev.Action, true)
	_, hasJob := ev.Result["ansible_job_id"]
	_, moduleStderr := ev.Result["module_stderr"]
	switch ev.Status {
	case dispatcher.StatusFailed:
		m.d.exception(ev.Result)
		if isCommand(ev.Action) && !moduleStderr && !hasJob {
			m.d.println(colorError, m.commandMsg(ev.Host, res, "FAILED"))
		} else {
			m.d.println(colorError, fmt.Sprintf("%s | FAILED! => %s", ev.Host, PyJSON(res, 4)))
		}
	case dispatcher.StatusUnreachable:
		m.d.println(colorUnreachable, fmt.Sprintf("%s | UNREACHABLE! => %s", ev.Host, PyJSON(res, 4)))
	case dispatcher.StatusSkipped:
		m.d.println(colorSkip, ev.Host+" | SKIPPED")
	default:
		state, code := "SUCCESS", colorOK
		if ev.Status == dispatcher.StatusChanged {
			state, code = "CHANGED", colorChanged
		}
		if isCommand(ev.Action) && !hasJob {
			m.d.println(code, m.commandMsg(ev.Host, res, state))
		} else {
			m.d.println(code, fmt.Sprintf("%s | %s => %s", ev.Host, state, PyJSON(res, 4)))
		}
	}
}

// PlaybookStart implements dispatcher.Callback.
func (m *Minimal) PlaybookStart(*playbook.Playbook) {}

// PlayStart implements dispatcher.Callback.
func (m *Minimal) PlayStart(*playbook.Play, string) {}

// NoHostsMatched implements dispatcher.Callback.
func (m *Minimal) NoHostsMatched() {}

// TaskStart implements dispatcher.Callback.
func (m *Minimal) TaskStart(string, bool) {}

// Retry implements dispatcher.Callback.
func (m *Minimal) Retry(*dispatcher.Event, int) {}

// AsyncPoll implements dispatcher.Callback.
func (m *Minimal) AsyncPoll(string, string, any, any) {}

// AsyncDone implements dispatcher.Callback.
func (m *Minimal) AsyncDone(string, string, bool) {}

// NoMoreHosts implements dispatcher.Callback.
func (m *Minimal) NoMoreHosts() {}

// Warning implements dispatcher.Callback.
func (m *Minimal) Warning(msg string) { m.d.Warning(msg) }

// Recap implements dispatcher.Callback: ad-hoc output has none.
func (m *Minimal) Recap(*dispatcher.Recap) {}
