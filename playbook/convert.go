package playbook

import (
	"math/big"
)

// converter turns loaded nodes into plain Go values: map[string]any,
// []any, string (or Unsafe), int, *big.Int (integers beyond int64),
// float64, bool and nil. Mapping keys are stringified like Python's str().
// A budget bounds the total work so aliases cannot blow up memory.
type converter struct {
	budget int
	err    error
	active map[*node]bool
}

func (c *converter) spend() bool {
	c.budget--
	if c.budget < 0 {
		if c.err == nil {
			c.err = &ParseError{Msg: "the YAML data expands to too many values (excessive use of aliases)", Code: ExitParserError}
		}
		return false
	}
	return true
}

// toGo converts a node (nil converts to nil).
func (c *converter) toGo(n *node) any {
	if n == nil || !c.spend() {
		return nil
	}
	if n.kind != scalarNode {
		if c.active == nil {
			c.active = map[*node]bool{}
		}
		if c.active[n] {
			if c.err == nil {
				c.err = &ParseError{Msg: "the YAML data is recursive (an alias refers to an enclosing anchor), which is not supported", Code: ExitParserError}
			}
			return nil
		}
		c.active[n] = true
		defer delete(c.active, n)
	}
	switch n.kind {
	case mappingNode:
		m := make(map[string]any, len(n.pairs))
		for _, p := range n.pairs {
			m[pyStrOf(p.key)] = c.toGo(p.val)
		}
		return m
	case sequenceNode:
		s := make([]any, 0, len(n.items))
		for _, it := range n.items {
			s = append(s, c.toGo(it))
		}
		return s
	}
	switch v := n.val.(type) {
	case int64:
		return int(v)
	case *big.Int:
		return new(big.Int).Set(v)
	case string:
		if n.unsafe {
			return Unsafe(v)
		}
		if n.pyType == pyVault {
			return Vault(v)
		}
		return v
	}
	return n.val
}

// toGoOpt converts an optional keyword value (absent gives nil).
func (c *converter) toGoOpt(n *node) any {
	if n == nil {
		return nil
	}
	return c.toGo(n)
}

// toMap converts a mapping (nil for a missing node).
func (c *converter) toMap(n *node) map[string]any {
	if n == nil || n.kind != mappingNode {
		return nil
	}
	m, _ := c.toGo(n).(map[string]any)
	return m
}

// condList converts a conditional keyword: a list as is, a scalar wrapped.
func (c *converter) condList(n *node) []any {
	if n != nil && n.kind == sequenceNode && n.pyType != pySet {
		out := make([]any, 0, len(n.items))
		for _, it := range n.items {
			out = append(out, c.toGo(it))
		}
		return out
	}
	return []any{c.toGo(n)}
}

// stringList converts notify/listen: a list's items stringified, a scalar
// wrapped (None gives nil).
func (c *converter) stringList(n *node) []string {
	if n.isNull() {
		return nil
	}
	if n.kind == sequenceNode {
		out := make([]string, 0, len(n.items))
		for _, it := range n.items {
			out = append(out, pyStrOf(it))
		}
		return out
	}
	return []string{pyStrOf(n)}
}

// argsToMap converts module arguments.
func (c *converter) argsToMap(m *argMap) map[string]any {
	out := map[string]any{}
	if m == nil {
		return out
	}
	for _, k := range m.keys {
		out[k] = c.toGo(m.vals[k])
	}
	return out
}
