package jinja

import (
	"os"
	"strings"
	"time"
)

func (e *Env) addGlobal(name string, fn pyFunc) {
	e.mu.Lock()
	e.globals[name] = fn
	e.mu.Unlock()
}

func (e *Env) registerGlobals() {
	e.addGlobal("range", globalRange)
	e.addGlobal("dict", func(_ *callCtx, args []any, kw map[string]any) (any, error) {
		out := map[string]any{}
		if len(args) > 0 {
			switch x := args[0].(type) {
			case map[string]any:
				for k, v := range x {
					out[k] = v
				}
			case []any:
				for _, p := range x {
					pair, ok := p.([]any)
					if !ok || len(pair) != 2 {
						return nil, typeErrorf("dictionary update sequence element has wrong length")
					}
					out[PyStr(pair[0])] = pair[1]
				}
			default:
				return nil, typeErrorf("'%s' object is not iterable", typeName(x))
			}
		}
		for k, v := range kw {
			out[k] = v
		}
		return out, nil
	})
	e.addGlobal("namespace", func(_ *callCtx, args []any, kw map[string]any) (any, error) {
		ns := &namespace{attrs: map[string]any{}}
		if len(args) > 0 {
			if m, ok := args[0].(map[string]any); ok {
				for k, v := range m {
					ns.attrs[k] = v
				}
			}
		}
		for k, v := range kw {
			ns.attrs[k] = v
		}
		return ns, nil
	})
	e.addGlobal("lookup", func(c *callCtx, args []any, kw map[string]any) (any, error) {
		return c.runLookup(args, kw, false)
	})
	query := func(c *callCtx, args []any, kw map[string]any) (any, error) {
		return c.runLookup(args, kw, true)
	}
	e.addGlobal("query", query)
	e.addGlobal("q", query)
	e.addGlobal("now", func(_ *callCtx, args []any, kw map[string]any) (any, error) {
		t := time.Now()
		if argBool(args, kw, 0, "utc", false) {
			t = t.UTC()
		}
		if f := argv(args, kw, 1, "fmt", nil); f != nil {
			return pyStrftime(asString(f), t), nil
		}
		return t.Format("2006-01-02 15:04:05.000000"), nil
	})
	e.addGlobal("undef", func(_ *callCtx, args []any, kw map[string]any) (any, error) {
		hint := argv(args, kw, 0, "hint", nil)
		if hint == nil || hint == "" {
			hint = "Mandatory variable has not been overridden"
		}
		return newUndefinedHint(asString(hint)), nil
	})
}

// globalRange is Python's range() materialised as a list.
func globalRange(_ *callCtx, args []any, _ map[string]any) (any, error) {
	ints := make([]int, len(args))
	for i, a := range args {
		n, err := asInt(a, "range() argument")
		if err != nil {
			return nil, typeErrorf("'%s' object cannot be interpreted as an integer", typeName(a))
		}
		ints[i] = n
	}
	start, stop, step := 0, 0, 1
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return nil, typeErrorf("range expected at most 3 arguments, got %d", len(ints))
	}
	if step == 0 {
		return nil, typeErrorf("range() arg 3 must not be zero")
	}
	n := 0
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n > maxSequenceSize {
		return nil, typeErrorf("range too big, maximum size for range is %d", maxSequenceSize)
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// runLookup implements Ansible's lookup()/query() globals.
func (c *callCtx) runLookup(args []any, kw map[string]any, wantlist bool) (any, error) {
	if len(args) == 0 {
		return nil, typeErrorf("lookup() missing 1 required positional argument: 'name'")
	}
	name := asString(args[0])
	fn, ok := c.env.lookup(name)
	if !ok {
		return nil, filterErrorf("lookup plugin (%s) not found", name)
	}
	opts := map[string]any{}
	errorsMode := "strict"
	for k, v := range kw {
		switch k {
		case "wantlist":
			if t, _ := truthy(v); t {
				wantlist = true
			}
		case "errors":
			errorsMode = asString(v)
		default:
			opts[k] = v
		}
	}
	ran, err := fn(args[1:], opts, c.vars())
	if err != nil {
		switch errorsMode {
		case "ignore", "warn":
			if wantlist {
				return []any{}, nil
			}
			return nil, nil
		}
		return nil, err
	}
	if ran == nil {
		ran = []any{}
	}
	if wantlist {
		return ran, nil
	}
	parts := make([]string, len(ran))
	for i, r := range ran {
		s, ok := r.(string)
		if !ok {
			if len(ran) == 1 {
				return ran[0], nil
			}
			return ran, nil
		}
		parts[i] = s
	}
	return strings.Join(parts, ","), nil
}

func (e *Env) registerLookups() {
	e.RegisterLookup("env", func(terms []any, kw map[string]any, _ map[string]any) ([]any, error) {
		def := ""
		if d, ok := kw["default"]; ok {
			def = asString(d)
		}
		out := make([]any, 0, len(terms))
		for _, t := range terms {
			fields := strings.Fields(asString(t))
			v, ok := "", false
			if len(fields) > 0 {
				v, ok = os.LookupEnv(fields[0])
			}
			if !ok {
				out = append(out, def)
				continue
			}
			out = append(out, v)
		}
		return out, nil
	})
	e.RegisterLookup("vars", func(terms []any, kw map[string]any, vars map[string]any) ([]any, error) {
		def, hasDef := kw["default"]
		out := make([]any, 0, len(terms))
		for _, t := range terms {
			name, ok := t.(string)
			if !ok {
				return nil, filterErrorf("Invalid setting identifier, \"%s\" is not a string, its a %s", PyStr(t), typeName(t))
			}
			v, found := vars[name]
			if !found {
				if hasDef {
					out = append(out, def)
					continue
				}
				return nil, &undefined{hint: "No variable found with this name: " + name, obj: missing}
			}
			if s, isStr := v.(string); isStr && IsTemplate(s) {
				r, err := e.Value(s, vars)
				if err != nil {
					return nil, err
				}
				v = r
			}
			out = append(out, v)
		}
		return out, nil
	})
	e.RegisterLookup("items", func(terms []any, _ map[string]any, _ map[string]any) ([]any, error) {
		return flattenList(terms, 1, false), nil
	})
	e.RegisterLookup("list", func(terms []any, _ map[string]any, _ map[string]any) ([]any, error) {
		return terms, nil
	})
	e.RegisterLookup("indexed_items", func(terms []any, _ map[string]any, _ map[string]any) ([]any, error) {
		items := flattenList(terms, 1, false)
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = []any{i, it}
		}
		return out, nil
	})
	e.RegisterLookup("dict", func(terms []any, _ map[string]any, _ map[string]any) ([]any, error) {
		var out []any
		for _, t := range terms {
			m, ok := t.(map[string]any)
			if !ok {
				return nil, filterErrorf("with_dict expects a dict")
			}
			for _, k := range sortedKeys(m) {
				out = append(out, map[string]any{"key": k, "value": m[k]})
			}
		}
		return orEmpty(out), nil
	})
}
