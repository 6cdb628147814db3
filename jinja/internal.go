package jinja

import (
	"reflect"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// callCtx is what filters, tests and functions see of the evaluation.
type callCtx struct {
	env *Env
	ev  *exec.Evaluator // nil when called outside a template evaluation
}

// vars returns the caller's variables of the current evaluation.
func (c *callCtx) vars() map[string]any {
	if c.ev == nil {
		return nil
	}
	v, ok := c.ev.Environment.Context.Get(varsKey)
	if !ok {
		return nil
	}
	m, _ := v.(map[string]any)
	return m
}

// pyFunc is a callable value (global function, bound method).
type pyFunc func(c *callCtx, args []any, kw map[string]any) (any, error)

type filterFunc func(c *callCtx, in any, args []any, kw map[string]any) (any, error)

// filterSpec describes a filter; undefinedOK filters receive an undefined
// input (as *undefined) instead of failing with it.
type filterSpec struct {
	fn          filterFunc
	undefinedOK bool
}

type testFunc func(c *callCtx, in any, args []any, kw map[string]any) (bool, error)

// testSpec describes a test; strict tests fail on an undefined input, the
// others receive it (as *undefined) and typically answer false.
type testSpec struct {
	fn     testFunc
	strict bool
}

func nativeArgs(params *exec.VarArgs) ([]any, map[string]any) {
	args := make([]any, len(params.Args))
	for i, a := range params.Args {
		args[i] = native(a)
	}
	var kw map[string]any
	if len(params.KwArgs) > 0 {
		kw = make(map[string]any, len(params.KwArgs))
		for k, a := range params.KwArgs {
			kw[k] = native(a)
		}
	}
	return args, kw
}

// errsOf returns the error table of the evaluation ev belongs to.
func errsOf(ev *exec.Evaluator) *errTable {
	if ev == nil || ev.Environment == nil || ev.Environment.Context == nil {
		return nil
	}
	v, ok := ev.Environment.Context.Get(errsKey)
	if !ok {
		return nil
	}
	t, _ := v.(*errTable)
	return t
}

// errValue turns err into a gonja error value, recording it for decode.
func errValue(ev *exec.Evaluator, err error) *exec.Value {
	return exec.AsValue(errsOf(ev).mark(err))
}

// resultOf returns a converter of a Go result into a gonja value.
func resultOf(ev *exec.Evaluator) func(v any, err error) *exec.Value {
	return func(v any, err error) *exec.Value {
		if err != nil {
			return errValue(ev, err)
		}
		if u, ok := v.(*undefined); ok {
			return errValue(ev, u)
		}
		return exec.ToValue(v)
	}
}

// inputValue returns the native input of a filter, or the error to propagate.
// With undefinedOK an undefined input is returned as its *undefined.
func inputValue(ev *exec.Evaluator, in *exec.Value, undefinedOK bool) (any, *exec.Value) {
	if err := valueError(in); err != nil {
		if u, ok := errsOf(ev).decode(err).(*undefined); ok && undefinedOK {
			return u, nil
		}
		return nil, in
	}
	return native(in), nil
}

// adaptFilter turns a filter implementation into a gonja filter function.
func (e *Env) adaptFilter(spec *filterSpec) exec.FilterFunction {
	return func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		x, fail := inputValue(ev, in, spec.undefinedOK)
		if fail != nil {
			return fail
		}
		cost := 1
		switch v := x.(type) {
		case []any:
			cost += len(v)
		case map[string]any:
			cost += len(v)
		case string:
			cost += len(v) / 64
		}
		if err := errsOf(ev).spend(cost); err != nil {
			return errValue(ev, err)
		}
		args, kw := nativeArgs(params)
		return resultOf(ev)(spec.fn(&callCtx{env: e, ev: ev}, x, args, kw))
	}
}

// registerInternal registers the filters that the rewriter targets.
func (e *Env) registerInternal() {
	e.addRawFilter(fName, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return resultOf(ev)(e.lookupName(ev, in.String()), nil)
	})
	e.addRawFilter(fVarPath, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		return resultOf(ev)(e.walkPath(e.lookupName(ev, in.String()), params.Args), nil)
	})
	e.addRawFilter(fPath, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		obj, fail := inputValue(ev, in, true)
		if fail != nil {
			return fail
		}
		return resultOf(ev)(e.walkPath(obj, params.Args), nil)
	})
	e.addRawFilter(fGetattr, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		obj, fail := inputValue(ev, in, true)
		if fail != nil {
			return fail
		}
		if u, ok := obj.(*undefined); ok {
			return errValue(ev, u)
		}
		return resultOf(ev)(e.getattr(obj, params.First().String()), nil)
	})
	e.addRawFilter(fGetitem, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		obj, fail := inputValue(ev, in, true)
		if fail != nil {
			return fail
		}
		if u, ok := obj.(*undefined); ok {
			return errValue(ev, u)
		}
		return resultOf(ev)(e.getitem(obj, native(params.First())), nil)
	})
	e.addRawFilter(fCall, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		if err := errsOf(ev).enter(); err != nil {
			return errValue(ev, err)
		}
		defer errsOf(ev).leave()
		switch fn := in.Interface().(type) {
		case pyFunc:
			args, kw := nativeArgs(params)
			return resultOf(ev)(fn(&callCtx{env: e, ev: ev}, args, kw))
		case exec.Macro:
			return fn(params)
		case func(*exec.VarArgs) *exec.Value:
			return fn(params)
		case func(*exec.Evaluator, *exec.VarArgs) *exec.Value:
			return fn(ev, params)
		case interface {
			Call(*exec.VarArgs) *exec.Value
		}:
			return fn.Call(params)
		}
		return errValue(ev, typeErrorf("'%s' object is not callable", typeName(in)))
	})
	e.addRawFilter(fGuard, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		var call func(*exec.VarArgs) *exec.Value
		switch fn := in.Interface().(type) {
		case exec.Macro:
			call = fn
		case func(*exec.VarArgs) *exec.Value:
			call = fn
		default:
			return errValue(ev, typeErrorf("'%s' object is not callable", typeName(in)))
		}
		errs := errsOf(ev)
		return exec.AsValue(func(params *exec.VarArgs) *exec.Value {
			if err := errs.enter(); err != nil {
				return exec.AsValue(errs.mark(err))
			}
			defer errs.leave()
			return call(params)
		})
	})
	e.addRawFilter(fBinop, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		if len(params.Args) != 2 {
			return errValue(ev, typeErrorf("internal: bad operator call"))
		}
		return resultOf(ev)(binaryOp(params.Args[0].String(), native(in), native(params.Args[1])))
	})
	e.addRawFilter(fModT, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		s, ok := native(in).(string)
		if !ok {
			return errValue(ev, typeErrorf("unsupported operand type(s) for %%: '%s' and 'tuple'", typeName(in)))
		}
		args, _ := nativeArgs(params)
		return resultOf(ev)(percentFormat(s, args, true))
	})
	e.addRawFilter(fNot, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		b, err := truthy(native(in))
		return resultOf(ev)(!b, err)
	})
	e.addRawFilter(fNeg, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		return resultOf(ev)(unaryOp("-", native(in)))
	})
	e.addRawFilter(fPos, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		return resultOf(ev)(unaryOp("+", native(in)))
	})
	e.addRawFilter(fList, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		if vl, ok := in.Interface().(exec.ValuesList); ok {
			out := make([]any, len(vl))
			for i, item := range vl {
				if err := valueError(item); err != nil {
					return item
				}
				out[i] = native(item)
			}
			return exec.AsValue(out)
		}
		return exec.AsValue(native(in))
	})
	e.addRawFilter(fDict, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		return exec.AsValue(native(in))
	})
	e.addRawFilter(fTest, func(ev *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		name := params.First().String()
		spec, ok := e.test(name)
		if !ok {
			return errValue(ev, typeErrorf("no test named %s", quotePy(name)))
		}
		x, fail := inputValue(ev, in, !spec.strict)
		if fail != nil {
			return fail
		}
		args, kw := nativeArgs(&exec.VarArgs{Args: params.Args[1:], KwArgs: params.KwArgs})
		return resultOf(ev)(spec.fn(&callCtx{env: e, ev: ev}, x, args, kw))
	})
	e.addRawFilter(fStr, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		var s string
		if in.IsString() {
			s = in.String()
		} else {
			v, err := deep(in)
			if err != nil {
				return errValue(ev, err)
			}
			if v != nil {
				s = PyStr(v)
			}
		}
		if err := errsOf(ev).printed(len(s)); err != nil {
			return errValue(ev, err)
		}
		return exec.AsValue(s)
	})
	e.addRawFilter(fBool, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		return resultOf(ev)(truthy(native(in)))
	})
	e.addRawFilter(fIter, func(ev *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if err := valueError(in); err != nil {
			return in
		}
		items, err := iterate(native(in))
		if err == nil {
			err = errsOf(ev).spend(4 * len(items)) // gonja's for loop costs ~4µs per item
		}
		return resultOf(ev)(items, err)
	})
}

// lookupName resolves a variable: template locals (loop variables, set,
// macro arguments), then the caller's variables, then `vars` itself, then
// globals; otherwise an undefined value.
func (e *Env) lookupName(ev *exec.Evaluator, name string) any {
	ctx := ev.Environment.Context
	if v, ok := ctx.Get(name); ok {
		return native(v)
	}
	vars := (&callCtx{env: e, ev: ev}).vars()
	if v, ok := vars[name]; ok {
		return v
	}
	if name == "vars" && vars != nil {
		return vars
	}
	e.mu.RLock()
	g, ok := e.globals[name]
	e.mu.RUnlock()
	if ok {
		return g
	}
	return newUndefinedName(name)
}

// walkPath applies (kind, key) steps: "." for attribute access, "[" for item
// access. An undefined value stops the walk and is returned as is (Ansible's
// Undefined returns itself on further access).
func (e *Env) walkPath(obj any, steps []*exec.Value) any {
	obj = native(obj)
	for i := 0; i+1 < len(steps); i += 2 {
		if _, ok := obj.(*undefined); ok {
			return obj
		}
		if err := valueError(steps[i+1]); err != nil {
			return err
		}
		if steps[i].String() == "." {
			obj = native(e.getattr(obj, steps[i+1].String()))
		} else {
			obj = native(e.getitem(obj, native(steps[i+1])))
		}
	}
	return obj
}

// iterate returns the items Python's iter() would produce for v.
func iterate(v any) ([]any, error) {
	switch x := native(v).(type) {
	case []any:
		return x, nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case map[string]any:
		keys := sortedKeys(x)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out, nil
	case error:
		return nil, x
	}
	return nil, typeErrorf("'%s' object is not iterable", typeName(v))
}

// getattr implements Jinja2's environment.getattr: attribute (method) first,
// then item; failures produce an undefined value.
func (e *Env) getattr(obj any, name string) any {
	switch x := obj.(type) {
	case map[string]any:
		if m := dictMethod(x, name); m != nil {
			return m
		}
		if v, ok := x[name]; ok {
			return v
		}
	case []any:
		if m := listMethod(x, name); m != nil {
			return m
		}
	case string:
		if m := e.strMethod(x, name); m != nil {
			return m
		}
	case *namespace:
		if v, ok := x.attrs[name]; ok {
			return v
		}
	case exec.AttributeGetter:
		if v, ok := x.GetAttribute(name); ok && !v.IsError() {
			return v
		}
	}
	return newUndefinedAttr(obj, name)
}

// getitem implements Jinja2's environment.getitem: item first, then attribute
// for string keys; failures produce an undefined value.
func (e *Env) getitem(obj any, key any) any {
	if err, ok := key.(error); ok {
		return err
	}
	switch x := obj.(type) {
	case map[string]any:
		if k, ok := mapKey(key); ok {
			if v, ok := x[k]; ok {
				return v
			}
		}
	case []any:
		if i, _, isFloat, ok := toNumber(key); ok && !isFloat {
			if i < 0 {
				i += len(x)
			}
			if i >= 0 && i < len(x) {
				return x[i]
			}
			return newUndefinedAttr(obj, key)
		}
	case string:
		if i, _, isFloat, ok := toNumber(key); ok && !isFloat {
			runes := []rune(x)
			if i < 0 {
				i += len(runes)
			}
			if i >= 0 && i < len(runes) {
				return string(runes[i])
			}
			return newUndefinedAttr(obj, key)
		}
	case exec.ItemGetter:
		if v, ok := x.GetItem(key); ok && !v.IsError() {
			return v
		}
	}
	if name, ok := key.(string); ok {
		return e.getattr(obj, name)
	}
	return newUndefinedAttr(obj, key)
}

// dictMethod returns the bound dict method name of d, or nil.
func dictMethod(d map[string]any, name string) pyFunc {
	switch name {
	case "keys":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			keys := sortedKeys(d)
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = k
			}
			return out, nil
		}
	case "values":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			keys := sortedKeys(d)
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = d[k]
			}
			return out, nil
		}
	case "items":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			return dictItems(d), nil
		}
	case "get":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			if len(args) < 1 || len(args) > 2 {
				return nil, typeErrorf("get expected 1 or 2 arguments, got %d", len(args))
			}
			if k, ok := mapKey(args[0]); ok {
				if v, ok := d[k]; ok {
					return v, nil
				}
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return nil, nil
		}
	case "copy":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			out := make(map[string]any, len(d))
			for k, v := range d {
				out[k] = v
			}
			return out, nil
		}
	}
	return nil
}

func dictItems(d map[string]any) []any {
	keys := sortedKeys(d)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = []any{k, d[k]}
	}
	return out
}

// listMethod returns the bound (non-mutating) list method name of l, or nil.
func listMethod(l []any, name string) pyFunc {
	switch name {
	case "index":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			if len(args) < 1 {
				return nil, typeErrorf("index expected at least 1 argument, got 0")
			}
			for i, v := range l {
				if pyEqual(v, args[0]) {
					return i, nil
				}
			}
			return nil, typeErrorf("%s is not in list", PyRepr(args[0]))
		}
	case "count":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			if len(args) != 1 {
				return nil, typeErrorf("count() takes exactly one argument (%d given)", len(args))
			}
			n := 0
			for _, v := range l {
				if pyEqual(v, args[0]) {
					n++
				}
			}
			return n, nil
		}
	case "copy":
		return func(_ *callCtx, args []any, _ map[string]any) (any, error) {
			return append([]any{}, l...), nil
		}
	}
	return nil
}

// strMethod binds one of gonja's Python str methods (split, strip, startswith,
// format, …) to s.
func (e *Env) strMethod(s string, name string) pyFunc {
	if strings.HasPrefix(name, "_") {
		return nil
	}
	if impl, ok := strMethods[name]; ok {
		return func(_ *callCtx, args []any, kw map[string]any) (any, error) {
			return impl(s, args, kw)
		}
	}
	m, ok := e.genv.Methods.Str.Get(name)
	if !ok {
		return nil
	}
	return func(_ *callCtx, args []any, kw map[string]any) (any, error) {
		params := exec.NewVarArgs()
		for _, a := range args {
			params.Args = append(params.Args, exec.AsValue(a))
		}
		for k, a := range kw {
			params.KwArgs[k] = exec.AsValue(a)
		}
		out, err := m(s, exec.AsValue(s), params)
		if err != nil {
			return nil, typeErrorf("%s", err.Error())
		}
		return native(out), nil
	}
}

// isCallable reports whether v can be called from a template.
func isCallable(v any) bool {
	switch v.(type) {
	case pyFunc, exec.Macro:
		return true
	}
	return reflect.ValueOf(v).Kind() == reflect.Func
}
