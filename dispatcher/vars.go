package dispatcher

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/playbook"
)

// omitToken is the value of the omit variable; module arguments equal to it
// are dropped.
const omitToken = "__omit_place_holder__gorun"

// taskVars builds the variables a task sees on a host, in Ansible's
// precedence order (low to high): inventory group and host vars, facts,
// play vars and vars_files, block vars, task vars, set_fact and registered
// vars, extra vars. Templated values of the template-able layers are
// resolved against the result.
func (pr *playRun) taskVars(h *hostState, st *scoped) map[string]any {
	r := pr.r
	m := r.inv.Vars(h.name)
	lazy := make([]string, 0, 8)
	note := func(src map[string]any) {
		for k, v := range src {
			m[k] = v
			if hasTemplate(v) {
				lazy = append(lazy, k)
			}
		}
	}
	for k, v := range m {
		if hasTemplate(v) {
			lazy = append(lazy, k)
		}
	}
	h.mu.Lock()
	facts := maps.Clone(h.facts)
	for k, v := range h.facts {
		m["ansible_"+k] = v
	}
	setVars := maps.Clone(h.vars)
	h.mu.Unlock()
	note(pr.vars)
	if st != nil {
		for _, p := range st.parents {
			note(p.Vars)
		}
		note(st.task.Vars)
	}
	for k, v := range setVars {
		m[k] = v
	}
	note(r.cfg.ExtraVars)

	// magic variables
	m["inventory_hostname"] = h.name
	m["inventory_hostname_short"] = strings.SplitN(h.name, ".", 2)[0]
	m["group_names"] = toAnys(r.inv.GroupNames(h.name))
	m["groups"] = pr.groupsVar()
	m["ansible_facts"] = facts
	m["omit"] = omitToken
	m["playbook_dir"] = pr.pb.Dir
	m["ansible_play_name"] = pr.play.Name
	m["ansible_play_hosts_all"] = pr.names
	active := pr.activeNames()
	m["ansible_play_hosts"] = active
	m["ansible_play_batch"] = active
	m["play_hosts"] = active
	m["ansible_check_mode"] = r.cfg.Check
	m["ansible_verbosity"] = r.cfg.Verbosity
	m["ansible_forks"] = r.cfg.Forks
	m["ansible_run_tags"] = []any{"all"}
	m["ansible_skip_tags"] = []any{}
	m["ansible_version"] = map[string]any{"full": "2.14.18", "major": 2, "minor": 14, "revision": 18, "string": "2.14.18"}
	if st != nil && pr.mentionsHostvars(st) {
		m["hostvars"] = pr.hostvars()
	}

	r.resolve(m, lazy)
	return m
}

// resolve renders the templated variables lazy of m in place, in several
// passes: they may refer to each other. Those that cannot be rendered stay
// as they are.
func (r *Runner) resolve(m map[string]any, lazy []string) {
	for pass := 0; pass < 5 && len(lazy) > 0; pass++ {
		next := lazy[:0]
		for _, k := range lazy {
			v, err := r.tmpl.Data(m[k], m)
			if err != nil {
				next = append(next, k)
				continue
			}
			m[k] = v
			if hasTemplate(v) {
				next = append(next, k)
			}
		}
		if len(next) == len(lazy) {
			break
		}
		lazy = next
	}
}

// toAnys returns ss as a list of values, as templates see lists.
func toAnys(ss []string) []any {
	l := make([]any, len(ss))
	for i, s := range ss {
		l[i] = s
	}
	return l
}

// groupsVar returns the groups magic variable, built once per play and
// shared by every host's variables (templates only read it): building it
// per host cost hosts × inventory size.
func (pr *playRun) groupsVar() map[string]any {
	pr.groupsOnce.Do(func() {
		g := make(map[string]any, len(pr.r.groups))
		for name, hosts := range pr.r.groups {
			g[name] = toAnys(hosts)
		}
		pr.groups = g
	})
	return pr.groups
}

// activeNames returns the names of the play's hosts still going (not
// failed or unreachable), shared while that set does not change.
func (pr *playRun) activeNames() []any {
	// a fingerprint of the set, read without allocating
	n, sum := 0, 0
	for i, h := range pr.hosts {
		if !h.done() {
			n++
			sum += i + 1
		}
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.active != nil && pr.activeN == n && pr.activeSum == sum {
		return pr.active
	}
	out := make([]any, 0, n)
	for _, h := range pr.hosts {
		if !h.done() {
			out = append(out, h.name)
		}
	}
	pr.active, pr.activeN, pr.activeSum = out, n, sum
	return out
}

// mentionsHostvars reports whether a task (or its blocks) refers to
// hostvars, which is costly to build for large inventories.
func (pr *playRun) mentionsHostvars(st *scoped) bool {
	if v, ok := pr.hostVarsCache.Load(st.task); ok {
		return v.(bool)
	}
	found := strings.Contains(fmt.Sprint(st.task.Raw), "hostvars") || strings.Contains(fmt.Sprint(pr.vars), "hostvars")
	for _, p := range st.parents {
		found = found || strings.Contains(fmt.Sprint(p.Raw), "hostvars")
	}
	pr.hostVarsCache.Store(st.task, found)
	return found
}

// hostvars builds the hostvars variable: every inventory host's inventory
// vars, facts and set vars.
func (pr *playRun) hostvars() map[string]any {
	r := pr.r
	out := map[string]any{}
	for _, name := range r.inv.Hosts() {
		m := r.inv.Vars(name)
		m["inventory_hostname"] = name
		r.mu.Lock()
		h := r.hosts[name]
		r.mu.Unlock()
		if h != nil {
			h.mu.Lock()
			for k, v := range h.facts {
				m["ansible_"+k] = v
			}
			m["ansible_facts"] = maps.Clone(h.facts)
			for k, v := range h.vars {
				m[k] = v
			}
			h.mu.Unlock()
		}
		out[name] = m
	}
	return out
}

func hasTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return jinja.IsTemplate(x)
	case []any:
		for _, e := range x {
			if hasTemplate(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if jinja.IsTemplate(k) || hasTemplate(e) {
				return true
			}
		}
	}
	return false
}

// target builds the connection parameters of a host from its variables and
// the play's and task's keywords. Connection variables win over keywords,
// as in Ansible.
func (pr *playRun) target(h string, vars map[string]any, st *scoped) (job.Target, error) {
	cfg := &pr.r.cfg
	t := job.Target{Host: h, HostKeyChecking: cfg.HostKeyChecking, ConnectTimeout: cfg.ConnectTimeout}
	conn := cfg.Connection
	if pr.play.Connection != "" {
		conn = pr.play.Connection
	}
	user := cfg.RemoteUser
	if pr.play.RemoteUser != "" {
		user = pr.play.RemoteUser
	}
	if st != nil {
		for _, p := range append(append([]*playbook.Task{}, st.parents...), st.task) {
			if s, ok := p.Connection.(string); ok && s != "" {
				conn = s
			}
			if s, ok := p.RemoteUser.(string); ok && s != "" {
				user = s
			}
		}
	}
	if s := firstString(vars, "ansible_connection"); s != "" {
		conn = s
	}
	switch conn {
	case "smart", "paramiko", "ssh", "":
		conn = "ssh"
	case "local":
	default:
		return t, fmt.Errorf("the connection plugin '%s' was not found", conn)
	}
	t.Connection = conn
	t.Address = firstString(vars, "ansible_host", "ansible_ssh_host")
	if v := first(vars, "ansible_port", "ansible_ssh_port"); v != nil {
		p, err := toInt(v)
		if err != nil {
			return t, fmt.Errorf("invalid ansible_port %v: %w", v, err)
		}
		t.Port = p
	}
	if s := firstString(vars, "ansible_user", "ansible_ssh_user"); s != "" {
		user = s
	}
	t.User = user
	t.Password = firstString(vars, "ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
	key := firstString(vars, "ansible_ssh_private_key_file", "ansible_private_key_file")
	if key == "" {
		key = cfg.PrivateKeyFile
	}
	if key != "" {
		t.PrivateKeyFiles = []string{expandHome(key)}
	}
	sshArgs := cfg.SSHArgs
	if s := firstString(vars, "ansible_ssh_args"); s != "" {
		sshArgs = s
	}
	for _, args := range []string{sshArgs, firstString(vars, "ansible_ssh_common_args"), firstString(vars, "ansible_ssh_extra_args")} {
		applySSHArgs(&t, args)
	}
	if v := first(vars, "ansible_host_key_checking", "ansible_ssh_host_key_checking"); v != nil {
		if b, ok := toBool(v); ok {
			t.HostKeyChecking = b
		}
	}
	pr.becomeSettings(&t, vars, st)
	if v := first(vars, "ansible_ssh_timeout", "ansible_timeout"); v != nil {
		if n, err := toInt(v); err == nil && n > 0 {
			t.ConnectTimeout = time.Duration(n) * time.Second
		}
	}
	return t, nil
}

// becomeSettings fills t's privilege escalation from the CLI defaults, the
// play's, blocks' and task's keywords, and the ansible_become* variables
// (which win, as connection variables do).
func (pr *playRun) becomeSettings(t *job.Target, vars map[string]any, st *scoped) {
	cfg := &pr.r.cfg
	t.Become, t.BecomeUser, t.BecomeMethod, t.BecomePassword = cfg.Become, cfg.BecomeUser, cfg.BecomeMethod, cfg.BecomePassword
	if p := pr.play; p != nil {
		if p.Become != nil {
			t.Become = *p.Become
		}
		if p.BecomeUser != "" {
			t.BecomeUser = p.BecomeUser
		}
		if p.BecomeMethod != "" {
			t.BecomeMethod = p.BecomeMethod
		}
	}
	if st != nil {
		for _, k := range append(append([]*playbook.Task{}, st.parents...), st.task) {
			if k.Become != nil {
				t.Become = pr.flag(k.Become, vars)
			}
			if k.BecomeUser != nil {
				if s, err := pr.r.tmpl.String(jinja.PyStr(k.BecomeUser), vars); err == nil {
					t.BecomeUser = s
				}
			}
			if k.BecomeMethod != nil {
				if s, err := pr.r.tmpl.String(jinja.PyStr(k.BecomeMethod), vars); err == nil {
					t.BecomeMethod = s
				}
			}
		}
	}
	if v := first(vars, "ansible_become"); v != nil {
		if b, ok := toBool(v); ok {
			t.Become = b
		}
	}
	if s := firstString(vars, "ansible_become_user"); s != "" {
		t.BecomeUser = s
	}
	if s := firstString(vars, "ansible_become_method"); s != "" {
		t.BecomeMethod = s
	}
	if s := firstString(vars, "ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"); s != "" {
		t.BecomePassword = s
	}
	if t.Become && t.BecomeUser == "" {
		t.BecomeUser = "root"
	}
}

// applySSHArgs honours the -o options of ssh arguments that matter to
// host-key checking.
func applySSHArgs(t *job.Target, args string) {
	words := strings.Fields(args)
	for i := 0; i < len(words); i++ {
		w := words[i]
		var opt string
		switch {
		case w == "-o" && i+1 < len(words):
			opt = words[i+1]
			i++
		case strings.HasPrefix(w, "-o"):
			opt = w[2:]
		default:
			continue
		}
		opt = strings.Trim(opt, `"'`)
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, " ")
		}
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "userknownhostsfile":
			for _, f := range strings.Fields(v) {
				if f != "/dev/null" {
					t.KnownHostsFiles = append(t.KnownHostsFiles, expandHome(f))
				}
			}
			if v == "/dev/null" {
				t.KnownHostsFiles = append(t.KnownHostsFiles, "/dev/null")
			}
		case "stricthostkeychecking":
			switch strings.ToLower(v) {
			case "no", "off", "false":
				t.HostKeyChecking = false
			default:
				t.HostKeyChecking = true
			}
		case "connecttimeout":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				t.ConnectTimeout = time.Duration(n) * time.Second
			}
		}
	}
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

func first(vars map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := vars[k]; ok && v != nil {
			return v
		}
	}
	return nil
}

func firstString(vars map[string]any, keys ...string) string {
	v := first(vars, keys...)
	if v == nil {
		return ""
	}
	return jinja.PyStr(v)
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		return int(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("invalid literal for int() with base 10: '%s'", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("cannot convert %T to int", v)
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int:
		return x != 0, true
	case float64:
		return x != 0, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "on", "1", "true", "y", "t", "1.0":
			return true, true
		case "no", "off", "0", "false", "n", "f", "0.0", "":
			return false, true
		}
	case nil:
		return false, true
	}
	return false, false
}
