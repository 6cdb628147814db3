package jinja

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// varsKey is the context entry holding the caller's variables. It is not an
// identifier, so templates cannot reach it by name.
const varsKey = "·vars"

// defaultCacheSize bounds the number of parsed templates kept per Env.
const defaultCacheSize = 4096

// Env is an Ansible-flavoured Jinja2 environment: gonja configured the way
// Ansible configures Jinja2 (trim_blocks, strict undefined handling) with
// Ansible's filters, tests, globals and lookups registered. Parsed templates
// are cached by source text. An Env is safe for concurrent use.
type Env struct {
	cfg   *config.Config
	genv  *exec.Environment
	cache *templateCache
	// maxOps overrides the per-evaluation operation budget (tests only).
	maxOps int

	mu      sync.RWMutex
	filters map[string]*filterSpec
	tests   map[string]*testSpec
	globals map[string]pyFunc
	lookups map[string]LookupFunc
}

// FilterFunc is a filter added with RegisterFilter. It receives the filtered
// value and the call's arguments as data-model values and returns a
// data-model value.
type FilterFunc func(in any, args []any, kwargs map[string]any) (any, error)

// LookupFunc implements a lookup plugin for lookup()/query(). It receives the
// lookup terms, keyword arguments and the template variables, and returns the
// list of results (lookup() joins string results with commas, as Ansible does).
type LookupFunc func(terms []any, kwargs map[string]any, vars map[string]any) ([]any, error)

// New returns an environment with Ansible's filters, tests, globals and the
// env/vars/items/list/dict/indexed_items lookups registered.
func New() *Env {
	cfg := config.New()
	cfg.TrimBlocks = true // Ansible sets trim_blocks=True
	e := &Env{
		cfg:     cfg,
		cache:   newTemplateCache(defaultCacheSize),
		filters: map[string]*filterSpec{},
		tests:   map[string]*testSpec{},
		globals: map[string]pyFunc{},
		lookups: map[string]LookupFunc{},
	}
	statements := map[string]parser.ControlStructureParser{"set": parseSet}
	for _, name := range []string{"if", "for", "macro", "call", "raw", "break", "continue", "do"} {
		if p, ok := builtins.ControlStructures.Get(name); ok {
			statements[name] = p
		}
	}
	e.genv = &exec.Environment{
		Filters:           exec.NewFilterSet(map[string]exec.FilterFunction{}),
		Tests:             exec.NewTestSet(map[string]exec.TestFunction{}),
		ControlStructures: exec.NewControlStructureSet(statements),
		Context:           exec.EmptyContext(),
		Methods:           builtins.Methods,
	}
	e.registerInternal()
	e.registerFilters()
	e.registerTests()
	e.registerGlobals()
	e.registerLookups()
	return e
}

// RegisterFilter adds (or replaces) a filter available to templates. Names
// starting with "·" are reserved for the package's internal filters and are
// ignored.
func (e *Env) RegisterFilter(name string, fn FilterFunc) {
	if strings.HasPrefix(name, "·") {
		return
	}
	e.addFilter(name, &filterSpec{fn: func(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
		return fn(in, args, kw)
	}})
	e.cache.clear()
}

// RegisterLookup adds (or replaces) a lookup plugin usable as lookup('name', ...).
func (e *Env) RegisterLookup(name string, fn LookupFunc) {
	e.mu.Lock()
	e.lookups[name] = fn
	e.mu.Unlock()
}

func (e *Env) addFilter(name string, spec *filterSpec) {
	e.mu.Lock()
	e.filters[name] = spec
	e.mu.Unlock()
	fn := e.adaptFilter(spec)
	if e.genv.Filters.Exists(name) {
		_ = e.genv.Filters.Replace(name, fn)
	} else {
		_ = e.genv.Filters.Register(name, fn)
	}
}

func (e *Env) addRawFilter(name string, fn exec.FilterFunction) {
	_ = e.genv.Filters.Register(name, fn)
}

func (e *Env) filter(name string) (*filterSpec, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	f, ok := e.filters[name]
	return f, ok
}

func (e *Env) test(name string) (*testSpec, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	t, ok := e.tests[name]
	return t, ok
}

func (e *Env) lookup(name string) (LookupFunc, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	l, ok := e.lookups[name]
	return l, ok
}

func (e *Env) hasFilter(name string) bool { return e.genv.Filters.Exists(name) }

func (e *Env) hasTest(name string) bool {
	_, ok := e.test(name)
	return ok
}

// IsTemplate reports whether s contains Jinja syntax ({{, {%, {#), as
// Ansible's is_possibly_template does.
func IsTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// String renders a template to text, as Ansible does when a template is
// embedded in a larger string: values are stringified the Python way (True,
// [1, 2], {'a': 1}); a None result prints as an empty string, as Ansible's
// finalize does. Trailing newlines of the source are preserved.
func (e *Env) String(tpl string, vars map[string]any) (string, error) {
	if !IsTemplate(tpl) {
		return tpl, nil
	}
	c, err := e.compile(tpl)
	if err != nil {
		return "", err
	}
	return e.render(c, vars)
}

// Value renders a template as Ansible 2.14's templar does (jinja2_native
// off): a template that is exactly one variable ("{{ x }}") holding a
// number, bool or None gives that value unchanged; a template whose one
// expression is a list or dict gives it; any other template gives its text, except that
// text that looks like a list, dict or bool ("[1, 2]", "{'a': 1}", "True")
// is converted with literal_eval. So "{{ [1, 2] }}" gives []any{1, 2} and
// "{{ true }}" true, but "{{ 1 + 1 }}" gives "2" and "{{ r.rc }}" "0", as in
// Ansible. A string with no template syntax is returned unchanged.
func (e *Env) Value(tpl string, vars map[string]any) (any, error) {
	if !IsTemplate(tpl) {
		return tpl, nil
	}
	if m := singleVarRE.FindStringSubmatch(tpl); m != nil {
		// Ansible's fast path for one bare variable: numbers, bools and
		// None come back as they are.
		if v, ok := vars[m[1]]; ok {
			switch v.(type) {
			case nil, bool, int, int64, float64:
				return v, nil
			}
		}
	}
	c, err := e.compile(tpl)
	if err != nil {
		return nil, err
	}
	if c.single != nil {
		v, err := e.evalSingle(c, vars)
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case []any, map[string]any, bool:
			return v, nil
		case nil:
			return "", nil
		case string:
			// As in String: keep the trailing newline Jinja2 dropped ("{{ x }}\n").
			if n := trailingNewlines(tpl) - trailingNewlines(x); n > 0 {
				x += strings.Repeat("\n", n)
			}
			if noTypeRE.MatchString(tpl) {
				return x, nil
			}
			return maybeLiteralEval(x), nil
		default:
			return PyStr(v), nil
		}
	}
	s, err := e.render(c, vars)
	if err != nil {
		return nil, err
	}
	if noTypeRE.MatchString(tpl) {
		return s, nil
	}
	return maybeLiteralEval(s), nil
}

// noTypeRE is Ansible's _no_type_regex: a template ending in a filter that
// makes text (to_json, string, ...) is never converted back to data.
var noTypeRE = regexp.MustCompile(`(?s).*?\|\s*(?:string|to_json|to_nice_json|to_yaml|to_nice_yaml|ppretty|json)(?:\([^|]*\))?\s*\)?\s*(?:\}\})`)

// singleVarRE is Ansible's SINGLE_VAR: a template that is one bare variable.
var singleVarRE = regexp.MustCompile(`^\{\{\s*(\w*)\s*\}\}\n?$`)

// Data applies Value recursively to every string in maps and lists; map keys
// are rendered with String. Data that contains no template is returned as is.
func (e *Env) Data(v any, vars map[string]any) (any, error) {
	out, _, err := e.data(v, vars, 0)
	return out, err
}

func (e *Env) data(v any, vars map[string]any, depth int) (any, bool, error) {
	if depth > maxReprDepth {
		return nil, false, typeErrorf("data structure is nested too deeply")
	}
	switch x := v.(type) {
	case string:
		if !IsTemplate(x) {
			return x, false, nil
		}
		r, err := e.Value(x, vars)
		return r, true, err
	case []any:
		var out []any
		for i, item := range x {
			r, changed, err := e.data(item, vars, depth+1)
			if err != nil {
				return nil, false, err
			}
			if changed && out == nil {
				out = make([]any, len(x))
				copy(out, x)
			}
			if out != nil {
				out[i] = r
			}
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	case map[string]any:
		var out map[string]any
		for k, item := range x {
			r, changed, err := e.data(item, vars, depth+1)
			if err != nil {
				return nil, false, err
			}
			key := k
			if IsTemplate(k) {
				if key, err = e.String(k, vars); err != nil {
					return nil, false, err
				}
				changed = true
			}
			if changed && out == nil {
				out = make(map[string]any, len(x))
				for k2, v2 := range x {
					out[k2] = v2
				}
			}
			if out != nil {
				if key != k {
					delete(out, k)
				}
				out[key] = r
			}
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

// Eval evaluates a bare Jinja expression ("r.stdout_lines | length", "x") to
// a native value. An expression that itself contains template syntax is
// rendered with Value.
func (e *Env) Eval(expr string, vars map[string]any) (any, error) {
	if IsTemplate(expr) {
		return e.Value(expr, vars)
	}
	return e.eval(expr, vars)
}

func (e *Env) eval(expr string, vars map[string]any) (any, error) {
	c, err := e.compileExpr(expr)
	if err != nil {
		return nil, err
	}
	return e.evalSingle(c, vars)
}

// Cond evaluates a conditional as Ansible's when/until/failed_when/changed_when
// do and returns the Python truthiness of the result. A conditional that
// contains {{ }} is first templated (as Ansible does, with a warning there); a
// non-string or empty result is then used directly, otherwise the text is
// evaluated as an expression. An empty conditional is true.
func (e *Env) Cond(expr string, vars map[string]any) (bool, error) {
	original := expr
	if expr == "" {
		return true, nil
	}
	if IsTemplate(expr) {
		v, err := e.Value(expr, vars)
		if err != nil {
			return false, e.condError(original, err)
		}
		s, ok := v.(string)
		if !ok || s == "" {
			b, err := truthy(v)
			if err != nil {
				return false, e.condError(original, err)
			}
			return b, nil
		}
		expr = s
	}
	v, err := e.Eval(expr, vars)
	if err == nil {
		var b bool
		if b, err = truthy(v); err == nil {
			return b, nil
		}
	}
	if b, ok := definedTestFallback(expr, err); ok {
		return b, nil
	}
	return false, e.condError(original, err)
}

// conditionalError is returned by Cond; it keeps the cause's error identity.
type conditionalError struct {
	expr string
	err  error
}

func (c *conditionalError) Error() string {
	return fmt.Sprintf("error while evaluating conditional (%s): %s", c.expr, c.err)
}

func (c *conditionalError) Unwrap() error { return c.err }

// condError words a conditional's error as Ansible 2.14 does: an undefined
// variable (or a filter's error) as "error while evaluating conditional",
// a syntax or type error as the error of the template Ansible evaluates
// for the conditional ({% if expr %} True {% else %} False {% endif %}),
// which its message shows.
func (e *Env) condError(expr string, err error) error {
	var te *TemplateError
	var re *runtimeError
	switch {
	case IsTemplate(expr):
		// templated first: the error may be the template's own
	case errors.Is(err, ErrSyntax):
		// the same mistake in the template Ansible parses, with the words
		// and token names of a {% %} statement
		if _, cerr := e.compile(condTemplate(expr)); cerr != nil {
			return cerr
		}
	case errors.As(err, &te) && errors.As(te.Err, &re) && re.kind == kindType:
		return &TemplateError{Source: condTemplate(expr), Err: te.Err}
	}
	if errors.Is(err, ErrSyntax) {
		return err
	}
	return &conditionalError{expr: expr, err: err}
}

var (
	undefinedVarRe = regexp.MustCompile(`'(hostvars\[.+\]|[\w_]+)' is undefined`)
	defUndefRe     = regexp.MustCompile(`([\w_]+|hostvars\[.+?\])\s+(not\s+is|is|is\s+not)\s+(defined|undefined)`)
)

// definedTestFallback mirrors the recovery in Ansible's _check_conditional:
// when evaluation fails on an undefined variable that the conditional itself
// tests with `is defined`/`is undefined`, the answer follows from that test.
func definedTestFallback(expr string, err error) (bool, bool) {
	if !errors.Is(err, ErrUndefined) {
		return false, false
	}
	m := undefinedVarRe.FindStringSubmatch(err.Error())
	if m == nil {
		return false, false
	}
	name := strings.ReplaceAll(m[1], "'", `"`)
	for _, du := range defUndefRe.FindAllStringSubmatch(expr, -1) {
		if strings.ReplaceAll(du[1], "'", `"`) != name {
			continue
		}
		shouldExist := strings.Contains(du[2], "not") != (du[3] == "defined")
		return !shouldExist, true
	}
	return false, false
}

// compiled is a parsed and rewritten template.
type compiled struct {
	src    string
	tpl    *exec.Template
	single *nodes.Output // the template is exactly one {{ expression }}
	err    error
}

func (e *Env) compile(src string) (*compiled, error) {
	if c, ok := e.cache.get(src); ok {
		return c, c.err
	}
	c := e.parse(src)
	e.cache.put(src, c)
	return c, c.err
}

// compileExpr compiles a bare expression as a one-output template.
func (e *Env) compileExpr(expr string) (*compiled, error) {
	c, err := e.compile("{{ " + expr + " }}")
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, &syntaxError{msg: se.msg, src: expr}
		}
		return nil, err
	}
	if c.single == nil {
		return nil, &syntaxError{msg: "expected a single expression", src: expr}
	}
	return c, nil
}

func (e *Env) parse(src string) (c *compiled) {
	c = &compiled{src: src}
	defer func() {
		if r := recover(); r != nil {
			c.tpl, c.single = nil, nil
			c.err = &syntaxError{msg: fmt.Sprintf("unexpected parser failure: %v", r), src: src}
		}
	}()
	if len(src) > maxTemplateSize {
		c.err = &syntaxError{msg: fmt.Sprintf("template is larger than %d bytes", maxTemplateSize), src: src[:200] + "..."}
		return c
	}
	if nestingDepth(src) > maxNesting {
		c.err = &syntaxError{msg: "template is nested too deeply", src: src}
		return c
	}
	text, err := prepareSource(strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n"))
	if err != nil {
		c.err = &syntaxError{msg: err.Error(), src: src}
		return c
	}
	tpl, err := exec.NewTemplate("template", e.cfg, &stringLoader{text: text}, e.genv)
	if err != nil {
		c.err = &syntaxError{msg: parseErrorMessage(err, text), src: src}
		return c
	}
	root := tpl.Root()
	if root.Parent != nil {
		c.err = &syntaxError{msg: "template inheritance is not supported", src: src}
		return c
	}
	rw := &rewriter{env: e}
	for i, n := range root.Nodes {
		root.Nodes[i] = rw.stmt(n)
	}
	if rw.err != nil {
		c.err = &syntaxError{msg: rw.err.Error(), src: src}
		return c
	}
	if len(root.Nodes) == 1 {
		if out, ok := root.Nodes[0].(*nodes.Output); ok {
			c.single = out
		}
	}
	c.tpl = tpl
	return c
}

// Parser limits: gonja's recursive-descent parser and evaluator would exhaust
// the stack on absurdly nested input.
const (
	maxTemplateSize = 16 << 20
	maxNesting      = 400
)

// nestingDepth returns the deepest bracket nesting of s.
func nestingDepth(s string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return deepest
}

// parseErrorMessage words a parse error as Jinja2 does where it can (see
// jinjaSyntaxMessage), else strips gonja's "failed to parse template
// '<source>':" prefix. text is the source gonja parsed.
func parseErrorMessage(err error, text string) string {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		return jinjaSyntaxMessage(se, text, strings.Contains(err.Error(), "Unable to parse controlStructure"))
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "': "); i >= 0 && strings.HasPrefix(msg, "failed to parse template") {
		return msg[i+3:]
	}
	return msg
}

// newContext returns the per-evaluation context holding the caller's
// variables and the error table.
func newContext(vars map[string]any, errs *errTable) *exec.Context {
	if vars == nil {
		vars = map[string]any{}
	}
	return exec.NewContext(map[string]any{varsKey: vars, errsKey: errs})
}

func (e *Env) render(c *compiled, vars map[string]any) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", &TemplateError{Source: c.src, Err: fmt.Errorf("unexpected failure: %v", r)}
		}
	}()
	errs := &errTable{maxOps: e.maxOps}
	s, err := c.tpl.ExecuteToString(newContext(vars, errs))
	if err != nil {
		return "", wrapRenderError(c.src, errs.decode(err))
	}
	// Ansible re-appends trailing newlines that Jinja2 dropped.
	if n := trailingNewlines(c.src) - trailingNewlines(s); n > 0 {
		s += strings.Repeat("\n", n)
	}
	return s, nil
}

func trailingNewlines(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '\n':
			n++
		case '\r':
		default:
			return n
		}
	}
	return n
}

// evalSingle evaluates a one-output template to a native value.
func (e *Env) evalSingle(c *compiled, vars map[string]any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &TemplateError{Source: c.src, Err: fmt.Errorf("unexpected failure: %v", r)}
		}
	}()
	errs := &errTable{maxOps: e.maxOps}
	ctx := e.genv.Context.Inherit().Update(newContext(vars, errs))
	ev := &exec.Evaluator{
		Config: e.cfg,
		Environment: &exec.Environment{
			Context:           ctx,
			Filters:           e.genv.Filters,
			Tests:             e.genv.Tests,
			ControlStructures: e.genv.ControlStructures,
			Methods:           e.genv.Methods,
		},
	}
	o := c.single
	expr := unwrapInternal(o.Expression)
	if o.Condition != nil {
		cond := ev.Eval(o.Condition)
		if err := valueError(cond); err != nil {
			return nil, wrapRenderError(c.src, errs.decode(err))
		}
		if !cond.IsTrue() {
			if o.Alternative == nil {
				return "", nil
			}
			expr = unwrapInternal(o.Alternative)
		}
	}
	v := ev.Eval(expr)
	if err := valueError(v); err != nil {
		return nil, wrapRenderError(c.src, errs.decode(err))
	}
	res, err := deep(v)
	if err != nil {
		return nil, wrapRenderError(c.src, err)
	}
	return res, nil
}

// unwrapInternal removes the ·str wrapper that the rewriter put on an output expression.
func unwrapInternal(n nodes.Expression) nodes.Expression {
	if fe, ok := n.(*nodes.FilteredExpression); ok && len(fe.Filters) == 1 && fe.Filters[0].Name == fStr {
		return fe.Expression
	}
	return n
}

// wrapRenderError turns a decoded cause into this package's error for src.
func wrapRenderError(src string, cause error) error {
	switch c := cause.(type) {
	case *undefined:
		return c
	case *syntaxError:
		return c
	}
	return &TemplateError{Source: src, Err: cause}
}

// stringLoader serves the single template source to gonja.
type stringLoader struct{ text string }

func (l *stringLoader) Read(path string) (io.Reader, error) {
	if path != "template" {
		return nil, fmt.Errorf("template %q not found: templates cannot load other templates", path)
	}
	return strings.NewReader(l.text), nil
}

func (l *stringLoader) Resolve(path string) (string, error) { return path, nil }

func (l *stringLoader) Inherit(string) (loaders.Loader, error) { return l, nil }
