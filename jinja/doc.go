// Package jinja renders Ansible-flavoured Jinja2 templates on top of gonja.
//
// gonja (github.com/nikolalohinski/gonja/v2) lexes, parses and executes the
// templates; this package configures it the way Ansible configures Jinja2
// (trim_blocks, strict undefined handling, raw string literals inside {{ }})
// and registers Ansible's filters, tests, globals and lookups.
//
// Where gonja's expression semantics differ from Python's, the parsed
// template is rewritten before it is cached: variable and attribute lookups,
// operators, tests and literals are routed through internal filters that
// implement Python/Jinja2 semantics (Python truthiness, printf-style %
// formatting, Python str()/repr(), Jinja2's Undefined with Ansible's error
// wording). The data model everywhere is the one produced by YAML and JSON
// decoding: map[string]any, []any, string, int, float64, bool and nil.
//
// The entry points are Env.String (render to text), Env.Value (render to a
// native value), Env.Data (render a whole data structure), Env.Eval (bare
// expression) and Env.Cond (when/until/failed_when conditionals).
package jinja
