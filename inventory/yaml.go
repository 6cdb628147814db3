package inventory

import (
	"fmt"
)

// yamlInvParser mirrors ansible/plugins/inventory/yaml.py.
type yamlInvParser struct {
	d      *data
	file   string
	source string
	limit  int
}

// truthy mirrors Python truthiness for loader values.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case int:
		return t != 0
	case float64:
		return t != 0
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case *omap:
		return t.len() > 0
	}
	return true
}

// checkYAMLInventory applies the yaml plugin's checks on the document
// before it starts adding groups.
func checkYAMLInventory(file string, root any) (*omap, error) {
	if root == nil {
		return nil, parseErrorf(file, 0, "Parsed empty YAML file")
	}
	m, ok := root.(*omap)
	if !ok {
		return nil, parseErrorf(file, 0, "YAML inventory has invalid structure, it should be a dictionary, got: %s", pyTypeName(root))
	}
	if v, _ := m.get("plugin"); truthy(v) {
		return nil, fmt.Errorf("%s: inventory plugin configuration files (plugin: %s) are not supported: %w", file, pyRepr(v), ErrUnsupported)
	}
	return m, nil
}

func (p *yamlInvParser) parse(m *omap) error {
	for i, k := range m.keys {
		if _, err := p.parseGroup(k, m.vals[i], m.lines[i]); err != nil {
			return err
		}
	}
	return nil
}

func (p *yamlInvParser) parseGroup(name, groupData any, line int) (any, error) {
	om, isMap := groupData.(*omap)
	if !isMap && groupData != nil {
		p.d.warnf("Skipping '%s' as this is not a valid group definition", pyRepr(name))
		return name, nil
	}
	gname, ok := name.(string)
	if !ok {
		return nil, parseErrorf(p.file, line, "Unable to add group %s: Invalid group name supplied, expected a string but got <class '%s'> for %s", pyRepr(name), pyTypeName(name), pyRepr(name))
	}
	if gname == "" {
		return nil, parseErrorf(p.file, line, "Unable to add group : Invalid empty/false group name provided: ")
	}
	g := p.d.addGroup(gname)
	if om == nil {
		return gname, nil
	}

	// A section given as a string names a single entry.
	override := map[string]any{}
	for _, section := range []string{"vars", "children", "hosts"} {
		v, ok := om.get(section)
		if !ok {
			continue
		}
		switch t := v.(type) {
		case string:
			o := newOmap()
			o.set(t, nil, om.lines[om.index[section]])
			override[section] = o
		case *omap, nil:
		default:
			return nil, parseErrorf(p.file, om.lines[om.index[section]], "Invalid \"%s\" entry for \"%s\" group, requires a dictionary, found \"%s\" instead.", section, gname, pyTypeName(v))
		}
	}

	for i, key := range om.keys {
		val := om.vals[i]
		if ks, ok := key.(string); ok {
			if o, ok := override[ks]; ok {
				val = o
			}
		}
		sub, isMap := val.(*omap)
		if !isMap {
			if val != nil {
				p.d.warnf("Skipping key (%s) in group (%s) as it is not a mapping, it is a %s", pyRepr(key), gname, pyTypeName(val))
			}
			continue
		}
		switch key {
		case "vars":
			for j, k := range sub.keys {
				if err := g.setVar(keyString(k), plain(sub.vals[j])); err != nil {
					return nil, parseErrorf(p.file, sub.lines[j], "%v", err)
				}
			}
		case "children":
			for j, k := range sub.keys {
				child, err := p.parseGroup(k, sub.vals[j], sub.lines[j])
				if err != nil {
					return nil, err
				}
				cname, _ := child.(string)
				if err := p.d.addChild(gname, cname); err != nil {
					if cname == "" {
						err = fmt.Errorf("%s is not a known host nor group", pyRepr(child))
					}
					return nil, parseErrorf(p.file, sub.lines[j], "%v", err)
				}
			}
		case "hosts":
			for j, k := range sub.keys {
				if err := p.parseHost(g, k, sub.vals[j], sub.lines[j]); err != nil {
					return nil, err
				}
			}
		default:
			p.d.warnf("Skipping unexpected key (%s) in group (%s), only \"vars\", \"children\" and \"hosts\" are valid", pyRepr(key), gname)
		}
	}
	return gname, nil
}

func (p *yamlInvParser) parseHost(g *group, pattern, vars any, line int) error {
	ps, ok := pattern.(string)
	if !ok {
		return parseErrorf(p.file, line, "Host pattern %s must be a string. Enclose integers/floats in quotation marks.", pyRepr(pattern))
	}
	hosts, port, err := expandHostPattern(ps, p.limit)
	if err != nil {
		return parseErrorf(p.file, line, "%v", err)
	}
	var hv *omap
	if truthy(vars) {
		m, ok := vars.(*omap)
		if !ok {
			return parseErrorf(p.file, line, "Invalid data from file, expected dictionary and got:\n\n%s", pyRepr(vars))
		}
		hv = m
	}
	for _, name := range hosts {
		h, err := p.d.addHost(name, g, port, p.source)
		if err != nil {
			return parseErrorf(p.file, line, "%v", err)
		}
		if hv != nil {
			for j, k := range hv.keys {
				h.vars[keyString(k)] = plain(hv.vals[j])
			}
		}
	}
	return nil
}
