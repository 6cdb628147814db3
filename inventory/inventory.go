package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Host is one inventory host.
type Host struct {
	Name   string
	Vars   map[string]any // the host's own vars (inline in the inventory + host_vars/)
	Groups []string       // groups it is directly a member of
}

// Options tune Load.
type Options struct {
	// PythonInterpreter is the ansible_python_interpreter given to the
	// implicit localhost. Ansible uses the Python running the controller;
	// the default here is /usr/bin/python3 when it exists, else python3
	// from PATH, else /usr/bin/python.
	PythonInterpreter string
}

// Inventory is a loaded inventory. It is safe for concurrent use.
type Inventory struct {
	mu       sync.RWMutex
	sources  []string
	d        *data
	invVars  []*varsDir // group_vars/host_vars next to each source
	playVars []*varsDir // added by AddVarsDir
	python   string
}

// Load reads inventory sources, as ansible's -i (repeatable). Each source is:
// a path to an INI file or a YAML file (format detected by content/extension as Ansible's
// ini/yaml plugins do), a directory (every inventory file inside, plus its group_vars/ and host_vars/),
// or a comma-separated host list ("h1,h2" or "h1," — contains a comma and is not an existing path).
// With no sources the inventory is empty and only the implicit localhost exists.
//
// Unlike Ansible, which only warns, a source that does not exist (an error
// wrapping ErrNotFound) or cannot be parsed (wrapping ErrSyntax or
// ErrUnsupported) makes Load fail.
func Load(sources []string) (*Inventory, error) {
	return LoadWithOptions(sources, Options{})
}

// LoadWithOptions is Load with options.
func LoadWithOptions(sources []string, opts Options) (*Inventory, error) {
	inv := &Inventory{sources: slices.Clone(sources), d: newData(), python: opts.PythonInterpreter}
	if inv.python == "" {
		inv.python = defaultPython()
	}
	l := &loader{d: inv.d, limit: defaultRangeLimit}
	var varDirs []string
	for _, src := range sources {
		if src == "" {
			continue
		}
		if strings.Contains(src, ",") && !pathExists(src) {
			l.parseHostList(src)
			continue
		}
		fi, err := os.Stat(src)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("inventory source %s: %w", src, ErrNotFound)
			}
			return nil, fmt.Errorf("reading inventory source %s: %w", src, err)
		}
		if fi.IsDir() {
			err = l.parseDir(src)
			varDirs = append(varDirs, src)
		} else {
			err = l.parseFile(src)
			varDirs = append(varDirs, filepath.Dir(src))
		}
		if err != nil {
			return nil, err
		}
	}
	inv.d.reconcile()
	inv.d.finalize()
	for _, dir := range varDirs {
		vd, err := inv.loadVarsDir(dir)
		if err != nil {
			return nil, err
		}
		inv.invVars = append(inv.invVars, vd)
	}
	return inv, nil
}

func defaultPython() string {
	if fi, err := os.Stat("/usr/bin/python3"); err == nil && !fi.IsDir() {
		return "/usr/bin/python3"
	}
	if p, err := exec.LookPath("python3"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return "/usr/bin/python"
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (inv *Inventory) loadVarsDir(dir string) (*varsDir, error) {
	groups := make([]string, 0, len(inv.d.groupOrder))
	for _, g := range inv.d.groupOrder {
		groups = append(groups, g.name)
	}
	hosts := make([]string, 0, len(inv.d.hostOrder)+3)
	for _, h := range inv.d.hostOrder {
		hosts = append(hosts, h.name)
	}
	for _, n := range localhostNames() {
		if _, ok := inv.d.hosts[n]; !ok {
			hosts = append(hosts, n) // for the implicit localhost
		}
	}
	vd, warnings, err := loadVarsDir(dir, groups, hosts)
	inv.d.warnings = append(inv.d.warnings, warnings...)
	return vd, err
}

// AddVarsDir loads group_vars/ and host_vars/ from another directory, as
// Ansible does for the playbook's directory. Their vars take precedence
// over those next to the inventory; directories added later take
// precedence over earlier ones. Missing subdirectories are ignored.
func (inv *Inventory) AddVarsDir(dir string) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	vd, err := inv.loadVarsDir(dir)
	if err != nil {
		return err
	}
	inv.playVars = append(inv.playVars, vd)
	return nil
}

// Sources returns the sources as given to Load.
func (inv *Inventory) Sources() []string { return slices.Clone(inv.sources) }

// Implicit reports whether no source defined any host, so that only the
// implicit localhost exists.
func (inv *Inventory) Implicit() bool {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return len(inv.d.hostOrder) == 0
}

// Hosts returns every host (the "all" group) in inventory order. The
// implicit localhost is never included.
func (inv *Inventory) Hosts() []string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return hostNames(inv.d.groups["all"].allHosts)
}

func hostNames(hs []*host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.name
	}
	return out
}

// Groups returns the `groups` magic var: every group, including "all" and
// "ungrouped", mapped to its hosts (its own and its descendants') in
// inventory order.
func (inv *Inventory) Groups() map[string][]string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	out := make(map[string][]string, len(inv.d.groups))
	for _, g := range inv.d.groupOrder {
		out[g.name] = hostNames(g.allHosts)
	}
	return out
}

// GroupNames returns the `group_names` magic var of a host: the names of
// every group it belongs to, directly or through child groups, sorted,
// without "all" (but with "ungrouped" when the host is in it). It is empty
// for the implicit localhost and nil for an unknown host.
func (inv *Inventory) GroupNames(host string) []string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	h, implicit := inv.lookup(host)
	if implicit {
		return []string{}
	}
	if h == nil {
		return nil
	}
	names := []string{}
	for _, g := range hostClosure(h, map[*group][]*group{}) {
		if g.name != "all" {
			names = append(names, g.name)
		}
	}
	slices.Sort(names)
	return names
}

// lookup finds a host as InventoryData.get_host does: a localhost name
// that is not in the inventory resolves to the first localhost-like host
// defined, or else to the implicit localhost (implicit is then true).
func (inv *Inventory) lookup(name string) (h *host, implicit bool) {
	if h := inv.d.hosts[name]; h != nil {
		return h, false
	}
	if isLocalhostName(name) {
		if inv.d.localhost != nil {
			return inv.d.localhost, false
		}
		return nil, true
	}
	return nil, false
}

// sortedGroups returns the groups of a host except "all", sorted as
// Ansible's sort_groups: by depth, then ansible_group_priority, then name.
func sortedGroups(h *host) []*group {
	var gs []*group
	for _, g := range hostClosure(h, map[*group][]*group{}) {
		if g.name != "all" {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b *group) int {
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		if a.priority != b.priority {
			if a.priority < b.priority {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return gs
}

// Vars returns the merged inventory vars of a host, a fresh map on each
// call, or nil for an unknown host. From lowest to highest precedence, as
// Ansible's default VARIABLE_PRECEDENCE:
//
//  1. "all" group vars from the inventory sources;
//  2. other group vars from the inventory sources, in sort_groups order
//     (parents before children, then ansible_group_priority, then name);
//  3. group_vars/all next to the inventory, then in AddVarsDir directories;
//  4. group_vars/GROUP next to the inventory (per source, groups in the
//     order above), then in AddVarsDir directories;
//  5. host vars from the inventory sources;
//  6. host_vars/HOST next to the inventory, then in AddVarsDir directories.
//
// The implicit localhost gets the "all" vars, ansible_connection=local and
// ansible_python_interpreter, and host_vars/localhost. Magic vars
// (inventory_hostname, group_names, ...) are not included.
func (inv *Inventory) Vars(host string) map[string]any {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	h, implicit := inv.lookup(host)
	if h == nil && !implicit {
		return nil
	}
	out := map[string]any{}
	mergeInto(out, inv.d.groups["all"].vars)
	var groups []*group
	if !implicit {
		groups = sortedGroups(h)
	}
	for _, g := range groups {
		mergeInto(out, g.vars)
	}
	layers := append(slices.Clip(inv.invVars), inv.playVars...)
	for _, vd := range layers {
		mergeInto(out, vd.groups["all"])
	}
	for _, vd := range layers {
		for _, g := range groups {
			mergeInto(out, vd.groups[g.name])
		}
	}
	mergeInto(out, inv.ownVars(h, host, implicit))
	return deepCopy(out).(map[string]any)
}

// ownVars merges a host's inline vars and its host_vars files (not copied).
func (inv *Inventory) ownVars(h *host, name string, implicit bool) map[string]any {
	out := map[string]any{}
	if implicit {
		out["ansible_python_interpreter"] = inv.python
		out["ansible_connection"] = "local"
	} else {
		name = h.name
		mergeInto(out, h.vars)
	}
	for _, vd := range inv.invVars {
		mergeInto(out, vd.hosts[name])
	}
	for _, vd := range inv.playVars {
		mergeInto(out, vd.hosts[name])
	}
	return out
}

// Host returns a copy of one host, or nil if it is unknown. A localhost name
// not defined in the inventory gives the implicit localhost.
func (inv *Inventory) Host(name string) *Host {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	h, implicit := inv.lookup(name)
	if h == nil && !implicit {
		return nil
	}
	out := &Host{Name: name, Vars: deepCopy(inv.ownVars(h, name, implicit)).(map[string]any), Groups: []string{}}
	if h != nil {
		out.Name = h.name
		for _, g := range h.groups {
			out.Groups = append(out.Groups, g.name)
		}
	}
	return out
}

// HostSource returns the inventory source a host was first defined in
// (the absolute path of a file, or a host list as given), from which the
// inventory_file and inventory_dir magic vars derive. It is "" for the
// implicit localhost and unknown hosts.
func (inv *Inventory) HostSource(name string) string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	if h, _ := inv.lookup(name); h != nil {
		return h.source
	}
	return ""
}

// Warnings returns what Ansible would have warned about while loading:
// skipped YAML keys, hosts and groups sharing a name, and the like.
func (inv *Inventory) Warnings() []string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return slices.Clone(inv.d.warnings)
}

// loader parses sources into data.
type loader struct {
	d     *data
	limit int
}

// ignoredRE mirrors InventoryManager's IGNORED: hidden files, vars
// directories and the default INVENTORY_IGNORE_EXTS.
var ignoredRE = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$|` +
	`\.pyc$|\.pyo$|\.swp$|\.bak$|~$|\.rpm$|\.md$|\.txt$|\.rst$|\.orig$|\.ini$|\.cfg$|\.retry$`)

func (l *loader) parseDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading inventory directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if ignoredRE.MatchString(e.Name()) {
			continue
		}
		full := filepath.Join(dir, e.Name())
		fi, err := os.Stat(full)
		if err != nil {
			return fmt.Errorf("reading inventory source %s: %w", full, err)
		}
		if fi.IsDir() {
			err = l.parseDir(full)
		} else {
			err = l.parseFile(full)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseFile tries the inventory plugins Ansible enables by default, in
// order: script (unsupported), yaml (no extension, .yml, .yaml, .json),
// then ini.
func (l *loader) parseFile(path string) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading inventory source %s: %w", path, err)
	}
	source := path
	if abs, err := filepath.Abs(path); err == nil {
		source = abs
	}
	if bytes.HasPrefix(content, []byte(vaultHeader)) {
		return fmt.Errorf("%s: vault-encrypted inventories are not supported: %w", path, ErrUnsupported)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode()&0o111 != 0 && bytes.HasPrefix(content, []byte("#!")) {
		return fmt.Errorf("%s: dynamic inventory scripts are not supported: %w", path, ErrUnsupported)
	}
	ext := pySplitExt(filepath.Base(path))
	if ext == ".toml" {
		return fmt.Errorf("%s: TOML inventories are not supported: %w", path, ErrUnsupported)
	}
	yamlCandidate := ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"
	var yamlErr error
	yamlMapping := false
	if yamlCandidate {
		root, err := loadData(path, content, func(w string) { l.d.warnf("%s", w) })
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		if err == nil {
			var m *omap
			m, err = checkYAMLInventory(path, root)
			if errors.Is(err, ErrUnsupported) {
				return err
			}
			if err == nil {
				yamlMapping = true
				p := &yamlInvParser{d: l.d, file: path, source: source, limit: l.limit}
				if err = p.parse(m); err == nil {
					return nil
				}
			}
		}
		yamlErr = err
	}
	iniErr := parseINI(l.d, path, source, content, l.limit)
	if iniErr == nil {
		return nil
	}
	if yamlErr != nil && (ext != "" || yamlMapping) {
		return yamlErr
	}
	return iniErr
}

// parseHostList mirrors the host_list plugin: "h1,h2:22,,h3".
func (l *loader) parseHostList(list string) {
	ungrouped := l.d.groups["ungrouped"]
	for _, h := range strings.Split(list, ",") {
		h = pyStrip(h)
		if h == "" {
			continue
		}
		name, port, err := parseAddress(h, false)
		if err != nil {
			name, port = h, -1
		}
		if _, ok := l.d.hosts[name]; !ok {
			_, _ = l.d.addHost(name, ungrouped, port, list)
		}
	}
}

// GroupVars returns a group's own vars (inline in the inventory, then its
// group_vars/ files), a fresh map, or nil for an unknown group.
// ansible_group_priority is not a variable and is not included.
func (inv *Inventory) GroupVars(name string) map[string]any {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	g, ok := inv.d.groups[name]
	if !ok {
		return nil
	}
	out := map[string]any{}
	mergeInto(out, g.vars)
	for _, vd := range append(slices.Clip(inv.invVars), inv.playVars...) {
		mergeInto(out, vd.groups[name])
	}
	return deepCopy(out).(map[string]any)
}
