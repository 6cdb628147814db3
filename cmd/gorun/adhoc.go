package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gorun/gorun/display"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
)

var adhocOpts = append(append([]*opt{}, commonOpts...), append([]*opt{
	{short: "m", long: []string{"module-name"}, arg: "MODULE_NAME", help: "module to execute (default command)"},
	{short: "a", long: []string{"args"}, arg: "MODULE_ARGS", help: "the module's arguments: key=value pairs, or a command line for command/shell/raw"},
	{short: "B", long: []string{"background"}, arg: "SECONDS", help: "run asynchronously, failing after SECONDS (default 0: synchronously)"},
	{short: "P", long: []string{"poll"}, arg: "POLL_INTERVAL", help: "poll interval with -B (default 10); 0 fires and forgets"},
	{short: "o", long: []string{"one-line"}, help: "accepted for compatibility; output is as the minimal callback"},
}, natsOpts...)...)

// cmdRun is `gorun run PATTERN -m MODULE -a ARGS`, like the ansible command.
func cmdRun(ctx context.Context, e *env, args []string) int {
	const positional = "PATTERN"
	p, err := parseOpts(args, adhocOpts)
	if err != nil {
		return usageFail(e, "run", positional, adhocOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("run", positional, adhocOpts))
		return 0
	}
	if len(p.args) != 1 {
		return usageFail(e, "run", positional, adhocOpts, "the following arguments are required: pattern")
	}
	pattern := p.args[0]
	s, code := prepare(e, "run", positional, adhocOpts, p)
	if code != 0 {
		return code
	}
	color := (e.isTTY && !s.cfg.NoColor) || s.cfg.ForceColor
	out := display.NewMinimal(e.stdout, e.stderr, color)
	for _, w := range s.warnings {
		out.Warning(w)
	}
	if code := s.loadInventory(e, p, out); code != 0 {
		return code
	}
	mod := p.str("module-name")
	if mod == "" {
		mod = "command"
	}
	modArgs := p.str("args")
	background, poll := 0, s.cfg.PollInterval
	if v := p.str("background"); v != "" {
		if background, err = strconv.Atoi(v); err != nil {
			return usageFail(e, "run", positional, adhocOpts, fmt.Sprintf("argument -B/--background: invalid int value: '%s'", v))
		}
	}
	if v := p.str("poll"); v != "" {
		if poll, err = strconv.Atoi(v); err != nil {
			return usageFail(e, "run", positional, adhocOpts, fmt.Sprintf("argument -P/--poll: invalid int value: '%s'", v))
		}
	}
	if info, ok := module.Lookup(mod); ok && (info.Name == "command" || info.Name == "shell") && modArgs == "" {
		return fail(e, 5, fmt.Sprintf("ERROR! No argument passed to %s module", mod))
	}
	// The ad-hoc task is a one-task play, parsed like any playbook so that
	// -a takes exactly the forms a task does.
	task := map[string]any{"name": "", mod: modArgs}
	if background > 0 {
		task["async"], task["poll"] = background, poll
	}
	play := []any{map[string]any{"name": "Ansible Ad-Hoc", "hosts": pattern, "gather_facts": false, "tasks": []any{task}}}
	data, _ := json.Marshal(play)
	known := func(action string) (string, bool) {
		if m, ok := module.Known(action); ok {
			return m, true
		}
		return action, true // unknown modules fail on each host, as with ansible
	}
	pb, err := playbook.Parse("<ad-hoc>", data, known)
	if err != nil {
		var pe *playbook.ParseError
		if errors.As(err, &pe) {
			return fail(e, pe.ExitCode(), pe.Ansible())
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	return s.run(ctx, e, p, []*playbook.Playbook{pb}, out)
}
