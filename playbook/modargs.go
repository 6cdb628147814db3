package playbook

import (
	"fmt"
	"strings"
)

// This file ports ansible/parsing/mod_args.py (ModuleArgsParser).

// argMap is an insertion-ordered dict of module arguments.
type argMap struct {
	keys []string
	vals map[string]*node
}

func newArgMap() *argMap { return &argMap{vals: map[string]*node{}} }

func (m *argMap) set(k string, v *node) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *argMap) get(k string) (*node, bool) {
	if m == nil {
		return nil, false
	}
	v, ok := m.vals[k]
	return v, ok
}

func (m *argMap) del(k string) {
	if m == nil {
		return
	}
	if _, ok := m.vals[k]; !ok {
		return
	}
	delete(m.vals, k)
	for i, x := range m.keys {
		if x == k {
			m.keys = append(m.keys[:i:i], m.keys[i+1:]...)
			break
		}
	}
}

func (m *argMap) update(o *argMap) {
	if o == nil || m == nil {
		return
	}
	for _, k := range o.keys {
		m.set(k, o.vals[k])
	}
}

func (m *argMap) len() int {
	if m == nil {
		return 0
	}
	return len(m.keys)
}

// rawParamsNonEmpty reports whether _raw_params is set and not the empty
// string (Python: args.get("_raw_params", "") != "").
func (m *argMap) rawParamsNonEmpty() bool {
	v, ok := m.get("_raw_params")
	if !ok {
		return false
	}
	if s, isStr := v.str(); isStr {
		return s != ""
	}
	return true
}

func argMapFromNode(n *node) *argMap {
	m := newArgMap()
	for _, p := range n.pairs {
		m.set(pyStrOf(p.key), p.val)
	}
	return m
}

// taskError is an error raised while parsing a task. A nil obj means the
// caller attaches the task's mapping (Ansible re-raises such errors with
// obj=task_ds).
type taskError struct {
	msg  string
	obj  *node
	code int
	// noWrap marks a plain AnsibleError that load_list_of_tasks does not
	// re-raise with a position.
	noWrap bool
}

func (e *taskError) Error() string { return e.msg }

func parserErr(obj *node, format string, args ...any) *taskError {
	return &taskError{msg: fmt.Sprintf(format, args...), obj: obj, code: ExitParserError}
}

// moduleArgs is the result of ModuleArgsParser.parse.
type moduleArgs struct {
	action     string
	args       *argMap
	delegateTo *node // nil: not set
	hasDelgate bool
	// resolved is the canonical module name ("" if the action was not
	// validated, e.g. written with action:/local_action:).
	resolved string
}

type argsParser struct {
	ds    *node
	known func(string) (string, bool)
}

// kvToArgMap runs parse_kv and keeps the order of the keys.
func kvToArgMap(s string, checkRaw bool) (*argMap, error) {
	keys, vals, err := parseKV(s, checkRaw)
	if err != nil {
		return nil, err
	}
	m := newArgMap()
	for _, k := range keys {
		m.set(k, newStr(vals[k]))
	}
	return m, nil
}

func kvErr(err error) *taskError {
	return &taskError{msg: err.Error(), code: ExitParserError}
}

// splitModuleString is _split_module_string.
func splitModuleString(s string) (string, string, error) {
	tokens, err := SplitArgs(s)
	if err != nil {
		if err == errArgIndex {
			return "", "", &taskError{msg: "Unexpected Exception, this is probably a bug: list index out of range", code: 250, noWrap: true}
		}
		return "", "", err
	}
	if len(tokens) == 0 {
		return "", "", &taskError{msg: "Unexpected Exception, this is probably a bug: list index out of range", code: 250, noWrap: true}
	}
	if len(tokens) > 1 {
		return pyStrip(tokens[0]), strings.Join(tokens[1:], " "), nil
	}
	return pyStrip(tokens[0]), "", nil
}

func (p *argsParser) normalizeParameters(thing *node, action string, hasAction bool, additional *node) (string, bool, *argMap, error) {
	final := newArgMap()
	if additional.truthy() {
		switch {
		case additional.isString():
			s, _ := additional.str()
			if !IsTemplate(s) {
				return "", false, nil, &taskError{msg: "Complex args containing variables cannot use bare variables (without Jinja2 delimiters), and must use the full variable style ('{{var_name}}')", code: ExitParserError}
			}
			final.set("_variable_params", additional)
		case additional.isMap():
			final.update(argMapFromNode(additional))
		default:
			return "", false, nil, &taskError{msg: `Complex args must be a dictionary or variable string ("{{var}}").`, code: ExitParserError}
		}
	}
	var args *argMap
	var err error
	if hasAction {
		args, err = p.normalizeNewStyle(thing, action)
		if err != nil {
			return "", false, nil, err
		}
	} else {
		action, hasAction, args, err = p.normalizeOldStyle(thing)
		if err != nil {
			return "", false, nil, err
		}
		if tmp, ok := args.get("args"); ok {
			args.del("args")
			switch {
			case tmp.isString():
				s, _ := tmp.str()
				kv, err := kvToArgMap(s, false)
				if err != nil {
					return "", false, nil, kvErr(err)
				}
				args.update(kv)
			case tmp.isMap():
				args.update(argMapFromNode(tmp))
			case tmp.isSeq():
				// dict.update() accepts a sequence of pairs.
				for i, it := range tmp.items {
					switch {
					case it.kind == sequenceNode && len(it.items) == 2:
						args.set(pyStrOf(it.items[0]), it.items[1])
					case it.kind == sequenceNode || it.isString():
						l := len(it.items)
						if it.isString() {
							l = len([]rune(it.val.(string)))
						}
						if l == 2 && it.isString() {
							r := []rune(it.val.(string))
							args.set(string(r[0]), newStr(string(r[1])))
							continue
						}
						return "", false, nil, &taskError{msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: dictionary update sequence element #%d has length %d; 2 is required", i, l), code: 250, noWrap: true}
					default:
						return "", false, nil, &taskError{msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: cannot convert dictionary update sequence element #%d to a sequence", i), code: 250, noWrap: true}
					}
				}
			default:
				return "", false, nil, &taskError{msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: '%s' object is not iterable", typeName(tmp)), code: 250, noWrap: true}
			}
		}
	}
	if args.len() > 0 && !freeformActions[action] {
		for _, k := range args.keys {
			if strings.HasPrefix(k, "_ansible_") {
				return "", false, nil, &taskError{msg: fmt.Sprintf("invalid parameter specified for action '%s': '%s'", action, k), code: ExitGenericError, noWrap: true}
			}
		}
	}
	final.update(args)
	return action, hasAction, final, nil
}

func typeName(n *node) string {
	if n == nil {
		return pyNone
	}
	return n.shortType()
}

func (p *argsParser) normalizeNewStyle(thing *node, action string) (*argMap, error) {
	switch {
	case thing.isMap():
		return argMapFromNode(thing), nil
	case thing.isString():
		s, _ := thing.str()
		m, err := kvToArgMap(s, freeformActions[action])
		if err != nil {
			return nil, kvErr(err)
		}
		return m, nil
	case thing.isNull():
		return nil, nil
	}
	return nil, parserErr(p.ds, "unexpected parameter type in action: %s", thing.typeString())
}

// normalizeOldStyle handles action:/local_action: values; ok is false when
// no module was named (a dict without "module").
func (p *argsParser) normalizeOldStyle(thing *node) (action string, ok bool, args *argMap, err error) {
	switch {
	case thing.isMap():
		if !thing.has("module") {
			return "", false, nil, nil
		}
		mod := thing.get("module")
		ms, isStr := mod.str()
		if !isStr {
			return "", false, nil, &taskError{msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: '%s' object has no attribute 'split'", typeName(mod)), code: 250, noWrap: true}
		}
		action, rest, err := splitModuleString(ms)
		if err != nil {
			return "", false, nil, asTaskErr(err)
		}
		args := argMapFromNode(thing)
		kv, err := kvToArgMap(rest, freeformActions[action])
		if err != nil {
			return "", false, nil, kvErr(err)
		}
		args.update(kv)
		args.del("module")
		return action, true, args, nil
	case thing.isString():
		s, _ := thing.str()
		action, rest, err := splitModuleString(s)
		if err != nil {
			return "", false, nil, asTaskErr(err)
		}
		kv, err := kvToArgMap(rest, freeformActions[action])
		if err != nil {
			return "", false, nil, kvErr(err)
		}
		return action, true, kv, nil
	}
	return "", false, nil, parserErr(p.ds, "unexpected parameter type in action: %s", thing.typeString())
}

func asTaskErr(err error) error {
	if te, ok := err.(*taskError); ok {
		return te
	}
	return kvErr(err)
}

// parse is ModuleArgsParser.parse. With skipValidation every non-keyword
// key is an action candidate (as in load_list_of_tasks' first pass);
// otherwise only builtin tasks and names known() resolves.
func (p *argsParser) parse(skipValidation bool) (*moduleArgs, error) {
	ds := p.ds
	res := &moduleArgs{}
	if ds.has("delegate_to") {
		res.delegateTo = ds.get("delegate_to")
		res.hasDelgate = true
	}
	additional := ds.get("args")
	action := ""
	hasAction := false
	args := newArgMap()

	if ds.has("action") {
		a, has, m, err := p.normalizeParameters(ds.get("action"), "", false, additional)
		if err != nil {
			return nil, err
		}
		action, args, hasAction = a, m, has
	}
	if ds.has("local_action") {
		if hasAction {
			return nil, parserErr(ds, "action and local_action are mutually exclusive")
		}
		res.delegateTo = newStr("localhost")
		res.hasDelgate = true
		a, has, m, err := p.normalizeParameters(ds.get("local_action"), "", false, additional)
		if err != nil {
			return nil, err
		}
		action, args, hasAction = a, m, has
	}

	var nonTask []pair
	for _, kv := range ds.pairs {
		if !kv.key.isString() {
			// Ansible calls k.startswith('with_') on every key.
			return nil, &taskError{msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: '%s' object has no attribute 'startswith'", typeName(kv.key)), code: 250, noWrap: true}
		}
		k := pyStrOf(kv.key)
		if argsParserTaskAttrs[k] || strings.HasPrefix(k, "with_") {
			continue
		}
		nonTask = append(nonTask, kv)
	}
	for _, kv := range nonTask {
		item := pyStrOf(kv.key)
		candidate := builtinTasks[item] || skipValidation
		resolved := ""
		if !candidate && p.known != nil {
			resolved, candidate = p.known(item)
		}
		if !candidate {
			continue
		}
		if hasAction {
			return nil, parserErr(ds, "conflicting action statements: %s, %s", action, item)
		}
		a, _, m, err := p.normalizeParameters(kv.val, item, true, additional)
		if err != nil {
			return nil, err
		}
		action, args, hasAction = a, m, true
		res.resolved = resolved
	}
	if !hasAction {
		if len(nonTask) > 0 {
			return nil, parserErr(ds, "couldn't resolve module/action '%s'. This often indicates a misspelling, missing collection, or incorrect module path.", pyStrOf(nonTask[0].key))
		}
		return nil, parserErr(ds, "no module/action detected in task.")
	}
	if args.rawParamsNonEmpty() && !rawParamModules[action] {
		raw, _ := args.get("_raw_params")
		args.del("_raw_params")
		s, isStr := raw.str()
		if isStr && IsTemplate(s) {
			args.set("_variable_params", raw)
		} else {
			return nil, parserErr(ds, "this task '%s' has extra params, which is only allowed in the following modules: %s", action, strings.Join(rawParamModuleList, ", "))
		}
	}
	res.action = action
	res.args = args
	return res, nil
}
