package jinja

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// ErrUndefined is wrapped by every error caused by an undefined variable, attribute or item.
// Test with errors.Is(err, jinja.ErrUndefined).
var ErrUndefined = errors.New("undefined variable")

// ErrSyntax is wrapped by every error caused by a template that cannot be parsed.
// Test with errors.Is(err, jinja.ErrSyntax).
var ErrSyntax = errors.New("template syntax error")

// missing marks an undefined value's object as absent (a plain undefined name).
type missingType struct{}

var missing = missingType{}

// undefined is Jinja2's Undefined: it is both the value produced by a failed
// lookup (it travels through gonja as an error value, so that any use of it
// fails) and the error reported when it is used.
type undefined struct {
	hint string // explicit message (mandatory, undef(), empty first/last …)
	name any    // the name / attribute / item that was looked up
	obj  any    // the object it was looked up on, or missing
}

func newUndefinedName(name string) *undefined { return &undefined{name: name, obj: missing} }

func newUndefinedAttr(obj any, name any) *undefined { return &undefined{name: name, obj: obj} }

func newUndefinedHint(hint string) *undefined { return &undefined{hint: hint, obj: missing} }

// Error formats the message exactly as Jinja2's Undefined._undefined_message.
func (u *undefined) Error() string {
	if u.hint != "" {
		return u.hint
	}
	if _, ok := u.obj.(missingType); ok {
		return PyRepr(u.name) + " is undefined"
	}
	if _, ok := u.name.(string); !ok {
		return objectTypeRepr(u.obj) + " has no element " + PyRepr(u.name)
	}
	return PyRepr(objectTypeRepr(u.obj)) + " has no attribute " + PyRepr(u.name)
}

// Unwrap lets errors.Is(err, ErrUndefined) succeed.
func (u *undefined) Unwrap() error { return ErrUndefined }

// varName returns the undefined top-level variable name, if this is a plain name lookup.
func (u *undefined) varName() (string, bool) {
	if _, ok := u.obj.(missingType); ok && u.hint == "" {
		s, ok := u.name.(string)
		return s, ok
	}
	return "", false
}

// objectTypeRepr mirrors jinja2.utils.object_type_repr.
func objectTypeRepr(v any) string {
	if v == nil {
		return "None"
	}
	return typeName(v) + " object"
}

// errKind classifies runtime errors raised by this package.
type errKind int

const (
	kindType   errKind = iota // Python TypeError / ValueError raised while evaluating
	kindFilter                // an Ansible filter/test/lookup error (reported verbatim)
)

// runtimeError is an error raised while evaluating a template (not a lookup failure).
type runtimeError struct {
	kind errKind
	msg  string
	err  error
}

func (e *runtimeError) Error() string { return e.msg }
func (e *runtimeError) Unwrap() error { return e.err }

// typeErrorf builds a Python TypeError-like runtime error.
func typeErrorf(format string, args ...any) error {
	return &runtimeError{kind: kindType, msg: fmt.Sprintf(format, args...)}
}

// filterErrorf builds an Ansible filter error (AnsibleFilterError), shown verbatim.
func filterErrorf(format string, args ...any) error {
	return &runtimeError{kind: kindFilter, msg: fmt.Sprintf(format, args...)}
}

// syntaxError is returned when a template cannot be parsed.
type syntaxError struct {
	msg string
	src string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("template error while templating string: %s. String: %s", e.msg, e.src)
}

func (e *syntaxError) Unwrap() error { return ErrSyntax }

// TemplateError is returned for failures while rendering that are neither undefined
// lookups nor syntax errors; Err is the underlying cause.
type TemplateError struct {
	Source string // the template (or expression) being rendered
	Err    error
}

// Error mirrors Ansible's wording for templating failures.
func (e *TemplateError) Error() string {
	var re *runtimeError
	if errors.As(e.Err, &re) && re.kind == kindFilter {
		return re.msg
	}
	if re != nil && re.kind == kindType {
		return fmt.Sprintf("Unexpected templating type error occurred on (%s): %s", e.Source, re.msg)
	}
	return fmt.Sprintf("template error while templating string: %s. String: %s", e.Err.Error(), e.Source)
}

// Unwrap returns the underlying cause.
func (e *TemplateError) Unwrap() error { return e.Err }

// errsKey is the context entry holding the per-evaluation errTable.
const errsKey = "·errs"

// Limits of one evaluation, so that a hostile template cannot hang or crash
// the process (gonja has no such limits of its own).
const (
	maxOperations = 2_000_000 // internal operations, loop iterations count 4 (about 2 s of gonja loops)
	maxCallDepth  = 200       // nested macro / function calls
	maxOutput     = 64 << 20  // bytes printed by {{ }} expressions
)

// errTable is the per-evaluation state: resource counters and the errors this
// package hands to gonja. gonja flattens every error returned by a filter
// into a new error carrying only its message (exec.ErrInvalidCall is just
// `error`), so each recorded error travels as a marker in that message:
// "\x1e<id>\x1f".
type errTable struct {
	mu     sync.Mutex
	errs   []error
	ops    int
	maxOps int // 0 means maxOperations
	depth  int
	output int
}

// spend charges n operations; it fails once the evaluation is too expensive.
func (t *errTable) spend(n int) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops += n
	limit := t.maxOps
	if limit <= 0 {
		limit = maxOperations
	}
	if t.ops > limit {
		return typeErrorf("template evaluation exceeded %d operations", limit)
	}
	return nil
}

// printed charges n bytes of output.
func (t *errTable) printed(n int) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.output += n
	if t.output > maxOutput {
		return typeErrorf("template output exceeded %d bytes", maxOutput)
	}
	return nil
}

// enter records a nested call; leave must follow.
func (t *errTable) enter() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.depth++
	if t.depth > maxCallDepth {
		t.depth--
		return typeErrorf("maximum recursion depth exceeded")
	}
	return nil
}

func (t *errTable) leave() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.depth--
	t.mu.Unlock()
}

func (t *errTable) add(err error) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, err)
	return len(t.errs) - 1
}

func (t *errTable) get(id int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id < 0 || id >= len(t.errs) {
		return nil
	}
	return t.errs[id]
}

// markedError is a recorded error as handed to gonja.
type markedError struct {
	id  int
	err error
}

func (m *markedError) Error() string {
	return "\x1e" + strconv.Itoa(m.id) + "\x1f" + m.err.Error()
}

func (m *markedError) Unwrap() error { return m.err }

// mark records err in the table (when there is one) and returns the error to hand to gonja.
func (t *errTable) mark(err error) error {
	if t == nil || err == nil {
		return err
	}
	if _, ok := err.(*markedError); ok {
		return err
	}
	return &markedError{id: t.add(err), err: err}
}

// decode returns the original error behind an error that came back from gonja.
func (t *errTable) decode(err error) error {
	if err == nil {
		return nil
	}
	for e, depth := err, 0; e != nil && depth < 200; e, depth = unwrapOne(e), depth+1 {
		if m, ok := e.(*markedError); ok {
			return m.err
		}
	}
	if t != nil {
		s := err.Error()
		if i := strings.LastIndex(s, "\x1e"); i >= 0 {
			if j := strings.IndexByte(s[i:], '\x1f'); j > 0 {
				if id, convErr := strconv.Atoi(s[i+1 : i+j]); convErr == nil {
					if orig := t.get(id); orig != nil {
						return orig
					}
				}
			}
		}
	}
	return rootCause(err)
}

// unwrapOne steps one level down an error chain, including through gonja's
// *exec.Value (which implements error but not Unwrap) and pkg/errors causes.
func unwrapOne(err error) error {
	switch e := err.(type) {
	case *exec.Value:
		if inner, ok := e.Interface().(error); ok && inner != err {
			return inner
		}
		return nil
	case interface{ Unwrap() error }:
		return e.Unwrap()
	case interface{ Cause() error }:
		return e.Cause()
	}
	return nil
}

// rootCause returns the innermost error of a chain built by gonja.
func rootCause(err error) error {
	last := err
	for depth := 0; err != nil && depth < 200; depth++ {
		switch e := err.(type) {
		case *undefined, *runtimeError, *syntaxError:
			return e
		}
		last = err
		err = unwrapOne(err)
	}
	return cleanMarkers(last)
}

// cleanMarkers strips error markers from a foreign error's message.
func cleanMarkers(err error) error {
	s := err.Error()
	if !strings.Contains(s, "\x1e") {
		return err
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\x1e' {
			if j := strings.IndexByte(s[i:], '\x1f'); j > 0 {
				i += j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return errors.New(b.String())
}

// valueError extracts the error carried by a gonja value, if any.
func valueError(v *exec.Value) error {
	if v == nil || !v.IsError() {
		return nil
	}
	if err, ok := v.Interface().(error); ok {
		return err
	}
	return errors.New(v.Error())
}
