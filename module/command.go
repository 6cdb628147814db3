package module

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
)

// Markers the command wrapper prints on stderr when it cannot start the
// command, so the result can say what Python's subprocess would have said.
const (
	markENOENT = "__gorun:ENOENT__"
	markEACCES = "__gorun:EACCES__"
	markCHDIR  = "__gorun:CHDIR__"
)

var commandParams = []string{"_raw_params", "_uses_shell", "argv", "chdir", "cmd", "creates", "executable", "removes", "stdin", "stdin_add_newline", "strip_empty_ends"}

func runCommand(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	return runCmd(ctx, c, j, false)
}

func runShell(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	return runCmd(ctx, c, j, true)
}

// Command describes a command or shell invocation after argument checking.
type Command struct {
	Shell      bool
	Argv       []string // command module
	Script     string   // shell module
	Executable string
	Chdir      string
	Creates    string
	Removes    string
	Stdin      *string
	Strip      bool
	Env        map[string]string
}

// ParseCommand checks command/shell arguments as Ansible's command module
// does; a non-nil result map is the failure to report.
func ParseCommand(args map[string]any, env map[string]string, shell bool) (*Command, map[string]any) {
	fail := func(msg string) map[string]any {
		return map[string]any{"failed": true, "changed": false, "rc": 256, "msg": msg, "cmd": nil,
			"stdout": "", "stderr": "", "start": nil, "end": nil, "delta": nil}
	}
	name := "command"
	if shell {
		name = "shell"
	}
	if bad := unsupported(args, commandParams); bad != "" {
		return nil, map[string]any{"failed": true, "changed": false, "msg": fmt.Sprintf(
			"Unsupported parameters for (%s) module: %s. Supported parameters include: %s.",
			name, bad, strings.Join(commandParams, ", "))}
	}
	cmd := &Command{Shell: shell, Strip: true, Env: env}
	raw := str(args["_raw_params"])
	if raw == "" {
		raw = str(args["cmd"])
	}
	cmd.Chdir, cmd.Creates, cmd.Removes = str(args["chdir"]), str(args["creates"]), str(args["removes"])
	cmd.Executable = str(args["executable"])
	if v, ok := args["stdin"]; ok && v != nil {
		s := str(v)
		if b, ok := boolArg(args["stdin_add_newline"], true); !ok || b {
			s += "\n"
		}
		cmd.Stdin = &s
	}
	if b, ok := boolArg(args["strip_empty_ends"], true); ok {
		cmd.Strip = b
	}
	var argv []string
	if v, ok := args["argv"]; ok && v != nil {
		l, ok := v.([]any)
		if !ok {
			return nil, fail("argument 'argv' is of type " + pyType(v) + " and we were unable to convert to list")
		}
		for _, a := range l {
			argv = append(argv, str(a))
		}
	}
	if strings.TrimSpace(raw) == "" && len(argv) == 0 {
		return nil, fail("no command given")
	}
	if raw != "" && len(argv) > 0 {
		return nil, fail("only command or argv can be given, not both")
	}
	if shell {
		if raw == "" {
			raw = shellJoin(argv)
		}
		cmd.Script = raw
		if cmd.Executable == "" {
			cmd.Executable = "/bin/sh"
		}
		return cmd, nil
	}
	cmd.Executable = "" // ignored by command, as Ansible (with a warning)
	if raw != "" {
		var err error
		if argv, err = ShlexSplit(raw); err != nil {
			return nil, fail(err.Error())
		}
	}
	cmd.Argv = argv
	return cmd, nil
}

// Script returns the POSIX sh command line that runs c on a target.
func (c *Command) ScriptLine() string {
	var b strings.Builder
	writeEnv(&b, c.Env)
	if c.Chdir != "" {
		fmt.Fprintf(&b, "cd %s 2>/dev/null || { printf '%%s' %s >&2; exit 1; }\n", ShellQuote(c.Chdir), markCHDIR)
	}
	if c.Shell {
		fmt.Fprintf(&b, "exec %s -c %s", ShellQuote(c.Executable), ShellQuote(c.Script))
		return b.String()
	}
	// The program is looked up as Python's subprocess does (Ansible runs it
	// so): a path is taken as it is, a name searched in $PATH; not found is
	// ENOENT, found but not an executable file is EACCES. Shell builtins
	// only — no process — and the same in sh and bash (the line is
	// portable: see connection.PortableExecer).
	p := ShellQuote(c.Argv[0])
	fail := fmt.Sprintf("{ if [ $__e = 126 ]; then printf '%%s' %s >&2; else printf '%%s' %s >&2; fi; exit $__e; }", markEACCES, markENOENT)
	if strings.Contains(c.Argv[0], "/") {
		fmt.Fprintf(&b, "__e=127; [ -e %s ] && __e=126; [ -f %s ] && [ -x %s ] || %s\n", p, p, p, fail)
	} else {
		fmt.Fprintf(&b, "__e=127 __f=; IFS=:; for __d in $PATH; do if [ -f \"${__d:-.}\"/%s ] && [ -x \"${__d:-.}\"/%s ]; then __f=1; break; fi; [ -e \"${__d:-.}\"/%s ] && __e=126; done; unset IFS\n", p, p, p)
		fmt.Fprintf(&b, "[ -n \"$__f\" ] || %s\n", fail)
	}
	b.WriteString("exec " + shellJoin(c.Argv))
	return b.String()
}

func writeEnv(b *strings.Builder, env map[string]string) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s=%s; export %s\n", k, ShellQuote(env[k]), k)
	}
}

func runCmd(ctx context.Context, c connection.Conn, j *job.Job, shell bool) (map[string]any, error) {
	cmd, failed := ParseCommand(j.Args, j.Env, shell)
	if failed != nil {
		return failed, nil
	}
	if r, err := cmd.precheck(ctx, c, j.CheckMode); r != nil || err != nil {
		return r, err
	}
	var stdin []byte
	if cmd.Stdin != nil {
		stdin = []byte(*cmd.Stdin)
	}
	start := time.Now()
	res, err := connection.ExecPortable(ctx, c, cmd.ScriptLine(), stdin)
	end := time.Now()
	if err != nil {
		return nil, err
	}
	return cmd.Finish(Output{RC: res.RC, Stdout: res.Stdout, Stderr: res.Stderr, Start: PyTime(start), End: PyTime(end)}), nil
}

// base is the result skeleton Ansible's command module always returns.
func (cmd *Command) base() map[string]any {
	var cmdVal any = cmd.Script
	if !cmd.Shell {
		cmdVal = toAnyList(cmd.Argv)
	}
	return map[string]any{"changed": false, "stdout": "", "stderr": "", "rc": nil, "cmd": cmdVal,
		"start": nil, "end": nil, "delta": nil, "msg": ""}
}

// precheck applies creates/removes and check mode before the command runs:
// a non-nil result means the command does not run.
func (cmd *Command) precheck(ctx context.Context, c connection.Conn, check bool) (map[string]any, error) {
	r := cmd.base()
	verb := "Did"
	if check {
		verb = "Would"
	}
	if cmd.Creates != "" {
		ok, err := pathExists(ctx, c, cmd.Creates)
		if err != nil {
			return nil, err
		}
		if ok {
			r["msg"] = fmt.Sprintf("%s not run command since '%s' exists", verb, cmd.Creates)
			r["stdout"] = "skipped, since " + cmd.Creates + " exists"
			r["rc"] = 0
			return withLines(r), nil
		}
	}
	if cmd.Removes != "" {
		ok, err := pathExists(ctx, c, cmd.Removes)
		if err != nil {
			return nil, err
		}
		if !ok {
			r["msg"] = fmt.Sprintf("%s not run command since '%s' does not exist", verb, cmd.Removes)
			r["stdout"] = "skipped, since " + cmd.Removes + " does not exist"
			r["rc"] = 0
			return withLines(r), nil
		}
	}
	if check {
		r["changed"] = true
		r["rc"] = 0
		r["msg"] = "Command would have run if not in check mode"
		if cmd.Creates == "" && cmd.Removes == "" {
			r["skipped"] = true
			r["changed"] = false
		}
		return withLines(r), nil
	}
	return nil, nil
}

// Output is how a command ended: its exit status, output, and the start and
// end timestamps (Python datetime format).
type Output struct {
	RC             int
	Stdout, Stderr []byte
	Start, End     string
}

// Finish turns a command's output into the command module's result.
func (cmd *Command) Finish(o Output) map[string]any {
	if failed := startFailure(o.RC, string(o.Stderr), cmd); failed != nil {
		return withLines(failed)
	}
	r := cmd.base()
	r["changed"] = true
	r["start"], r["end"] = o.Start, o.End
	r["delta"] = nil
	if st, err1 := parsePyTime(o.Start); err1 == nil {
		if en, err2 := parsePyTime(o.End); err2 == nil {
			r["delta"] = PyDelta(en.Sub(st))
		}
	}
	r["rc"] = o.RC
	out, errOut := text(o.Stdout), text(o.Stderr)
	if cmd.Strip {
		out, errOut = strings.TrimRight(out, "\r\n"), strings.TrimRight(errOut, "\r\n")
	}
	r["stdout"], r["stderr"] = out, errOut
	if o.RC != 0 {
		r["msg"] = "non-zero return code"
		r["failed"] = true
	}
	return withLines(r)
}

// startFailure recognises the wrapper's markers: the command could not be
// started (as Python's subprocess raising OSError in Ansible's run_command).
func startFailure(rc int, stderr string, cmd *Command) map[string]any {
	var msg string
	switch {
	case rc == 127 && strings.HasSuffix(stderr, markENOENT):
		msg = fmt.Sprintf("[Errno 2] No such file or directory: b'%s'", cmd.Argv[0])
		rc = 2
	case rc == 126 && strings.HasSuffix(stderr, markEACCES):
		msg = fmt.Sprintf("[Errno 13] Permission denied: b'%s'", cmd.Argv[0])
		rc = 13
	case rc == 1 && strings.HasSuffix(stderr, markCHDIR):
		r := map[string]any{"failed": true, "changed": false, "stdout": "", "stderr": "", "rc": nil,
			"start": nil, "end": nil, "delta": nil,
			"msg": fmt.Sprintf("Unable to change directory before execution: [Errno 2] No such file or directory: b'%s'", cmd.Chdir)}
		if cmd.Shell {
			r["cmd"] = cmd.Script
		} else {
			r["cmd"] = toAnyList(cmd.Argv)
		}
		return r
	default:
		return nil
	}
	return map[string]any{"failed": true, "changed": false, "cmd": shellJoin(cmd.Argv), "msg": msg, "rc": rc,
		"stdout": "", "stderr": ""}
}

func pathExists(ctx context.Context, c connection.Conn, path string) (bool, error) {
	test := "[ -e " + ShellQuote(path) + " ]"
	if strings.ContainsAny(path, "*?[") {
		test = "for __f in " + globQuote(path) + "; do [ -e \"$__f\" ] && exit 0; done; exit 1"
	}
	res, err := c.Exec(ctx, test, nil)
	if err != nil {
		return false, err
	}
	return res.RC == 0, nil
}

func runRaw(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	raw := str(j.Args["_raw_params"])
	var b strings.Builder
	writeEnv(&b, j.Env)
	if exe := str(j.Args["executable"]); exe != "" {
		b.WriteString("exec " + ShellQuote(exe) + " -c " + ShellQuote(raw))
	} else {
		b.WriteString(raw)
	}
	res, err := c.Exec(ctx, b.String(), nil)
	if err != nil {
		return nil, err
	}
	r := map[string]any{"changed": true, "rc": res.RC, "stdout": text(res.Stdout), "stderr": text(res.Stderr)}
	if res.RC != 0 {
		r["failed"] = true
		r["msg"] = "non-zero return code"
	}
	return withLines(r), nil
}

func runPing(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	data := "pong"
	if v, ok := j.Args["data"]; ok {
		data = str(v)
	}
	if data == "crash" {
		return map[string]any{"failed": true, "changed": false, "msg": "boom"}, nil
	}
	res, err := c.Exec(ctx, "echo pong", nil)
	if err != nil {
		return nil, err
	}
	if res.RC != 0 {
		return map[string]any{"failed": true, "changed": false, "rc": res.RC,
			"msg": "ping failed: " + strings.TrimSpace(text(res.Stderr))}, nil
	}
	return map[string]any{"changed": false, "ping": data}, nil
}
