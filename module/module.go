// Package module implements the modules a job runs (command, shell, raw,
// ping, setup, and the controller-style actions debug, set_fact, fail and
// assert), producing results shaped as Ansible's, and knows which module
// names exist and what each supports.
package module

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
)

// Info describes a module or action.
type Info struct {
	// Name is the canonical short name.
	Name string
	// Remote is true when the module runs on the target (needs a connection).
	Remote bool
	// Async is true when the module may run with async (Ansible's
	// _supports_async).
	Async bool
	// Controller is true for actions the dispatcher answers itself, without a
	// job (async_status, meta).
	Controller bool
	// FreeForm is true when the module takes a free-form string (_raw_params).
	FreeForm bool
	run      func(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error)
}

var registry = map[string]*Info{}

func register(i *Info) { registry[i.Name] = i }

func init() {
	register(&Info{Name: "command", Remote: true, Async: true, FreeForm: true, run: runCommand})
	register(&Info{Name: "shell", Remote: true, Async: true, FreeForm: true, run: runShell})
	register(&Info{Name: "raw", Remote: true, FreeForm: true, run: runRaw})
	register(&Info{Name: "ping", Remote: true, Async: true, run: runPing})
	register(&Info{Name: "setup", Remote: true, run: runSetup})
	register(&Info{Name: "debug", run: runDebug})
	register(&Info{Name: "set_fact", run: runSetFact})
	register(&Info{Name: "fail", run: runFail})
	register(&Info{Name: "assert", run: runAssert})
	register(&Info{Name: "async_status", Controller: true})
	register(&Info{Name: CleanupModule, Remote: true, run: runCleanup})
	register(&Info{Name: "meta", Controller: true, FreeForm: true})
}

// CleanupModule is the internal module that removes an async job's
// directory on its target (async_status mode=cleanup).
const CleanupModule = "gorun_async_cleanup"

// Lookup resolves a module name as written in a playbook (command,
// ansible.builtin.command, ansible.legacy.command) to its Info.
func Lookup(action string) (*Info, bool) {
	name := action
	for _, p := range []string{"ansible.builtin.", "ansible.legacy."} {
		name = strings.TrimPrefix(name, p)
	}
	i, ok := registry[name]
	return i, ok
}

// Known is Lookup shaped for the playbook parser.
func Known(action string) (string, bool) {
	i, ok := Lookup(action)
	if !ok {
		return "", false
	}
	return i.Name, true
}

// Names lists the known modules, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run runs job j's module. c may be nil for modules that are not Remote. A
// returned error means the module could not run at all (it wraps
// connection.ErrUnreachable when the target could not be reached); module
// failures are results with "failed": true.
func Run(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	i, ok := Lookup(j.Module)
	if !ok || i.run == nil {
		return map[string]any{"failed": true, "changed": false,
			"msg": fmt.Sprintf("The module %s was not found in configured module paths", j.Module)}, nil
	}
	if i.Remote && c == nil {
		return nil, fmt.Errorf("module %s needs a connection", j.Module)
	}
	return i.run(ctx, c, j)
}
