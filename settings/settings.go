// Package settings reads the Ansible configuration gorun honours: an
// ansible.cfg (ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg,
// /etc/ansible/ansible.cfg, first found) and the ANSIBLE_* environment
// variables, which win over the file, as in Ansible.
package settings

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Settings are the configuration values gorun uses, with Ansible's names.
type Settings struct {
	// ConfigFile is the ansible.cfg that was read, or "".
	ConfigFile string
	// HostKeyChecking ([defaults] host_key_checking, ANSIBLE_HOST_KEY_CHECKING); default true.
	HostKeyChecking bool
	// Forks ([defaults] forks, ANSIBLE_FORKS); default 5.
	Forks int
	// PollInterval ([defaults] poll_interval, ANSIBLE_POLL_INTERVAL); default 10
	// (ansible-core 2.14 uses 15; see the README).
	PollInterval int
	// RemoteUser ([defaults] remote_user, ANSIBLE_REMOTE_USER).
	RemoteUser string
	// PrivateKeyFile ([defaults] private_key_file, ANSIBLE_PRIVATE_KEY_FILE).
	PrivateKeyFile string
	// Timeout is the connection timeout in seconds ([defaults] timeout, ANSIBLE_TIMEOUT); default 10.
	Timeout int
	// SSHArgs ([ssh_connection] ssh_args, ANSIBLE_SSH_ARGS).
	SSHArgs string
	// AsyncDir ([defaults] async_dir, ANSIBLE_ASYNC_DIR); default ~/.ansible_async.
	AsyncDir string
	// Inventory ([defaults] inventory, ANSIBLE_INVENTORY): comma-separated sources.
	Inventory []string
	// NoColor and ForceColor (ANSIBLE_NOCOLOR, NO_COLOR, ANSIBLE_FORCE_COLOR, [defaults] nocolor/force_color).
	NoColor, ForceColor bool
	// Become, BecomeUser, BecomeMethod ([privilege_escalation] become,
	// become_user, become_method; ANSIBLE_BECOME, ANSIBLE_BECOME_USER,
	// ANSIBLE_BECOME_METHOD).
	Become       bool
	BecomeUser   string
	BecomeMethod string
	// Warnings about values that could not be used.
	Warnings []string
}

// Load reads the settings. getenv looks up environment variables; cwd is
// the current directory; home is the user's home directory.
func Load(getenv func(string) string, cwd, home string) (*Settings, error) {
	s := &Settings{HostKeyChecking: true, Forks: 5, PollInterval: 10, Timeout: 10, AsyncDir: "~/.ansible_async"}
	file := map[string]map[string]string{}
	for _, cand := range candidates(getenv, cwd, home) {
		if cand == "" {
			continue
		}
		if st, err := os.Stat(cand); err != nil || st.IsDir() {
			continue
		}
		f, err := parseINI(cand)
		if err != nil {
			return nil, err
		}
		file = f
		s.ConfigFile = cand
		break
	}
	get := func(env, section, key string) (string, bool) {
		if v := getenv(env); v != "" {
			return v, true
		}
		if sec, ok := file[section]; ok {
			if v, ok := sec[key]; ok {
				return v, true
			}
		}
		return "", false
	}
	boolVal := func(name, v string, dst *bool) {
		b, ok := ParseBool(v)
		if !ok {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s: %q is not a boolean; ignored", name, v))
			return
		}
		*dst = b
	}
	intVal := func(name, v string, dst *int) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s: %q is not an integer; ignored", name, v))
			return
		}
		*dst = n
	}
	if v, ok := get("ANSIBLE_HOST_KEY_CHECKING", "defaults", "host_key_checking"); ok {
		boolVal("host_key_checking", v, &s.HostKeyChecking)
	}
	if v, ok := get("ANSIBLE_FORKS", "defaults", "forks"); ok {
		intVal("forks", v, &s.Forks)
	}
	if v, ok := get("ANSIBLE_POLL_INTERVAL", "defaults", "poll_interval"); ok {
		intVal("poll_interval", v, &s.PollInterval)
	}
	if v, ok := get("ANSIBLE_TIMEOUT", "defaults", "timeout"); ok {
		intVal("timeout", v, &s.Timeout)
	}
	if v, ok := get("ANSIBLE_REMOTE_USER", "defaults", "remote_user"); ok {
		s.RemoteUser = v
	}
	if v, ok := get("ANSIBLE_PRIVATE_KEY_FILE", "defaults", "private_key_file"); ok {
		s.PrivateKeyFile = v
	}
	if v, ok := get("ANSIBLE_SSH_ARGS", "ssh_connection", "ssh_args"); ok {
		s.SSHArgs = v
	}
	if v, ok := get("ANSIBLE_ASYNC_DIR", "defaults", "async_dir"); ok {
		s.AsyncDir = v
	}
	if v, ok := get("ANSIBLE_INVENTORY", "defaults", "inventory"); ok {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				s.Inventory = append(s.Inventory, expand(p, home))
			}
		}
	}
	if v, ok := get("ANSIBLE_NOCOLOR", "defaults", "nocolor"); ok {
		boolVal("nocolor", v, &s.NoColor)
	}
	if v, ok := get("ANSIBLE_BECOME", "privilege_escalation", "become"); ok {
		boolVal("become", v, &s.Become)
	}
	if v, ok := get("ANSIBLE_BECOME_USER", "privilege_escalation", "become_user"); ok {
		s.BecomeUser = v
	}
	if v, ok := get("ANSIBLE_BECOME_METHOD", "privilege_escalation", "become_method"); ok {
		s.BecomeMethod = v
	}
	if getenv("NO_COLOR") != "" {
		s.NoColor = true
	}
	if v, ok := get("ANSIBLE_FORCE_COLOR", "defaults", "force_color"); ok {
		boolVal("force_color", v, &s.ForceColor)
	}
	return s, nil
}

func candidates(getenv func(string) string, cwd, home string) []string {
	var out []string
	if p := getenv("ANSIBLE_CONFIG"); p != "" {
		st, err := os.Stat(p)
		if err == nil && st.IsDir() {
			p = filepath.Join(p, "ansible.cfg")
		}
		out = append(out, expand(p, home))
	}
	out = append(out, filepath.Join(cwd, "ansible.cfg"))
	if home != "" {
		out = append(out, filepath.Join(home, ".ansible.cfg"))
	}
	return append(out, "/etc/ansible/ansible.cfg")
}

func expand(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, p[1:])
	}
	return p
}

// ParseBool parses a boolean as Ansible's config does.
func ParseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off", "":
		return false, true
	}
	return false, false
}

// parseINI reads an ansible.cfg: [section] headers, key = value lines,
// comments with # or ;.
func parseINI(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: bad section header %q", path, n, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if out[section] == nil {
				out[section] = map[string]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok || section == "" {
			return nil, fmt.Errorf("%s:%d: expected key = value in a [section], got %q", path, n, line)
		}
		out[section][strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	return out, nil
}
