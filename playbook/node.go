package playbook

import (
	"math/big"
)

// nodeKind is the shape of a loaded value.
type nodeKind uint8

const (
	scalarNode nodeKind = iota + 1
	mappingNode
	sequenceNode
)

// Python class names Ansible's loader produces; they appear verbatim in some
// of Ansible's error messages ("got a <class '...'> instead").
const (
	pyMapping  = "ansible.parsing.yaml.objects.AnsibleMapping"
	pySequence = "ansible.parsing.yaml.objects.AnsibleSequence"
	pyUnicode  = "ansible.parsing.yaml.objects.AnsibleUnicode"
	pyUnsafe   = "ansible.utils.unsafe_proxy.AnsibleUnsafeText"
	pyInt      = "int"
	pyFloat    = "float"
	pyBool     = "bool"
	pyNone     = "NoneType"
	pyDict     = "dict"
	pyList     = "list"
	pyStr      = "str"
	pySet      = "set"
	pyBytes    = "bytes"
	pyDate     = "datetime.date"
	pyDateTime = "datetime.datetime"
	pyVault    = "ansible.parsing.yaml.objects.AnsibleVaultEncryptedUnicode"
)

// node is one loaded value: the equivalent of the Python object Ansible's
// YAML (or JSON) loader builds, together with its source position.
//
// Scalars hold their value in val: string, int64, *big.Int, float64, bool
// or nil. Mappings keep their keys in Python dict order (first occurrence
// wins the position, the last value wins), sequences their items.
type node struct {
	kind   nodeKind
	pos    Pos
	hasPos bool   // Ansible knows a position (ansible_pos) for this object
	pyType string // Python class name, see the py* constants
	val    any
	pairs  []pair
	items  []*node
	unsafe bool // !unsafe: never template
	// raw is the scalar's source text for values kept as text (timestamps).
	raw string
}

type pair struct {
	key, val *node
}

// get returns the value of the mapping key k (nil when absent or when n is
// not a mapping).
func (n *node) get(k string) *node {
	if n == nil || n.kind != mappingNode {
		return nil
	}
	for _, p := range n.pairs {
		if s, ok := p.key.val.(string); ok && p.key.kind == scalarNode && s == k {
			return p.val
		}
	}
	return nil
}

// has reports whether the mapping has key k.
func (n *node) has(k string) bool {
	if n == nil || n.kind != mappingNode {
		return false
	}
	for _, p := range n.pairs {
		if s, ok := p.key.val.(string); ok && p.key.kind == scalarNode && s == k {
			return true
		}
	}
	return false
}

// isString reports whether n is a Python str (AnsibleUnicode, unsafe text or
// plain str).
func (n *node) isString() bool {
	if n == nil || n.kind != scalarNode {
		return false
	}
	_, ok := n.val.(string)
	return ok && n.pyType != pyBytes && n.pyType != pyDate && n.pyType != pyDateTime && n.pyType != pyVault
}

// str returns the string value of a string scalar.
func (n *node) str() (string, bool) {
	if !n.isString() {
		return "", false
	}
	return n.val.(string), true
}

// isNull reports whether n is Python None (a missing node counts as None).
func (n *node) isNull() bool {
	return n == nil || (n.kind == scalarNode && n.val == nil && n.pyType == pyNone)
}

// isMap reports whether n is a dict.
func (n *node) isMap() bool { return n != nil && n.kind == mappingNode }

// isSeq reports whether n is a list.
func (n *node) isSeq() bool { return n != nil && n.kind == sequenceNode }

// truthy reports Python truthiness of the value.
func (n *node) truthy() bool {
	if n == nil {
		return false
	}
	switch n.kind {
	case mappingNode:
		return len(n.pairs) > 0
	case sequenceNode:
		return len(n.items) > 0
	}
	switch v := n.val.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case bool:
		return v
	case int64:
		return v != 0
	case *big.Int:
		return v.Sign() != 0
	case float64:
		return v != 0
	}
	return true
}

// typeString is Python's str(type(x)), e.g. "<class 'int'>".
func (n *node) typeString() string {
	if n == nil {
		return "<class 'NoneType'>"
	}
	return "<class '" + n.pyType + "'>"
}

// shortType is the unqualified Python class name, as used by TypeError
// messages ("unhashable type: 'AnsibleMapping'").
func (n *node) shortType() string {
	t := n.pyType
	for i := len(t) - 1; i >= 0; i-- {
		if t[i] == '.' {
			return t[i+1:]
		}
	}
	return t
}

// newStr builds a synthetic string node (no position).
func newStr(s string) *node {
	return &node{kind: scalarNode, pyType: pyStr, val: s}
}
