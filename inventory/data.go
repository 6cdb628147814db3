package inventory

import (
	"errors"
	"fmt"
	"slices"
	"unicode"
)

// localhostNames returns the names Ansible treats as the local machine
// (C.LOCALHOST).
func localhostNames() []string { return []string{"127.0.0.1", "localhost", "::1"} }

func isLocalhostName(name string) bool {
	switch name {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	return false
}

type group struct {
	name     string
	vars     map[string]any
	priority int
	depth    int
	children []*group
	parents  []*group
	hosts    []*host // direct members, in order of addition
	hostSet  map[*host]struct{}

	// Computed by finalize.
	allHosts []*host  // get_hosts(): own and descendants' hosts
	selfAnc  []*group // the group and all its ancestors
}

type host struct {
	name   string
	vars   map[string]any
	groups []*group // direct memberships, in order of addition
	source string   // the inventory source the host was first seen in
}

// data mirrors ansible.inventory.data.InventoryData: the groups and hosts
// in creation order.
type data struct {
	groups     map[string]*group
	groupOrder []*group
	hosts      map[string]*host
	hostOrder  []*host
	localhost  *host // the first localhost-like host defined
	warnings   []string

	warnedGroupChars bool
}

// invalidGroupName mirrors C.INVALID_VARIABLE_NAMES (^[\d\W]|[^\w]): group
// names that are not valid variable names. Ansible 2.14 keeps them as they
// are, with a warning.
func invalidGroupName(name string) bool {
	for i, r := range name {
		if !isPyWord(r) || (i == 0 && unicode.IsDigit(r)) {
			return true
		}
	}
	return false
}

func newData() *data {
	d := &data{groups: map[string]*group{}, hosts: map[string]*host{}}
	d.addGroup("all")
	d.addGroup("ungrouped")
	_ = d.addChildGroup(d.groups["all"], d.groups["ungrouped"])
	return d
}

func (d *data) warnf(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

func (d *data) addGroup(name string) *group {
	if g, ok := d.groups[name]; ok {
		return g
	}
	if !d.warnedGroupChars && invalidGroupName(name) {
		d.warnedGroupChars = true
		d.warnf("Invalid characters were found in group names but not replaced, use -vvvv to see details")
	}
	g := &group{name: name, vars: map[string]any{}, priority: 1, hostSet: map[*host]struct{}{}}
	d.groups[name] = g
	d.groupOrder = append(d.groupOrder, g)
	return g
}

// addHost adds a host (if new) and makes it a member of g (if not nil).
// port, when >0, sets ansible_port on a new host only, as Ansible does.
func (d *data) addHost(name string, g *group, port int, source string) (*host, error) {
	if name == "" {
		return nil, errors.New("Invalid empty host name provided: ")
	}
	h, ok := d.hosts[name]
	if !ok {
		h = &host{name: name, vars: map[string]any{}, source: source}
		if port > 0 {
			h.vars["ansible_port"] = port
		}
		d.hosts[name] = h
		d.hostOrder = append(d.hostOrder, h)
		if d.localhost == nil && isLocalhostName(name) {
			d.localhost = h
		} else if isLocalhostName(name) {
			d.warnf("A duplicate localhost-like entry was found (%s). First found localhost was %s", name, d.localhost.name)
		}
	}
	if g != nil {
		g.addHost(h)
	}
	return h, nil
}

func (g *group) addHost(h *host) {
	if _, ok := g.hostSet[h]; ok {
		return
	}
	g.hostSet[h] = struct{}{}
	g.hosts = append(g.hosts, h)
	h.groups = append(h.groups, g)
}

func (g *group) removeHost(h *host) {
	if _, ok := g.hostSet[h]; !ok {
		return
	}
	delete(g.hostSet, h)
	g.hosts = removeItem(g.hosts, h)
	h.groups = removeItem(h.groups, g)
}

func removeItem[T comparable](list []T, item T) []T {
	for i, e := range list {
		if e == item {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// addChild mirrors InventoryData.add_child: child may name a group or,
// failing that, a host.
func (d *data) addChild(parent, child string) error {
	p, ok := d.groups[parent]
	if !ok {
		return fmt.Errorf("%s is not a known group", parent)
	}
	if c, ok := d.groups[child]; ok {
		return d.addChildGroup(p, c)
	}
	if h, ok := d.hosts[child]; ok {
		p.addHost(h)
		return nil
	}
	return fmt.Errorf("%s is not a known host nor group", child)
}

func (d *data) addChildGroup(p, c *group) error {
	if p == c {
		return errors.New("can't add group to itself")
	}
	for _, e := range p.children {
		if e == c {
			return nil
		}
	}
	if ancestors(p)[c] {
		return fmt.Errorf("Adding group '%s' as child to '%s' creates a recursive dependency loop.", c.name, p.name)
	}
	p.children = append(p.children, c)
	c.parents = append(c.parents, p)
	return nil
}

// ancestors returns every group above g.
func ancestors(g *group) map[*group]bool {
	seen := map[*group]bool{}
	stack := append([]*group(nil), g.parents...)
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[e] {
			continue
		}
		seen[e] = true
		stack = append(stack, e.parents...)
	}
	return seen
}

// setGroupVar mirrors Group.set_variable: ansible_group_priority sets the
// group's priority instead of a variable.
func (g *group) setVar(key string, value any) error {
	if key == "ansible_group_priority" {
		p, err := pyIntOf(value)
		if err != nil {
			return err
		}
		g.priority = p
		return nil
	}
	g.vars[key] = value
	return nil
}

// pyIntOf mirrors Python's int(value).
func pyIntOf(v any) (int, error) {
	switch t := v.(type) {
	case int:
		return t, nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	case float64:
		if t != t || t > 9.2e18 || t < -9.2e18 {
			return 0, fmt.Errorf("cannot convert float %s to integer", pyFloatRepr(t))
		}
		return int(t), nil
	case string:
		return pyInt(t)
	}
	return 0, fmt.Errorf("int() argument must be a string, a bytes-like object or a real number, not '%s'", pyTypeName(v))
}

// reconcile mirrors InventoryData.reconcile_inventory: top-level groups
// become children of "all", and hosts end up in "ungrouped" exactly when
// they belong to no other group.
func (d *data) reconcile() {
	all, ungrouped := d.groups["all"], d.groups["ungrouped"]
	for _, g := range d.groupOrder {
		if g != all && len(g.parents) == 0 {
			_ = d.addChildGroup(all, g)
		}
	}
	anc := map[*group][]*group{}
	for _, h := range d.hostOrder {
		closure := hostClosure(h, anc)
		inUngrouped, other := false, false
		for _, g := range closure {
			switch g {
			case ungrouped:
				inUngrouped = true
			case all:
			default:
				other = true
			}
		}
		if inUngrouped {
			if other {
				ungrouped.removeHost(h)
			}
		} else if len(closure) == 0 || (len(closure) == 1 && closure[0] == all) {
			ungrouped.addHost(h)
		}
	}
	for _, name := range sortedKeys(d.groups) {
		if _, ok := d.hosts[name]; ok {
			d.warnf("Found both group and host with same name: %s", name)
		}
	}
}

// selfAndAncestors lists g and its ancestors, memoized in cache.
func selfAndAncestors(g *group, cache map[*group][]*group) []*group {
	if g.selfAnc != nil {
		return g.selfAnc // computed by finalize
	}
	if l, ok := cache[g]; ok {
		return l
	}
	l := []*group{g}
	seen := map[*group]bool{g: true}
	for _, p := range g.parents {
		for _, a := range selfAndAncestors(p, cache) {
			if !seen[a] {
				seen[a] = true
				l = append(l, a)
			}
		}
	}
	cache[g] = l
	return l
}

// hostClosure lists every group a host belongs to, directly or through
// child groups (Host.get_groups()).
func hostClosure(h *host, cache map[*group][]*group) []*group {
	if len(h.groups) == 1 {
		return selfAndAncestors(h.groups[0], cache)
	}
	var out []*group
	seen := map[*group]bool{}
	for _, g := range h.groups {
		for _, a := range selfAndAncestors(g, cache) {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// finalize computes depths, ancestor lists and each group's host list.
func (d *data) finalize() {
	cache := map[*group][]*group{}
	depth := map[*group]int{}
	var depthOf func(g *group) int
	depthOf = func(g *group) int {
		if v, ok := depth[g]; ok {
			return v
		}
		v := 0
		for _, p := range g.parents {
			if pd := depthOf(p) + 1; pd > v {
				v = pd
			}
		}
		depth[g] = v
		return v
	}
	for _, g := range d.groupOrder {
		g.depth = depthOf(g)
		g.selfAnc = selfAndAncestors(g, cache)
	}
	for _, g := range d.groupOrder {
		g.allHosts = collectHosts(g)
	}
}

// collectHosts mirrors Group.get_hosts: the group's own hosts, then those of
// its descendants breadth first. Ansible walks each level through a Python
// set, so its order below the first level of children is not stable; this
// walks each level in the order the groups were added as children.
func collectHosts(g *group) []*host {
	ordered := append([]*group{g}, g.children...)
	seen := map[*group]bool{g: true}
	for _, c := range g.children {
		seen[c] = true
	}
	level := append(append([]*group(nil), g.children...), g)
	for len(level) > 0 {
		var next []*group
		inNext := map[*group]bool{}
		for _, lg := range level {
			for _, c := range lg.children {
				if !seen[c] && !inNext[c] {
					inNext[c] = true
					next = append(next, c)
					ordered = append(ordered, c)
				}
			}
		}
		for _, c := range next {
			seen[c] = true
		}
		level = next
	}
	var out []*host
	if len(ordered) == 1 {
		return append(out, g.hosts...)
	}
	hs := map[*host]bool{}
	for _, e := range ordered {
		for _, h := range e.hosts {
			if !hs[h] {
				hs[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
