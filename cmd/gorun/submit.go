package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/runs"
	"github.com/gorun/gorun/status"
)

var submitOpts = append(append([]*opt{}, commonOpts...), natsOpts...)

// cmdSubmit hands a whole run to the dispatcher service and prints its run
// id at once.
func cmdSubmit(ctx context.Context, e *env, args []string) int {
	const positional = "PLAYBOOK [PLAYBOOK ...]"
	p, err := parseOpts(args, submitOpts)
	if err != nil {
		return usageFail(e, "submit", positional, submitOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("submit", positional, submitOpts))
		return 0
	}
	if len(p.args) == 0 {
		return usageFail(e, "submit", positional, submitOpts, "the following arguments are required: playbook")
	}
	s, code := prepare(e, "submit", positional, submitOpts, p)
	if code != 0 {
		return code
	}
	for _, w := range s.warnings {
		fmt.Fprintln(e.stderr, "[WARNING]: "+w)
	}
	b := runs.NewBundle()
	spec := &runs.Spec{RunID: s.runID, Options: runs.OptionsOf(s.dcfg), Submitted: time.Now().UTC(), Submitter: submitter(),
		SealKey: status.NewSealKey()}
	for _, a := range p.args {
		abs, err := filepath.Abs(a)
		if err != nil {
			return fail(e, 1, "ERROR! "+err.Error())
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() {
			return fail(e, 1, fmt.Sprintf("ERROR! the playbook: %s could not be found", a))
		}
		// parse errors are reported here, before anything is submitted
		if _, err := playbook.Load(abs, module.Known); err != nil {
			var pe *playbook.ParseError
			if errors.As(err, &pe) {
				return fail(e, pe.ExitCode(), pe.Ansible())
			}
			return fail(e, 1, "ERROR! "+err.Error())
		}
		if err := b.AddTree(filepath.Dir(abs)); err != nil {
			return fail(e, 1, "ERROR! "+err.Error())
		}
		spec.Playbooks = append(spec.Playbooks, abs)
	}
	sources := p.vals["inventory"]
	if len(sources) == 0 {
		sources = s.cfg.Inventory
	}
	for _, src := range sources {
		if _, err := os.Stat(src); err == nil {
			abs, _ := filepath.Abs(src)
			if err := b.AddInventory(abs); err != nil {
				return fail(e, 1, "ERROR! "+err.Error())
			}
			src = abs
		}
		spec.Inventory = append(spec.Inventory, src)
	}
	data, err := b.Bytes()
	if err != nil {
		return fail(e, 1, "ERROR! bundling the run: "+err.Error())
	}
	specData, err := spec.Encode()
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	be, err := openBackend(ctx, e, p, 0, logger(e, s.verbosity))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
	if be.soleOwner() {
		return fail(e, 1, "ERROR! no dispatcher: start `gorun server` (or a dispatcher and executors) and submit with --nats, or run `gorun playbook`")
	}
	rs, err := be.RunStore(ctx)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	rq, err := be.Runs(ctx)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if err := rs.Create(ctx, &job.Run{RunID: s.runID, State: job.RunQueued, Playbooks: spec.Playbooks,
		Submitter: spec.Submitter, Submitted: spec.Submitted}); err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	if err := rq.Submit(ctx, s.runID, specData, data); err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	fmt.Fprintln(e.stdout, s.runID)
	return 0
}

func submitter() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	h, _ := os.Hostname()
	return name + "@" + h
}
