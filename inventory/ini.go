package inventory

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// defaultRangeLimit bounds how many hosts one host pattern may expand to.
const defaultRangeLimit = 1 << 20

// iniParser mirrors ansible/plugins/inventory/ini.py.
type iniParser struct {
	d      *data
	file   string // path used in messages
	source string // recorded as the hosts' source
	limit  int    // maximum hosts per host pattern
	lineno int
}

type pendingDecl struct {
	line    int
	state   string
	name    string
	parents []string
}

func (p *iniParser) errorf(format string, args ...any) error {
	return parseErrorf(p.file, p.lineno, format, args...)
}

// iniLines decodes the file as the ini plugin does: UTF-8, with undecodable
// comment lines blanked.
func (p *iniParser) iniLines(content []byte) ([]string, error) {
	if utf8.Valid(content) {
		return pySplitLines(string(content)), nil
	}
	var lines []string
	for i, l := range bytesSplitLines(content) {
		switch {
		case len(l) > 0 && (l[0] == '#' || l[0] == ';'):
			lines = append(lines, "")
		case !utf8.Valid(l):
			return nil, parseErrorf(p.file, i+1, "'utf-8' codec can't decode line")
		default:
			lines = append(lines, string(l))
		}
	}
	return lines, nil
}

// bytesSplitLines mirrors Python's bytes.splitlines() (\n, \r and \r\n).
func bytesSplitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			out = append(out, b[start:i])
			start = i + 1
		case '\r':
			out = append(out, b[start:i])
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

func (p *iniParser) parse(content []byte) error {
	lines, err := p.iniLines(content)
	if err != nil {
		return err
	}
	pending := map[string]*pendingDecl{}
	var pendingOrder []string
	addPending := func(d *pendingDecl) {
		pending[d.name] = d
		pendingOrder = append(pendingOrder, d.name)
	}
	groupname, state := "ungrouped", "hosts"
	p.lineno = 0
	for _, raw := range lines {
		p.lineno++
		line := pyStrip(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if name, tag, ok := matchSection(line); ok {
			groupname, state = name, tag
			if state == "" {
				state = "hosts"
			}
			if state != "hosts" && state != "children" && state != "vars" {
				return p.errorf("Section [%s:%s] has unknown type: %s", name, tag, state)
			}
			if _, ok := p.d.groups[groupname]; !ok {
				if _, isPending := pending[groupname]; state == "vars" && !isPending {
					addPending(&pendingDecl{line: p.lineno, state: state, name: groupname})
				}
				p.d.addGroup(groupname)
			}
			if decl, ok := pending[groupname]; ok && state != "vars" {
				if decl.state == "children" {
					if err := p.addPendingChildren(groupname, pending); err != nil {
						return err
					}
				} else if decl.state == "vars" {
					delete(pending, groupname)
				}
			}
			continue
		} else if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			return p.errorf("Invalid section entry: '%s'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters", line)
		}

		switch state {
		case "hosts":
			hosts, port, vars, err := p.parseHostDefinition(line)
			if err != nil {
				return err
			}
			g := p.d.groups[groupname]
			for _, name := range hosts {
				h, err := p.d.addHost(name, g, port, p.source)
				if err != nil {
					return p.errorf("%v", err)
				}
				for _, kv := range vars {
					h.vars[kv.k] = kv.v
				}
			}
		case "vars":
			k, v, err := p.parseVariableDefinition(line)
			if err != nil {
				return err
			}
			if err := p.d.groups[groupname].setVar(k, v); err != nil {
				return p.errorf("%v", err)
			}
		case "children":
			child, ok := matchGroupName(line)
			if !ok {
				return p.errorf("Expected group name, got: %s", line)
			}
			if _, exists := p.d.groups[child]; !exists {
				if decl, ok := pending[child]; ok {
					decl.parents = append(decl.parents, groupname)
				} else {
					addPending(&pendingDecl{line: p.lineno, state: state, name: child, parents: []string{groupname}})
				}
			} else if err := p.d.addChild(groupname, child); err != nil {
				return p.errorf("%v", err)
			}
		}
	}
	for _, name := range pendingOrder {
		decl, ok := pending[name]
		if !ok || decl.name != name {
			continue
		}
		switch decl.state {
		case "vars":
			return parseErrorf(p.file, decl.line, "Section [%s:vars] not valid for undefined group: %s", decl.name, decl.name)
		case "children":
			return parseErrorf(p.file, decl.line, "Section [%s:children] includes undefined group: %s", decl.parents[len(decl.parents)-1], decl.name)
		}
	}
	return nil
}

func (p *iniParser) addPendingChildren(name string, pending map[string]*pendingDecl) error {
	for _, parent := range pending[name].parents {
		if err := p.d.addChild(parent, name); err != nil {
			return p.errorf("%v", err)
		}
		if pd, ok := pending[parent]; ok && pd.state == "children" {
			if err := p.addPendingChildren(parent, pending); err != nil {
				return err
			}
		}
	}
	delete(pending, name)
	return nil
}

type kv struct {
	k string
	v any
}

// parseHostDefinition parses "name[:port] [k=v ...]".
func (p *iniParser) parseHostDefinition(line string) ([]string, int, []kv, error) {
	tokens, err := shlexSplit(line)
	if err != nil {
		return nil, 0, nil, p.errorf("Error parsing host definition '%s': %v", line, err)
	}
	if len(tokens) == 0 {
		return nil, 0, nil, p.errorf("list index out of range")
	}
	hosts, port, err := p.expandHostPattern(tokens[0])
	if err != nil {
		return nil, 0, nil, err
	}
	var vars []kv
	index := map[string]int{}
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return nil, 0, nil, p.errorf("Expected key=value host variable assignment, got: %s", t)
		}
		val, err := iniValue(v)
		if err != nil {
			return nil, 0, nil, p.errorf("%v", err)
		}
		if i, ok := index[k]; ok {
			vars[i].v = val
			continue
		}
		index[k] = len(vars)
		vars = append(vars, kv{k, val})
	}
	return hosts, port, vars, nil
}

// expandHostPattern adds the ini plugin's extra checks to the base one.
func (p *iniParser) expandHostPattern(pattern string) ([]string, int, error) {
	hosts, port, err := expandHostPattern(pattern, p.limit)
	if err != nil {
		return nil, 0, p.errorf("%v", err)
	}
	if strings.HasSuffix(pyStrip(pattern), ":") && port < 0 {
		return nil, 0, p.errorf("Invalid host pattern '%s' supplied, ending in ':' is not allowed, this character is reserved to provide a port.", pattern)
	}
	for _, h := range hosts {
		if pyStrip(h) == "---" {
			return nil, 0, p.errorf("Invalid host pattern '%s' supplied, '---' is normally a sign this is a YAML file.", pattern)
		}
	}
	return hosts, port, nil
}

func (p *iniParser) parseVariableDefinition(line string) (string, any, error) {
	k, v, ok := strings.Cut(line, "=")
	if !ok {
		return "", nil, p.errorf("Expected key=value, got: %s", line)
	}
	val, err := iniValue(pyStrip(v))
	if err != nil {
		return "", nil, p.errorf("%v", err)
	}
	return pyStrip(k), val, nil
}

func isPyWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// groupNameLen measures the match of [^:\]\s]+ at the start of s.
func groupNameLen(s string) int {
	for i, r := range s {
		if r == ':' || r == ']' || pyIsSpace(r) {
			return i
		}
	}
	return len(s)
}

// restIsComment matches \s*(?:#.*)?$ on s.
func restIsComment(s string) bool {
	s = strings.TrimLeftFunc(s, pyIsSpace)
	return s == "" || s[0] == '#'
}

// matchSection matches the ini plugin's section pattern
// ^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:\#.*)?$.
func matchSection(line string) (name, tag string, ok bool) {
	if !strings.HasPrefix(line, "[") {
		return "", "", false
	}
	rest := line[1:]
	n := groupNameLen(rest)
	if n == 0 {
		return "", "", false
	}
	name, rest = rest[:n], rest[n:]
	if strings.HasPrefix(rest, ":") {
		t := strings.IndexFunc(rest[1:], func(r rune) bool { return !isPyWord(r) })
		if t < 0 {
			t = len(rest) - 1
		}
		if t == 0 {
			return "", "", false
		}
		tag, rest = rest[1:1+t], rest[1+t:]
	}
	if !strings.HasPrefix(rest, "]") || !restIsComment(rest[1:]) {
		return "", "", false
	}
	return name, tag, true
}

// matchGroupName matches ^([^:\]\s]+)\s*(?:\#.*)?$.
func matchGroupName(line string) (string, bool) {
	n := groupNameLen(line)
	if n == 0 || !restIsComment(line[n:]) {
		return "", false
	}
	return line[:n], true
}

// parseINI parses content as an INI inventory into d.
func parseINI(d *data, file, source string, content []byte, limit int) error {
	p := &iniParser{d: d, file: file, source: source, limit: limit}
	return p.parse(content)
}
