package inventory

import (
	"errors"
	"fmt"
)

// Sentinel errors, tested with errors.Is.
var (
	// ErrSyntax is wrapped by every error about the content of an inventory
	// or vars file; such errors are *ParseError values.
	ErrSyntax = errors.New("inventory syntax error")
	// ErrNotFound is wrapped when a source is neither an existing path nor a
	// comma-separated host list.
	ErrNotFound = errors.New("inventory source not found")
	// ErrUnsupported is wrapped when a source needs a feature this package
	// does not implement (dynamic inventory scripts, inventory plugin
	// configuration files, TOML inventories, vault-encrypted data).
	ErrUnsupported = errors.New("unsupported inventory feature")
	// ErrPattern is wrapped by errors about a malformed host pattern or a
	// subscript that selects no host.
	ErrPattern = errors.New("invalid host pattern")
)

// Internal sentinels, never returned by exported functions.
var (
	// errNotLiteral means "not a Python literal": the raw string is used.
	errNotLiteral = errors.New("not a literal")
	// errRangeInHost rejects ranges where parse_address does not allow them.
	errRangeInHost = errors.New("Detected range in host but was asked to ignore ranges")
)

// ParseError is an error in an inventory or vars file. Line is 0 when the
// error cannot be tied to one line; Col is 0 unless the error is a YAML
// syntax error, which has a column.
type ParseError struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats the error as "file:line: message", as Ansible does, or
// "file:line:col: message" when the column is known.
func (e *ParseError) Error() string {
	if e.Line > 0 && e.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *ParseError) Unwrap() error { return ErrSyntax }

func parseErrorf(file string, line int, format string, args ...any) *ParseError {
	return &ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
