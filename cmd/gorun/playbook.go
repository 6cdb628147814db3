package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/display"
	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/settings"
)

// commonOpts are the options gorun playbook and gorun run share (those of
// ansible-playbook and ansible).
var commonOpts = []*opt{
	{short: "i", long: []string{"inventory", "inventory-file"}, arg: "INVENTORY", help: "inventory file, directory or comma-separated host list (repeatable)"},
	{short: "f", long: []string{"forks"}, arg: "FORKS", help: "number of parallel processes to use (default 5)"},
	{short: "l", long: []string{"limit"}, arg: "SUBSET", help: "further limit selected hosts to an additional pattern"},
	{short: "e", long: []string{"extra-vars"}, arg: "EXTRA_VARS", help: "set additional variables as key=value or YAML/JSON, if filename prepend with @ (repeatable)"},
	{short: "c", long: []string{"connection"}, arg: "CONNECTION", help: "connection type to use (ssh or local; default ssh)"},
	{short: "u", long: []string{"user"}, arg: "REMOTE_USER", help: "connect as this user"},
	{long: []string{"private-key", "key-file"}, arg: "PRIVATE_KEY_FILE", help: "use this file to authenticate the connection"},
	{short: "T", long: []string{"timeout"}, arg: "TIMEOUT", help: "override the connection timeout in seconds (default 10)"},
	{short: "b", long: []string{"become"}, help: "run operations with become (does not imply password prompting)"},
	{long: []string{"become-user"}, arg: "BECOME_USER", help: "run operations as this user (default root)"},
	{long: []string{"become-method"}, arg: "BECOME_METHOD", help: "privilege escalation method to use (sudo or su; default sudo)"},
	{short: "K", long: []string{"ask-become-pass"}, help: "ask for privilege escalation password"},
	{short: "C", long: []string{"check"}, help: "don't make any changes; instead, try to predict some of the changes that may occur"},
	{short: "v", long: []string{"verbose"}, help: "verbose mode (-vvv for more)"},
	{short: "h", long: []string{"help"}, help: "show this help message and exit"},
}

var playbookOpts = append(append([]*opt{}, commonOpts...), append([]*opt{
	{long: []string{"syntax-check"}, help: "perform a syntax check on the playbook, but do not execute it"},
	{long: []string{"list-hosts"}, help: "outputs a list of matching hosts; does not execute anything else"},
	{long: []string{"json"}, help: "print one JSON document of all results instead of the default output"},
}, natsOpts...)...)

// session is what gorun playbook and gorun run set up before running.
type session struct {
	cfg       *settings.Settings
	cwd       string
	verbosity int
	forks     int
	inv       *inventory.Inventory
	runID     string
	dcfg      dispatcher.Config
	warnings  []string
}

// output returns the callback for the run's output (the default one, or
// JSON with --json) after printing the warnings gathered so far.
func (s *session) output(e *env, p *parsed) dispatcher.Callback {
	var out dispatcher.Callback
	if p.has("json") {
		out = display.NewJSON(e.stdout, e.stderr, s.runID)
	} else {
		color := (e.isTTY && !s.cfg.NoColor) || s.cfg.ForceColor
		// on a terminal, a long task shows a "hosts finished n/N" line
		// while it runs (erased before any output: what stays on the
		// screen is the same as off a terminal)
		out = display.NewDefault(e.stdout, e.stderr, display.Options{Verbosity: s.verbosity, Color: color,
			Progress: e.isTTY, PlayHosts: s.playHosts(p.str("limit"))})
	}
	for _, w := range s.warnings {
		out.Warning(w)
	}
	return out
}

// playHosts returns the hosts a play runs on as far as the inventory tells
// (nil for a templated pattern), for the progress line's count.
func (s *session) playHosts(limit string) func(*playbook.Play) []string {
	return func(play *playbook.Play) []string {
		if s.inv == nil || strings.Contains(play.Hosts, "{{") {
			return nil
		}
		hosts, _, err := s.inv.SelectLimit(play.Hosts, limit)
		if err != nil {
			return nil
		}
		return hosts
	}
}

// prepare reads the settings and the common options. A non-zero code means:
// stop, exit with it (the error was printed). Warnings wait in s.warnings
// until the output is chosen.
func prepare(e *env, cmd, positional string, opts []*opt, p *parsed) (*session, int) {
	s := &session{}
	s.cwd, _ = os.Getwd()
	home, _ := os.UserHomeDir()
	cfg, err := settings.Load(e.getenv, s.cwd, home)
	if err != nil {
		return nil, fail(e, 1, "ERROR! "+err.Error())
	}
	s.cfg = cfg
	s.verbosity = p.count["verbose"]
	s.warnings = append(s.warnings, cfg.Warnings...)
	s.forks = cfg.Forks
	if v := p.str("forks"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, usageFail(e, cmd, positional, opts, fmt.Sprintf("argument -f/--forks: invalid int value: '%s'", v))
		}
		s.forks = n
	}
	if s.forks < 1 {
		return nil, usageFail(e, cmd, positional, opts, "The number of processes (--forks) must be >= 1")
	}
	timeout := cfg.Timeout
	if v := p.str("timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, usageFail(e, cmd, positional, opts, fmt.Sprintf("argument -T/--timeout: invalid int value: '%s'", v))
		}
		timeout = n
	}
	conn := p.str("connection")
	if conn != "" && conn != "ssh" && conn != "local" && conn != "smart" && conn != "paramiko" {
		return nil, fail(e, 1, fmt.Sprintf("ERROR! Invalid connection plugin %q: gorun supports ssh and local", conn))
	}
	becomePass := ""
	if p.has("ask-become-pass") {
		pw, err := askPassword(e, "BECOME password: ")
		if err != nil {
			return nil, fail(e, 1, "ERROR! reading the become password: "+err.Error())
		}
		becomePass = pw
	}
	extra := map[string]any{}
	for _, ev := range p.vals["extra-vars"] {
		m, code, err := parseExtraVars(ev, s.cwd)
		if err != nil {
			return nil, fail(e, code, "ERROR! "+err.Error())
		}
		for k, v := range m {
			extra[k] = v
		}
	}
	s.runID = dispatcher.NewRunID()
	s.dcfg = dispatcher.Config{
		RunID: s.runID, Forks: s.forks, Limit: p.str("limit"), ExtraVars: extra, Verbosity: s.verbosity,
		Check: p.has("check"), Connection: conn, RemoteUser: firstNonEmpty(p.str("user"), cfg.RemoteUser),
		PrivateKeyFile: firstNonEmpty(p.str("private-key"), cfg.PrivateKeyFile),
		ConnectTimeout: time.Duration(timeout) * time.Second, HostKeyChecking: cfg.HostKeyChecking,
		SSHArgs: cfg.SSHArgs, PollInterval: cfg.PollInterval, AsyncDir: cfg.AsyncDir,
		Become: p.has("become") || cfg.Become, BecomeUser: firstNonEmpty(p.str("become-user"), cfg.BecomeUser),
		BecomeMethod: firstNonEmpty(p.str("become-method"), cfg.BecomeMethod), BecomePassword: becomePass,
	}
	return s, 0
}

// loadInventory loads the inventory the options, the settings or
// /etc/ansible/hosts name, and warns as Ansible does.
func (s *session) loadInventory(e *env, p *parsed, out dispatcher.Callback) int {
	sources := p.vals["inventory"]
	if len(sources) == 0 {
		sources = s.cfg.Inventory
	}
	if len(sources) == 0 {
		if _, err := os.Stat("/etc/ansible/hosts"); err == nil {
			sources = []string{"/etc/ansible/hosts"}
		}
	}
	inv, err := inventory.Load(sources)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	for _, w := range inv.Warnings() {
		out.Warning(w)
	}
	if inv.Implicit() {
		out.Warning("No inventory was parsed, only implicit localhost is available")
		out.Warning("provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'")
	}
	s.inv = inv
	return 0
}

// run opens the backend and runs books; it returns the exit code.
func (s *session) run(ctx context.Context, e *env, p *parsed, books []*playbook.Playbook, out dispatcher.Callback) int {
	le := e
	if g, ok := out.(interface{ Guard(io.Writer) io.Writer }); ok {
		// log lines must not land on the end of the progress line
		c := *e
		c.stderr = g.Guard(e.stderr)
		le = &c
	}
	log := logger(le, s.verbosity)
	s.dcfg.Logger = log
	be, err := openBackend(ctx, e, p, s.forks, log)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
		defer cancel()
		if ctx.Err() != nil {
			var c2 context.CancelFunc
			cctx, c2 = context.WithTimeout(context.Background(), 5*time.Second)
			defer c2()
		}
		_ = be.Close(cctx)
	}()
	runner, err := dispatcher.New(s.dcfg, be.Queue, be.Store, s.inv, out)
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	recap, err := runner.Run(ctx, books)
	if c, ok := out.(interface{ Close() }); ok {
		c.Close() // the progress line, when the run ended without its recap
	}
	if err != nil {
		if errors.Is(err, dispatcher.ErrInterrupted) {
			fmt.Fprintln(e.stderr, "[ERROR]: User interrupted execution")
			return 99
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	return recap.ExitCode()
}

func cmdPlaybook(ctx context.Context, e *env, args []string) int {
	const positional = "PLAYBOOK [PLAYBOOK ...]"
	p, err := parseOpts(args, playbookOpts)
	if err != nil {
		return usageFail(e, "playbook", positional, playbookOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("playbook", positional, playbookOpts))
		return 0
	}
	if len(p.args) == 0 {
		return usageFail(e, "playbook", positional, playbookOpts, "the following arguments are required: playbook")
	}
	s, code := prepare(e, "playbook", positional, playbookOpts, p)
	if code != 0 {
		return code
	}
	out := s.output(e, p)
	if s.verbosity > 0 && !p.has("json") {
		cf := "None"
		if s.cfg.ConfigFile != "" {
			cf = s.cfg.ConfigFile
		}
		fmt.Fprintf(e.stdout, "Using %s as config file\n", cf)
	}

	// playbooks first: a missing file is reported before the inventory is read
	var paths []string
	for _, a := range p.args {
		st, err := os.Stat(a)
		if err != nil || st.IsDir() {
			return fail(e, 1, fmt.Sprintf("ERROR! the playbook: %s could not be found", a))
		}
		paths = append(paths, a)
	}
	if code := s.loadInventory(e, p, out); code != 0 {
		return code
	}
	var books []*playbook.Playbook
	for _, path := range paths {
		pb, err := playbook.Load(path, module.Known)
		if err != nil {
			var pe *playbook.ParseError
			if errors.As(err, &pe) {
				return fail(e, pe.ExitCode(), pe.Ansible())
			}
			return fail(e, 1, "ERROR! "+err.Error())
		}
		for _, w := range pb.Warnings {
			out.Warning(w)
		}
		if err := s.inv.AddVarsDir(pb.Dir); err != nil {
			return fail(e, 1, "ERROR! "+err.Error())
		}
		books = append(books, pb)
	}
	if p.has("syntax-check") {
		for _, path := range paths {
			fmt.Fprintf(e.stdout, "\nplaybook: %s\n", path)
		}
		return 0
	}
	if p.has("list-hosts") {
		return listHosts(e, books, s.inv, p.str("limit"))
	}
	return s.run(ctx, e, p, books, out)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func fail(e *env, code int, msg string) int {
	fmt.Fprintln(e.stderr, strings.TrimRight(msg, "\n"))
	return code
}

func usageFail(e *env, cmd, positional string, opts []*opt, msg string) int {
	fmt.Fprint(e.stderr, usage(cmd, positional, opts))
	fmt.Fprintf(e.stderr, "gorun %s: error: %s\n", cmd, msg)
	return 2
}

// parseExtraVars parses one -e value: @file, JSON/YAML, or k=v pairs.
func parseExtraVars(v, cwd string) (map[string]any, int, error) {
	v = strings.TrimSpace(v)
	var data []byte
	src := v
	switch {
	case strings.HasPrefix(v, "@"):
		name := v[1:]
		if !filepath.IsAbs(name) {
			name = filepath.Join(cwd, name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, 1, fmt.Errorf("Unable to retrieve file contents\nCould not find or access '%s' on the Ansible Controller.", name)
		}
		data = b
	case strings.HasPrefix(v, "{") || strings.HasPrefix(v, "["):
		data = []byte(v)
	default:
		kv, err := playbook.ParseKV(v, false)
		if err != nil {
			return nil, 4, fmt.Errorf("Invalid extra vars data supplied. '%s' could not be made into a dictionary: %v", v, err)
		}
		return kv, 0, nil
	}
	var m any
	if err := json.Unmarshal(data, &m); err != nil {
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, 4, fmt.Errorf("Invalid extra vars data supplied. '%s' could not be made into a dictionary: %v", src, err)
		}
	}
	mm, ok := normalize(m).(map[string]any)
	if !ok {
		if m == nil {
			return map[string]any{}, 0, nil
		}
		return nil, 1, fmt.Errorf("Invalid extra vars data supplied. '%s' could not be made into a dictionary", src)
	}
	return mm, 0, nil
}

// normalize converts decoded JSON/YAML into the data model (ints as int).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case float64:
		if x == float64(int(x)) && x < 1e15 && x > -1e15 {
			return int(x)
		}
	}
	return v
}

func listHosts(e *env, books []*playbook.Playbook, inv *inventory.Inventory, limit string) int {
	var lim map[string]bool
	if limit != "" {
		hs, _, err := inv.Select(limit)
		if err != nil {
			return fail(e, 1, "ERROR! "+err.Error())
		}
		lim = map[string]bool{}
		for _, h := range hs {
			lim[h] = true
		}
	}
	for _, pb := range books {
		fmt.Fprintf(e.stdout, "\nplaybook: %s\n", pb.Path)
		for i, play := range pb.Plays {
			hosts, _, err := inv.Select(play.Hosts)
			if err != nil {
				return fail(e, 1, "ERROR! "+err.Error())
			}
			var sel []string
			for _, h := range hosts {
				if lim == nil || lim[h] {
					sel = append(sel, h)
				}
			}
			name := play.Name
			if name == "" {
				name = play.Hosts
			}
			fmt.Fprintf(e.stdout, "\n  play #%d (%s): %s\tTAGS: []\n    pattern: ['%s']\n    hosts (%d):\n", i+1, play.Hosts, name, play.Hosts, len(sel))
			for _, h := range sel {
				fmt.Fprintf(e.stdout, "      %s\n", h)
			}
		}
	}
	return 0
}
