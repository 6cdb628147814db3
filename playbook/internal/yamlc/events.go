// Package yamlc is a trimmed copy of the libyaml port found in
// gopkg.in/yaml.v3 (scanner, parser and reader only), exposing the raw event
// stream together with libyaml's precise error marks.
//
// gopkg.in/yaml.v3 only reports the line of a syntax error; Ansible (which
// uses libyaml through PyYAML) reports the problem mark's line and column.
// To reproduce Ansible's error text exactly the playbook package needs the
// marks, hence this copy. The files ported from libyaml keep their original
// MIT license headers; see LICENSE in this directory.
package yamlc

import "fmt"

// EventType is the kind of a parser event.
type EventType int

// Event kinds produced by Parser.Next.
const (
	StreamStart EventType = iota + 1
	StreamEnd
	DocumentStart
	DocumentEnd
	Alias
	Scalar
	SequenceStart
	SequenceEnd
	MappingStart
	MappingEnd
)

// Scalar styles.
const (
	StyleAny = iota
	StylePlain
	StyleSingleQuoted
	StyleDoubleQuoted
	StyleLiteral
	StyleFolded
	StyleFlow // flow sequence or mapping
	StyleBlock
)

// Mark is a position in the input; all fields are 0-based and Column counts
// characters (code points), like libyaml.
type Mark struct {
	Index, Line, Column int
}

// Event is one parser event.
type Event struct {
	Type       EventType
	Start, End Mark
	Anchor     string
	Tag        string
	Value      string
	Implicit   bool // plain scalar: tag may be resolved implicitly
	Quoted     bool // non-plain scalar: tag may be resolved implicitly (as !!str)
	Style      int
	// ExplicitDocument is true for a DocumentStart event that had a "---".
	ExplicitDocument bool
}

// Error is a scanner, parser or reader error with libyaml's marks.
type Error struct {
	Kind        string // "reader", "scanner" or "parser"
	Problem     string
	ProblemMark Mark
	Context     string
	ContextMark Mark
	// HasMark is false for reader errors (which only know a byte offset).
	HasMark bool
	Offset  int
	Value   int
}

// Error implements error.
func (e *Error) Error() string {
	if e.HasMark {
		return fmt.Sprintf("yaml %s error: %s at line %d column %d", e.Kind, e.Problem, e.ProblemMark.Line+1, e.ProblemMark.Column+1)
	}
	return fmt.Sprintf("yaml %s error: %s at offset %d", e.Kind, e.Problem, e.Offset)
}

// Parser yields the events of a YAML stream.
type Parser struct {
	p    yaml_parser_t
	done bool
	err  error
}

// NewParser returns a parser reading data.
func NewParser(data []byte) *Parser {
	ps := &Parser{}
	yaml_parser_initialize(&ps.p)
	yaml_parser_set_input_string(&ps.p, data)
	return ps
}

func toMark(m yaml_mark_t) Mark {
	return Mark{Index: m.index, Line: m.line, Column: m.column}
}

// Next returns the next event. After a StreamEnd event or an error, every
// call returns the same error (or an error for reading past the end).
func (ps *Parser) Next() (ev Event, err error) {
	if ps.err != nil {
		return Event{}, ps.err
	}
	if ps.done {
		return Event{}, fmt.Errorf("yamlc: read past end of stream")
	}
	defer func() {
		// The ported code is not expected to panic, but a malformed input
		// must never crash the caller.
		if r := recover(); r != nil {
			ps.err = &Error{Kind: "parser", Problem: fmt.Sprint("internal error: ", r)}
			ev, err = Event{}, ps.err
		}
	}()
	for {
		var e yaml_event_t
		ok := yaml_parser_parse(&ps.p, &e)
		if !ok || ps.p.error != yaml_NO_ERROR {
			ps.err = ps.makeError()
			return Event{}, ps.err
		}
		if e.typ == yaml_TAIL_COMMENT_EVENT || e.typ == yaml_NO_EVENT {
			if e.typ == yaml_NO_EVENT {
				ps.err = &Error{Kind: "parser", Problem: "unexpected end of event stream"}
				return Event{}, ps.err
			}
			continue
		}
		ev = Event{
			Start:    toMark(e.start_mark),
			End:      toMark(e.end_mark),
			Anchor:   string(e.anchor),
			Tag:      string(e.tag),
			Value:    string(e.value),
			Implicit: e.implicit,
			Quoted:   e.quoted_implicit,
		}
		switch e.typ {
		case yaml_STREAM_START_EVENT:
			ev.Type = StreamStart
		case yaml_STREAM_END_EVENT:
			ev.Type = StreamEnd
			ps.done = true
		case yaml_DOCUMENT_START_EVENT:
			ev.Type = DocumentStart
			ev.ExplicitDocument = !e.implicit
		case yaml_DOCUMENT_END_EVENT:
			ev.Type = DocumentEnd
		case yaml_ALIAS_EVENT:
			ev.Type = Alias
		case yaml_SCALAR_EVENT:
			ev.Type = Scalar
			switch yaml_scalar_style_t(e.style) {
			case yaml_PLAIN_SCALAR_STYLE:
				ev.Style = StylePlain
			case yaml_SINGLE_QUOTED_SCALAR_STYLE:
				ev.Style = StyleSingleQuoted
			case yaml_DOUBLE_QUOTED_SCALAR_STYLE:
				ev.Style = StyleDoubleQuoted
			case yaml_LITERAL_SCALAR_STYLE:
				ev.Style = StyleLiteral
			case yaml_FOLDED_SCALAR_STYLE:
				ev.Style = StyleFolded
			}
		case yaml_SEQUENCE_START_EVENT:
			ev.Type = SequenceStart
			ev.Style = StyleBlock
			if yaml_sequence_style_t(e.style) == yaml_FLOW_SEQUENCE_STYLE {
				ev.Style = StyleFlow
			}
		case yaml_SEQUENCE_END_EVENT:
			ev.Type = SequenceEnd
		case yaml_MAPPING_START_EVENT:
			ev.Type = MappingStart
			ev.Style = StyleBlock
			if yaml_mapping_style_t(e.style) == yaml_FLOW_MAPPING_STYLE {
				ev.Style = StyleFlow
			}
		case yaml_MAPPING_END_EVENT:
			ev.Type = MappingEnd
		default:
			continue
		}
		return ev, nil
	}
}

func (ps *Parser) makeError() *Error {
	p := &ps.p
	e := &Error{
		Problem:     p.problem,
		ProblemMark: toMark(p.problem_mark),
		Context:     p.context,
		ContextMark: toMark(p.context_mark),
		HasMark:     true,
		Offset:      p.problem_offset,
		Value:       p.problem_value,
	}
	switch p.error {
	case yaml_READER_ERROR:
		e.Kind = "reader"
		e.HasMark = false
	case yaml_SCANNER_ERROR:
		e.Kind = "scanner"
	default:
		e.Kind = "parser"
	}
	if e.Problem == "" {
		e.Problem = "unknown problem parsing YAML content"
	}
	return e
}
