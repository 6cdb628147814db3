package module

import (
	"context"
	"fmt"
	"regexp"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
)

// Async is a module in its async form: a script to run detached on the
// target, and how to turn the script's end into the module's result.
type Async struct {
	// Script is the POSIX sh script the job runs.
	Script string
	// Portable says Script means the same in every shell of
	// connection.PortableExecer's (the command module's line): the job's
	// runner may run it itself rather than through /bin/sh.
	Portable bool
	// Stdin, if not nil, is fed to the script.
	Stdin *string
	// Precheck, if not nil, runs before the launch; a non-nil result means
	// the module is done without launching (creates/removes, check mode).
	Precheck func(ctx context.Context, c connection.Conn) (map[string]any, error)
	// Finish builds the module result from how the script ended.
	Finish func(o Output) map[string]any
}

var jobDirRE = regexp.MustCompile(`/j\d{1,12}\.\d{1,12}$`)

// runCleanup removes an async job's directory; it refuses any path that
// does not end in a job id.
func runCleanup(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	path := str(j.Args["path"])
	if !jobDirRE.MatchString(path) {
		return map[string]any{"failed": true, "changed": false, "msg": fmt.Sprintf("refusing to remove %q: not an async job directory", path)}, nil
	}
	res, err := c.Exec(ctx, "rm -rf -- "+ShellQuote(path), nil)
	if err != nil {
		return nil, err
	}
	if res.RC != 0 {
		return map[string]any{"failed": true, "changed": false, "msg": "removing " + path + ": " + text(res.Stderr)}, nil
	}
	return map[string]any{"changed": true, "path": path}, nil
}

// AsyncOf returns the async form of job j's module. A non-nil result map
// means the job fails at once (bad arguments); an error means the module
// cannot run async.
func AsyncOf(j *job.Job) (*Async, map[string]any, error) {
	info, ok := Lookup(j.Module)
	if !ok || !info.Async {
		return nil, nil, fmt.Errorf("async is not supported for this task.")
	}
	switch info.Name {
	case "command", "shell":
		cmd, failed := ParseCommand(j.Args, j.Env, info.Name == "shell")
		if failed != nil {
			return nil, failed, nil
		}
		check := j.CheckMode
		return &Async{
			Script:   cmd.ScriptLine(),
			Portable: true, // as the synchronous form's (runCommand)
			Stdin:    cmd.Stdin,
			Precheck: func(ctx context.Context, c connection.Conn) (map[string]any, error) {
				return cmd.precheck(ctx, c, check)
			},
			Finish: cmd.Finish,
		}, nil, nil
	case "ping":
		data := "pong"
		if v, ok := j.Args["data"]; ok {
			data = str(v)
		}
		return &Async{Script: "echo pong", Portable: true, Finish: func(o Output) map[string]any {
			if o.RC != 0 {
				return map[string]any{"failed": true, "changed": false, "rc": o.RC, "msg": "ping failed: " + text(o.Stderr)}
			}
			return map[string]any{"changed": false, "ping": data}
		}}, nil, nil
	}
	return nil, nil, fmt.Errorf("module %s has no async form", info.Name)
}
