package playbook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorun/gorun/playbook/internal/yamlc"
)

// YAML tags (as reported by libyaml after handle expansion).
const (
	tagPrefix    = "tag:yaml.org,2002:"
	tagNull      = tagPrefix + "null"
	tagBool      = tagPrefix + "bool"
	tagInt       = tagPrefix + "int"
	tagFloat     = tagPrefix + "float"
	tagStr       = tagPrefix + "str"
	tagTimestamp = tagPrefix + "timestamp"
	tagBinary    = tagPrefix + "binary"
	tagMerge     = tagPrefix + "merge"
	tagValue     = tagPrefix + "value"
	tagMap       = tagPrefix + "map"
	tagSeq       = tagPrefix + "seq"
	tagSet       = tagPrefix + "set"
	tagOmap      = tagPrefix + "omap"
	tagPairs     = tagPrefix + "pairs"
	tagPyDict    = tagPrefix + "python/dict"
	tagPyUnicode = tagPrefix + "python/unicode"
	tagUnsafe    = "!unsafe"
	tagVault     = "!vault"
	tagVaultEnc  = "!vault-encrypted"
)

// yamlError is a YAML scanner/parser/composer/constructor error, carrying
// what Ansible's _handle_error uses: the problem text and its mark.
type yamlError struct {
	problem string
	line    int // 1-based; 0 when there is no mark (reader errors)
	col     int
	// text is str(exc) for errors without a mark.
	text string
}

func (e *yamlError) Error() string { return e.problem }

// rawNode is a composed (not yet constructed) YAML node.
type rawNode struct {
	kind     nodeKind
	tag      string // explicit tag or resolved tag
	value    string // scalar value
	plain    bool   // scalar: plain implicit (resolve with the implicit resolvers)
	line     int    // 0-based start mark
	col      int
	pairs    [][2]*rawNode
	items    []*rawNode
	anchorID int
}

// composer turns the libyaml event stream into rawNodes like PyYAML's
// CParser composer.
type composer struct {
	p       *yamlc.Parser
	anchors map[string]*rawNode
	peeked  *yamlc.Event
	depth   int
}

func (c *composer) next() (yamlc.Event, error) {
	if c.peeked != nil {
		ev := *c.peeked
		c.peeked = nil
		return ev, nil
	}
	return c.p.Next()
}

func (c *composer) peek() (yamlc.Event, error) {
	if c.peeked == nil {
		ev, err := c.p.Next()
		if err != nil {
			return ev, err
		}
		c.peeked = &ev
	}
	return *c.peeked, nil
}

func convertYamlcError(err error) *yamlError {
	if ye, ok := err.(*yamlc.Error); ok {
		if !ye.HasMark {
			return &yamlError{problem: ye.Problem, text: fmt.Sprintf("'utf-8' codec can't decode byte 0x%02x in position %d: %s", ye.Value&0xff, ye.Offset, ye.Problem)}
		}
		return &yamlError{problem: ye.Problem, line: ye.ProblemMark.Line + 1, col: ye.ProblemMark.Column + 1}
	}
	return &yamlError{problem: err.Error()}
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 5000

// composeSingle returns the single document's root (nil for an empty
// stream), like PyYAML's get_single_node.
func composeSingle(data []byte) (*rawNode, error) {
	c := &composer{p: yamlc.NewParser(data), anchors: map[string]*rawNode{}}
	ev, err := c.next()
	if err != nil {
		return nil, convertYamlcError(err)
	}
	if ev.Type != yamlc.StreamStart {
		return nil, &yamlError{problem: "expected stream start"}
	}
	ev, err = c.next()
	if err != nil {
		return nil, convertYamlcError(err)
	}
	var root *rawNode
	var docStart yamlc.Mark
	if ev.Type != yamlc.StreamEnd {
		if ev.Type != yamlc.DocumentStart {
			return nil, &yamlError{problem: "expected document start"}
		}
		docStart = ev.Start
		root, err = c.compose()
		if err != nil {
			return nil, err
		}
		ev, err = c.next()
		if err != nil {
			return nil, convertYamlcError(err)
		}
		if ev.Type != yamlc.DocumentEnd {
			return nil, &yamlError{problem: "expected document end"}
		}
		ev, err = c.next()
		if err != nil {
			return nil, convertYamlcError(err)
		}
		if ev.Type != yamlc.StreamEnd {
			_ = docStart
			return nil, &yamlError{problem: "but found another document", line: ev.Start.Line + 1, col: ev.Start.Column + 1}
		}
	}
	return root, nil
}

func (c *composer) compose() (*rawNode, error) {
	ev, err := c.next()
	if err != nil {
		return nil, convertYamlcError(err)
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		return nil, &yamlError{problem: "exceeded max depth", line: ev.Start.Line + 1, col: ev.Start.Column + 1}
	}
	if ev.Type == yamlc.Alias {
		n, ok := c.anchors[ev.Anchor]
		if !ok {
			return nil, &yamlError{problem: "found undefined alias", line: ev.Start.Line + 1, col: ev.Start.Column + 1}
		}
		return n, nil
	}
	if ev.Anchor != "" {
		if _, dup := c.anchors[ev.Anchor]; dup {
			return nil, &yamlError{problem: "second occurrence", line: ev.Start.Line + 1, col: ev.Start.Column + 1}
		}
	}
	n := &rawNode{line: ev.Start.Line, col: ev.Start.Column}
	switch ev.Type {
	case yamlc.Scalar:
		n.kind = scalarNode
		n.value = ev.Value
		if ev.Tag == "" || ev.Tag == "!" {
			n.plain = ev.Implicit
		} else {
			n.tag = ev.Tag
		}
		if ev.Anchor != "" {
			c.anchors[ev.Anchor] = n
		}
	case yamlc.SequenceStart:
		n.kind = sequenceNode
		if ev.Tag != "" && ev.Tag != "!" {
			n.tag = ev.Tag
		}
		if ev.Anchor != "" {
			c.anchors[ev.Anchor] = n
		}
		for {
			nx, err := c.peek()
			if err != nil {
				return nil, convertYamlcError(err)
			}
			if nx.Type == yamlc.SequenceEnd {
				_, _ = c.next()
				break
			}
			item, err := c.compose()
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
	case yamlc.MappingStart:
		n.kind = mappingNode
		if ev.Tag != "" && ev.Tag != "!" {
			n.tag = ev.Tag
		}
		if ev.Anchor != "" {
			c.anchors[ev.Anchor] = n
		}
		for {
			nx, err := c.peek()
			if err != nil {
				return nil, convertYamlcError(err)
			}
			if nx.Type == yamlc.MappingEnd {
				_, _ = c.next()
				break
			}
			k, err := c.compose()
			if err != nil {
				return nil, err
			}
			v, err := c.compose()
			if err != nil {
				return nil, err
			}
			n.pairs = append(n.pairs, [2]*rawNode{k, v})
		}
	default:
		return nil, &yamlError{problem: fmt.Sprintf("unexpected event %d", ev.Type), line: ev.Start.Line + 1, col: ev.Start.Column + 1}
	}
	return n, nil
}

// Implicit resolvers of PyYAML's (YAML 1.1) Resolver, in registration order.
var (
	reBool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	reFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	reInt   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	reMerge = regexp.MustCompile(`^(?:<<)$`)
	reNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	reTime  = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
	reValue = regexp.MustCompile(`^(?:=)$`)
	reDate  = regexp.MustCompile(`^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$`)
)

type implicitResolver struct {
	tag   string
	re    *regexp.Regexp
	first string
}

var implicitResolvers = []implicitResolver{
	{tagBool, reBool, "yYnNtTfFoO"},
	{tagFloat, reFloat, "-+0123456789."},
	{tagInt, reInt, "-+0123456789"},
	{tagMerge, reMerge, "<"},
	{tagNull, reNull, "~nN"},
	{tagTimestamp, reTime, "0123456789"},
	{tagValue, reValue, "="},
}

// resolveScalar implements Resolver.resolve for a plain scalar.
func resolveScalar(v string) string {
	if v == "" {
		return tagNull
	}
	first := v[0]
	for _, r := range implicitResolvers {
		if strings.IndexByte(r.first, first) < 0 {
			continue
		}
		if r.re.MatchString(v) {
			return r.tag
		}
	}
	return tagStr
}

// constructor builds nodes from rawNodes like Ansible's AnsibleConstructor
// on top of PyYAML's SafeConstructor. Like PyYAML, collections are created
// empty and filled later, level by level (PyYAML's state generators): this
// decides the order of warnings and errors, and what !unsafe sees.
type constructor struct {
	file string
	done map[*rawNode]*node
	// active holds the nodes whose non-deferred construction is running
	// (PyYAML's recursive_objects).
	active   map[*rawNode]bool
	queue    []func() error
	warnings []string
}

func newConstructor(file string) *constructor {
	return &constructor{file: file, done: map[*rawNode]*node{}, active: map[*rawNode]bool{}}
}

func (c *constructor) errAt(r *rawNode, format string, args ...any) *yamlError {
	return &yamlError{problem: fmt.Sprintf(format, args...), line: r.line + 1, col: r.col + 1}
}

func (c *constructor) tagOf(r *rawNode) string {
	if r.tag != "" {
		return r.tag
	}
	switch r.kind {
	case mappingNode:
		return tagMap
	case sequenceNode:
		return tagSeq
	}
	if r.plain {
		return resolveScalar(r.value)
	}
	return tagStr
}

func (c *constructor) position(r *rawNode) Pos {
	return Pos{File: c.file, Line: r.line + 1, Col: r.col + 1}
}

func nodeID(r *rawNode) string {
	switch r.kind {
	case mappingNode:
		return "mapping"
	case sequenceNode:
		return "sequence"
	}
	return "scalar"
}

// constructDocument is BaseConstructor.construct_document.
func (c *constructor) constructDocument(r *rawNode) (*node, error) {
	n, err := c.construct(r)
	if err != nil {
		return nil, err
	}
	for len(c.queue) > 0 {
		f := c.queue[0]
		c.queue = c.queue[1:]
		if err := f(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// construct is construct_object(node, deep=False).
func (c *constructor) construct(r *rawNode) (*node, error) {
	if n, ok := c.done[r]; ok {
		return n, nil
	}
	if c.active[r] {
		return nil, c.errAt(r, "found unconstructable recursive node")
	}
	c.active[r] = true
	defer delete(c.active, r)
	return c.constructTagged(r, c.tagOf(r))
}

// deferred registers n as the object of r and queues fill, like a PyYAML
// generator constructor that yields its (empty) object first.
func (c *constructor) deferred(r *rawNode, n *node, fill func() error) *node {
	c.done[r] = n
	c.queue = append(c.queue, fill)
	return n
}

func (c *constructor) constructTagged(r *rawNode, tag string) (*node, error) {
	pos := c.position(r)
	switch tag {
	case tagMap, tagPyDict:
		if r.kind != mappingNode {
			return nil, c.errAt(r, "expected a mapping node, but found %s", nodeID(r))
		}
		n := &node{kind: mappingNode, pos: pos, hasPos: true, pyType: pyMapping}
		return c.deferred(r, n, func() error { return c.fillMapping(r, n) }), nil
	case tagSeq:
		if r.kind != sequenceNode {
			return nil, c.errAt(r, "expected a sequence node, but found %s", nodeID(r))
		}
		n := &node{kind: sequenceNode, pos: pos, hasPos: true, pyType: pySequence}
		return c.deferred(r, n, func() error { return c.fillSequence(r, n) }), nil
	case tagSet:
		if r.kind != mappingNode {
			return nil, c.errAt(r, "expected a mapping node, but found %s", nodeID(r))
		}
		n := &node{kind: sequenceNode, pos: pos, pyType: pySet}
		return c.deferred(r, n, func() error {
			m := &node{kind: mappingNode, pos: pos, pyType: pyMapping}
			if err := c.fillMapping(r, m); err != nil {
				return err
			}
			for _, p := range m.pairs {
				n.items = append(n.items, p.key)
			}
			return nil
		}), nil
	case tagOmap, tagPairs:
		if r.kind != sequenceNode {
			return nil, c.errAt(r, "expected a sequence, but found %s", nodeID(r))
		}
		n := &node{kind: sequenceNode, pos: pos, pyType: pyList}
		return c.deferred(r, n, func() error {
			for _, it := range r.items {
				if it.kind != mappingNode {
					return c.errAt(it, "expected a mapping of length 1, but found %s", nodeID(it))
				}
				if len(it.pairs) != 1 {
					return c.errAt(it, "expected a single mapping item, but found %d items", len(it.pairs))
				}
				k, err := c.construct(it.pairs[0][0])
				if err != nil {
					return err
				}
				v, err := c.construct(it.pairs[0][1])
				if err != nil {
					return err
				}
				n.items = append(n.items, &node{kind: sequenceNode, pos: c.position(it), pyType: "tuple", items: []*node{k, v}})
			}
			return nil
		}), nil
	case tagUnsafe:
		// construct_yaml_unsafe builds the value with the non-deep
		// construct_<id> and wraps it right away (not deferred): nested
		// collections not constructed before are still empty then, and
		// stay empty in the wrapped copy.
		var n *node
		switch r.kind {
		case scalarNode:
			n = &node{kind: scalarNode, pos: pos, pyType: pyUnsafe, val: r.value, unsafe: true}
		case mappingNode:
			n = &node{kind: mappingNode, pos: pos, pyType: pyDict}
			if err := c.fillMapping(r, n); err != nil {
				return nil, err
			}
			var err error
			if n, err = unsafeCopy(n); err != nil {
				return nil, err
			}
		default:
			n = &node{kind: sequenceNode, pos: pos, pyType: pyList}
			if err := c.fillSequence(r, n); err != nil {
				return nil, err
			}
			var err error
			if n, err = unsafeCopy(n); err != nil {
				return nil, err
			}
		}
		c.done[r] = n
		return n, nil
	case tagVault, tagVaultEnc:
		if r.kind != scalarNode {
			return nil, c.errAt(r, "expected a scalar node, but found %s", nodeID(r))
		}
		n := &node{kind: scalarNode, pos: pos, hasPos: true, pyType: pyVault, val: r.value}
		c.done[r] = n
		return n, nil
	}
	if !isScalarTag(tag) {
		return nil, c.errAt(r, "could not determine a constructor for the tag %s", pyRepr(tag))
	}
	if r.kind != scalarNode {
		return nil, c.errAt(r, "expected a scalar node, but found %s", nodeID(r))
	}
	v := r.value
	n := &node{kind: scalarNode, pos: pos}
	switch tag {
	case tagNull:
		n.pyType = pyNone
	case tagBool:
		n.pyType = pyBool
		switch strings.ToLower(v) {
		case "yes", "true", "on":
			n.val = true
		case "no", "false", "off":
			n.val = false
		default:
			return nil, c.errAt(r, "invalid boolean %s", pyRepr(v))
		}
	case tagInt:
		n.pyType = pyInt
		iv, ok := parseYAMLInt(v)
		if !ok {
			return nil, c.errAt(r, "invalid literal for int(): %s", pyRepr(v))
		}
		n.val = iv
	case tagFloat:
		n.pyType = pyFloat
		f, ok := parseYAMLFloat(v)
		if !ok {
			return nil, c.errAt(r, "could not convert string to float: %s", pyRepr(v))
		}
		n.val = f
	case tagTimestamp:
		if !reTime.MatchString(v) {
			return nil, c.errAt(r, "invalid timestamp %s", pyRepr(v))
		}
		n.pyType = pyDateTime
		if reDate.MatchString(v) {
			n.pyType = pyDate
		}
		n.val = v
		n.raw = v
	case tagBinary:
		b, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, v))
		if err != nil {
			return nil, c.errAt(r, "failed to decode base64 data: %v", err)
		}
		n.pyType = pyBytes
		n.val = string(b)
	default: // str, python/unicode
		n.pyType = pyUnicode
		n.hasPos = true
		n.val = v
	}
	c.done[r] = n
	return n, nil
}

func isScalarTag(tag string) bool {
	switch tag {
	case tagNull, tagBool, tagInt, tagFloat, tagTimestamp, tagBinary, tagStr, tagPyUnicode:
		return true
	}
	return false
}

// fillSequence constructs the items of a sequence. Like PyYAML's
// data.extend(self.construct_sequence(node)), n stays empty until every
// item is constructed.
func (c *constructor) fillSequence(r *rawNode, n *node) error {
	items := make([]*node, 0, len(r.items))
	for _, it := range r.items {
		v, err := c.construct(it)
		if err != nil {
			return err
		}
		items = append(items, v)
	}
	n.items = items
	return nil
}

// unsafeCopy is wrap_var: a copy with every string marked unsafe (and no
// positions, like the plain Python objects wrap_var builds).
func unsafeCopy(n *node) (*node, error) {
	u := &unsafeCopier{memo: map[*node]*node{}, active: map[*node]bool{}}
	out := u.copy(n)
	if u.recursive {
		// wrap_var recurses forever on a recursive structure.
		return nil, &ParseError{Msg: "Unexpected Exception, this is probably a bug: maximum recursion depth exceeded while calling a Python object", Code: 250}
	}
	return out, nil
}

type unsafeCopier struct {
	memo      map[*node]*node
	active    map[*node]bool
	recursive bool
}

func (u *unsafeCopier) copy(n *node) *node {
	if n == nil {
		return n
	}
	if u.active[n] {
		u.recursive = true
		return n
	}
	if c, ok := u.memo[n]; ok {
		return c
	}
	u.active[n] = true
	defer delete(u.active, n)
	out := &node{kind: n.kind, pos: n.pos, pyType: n.pyType, val: n.val, raw: n.raw}
	u.memo[n] = out
	switch n.kind {
	case mappingNode:
		out.pyType = pyDict
		for _, p := range n.pairs {
			out.pairs = append(out.pairs, pair{key: u.copy(p.key), val: u.copy(p.val)})
		}
	case sequenceNode:
		// _wrap_sequence keeps the type (AnsibleSequence stays one).
		for _, it := range n.items {
			out.items = append(out.items, u.copy(it))
		}
	default:
		if _, ok := n.val.(string); ok && n.isString() {
			out.pyType = pyUnsafe
			out.unsafe = true
		}
	}
	return out
}

// flatten implements SafeConstructor.flatten_mapping (merge keys).
func (c *constructor) flatten(r *rawNode) error {
	// Like PyYAML, a merge key is removed before its value is flattened,
	// which makes recursive merges terminate.
	var merge [][2]*rawNode
	i := 0
	for i < len(r.pairs) {
		k, v := r.pairs[i][0], r.pairs[i][1]
		if k.kind == scalarNode && c.tagOf(k) == tagMerge {
			r.pairs = append(r.pairs[:i:i], r.pairs[i+1:]...)
			switch v.kind {
			case mappingNode:
				if err := c.flatten(v); err != nil {
					return err
				}
				merge = append(merge, v.pairs...)
			case sequenceNode:
				var sub [][][2]*rawNode
				for _, s := range v.items {
					if s.kind != mappingNode {
						return c.errAt(s, "expected a mapping for merging, but found %s", nodeID(s))
					}
					if err := c.flatten(s); err != nil {
						return err
					}
					sub = append(sub, s.pairs)
				}
				for j := len(sub) - 1; j >= 0; j-- {
					merge = append(merge, sub[j]...)
				}
			default:
				return c.errAt(v, "expected a mapping or list of mappings for merging, but found %s", nodeID(v))
			}
			continue
		}
		if k.kind == scalarNode && c.tagOf(k) == tagValue {
			k.tag = tagStr
		}
		i++
	}
	if len(merge) > 0 {
		r.pairs = append(merge, r.pairs...)
	}
	return nil
}

// fillMapping is AnsibleConstructor.construct_mapping (with duplicate key
// warnings) filling n.
func (c *constructor) fillMapping(r *rawNode, n *node) error {
	if err := c.flatten(r); err != nil {
		return err
	}
	// Like data.update(self.construct_mapping(node)), n stays empty until
	// every value is constructed.
	var pairs []pair
	index := map[string]int{}
	for _, kv := range r.pairs {
		k, err := c.construct(kv[0])
		if err != nil {
			return err
		}
		if k.kind != scalarNode {
			return c.errAt(kv[0], "found unacceptable key (unhashable type: '%s')", k.shortType())
		}
		if k.pyType == pyVault {
			// Hashing a vaulted key decrypts it.
			return vaultDecryptError(k)
		}
		idx, dup := index[keyHash(k)]
		if dup {
			c.warnings = append(c.warnings, fmt.Sprintf("While constructing a mapping from %s, line %d, column %d, found a duplicate dict key (%s). Using last defined value only.",
				c.file, n.pos.Line, n.pos.Col, pyStrOf(k)))
		}
		v, err := c.construct(kv[1])
		if err != nil {
			return err
		}
		if dup {
			pairs[idx].val = v
		} else {
			index[keyHash(k)] = len(pairs)
			pairs = append(pairs, pair{key: k, val: v})
		}
	}
	n.pairs = pairs
	return nil
}

// keyHash returns a string that is equal for keys Python considers equal
// (1 == 1.0 == True, 0 == False, equal strings).
func keyHash(k *node) string {
	switch v := k.val.(type) {
	case string:
		if k.pyType == pyBytes {
			return "b:" + v
		}
		return "s:" + v
	case nil:
		return "none"
	}
	if f, ok := numericValue(k.val); ok {
		return "n:" + f.Text('g', -1)
	}
	return fmt.Sprintf("?:%p", k) // NaN: never equal to another key
}

func numericValue(v any) (*big.Float, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return big.NewFloat(1), true
		}
		return big.NewFloat(0), true
	case int64:
		return new(big.Float).SetInt64(x), true
	case *big.Int:
		return new(big.Float).SetInt(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return big.NewFloat(x), true
	}
	return nil, false
}

// parseYAMLInt implements SafeConstructor.construct_yaml_int.
func parseYAMLInt(s string) (any, bool) {
	v := strings.ReplaceAll(s, "_", "")
	if v == "" {
		return nil, false
	}
	neg := false
	if v[0] == '-' || v[0] == '+' {
		neg = v[0] == '-'
		v = v[1:]
	}
	if v == "" {
		return nil, false
	}
	z := new(big.Int)
	ok := true
	switch {
	case v == "0":
	case strings.HasPrefix(v, "0b"):
		_, ok = z.SetString(v[2:], 2)
	case strings.HasPrefix(v, "0x"):
		_, ok = z.SetString(v[2:], 16)
	case v[0] == '0':
		_, ok = z.SetString(v, 8)
	case strings.Contains(v, ":"):
		base := big.NewInt(1)
		parts := strings.Split(v, ":")
		for i := len(parts) - 1; i >= 0; i-- {
			d, good := new(big.Int).SetString(parts[i], 10)
			if !good {
				return nil, false
			}
			z.Add(z, d.Mul(d, base))
			base = new(big.Int).Mul(base, big.NewInt(60))
		}
	default:
		_, ok = z.SetString(v, 10)
	}
	if !ok {
		return nil, false
	}
	if neg {
		z.Neg(z)
	}
	if z.IsInt64() {
		return z.Int64(), true
	}
	return z, true
}

// parseYAMLFloat implements SafeConstructor.construct_yaml_float.
func parseYAMLFloat(s string) (float64, bool) {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	if v == "" {
		return 0, false
	}
	sign := 1.0
	if v[0] == '-' {
		sign = -1
	}
	if v[0] == '-' || v[0] == '+' {
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return sign * math.Inf(1), true
	case v == ".nan":
		return math.NaN(), true
	case strings.Contains(v, ":"):
		parts := strings.Split(v, ":")
		base, val := 1.0, 0.0
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseFloat(parts[i], 64)
			if err != nil {
				return 0, false
			}
			val += d * base
			base *= 60
		}
		return sign * val, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		// Python's float() accepts what the resolver lets through
		// ("1." or ".5"); strconv does too, so this is a genuine error
		// (or an out of range value, which Python turns into inf).
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return sign * f, true
		}
		return 0, false
	}
	return sign * f, true
}

// loadDocument parses a playbook or task file the way Ansible's DataLoader
// does: first as JSON, then as YAML. It returns the root (nil for an empty
// document), the loader warnings, the JSON error text (needed by the YAML
// error message) and an error.
func loadDocument(file string, data []byte) (root *node, warnings []string, err error) {
	text := string(data)
	jroot, jerr := parsePyJSON(file, text)
	if jerr == nil {
		return jroot, nil, nil
	}
	raw, err := composeSingle(data)
	if err != nil {
		return nil, nil, yamlFailure(jerr, err)
	}
	if raw == nil {
		return nil, nil, nil
	}
	c := newConstructor(file)
	n, err := c.constructDocument(raw)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			return nil, c.warnings, pe
		}
		return nil, c.warnings, yamlFailure(jerr, err)
	}
	return n, c.warnings, nil
}

// yamlLoadError is returned by loadDocument for input that is neither JSON
// nor YAML.
type yamlLoadError struct {
	json string
	yaml *yamlError
}

func (e *yamlLoadError) Error() string {
	return "We were unable to read either as JSON nor YAML, these are the errors we got from each:\nJSON: " +
		e.json + "\n\nSyntax Error while loading YAML.\n  " + e.yaml.problem
}

func yamlFailure(jerr error, err error) error {
	ye, ok := err.(*yamlError)
	if !ok {
		ye = &yamlError{problem: err.Error()}
	}
	return &yamlLoadError{json: jerr.Error(), yaml: ye}
}

// vaultDecryptError is the error Ansible raises when it has to decrypt a
// !vault value without vault secrets.
func vaultDecryptError(n *node) error {
	s, _ := n.val.(string)
	if strings.HasPrefix(s, "$ANSIBLE_VAULT") {
		return &ParseError{Msg: "Attempting to decrypt but no vault secrets found", Code: ExitGenericError}
	}
	return &ParseError{Msg: "input is not vault encrypted data. ", Code: ExitGenericError}
}

// YAMLSyntaxError reads data as one YAML document the way libyaml (the
// parser under Ansible's loader) does and reports where it is not well
// formed: the problem and its 1-based line and column (0 when libyaml gives
// no position). ok is false when the document is well formed. The inventory
// package uses it to place YAML errors where Ansible places them.
func YAMLSyntaxError(data []byte) (problem string, line, col int, ok bool) {
	_, err := composeSingle(data)
	var ye *yamlError
	if !errors.As(err, &ye) {
		return "", 0, 0, false
	}
	return ye.problem, ye.line, ye.col, true
}
