package jinja

import (
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAML 1.1 implicit resolvers, as PyYAML (and so Ansible) uses them.
var (
	yamlBoolRe  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlFloatRe = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlIntRe   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlNullRe  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	yamlTimeRe  = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
)

// yamlResolve returns the YAML 1.1 tag ("bool", "int", "float", "null",
// "timestamp", "merge", "value" or "str") of a plain scalar.
func yamlResolve(s string) string {
	switch {
	case yamlNullRe.MatchString(s):
		return "null"
	case yamlBoolRe.MatchString(s):
		return "bool"
	case yamlIntRe.MatchString(s):
		return "int"
	case yamlFloatRe.MatchString(s):
		return "float"
	case yamlTimeRe.MatchString(s):
		return "timestamp"
	case s == "<<":
		return "merge"
	case s == "=":
		return "value"
	}
	return "str"
}

// yamlScalarValue converts a plain YAML 1.1 scalar to its data-model value.
func yamlScalarValue(s, tag string) any {
	switch tag {
	case "null":
		return nil
	case "bool":
		switch strings.ToLower(s) {
		case "yes", "true", "on":
			return true
		}
		return false
	case "int":
		return yamlInt(s)
	case "float":
		return yamlFloat(s)
	}
	return s
}

func yamlInt(s string) any {
	v := strings.ReplaceAll(s, "_", "")
	sign := 1
	if strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+") {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	var n int64
	var err error
	switch {
	case v == "0":
		return 0
	case strings.HasPrefix(v, "0b"):
		n, err = strconv.ParseInt(v[2:], 2, 64)
	case strings.HasPrefix(v, "0x"):
		n, err = strconv.ParseInt(v[2:], 16, 64)
	case strings.HasPrefix(v, "0"):
		n, err = strconv.ParseInt(v[1:], 8, 64)
	case strings.Contains(v, ":"):
		for _, part := range strings.Split(v, ":") {
			d, _ := strconv.ParseInt(part, 10, 64)
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(v, 10, 64)
	}
	if err != nil {
		f, _ := strconv.ParseFloat(v, 64)
		return float64(sign) * f
	}
	return sign * int(n)
}

func yamlFloat(s string) any {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+") {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return sign * math.Inf(1)
	case v == ".nan":
		return math.NaN()
	case strings.Contains(v, ":"):
		var f float64
		for _, part := range strings.Split(v, ":") {
			d, _ := strconv.ParseFloat(part, 64)
			f = f*60 + d
		}
		return sign * f
	}
	f, _ := strconv.ParseFloat(v, 64)
	return sign * f
}

// maxYAMLNodes bounds alias expansion ("billion laughs").
const maxYAMLNodes = 1 << 20

type yamlConverter struct{ nodes int }

func (c *yamlConverter) convert(n *yaml.Node, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxYAMLNodes || depth > maxLiteralDepth {
		return nil, filterErrorf("YAML document is too large or too deeply nested")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		var merges []map[string]any
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
				v, err := c.convert(vn, depth+1)
				if err != nil {
					return nil, err
				}
				switch m := v.(type) {
				case map[string]any:
					merges = append(merges, m)
				case []any:
					for _, item := range m {
						if mm, ok := item.(map[string]any); ok {
							merges = append(merges, mm)
						}
					}
				}
				continue
			}
			key, err := c.convert(k, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := c.convert(vn, depth+1)
			if err != nil {
				return nil, err
			}
			out[PyStr(key)] = v
		}
		for _, m := range merges {
			for k, v := range m {
				if _, exists := out[k]; !exists {
					out[k] = v
				}
			}
		}
		return out, nil
	case yaml.ScalarNode:
		if n.Style&yaml.TaggedStyle != 0 {
			switch n.Tag {
			case "!!int":
				if yamlIntRe.MatchString(n.Value) {
					return yamlInt(n.Value), nil
				}
				return nil, filterErrorf("invalid int value %s", quotePy(n.Value))
			case "!!float":
				if yamlFloatRe.MatchString(n.Value) {
					return yamlFloat(n.Value), nil
				}
				if f, ok := pyFloat(n.Value); ok {
					return f, nil
				}
				return nil, filterErrorf("invalid float value %s", quotePy(n.Value))
			case "!!bool":
				if yamlBoolRe.MatchString(n.Value) {
					return yamlScalarValue(n.Value, "bool"), nil
				}
				return nil, filterErrorf("invalid bool value %s", quotePy(n.Value))
			case "!!null":
				return nil, nil
			}
			return n.Value, nil // !!str, !!binary and custom tags such as !unsafe keep the text
		}
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value, nil
		}
		return yamlScalarValue(n.Value, yamlResolve(n.Value)), nil
	}
	return nil, nil
}

func yamlDecodeAll(s string) ([]any, error) {
	dec := yaml.NewDecoder(strings.NewReader(s))
	var docs []any
	conv := &yamlConverter{}
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, filterErrorf("%s", err.Error())
		}
		v, err := conv.convert(&n, 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
	return docs, nil
}

func filterFromYAML(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s, ok := in.(string)
	if !ok {
		return in, nil
	}
	docs, err := yamlDecodeAll(s)
	if err != nil {
		return nil, err
	}
	switch len(docs) {
	case 0:
		return nil, nil
	case 1:
		return docs[0], nil
	}
	return nil, filterErrorf("expected a single document in the stream")
}

func filterFromYAMLAll(_ *callCtx, in any, _ []any, _ map[string]any) (any, error) {
	s, ok := in.(string)
	if !ok {
		return in, nil
	}
	docs, err := yamlDecodeAll(s)
	if err != nil {
		return nil, err
	}
	return orEmpty(docs), nil
}

// filterToYAML implements to_yaml (flow style for collections of scalars) and
// to_nice_yaml (block style, indent 4), emitting what PyYAML emits.
func filterToYAML(nice bool) filterFunc {
	return func(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
		v, err := deep(in)
		if err != nil {
			return nil, err
		}
		opts := yamlOptions{indent: 2, width: 80, flow: -1}
		if nice {
			opts.indent, opts.flow = 4, 0
			if i := argv(args, kw, 0, "indent", nil); i != nil {
				n, err := asInt(i, "indent")
				if err != nil {
					return nil, err
				}
				opts.indent = n
			}
		} else if i, ok := kw["indent"]; ok {
			n, err := asInt(i, "indent")
			if err != nil {
				return nil, err
			}
			opts.indent = n
		}
		if f, ok := kw["default_flow_style"]; ok && !nice {
			switch f {
			case nil:
				opts.flow = -1
			default:
				if t, _ := truthy(f); t {
					opts.flow = 1
				} else {
					opts.flow = 0
				}
			}
		}
		if w, ok := kw["width"]; ok {
			n, err := asInt(w, "width")
			if err != nil {
				return nil, err
			}
			opts.width = n
		}
		opts.explicitStart = argBool(nil, kw, -1, "explicit_start", false)
		opts.explicitEnd = argBool(nil, kw, -1, "explicit_end", false)
		return yamlDump(v, opts)
	}
}

type yamlOptions struct {
	indent, width int
	flow          int // -1: PyYAML default_flow_style=None, 0: False, 1: True
	explicitStart bool
	explicitEnd   bool
}

type yEventKind int

const (
	evStreamStart yEventKind = iota
	evStreamEnd
	evDocStart
	evDocEnd
	evScalar
	evSeqStart
	evSeqEnd
	evMapStart
	evMapEnd
)

type yEvent struct {
	kind     yEventKind
	value    string
	implicit [2]bool
	flow     bool
	explicit bool
}

// yamlRepresent turns data into the event stream PyYAML's SafeRepresenter and
// serializer produce (dict keys sorted).
func yamlRepresent(v any, opts yamlOptions, out []yEvent, depth int) ([]yEvent, error) {
	if depth > maxReprDepth {
		return nil, filterErrorf("to_yaml - data structure is nested too deeply")
	}
	scalar := func(s string, plainTag string) []yEvent {
		return append(out, yEvent{kind: evScalar, value: s, implicit: [2]bool{yamlResolve(s) == plainTag, plainTag == "str"}})
	}
	flowFor := func(best bool) bool {
		switch opts.flow {
		case 0:
			return false
		case 1:
			return true
		}
		return best
	}
	isScalar := func(x any) bool {
		switch x.(type) {
		case []any, map[string]any:
			return false
		}
		return true
	}
	switch x := v.(type) {
	case nil:
		return scalar("null", "null"), nil
	case bool:
		if x {
			return scalar("true", "bool"), nil
		}
		return scalar("false", "bool"), nil
	case int:
		return scalar(strconv.Itoa(x), "int"), nil
	case float64:
		var s string
		switch {
		case math.IsNaN(x):
			s = ".nan"
		case math.IsInf(x, 1):
			s = ".inf"
		case math.IsInf(x, -1):
			s = "-.inf"
		default:
			s = strings.ToLower(formatFloat(x))
			if !strings.Contains(s, ".") && strings.Contains(s, "e") {
				s = strings.Replace(s, "e", ".0e", 1)
			}
		}
		return scalar(s, "float"), nil
	case string:
		return scalar(x, "str"), nil
	case []any:
		best := true
		for _, item := range x {
			best = best && isScalar(item)
		}
		out = append(out, yEvent{kind: evSeqStart, flow: flowFor(best)})
		var err error
		for _, item := range x {
			if out, err = yamlRepresent(item, opts, out, depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, yEvent{kind: evSeqEnd}), nil
	case map[string]any:
		best := true
		for _, item := range x {
			best = best && isScalar(item)
		}
		out = append(out, yEvent{kind: evMapStart, flow: flowFor(best)})
		var err error
		for _, k := range sortedKeys(x) {
			out = scalar(k, "str")
			if out, err = yamlRepresent(x[k], opts, out, depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, yEvent{kind: evMapEnd}), nil
	}
	return nil, filterErrorf("to_yaml - cannot represent an object: %s", PyRepr(v))
}

func yamlDump(v any, opts yamlOptions) (string, error) {
	events := []yEvent{{kind: evStreamStart}, {kind: evDocStart, explicit: opts.explicitStart}}
	events, err := yamlRepresent(v, opts, events, 0)
	if err != nil {
		return "", err
	}
	events = append(events, yEvent{kind: evDocEnd, explicit: opts.explicitEnd}, yEvent{kind: evStreamEnd})
	em := &yamlEmitter{events: events, bestIndent: 2, bestWidth: 80, whitespace: true, indention: true, indent: -1}
	if opts.indent > 1 && opts.indent < 10 {
		em.bestIndent = opts.indent
	}
	if opts.width > em.bestIndent*2 {
		em.bestWidth = opts.width
	}
	em.run()
	return em.out.String(), nil
}

// yamlEmitter is a port of PyYAML's Emitter restricted to the events the
// data model produces (no anchors, tags or block scalars).
type yamlEmitter struct {
	events []yEvent
	pos    int
	ev     yEvent

	out        strings.Builder
	states     []func()
	state      func()
	indents    []int
	indent     int // -1 is PyYAML's None
	flowLevel  int
	column     int
	whitespace bool
	indention  bool
	bestIndent int
	bestWidth  int

	rootContext, sequenceContext, mappingContext, simpleKeyContext bool

	analysis *scalarAnalysis
	style    byte // 0: not chosen, 'p': plain, '\'', '"'
}

type scalarAnalysis struct {
	scalar                                                   string
	empty, multiline                                         bool
	allowFlowPlain, allowBlockPlain, allowSingle, allowBlock bool
}

func (e *yamlEmitter) run() {
	e.state = e.expectStreamStart
	for e.pos < len(e.events) {
		e.ev = e.events[e.pos]
		e.pos++
		e.state()
	}
}

func (e *yamlEmitter) next() *yEvent {
	if e.pos < len(e.events) {
		return &e.events[e.pos]
	}
	return nil
}

func (e *yamlEmitter) push(f func()) { e.states = append(e.states, f) }

func (e *yamlEmitter) pop() func() {
	f := e.states[len(e.states)-1]
	e.states = e.states[:len(e.states)-1]
	return f
}

func (e *yamlEmitter) popIndent() {
	e.indent = e.indents[len(e.indents)-1]
	e.indents = e.indents[:len(e.indents)-1]
}

func (e *yamlEmitter) increaseIndent(flow, indentless bool) {
	e.indents = append(e.indents, e.indent)
	switch {
	case e.indent < 0 && flow:
		e.indent = e.bestIndent
	case e.indent < 0:
		e.indent = 0
	case !indentless:
		e.indent += e.bestIndent
	}
}

func (e *yamlEmitter) expectStreamStart() { e.state = func() { e.expectDocumentStart(true) } }

func (e *yamlEmitter) expectNothing() {}

func (e *yamlEmitter) expectDocumentStart(first bool) {
	switch e.ev.kind {
	case evDocStart:
		// libyaml (which Ansible's dumper uses) writes no "---" for an empty root scalar
		if !(first && !e.ev.explicit) {
			e.writeIndent()
			e.writeIndicator("---", true, false, false)
		}
		e.state = e.expectDocumentRoot
	case evStreamEnd:
		// libyaml does not close an open-ended root plain scalar with "..."
		e.state = e.expectNothing
	}
}

func (e *yamlEmitter) expectDocumentEnd() {
	e.writeIndent()
	if e.ev.explicit {
		e.writeIndicator("...", true, false, false)
		e.writeIndent()
	}
	e.state = func() { e.expectDocumentStart(false) }
}

func (e *yamlEmitter) expectDocumentRoot() {
	e.push(e.expectDocumentEnd)
	e.expectNode(true, false, false, false)
}

func (e *yamlEmitter) expectNode(root, sequence, mapping, simpleKey bool) {
	e.rootContext, e.sequenceContext, e.mappingContext, e.simpleKeyContext = root, sequence, mapping, simpleKey
	switch e.ev.kind {
	case evScalar:
		e.increaseIndent(true, false)
		e.processScalar()
		e.popIndent()
		e.state = e.pop()
	case evSeqStart:
		if e.flowLevel > 0 || e.ev.flow || e.checkEmpty(evSeqEnd) {
			e.writeIndicator("[", true, true, false)
			e.flowLevel++
			e.increaseIndent(true, false)
			e.state = func() { e.expectFlowSequenceItem(true) }
		} else {
			e.increaseIndent(false, e.mappingContext && !e.indention)
			e.state = func() { e.expectBlockSequenceItem(true) }
		}
	case evMapStart:
		if e.flowLevel > 0 || e.ev.flow || e.checkEmpty(evMapEnd) {
			e.writeIndicator("{", true, true, false)
			e.flowLevel++
			e.increaseIndent(true, false)
			e.state = func() { e.expectFlowMappingKey(true) }
		} else {
			e.increaseIndent(false, false)
			e.state = func() { e.expectBlockMappingKey(true) }
		}
	}
}

func (e *yamlEmitter) expectFlowSequenceItem(first bool) {
	if e.ev.kind == evSeqEnd {
		e.popIndent()
		e.flowLevel--
		e.writeIndicator("]", false, false, false)
		e.state = e.pop()
		return
	}
	if !first {
		e.writeIndicator(",", false, false, false)
	}
	if e.column > e.bestWidth {
		e.writeIndent()
	}
	e.push(func() { e.expectFlowSequenceItem(false) })
	e.expectNode(false, true, false, false)
}

func (e *yamlEmitter) expectFlowMappingKey(first bool) {
	if e.ev.kind == evMapEnd {
		e.popIndent()
		e.flowLevel--
		e.writeIndicator("}", false, false, false)
		e.state = e.pop()
		return
	}
	if !first {
		e.writeIndicator(",", false, false, false)
	}
	if e.column > e.bestWidth {
		e.writeIndent()
	}
	if e.checkSimpleKey() {
		e.push(func() {
			e.writeIndicator(":", false, false, false)
			e.push(func() { e.expectFlowMappingKey(false) })
			e.expectNode(false, false, true, false)
		})
		e.expectNode(false, false, true, true)
		return
	}
	e.writeIndicator("?", true, false, false)
	e.push(func() {
		if e.column > e.bestWidth {
			e.writeIndent()
		}
		e.writeIndicator(":", true, false, false)
		e.push(func() { e.expectFlowMappingKey(false) })
		e.expectNode(false, false, true, false)
	})
	e.expectNode(false, false, true, false)
}

func (e *yamlEmitter) expectBlockSequenceItem(first bool) {
	if !first && e.ev.kind == evSeqEnd {
		e.popIndent()
		e.state = e.pop()
		return
	}
	e.writeIndent()
	e.writeIndicator("-", true, false, true)
	e.push(func() { e.expectBlockSequenceItem(false) })
	e.expectNode(false, true, false, false)
}

func (e *yamlEmitter) expectBlockMappingKey(first bool) {
	if !first && e.ev.kind == evMapEnd {
		e.popIndent()
		e.state = e.pop()
		return
	}
	e.writeIndent()
	if e.checkSimpleKey() {
		e.push(func() {
			e.writeIndicator(":", false, false, false)
			e.push(func() { e.expectBlockMappingKey(false) })
			e.expectNode(false, false, true, false)
		})
		e.expectNode(false, false, true, true)
		return
	}
	e.writeIndicator("?", true, false, true)
	e.push(func() {
		e.writeIndent()
		e.writeIndicator(":", true, false, true)
		e.push(func() { e.expectBlockMappingKey(false) })
		e.expectNode(false, false, true, false)
	})
	e.expectNode(false, false, true, false)
}

func (e *yamlEmitter) checkEmpty(end yEventKind) bool {
	n := e.next()
	return n != nil && n.kind == end
}

func (e *yamlEmitter) checkSimpleKey() bool {
	if e.ev.kind != evScalar {
		return false
	}
	if e.analysis == nil {
		e.analysis = analyzeScalar(e.ev.value)
	}
	return len([]rune(e.analysis.scalar)) < 128 && !e.analysis.empty && !e.analysis.multiline
}

func (e *yamlEmitter) chooseScalarStyle() byte {
	if e.analysis == nil {
		e.analysis = analyzeScalar(e.ev.value)
	}
	a := e.analysis
	if e.ev.implicit[0] {
		if !(e.simpleKeyContext && (a.empty || a.multiline)) &&
			(e.flowLevel > 0 && a.allowFlowPlain || e.flowLevel == 0 && a.allowBlockPlain) {
			return 'p'
		}
	}
	if a.allowSingle && !(e.simpleKeyContext && a.multiline) {
		return '\''
	}
	return '"'
}

func (e *yamlEmitter) processScalar() {
	if e.analysis == nil {
		e.analysis = analyzeScalar(e.ev.value)
	}
	if e.style == 0 {
		e.style = e.chooseScalarStyle()
	}
	split := !e.simpleKeyContext
	switch e.style {
	case '"':
		e.writeDoubleQuoted(e.analysis.scalar, split)
	case '\'':
		e.writeSingleQuoted(e.analysis.scalar, split)
	default:
		e.writePlain(e.analysis.scalar, split)
	}
	e.analysis = nil
	e.style = 0
}

func isYAMLBreak(r rune) bool { return r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029 }

func isYAMLSpaceOrEnd(r rune) bool {
	return r == 0 || r == ' ' || r == '\t' || r == '\r' || isYAMLBreak(r)
}

// analyzeScalar is PyYAML's Emitter.analyze_scalar (allow_unicode=True).
func analyzeScalar(scalar string) *scalarAnalysis {
	if scalar == "" {
		return &scalarAnalysis{scalar: scalar, empty: true, allowBlockPlain: true, allowSingle: true}
	}
	rs := []rune(scalar)
	var blockInd, flowInd, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(scalar, "---") || strings.HasPrefix(scalar, "...") {
		blockInd, flowInd = true, true
	}
	precededByWS := true
	followedByWS := len(rs) == 1 || isYAMLSpaceOrEnd(rs[1])
	prevSpace, prevBreak := false, false
	for i, ch := range rs {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				flowInd, blockInd = true, true
			}
			if ch == '?' || ch == ':' {
				flowInd = true
				if followedByWS {
					blockInd = true
				}
			}
			if ch == '-' && followedByWS {
				flowInd, blockInd = true, true
			}
		} else {
			if strings.ContainsRune(",?[]{}", ch) {
				flowInd = true
			}
			if ch == ':' {
				flowInd = true
				if followedByWS {
					blockInd = true
				}
			}
			if ch == '#' && precededByWS {
				flowInd, blockInd = true, true
			}
		}
		if isYAMLBreak(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || ch >= 0x20 && ch <= 0x7e) {
			if !((ch == 0x85 || ch >= 0xa0 && ch <= 0xd7ff || ch >= 0xe000 && ch <= 0xfffd ||
				ch >= 0x10000 && ch < 0x10ffff) && ch != 0xfeff) {
				special = true
			}
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(rs)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isYAMLBreak(ch):
			if i == 0 {
				leadingBreak = true
			}
			if i == len(rs)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		precededByWS = isYAMLSpaceOrEnd(ch)
		followedByWS = i+2 >= len(rs) || isYAMLSpaceOrEnd(rs[i+2])
	}
	a := &scalarAnalysis{scalar: scalar, multiline: lineBreaks,
		allowFlowPlain: true, allowBlockPlain: true, allowSingle: true, allowBlock: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if trailingSpace {
		a.allowBlock = false
	}
	if breakSpace {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSingle = false, false, false
	}
	if spaceBreak || special {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSingle, a.allowBlock = false, false, false, false
	}
	if lineBreaks {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if flowInd {
		a.allowFlowPlain = false
	}
	if blockInd {
		a.allowBlockPlain = false
	}
	return a
}

func (e *yamlEmitter) write(s string) {
	e.column += len([]rune(s))
	e.out.WriteString(s)
}

func (e *yamlEmitter) writeIndicator(ind string, needWS, whitespace, indention bool) {
	data := ind
	if !e.whitespace && needWS {
		data = " " + ind
	}
	e.whitespace = whitespace
	e.indention = e.indention && indention
	e.write(data)
}

func (e *yamlEmitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.writeLineBreak("")
	}
	if e.column < indent {
		e.whitespace = true
		e.write(strings.Repeat(" ", indent-e.column))
	}
}

func (e *yamlEmitter) writeLineBreak(data string) {
	if data == "" {
		data = "\n"
	}
	e.whitespace, e.indention = true, true
	e.column = 0
	e.out.WriteString(data)
}

func (e *yamlEmitter) writePlain(text string, split bool) {
	if text == "" {
		return
	}
	if !e.whitespace {
		e.write(" ")
	}
	e.whitespace, e.indention = false, false
	rs := []rune(text)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		switch {
		case spaces:
			if ch != ' ' {
				if start+1 == end && e.column > e.bestWidth && split {
					e.writeIndent()
					e.whitespace, e.indention = false, false
				} else {
					e.write(string(rs[start:end]))
				}
				start = end
			}
		case breaks:
			if ch < 0 || !isYAMLBreak(ch) {
				if rs[start] == '\n' {
					e.writeLineBreak("")
				}
				for _, br := range rs[start:end] {
					if br == '\n' {
						e.writeLineBreak("")
					} else {
						e.writeLineBreak(string(br))
					}
				}
				e.writeIndent()
				e.whitespace, e.indention = false, false
				start = end
			}
		default:
			if ch < 0 || ch == ' ' || isYAMLBreak(ch) {
				e.write(string(rs[start:end]))
				start = end
			}
		}
		if ch >= 0 {
			spaces = ch == ' '
			breaks = isYAMLBreak(ch)
		}
	}
}

func (e *yamlEmitter) writeSingleQuoted(text string, split bool) {
	e.writeIndicator("'", true, false, false)
	rs := []rune(text)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		switch {
		case spaces:
			if ch < 0 || ch != ' ' {
				if start+1 == end && e.column > e.bestWidth && split && start != 0 && end != len(rs) {
					e.writeIndent()
				} else {
					e.write(string(rs[start:end]))
				}
				start = end
			}
		case breaks:
			if ch < 0 || !isYAMLBreak(ch) {
				if rs[start] == '\n' {
					e.writeLineBreak("")
				}
				for _, br := range rs[start:end] {
					if br == '\n' {
						e.writeLineBreak("")
					} else {
						e.writeLineBreak(string(br))
					}
				}
				e.writeIndent()
				start = end
			}
		default:
			if ch < 0 || ch == ' ' || isYAMLBreak(ch) || ch == '\'' {
				if start < end {
					e.write(string(rs[start:end]))
					start = end
				}
			}
		}
		if ch == '\'' {
			e.write("''")
			start = end + 1
		}
		if ch >= 0 {
			spaces = ch == ' '
			breaks = isYAMLBreak(ch)
		}
	}
	e.writeIndicator("'", false, false, false)
}

var yamlEscapes = map[rune]string{
	0: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0a: "n", 0x0b: "v", 0x0c: "f", 0x0d: "r",
	0x1b: "e", '"': "\"", '\\': "\\", 0x85: "N", 0xa0: "_", 0x2028: "L", 0x2029: "P",
}

func (e *yamlEmitter) writeDoubleQuoted(text string, split bool) {
	e.writeIndicator("\"", true, false, false)
	rs := []rune(text)
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		if ch < 0 || ch == '"' || ch == '\\' || ch == 0x85 || ch == 0x2028 || ch == 0x2029 || ch == 0xfeff ||
			!(ch >= 0x20 && ch <= 0x7e || ch >= 0xa0 && ch <= 0xd7ff || ch >= 0xe000 && ch <= 0xfffd) {
			if start < end {
				e.write(string(rs[start:end]))
				start = end
			}
			if ch >= 0 {
				var data string
				if esc, ok := yamlEscapes[ch]; ok {
					data = "\\" + esc
				} else if ch <= 0xff {
					data = "\\x" + strings.ToUpper(strconv.FormatInt(int64(ch)|0x100, 16)[1:])
				} else if ch <= 0xffff {
					data = "\\u" + strings.ToUpper(strconv.FormatInt(int64(ch)|0x10000, 16)[1:])
				} else {
					data = "\\U" + strings.ToUpper(strconv.FormatInt(int64(ch)|0x100000000, 16)[1:])
				}
				e.write(data)
				start = end + 1
			}
		}
		if end > 0 && end < len(rs)-1 && (ch == ' ' || start >= end) && e.column+(end-start) > e.bestWidth && split {
			data := string(rs[start:end]) + "\\"
			if start < end {
				start = end
			}
			e.write(data)
			e.writeIndent()
			e.whitespace, e.indention = false, false
			if rs[start] == ' ' {
				e.write("\\")
			}
		}
	}
	e.writeIndicator("\"", false, false, false)
}
