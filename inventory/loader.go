package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gorun/gorun/playbook"
)

// maxAliasExpansion bounds the number of values produced by expanding YAML
// aliases, so that "billion laughs" documents fail instead of exhausting
// memory.
const maxAliasExpansion = 1 << 20

// vaultHeader starts every vault-encrypted file.
const vaultHeader = "$ANSIBLE_VAULT"

// loadData parses the content of a YAML or JSON file as Ansible's DataLoader
// does: JSON first, then YAML with YAML 1.1 (PyYAML) scalar resolution.
// Mappings are returned as *omap. An empty document yields nil. warn, if not
// nil, receives Ansible's warnings about duplicate mapping keys.
func loadData(file string, data []byte, warn func(string)) (any, error) {
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(vaultHeader)) {
		return nil, fmt.Errorf("%s: vault-encrypted files are not supported: %w", file, ErrUnsupported)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		return loadJSON(file, data)
	}
	return loadYAML(file, data, warn)
}

// loadJSON decodes JSON keeping the order of object keys.
func loadJSON(file string, data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	lineOf := func(off int64) int {
		if off > int64(len(data)) {
			off = int64(len(data))
		}
		return bytes.Count(data[:off], []byte("\n")) + 1
	}
	var value func() (any, error)
	value = func() (any, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				m := newOmap()
				for dec.More() {
					line := lineOf(dec.InputOffset())
					kt, err := dec.Token()
					if err != nil {
						return nil, err
					}
					k, _ := kt.(string)
					v, err := value()
					if err != nil {
						return nil, err
					}
					m.set(k, v, line)
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				return m, nil
			case '[':
				list := []any{}
				for dec.More() {
					v, err := value()
					if err != nil {
						return nil, err
					}
					list = append(list, v)
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				return list, nil
			}
			return nil, fmt.Errorf("unexpected %v", t)
		case json.Number:
			return jsonNumber(string(t)), nil
		default:
			return t, nil // string, bool or nil
		}
	}
	v, err := value()
	if err != nil {
		return nil, parseErrorf(file, 0, "invalid JSON: %v", err)
	}
	return v, nil
}

func jsonNumber(s string) any {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.Atoi(s); err == nil {
			return i
		}
		return bigIntValue(s, 10)
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// bigIntValue converts an integer literal too large for int; Python keeps
// it exact, this package falls back to float64.
func bigIntValue(digits string, base int) any {
	b, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return digits
	}
	f, _ := new(big.Float).SetInt(b).Float64()
	return f
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// loadYAML parses one YAML document.
func loadYAML(file string, data []byte, warn func(string)) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(file, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, parseErrorf(file, extra.Line, "expected a single document in the stream")
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(file, data, err)
	}
	c := &yamlConverter{file: file, active: map[*yaml.Node]bool{}, warn: warn}
	return c.convert(&doc)
}

// yamlError is a YAML syntax error in file. yaml.v3 places it at the line
// of the construct it was reading; libyaml (read as Ansible reads the file)
// gives the problem's own line and column, so that is where it is placed.
func yamlError(file string, data []byte, err error) error {
	if problem, line, col, ok := playbook.YAMLSyntaxError(data); ok && line > 0 {
		return &ParseError{File: file, Line: line, Col: col, Msg: problem}
	}
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return parseErrorf(file, line, "%s", m[2])
	}
	return parseErrorf(file, 0, "%s", strings.TrimPrefix(msg, "yaml: "))
}

type yamlConverter struct {
	file     string
	active   map[*yaml.Node]bool // aliased nodes being expanded (cycle check)
	inAlias  int
	expanded int
	warn     func(string)
}

func (c *yamlConverter) errorf(n *yaml.Node, format string, args ...any) error {
	return parseErrorf(c.file, n.Line, format, args...)
}

func (c *yamlConverter) convert(n *yaml.Node) (any, error) {
	if c.inAlias > 0 {
		c.expanded++
		if c.expanded > maxAliasExpansion {
			return nil, c.errorf(n, "YAML aliases expand to too many values")
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, c.errorf(n, "unknown alias")
		}
		if c.active[n.Alias] {
			return nil, c.errorf(n, "recursive YAML alias")
		}
		c.active[n.Alias] = true
		c.inAlias++
		v, err := c.convert(n.Alias)
		c.inAlias--
		delete(c.active, n.Alias)
		return v, err
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.SequenceNode:
		if err := c.checkCollectionTag(n, "!!seq"); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.convert(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n)
	}
	return nil, c.errorf(n, "unexpected YAML node")
}

func (c *yamlConverter) checkCollectionTag(n *yaml.Node, want string) error {
	if n.Style&yaml.TaggedStyle == 0 || n.Tag == want || n.Tag == "!unsafe" {
		return nil
	}
	if n.Tag == "!vault" || n.Tag == "!vault-encrypted" {
		return fmt.Errorf("%s:%d: vault-encrypted values are not supported: %w", c.file, n.Line, ErrUnsupported)
	}
	return c.errorf(n, "could not determine a constructor for the tag %s", n.Tag)
}

// mapping builds an *omap, applying merge keys ("<<") as PyYAML does:
// merged pairs come first, the mapping's own keys override them, and of
// several merged mappings the first listed wins.
func (c *yamlConverter) mapping(n *yaml.Node) (any, error) {
	if n.Style&yaml.TaggedStyle != 0 && n.Tag == "!!set" {
		m := newOmap()
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := c.key(n.Content[i])
			if err != nil {
				return nil, err
			}
			m.set(k, nil, n.Content[i].Line)
		}
		return m, nil
	}
	if err := c.checkCollectionTag(n, "!!map"); err != nil {
		return nil, err
	}
	type pair struct {
		k    any
		v    any
		line int
	}
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.Tag == "!!merge" {
			v, err := c.convert(vn)
			if err != nil {
				return nil, err
			}
			var subs []*omap
			switch t := v.(type) {
			case *omap:
				subs = []*omap{t}
			case []any:
				for _, e := range t {
					sm, ok := e.(*omap)
					if !ok {
						return nil, c.errorf(vn, "expected a mapping for merging, but found %s", pyTypeName(e))
					}
					subs = append(subs, sm)
				}
			default:
				return nil, c.errorf(vn, "expected a mapping or list of mappings for merging, but found %s", pyTypeName(v))
			}
			var block []pair
			for j := len(subs) - 1; j >= 0; j-- {
				for x, k := range subs[j].keys {
					block = append(block, pair{k, subs[j].vals[x], subs[j].lines[x]})
				}
			}
			merged = append(merged, block...)
			continue
		}
		k, err := c.key(kn)
		if err != nil {
			return nil, err
		}
		v, err := c.convert(vn)
		if err != nil {
			return nil, err
		}
		own = append(own, pair{k, v, kn.Line})
	}
	m := newOmap()
	for _, p := range append(merged, own...) {
		if _, dup := m.index[p.k]; dup && c.warn != nil && c.inAlias == 0 {
			c.warn(fmt.Sprintf("While constructing a mapping from %s, line %d, column %d, found a duplicate dict key (%s). Using last defined value only.",
				c.file, n.Line, n.Column, pyRepr(p.k)))
		}
		m.set(p.k, p.v, p.line)
	}
	return m, nil
}

func (c *yamlConverter) key(n *yaml.Node) (any, error) {
	k, err := c.convert(n)
	if err != nil {
		return nil, err
	}
	switch k.(type) {
	case []any, *omap:
		return nil, c.errorf(n, "found unhashable key")
	}
	if f, ok := k.(float64); ok && math.IsNaN(f) {
		return nil, c.errorf(n, "found unhashable key")
	}
	return k, nil
}

func (c *yamlConverter) scalar(n *yaml.Node) (any, error) {
	if n.Style&yaml.TaggedStyle != 0 {
		return c.taggedScalar(n)
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, nil
	}
	v, err := resolvePlain(n.Value)
	if err != nil {
		return nil, c.errorf(n, "%v", err)
	}
	return v, nil
}

func (c *yamlConverter) taggedScalar(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!!str", "!unsafe":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		if b, ok := yamlBool(n.Value); ok {
			return b, nil
		}
		return nil, c.errorf(n, "invalid boolean %q", n.Value)
	case "!!int":
		v, err := constructInt(n.Value)
		if err != nil {
			return nil, c.errorf(n, "%v", err)
		}
		return v, nil
	case "!!float":
		v, err := constructFloat(n.Value)
		if err != nil {
			return nil, c.errorf(n, "%v", err)
		}
		return v, nil
	case "!!timestamp", "!!binary":
		return n.Value, nil
	case "!vault", "!vault-encrypted":
		return nil, fmt.Errorf("%s:%d: vault-encrypted values are not supported: %w", c.file, n.Line, ErrUnsupported)
	}
	return nil, c.errorf(n, "could not determine a constructor for the tag %s", n.Tag)
}

// YAML 1.1 implicit resolvers, as registered by PyYAML's Resolver.
var (
	yamlBoolRE  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlFloatRE = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlIntRE   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlNullRE  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

// yamlBool mirrors PyYAML's construct_yaml_bool.
func yamlBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "yes", "true", "on":
		return true, true
	case "no", "false", "off":
		return false, true
	}
	return false, false
}

// resolvePlain resolves an untagged plain scalar with PyYAML's YAML 1.1
// rules. Timestamps stay strings.
func resolvePlain(s string) (any, error) {
	switch {
	case yamlBoolRE.MatchString(s):
		b, _ := yamlBool(s)
		return b, nil
	case yamlFloatRE.MatchString(s):
		return constructFloat(s)
	case yamlIntRE.MatchString(s):
		return constructInt(s)
	case yamlNullRE.MatchString(s):
		return nil, nil
	}
	return s, nil
}

// constructInt mirrors PyYAML's SafeConstructor.construct_yaml_int.
func constructInt(s string) (any, error) {
	v := strings.ReplaceAll(s, "_", "")
	sign := 1
	if v != "" && (v[0] == '-' || v[0] == '+') {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	bad := fmt.Errorf("invalid literal for int(): %q", s)
	var base int
	switch {
	case v == "0":
		return 0, nil
	case strings.HasPrefix(v, "0b"):
		v, base = v[2:], 2
	case strings.HasPrefix(v, "0x"):
		v, base = v[2:], 16
	case strings.HasPrefix(v, "0"):
		base = 8
	case strings.Contains(v, ":"):
		total := new(big.Int)
		mul := big.NewInt(1)
		parts := strings.Split(v, ":")
		for i := len(parts) - 1; i >= 0; i-- {
			d, ok := new(big.Int).SetString(parts[i], 10)
			if !ok {
				return nil, bad
			}
			total.Add(total, d.Mul(d, mul))
			mul.Mul(mul, big.NewInt(60))
		}
		if sign < 0 {
			total.Neg(total)
		}
		return bigToValue(total), nil
	default:
		base = 10
	}
	if v == "" {
		return nil, bad
	}
	b, ok := new(big.Int).SetString(v, base)
	if !ok {
		return nil, bad
	}
	if sign < 0 {
		b.Neg(b)
	}
	return bigToValue(b), nil
}

func bigToValue(b *big.Int) any {
	if b.IsInt64() && b.Int64() >= math.MinInt && b.Int64() <= math.MaxInt {
		return int(b.Int64())
	}
	f, _ := new(big.Float).SetInt(b).Float64()
	return f
}

// constructFloat mirrors PyYAML's SafeConstructor.construct_yaml_float.
func constructFloat(s string) (any, error) {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if v != "" && (v[0] == '-' || v[0] == '+') {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return sign * math.Inf(1), nil
	case v == ".nan":
		return math.NaN(), nil
	case strings.Contains(v, ":"):
		parts := strings.Split(v, ":")
		total, mul := 0.0, 1.0
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseFloat(parts[i], 64)
			if err != nil {
				return nil, fmt.Errorf("invalid float %q", s)
			}
			total += d * mul
			mul *= 60
		}
		return sign * total, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("invalid float %q", s)
	}
	return sign * f, nil
}
