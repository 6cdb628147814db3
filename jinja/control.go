package jinja

import (
	"bytes"
	"fmt"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// setStatement implements {% set %}. gonja's own implementation keeps its
// expressions in unexported fields, which the rewriter could not reach; this
// one reuses gonja's parser helpers and exposes them.
//
//	{% set x = expr %}   {% set x = a if cond else b %}
//	{% set ns.attr = expr %}   (ns must come from namespace())
//	{% set x %}block{% endset %}
type setStatement struct {
	Location     *tokens.Token
	TargetName   string           // set for a plain name target
	TargetObject nodes.Expression // the namespace expression for `ns.attr` targets
	TargetAttr   string
	Expression   nodes.Expression
	Condition    nodes.Expression
	Alternative  nodes.Expression
	Body         *nodes.Wrapper
}

// Position implements nodes.Node.
func (s *setStatement) Position() *tokens.Token { return s.Location }

// String implements nodes.Node.
func (s *setStatement) String() string {
	return fmt.Sprintf("SetControlStructure(Line=%d Col=%d)", s.Location.Line, s.Location.Col)
}

// Execute implements exec.ControlStructure.
func (s *setStatement) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	var value any
	if s.Body != nil {
		buf := new(bytes.Buffer)
		sub := r.Inherit()
		sub.Output = buf
		if err := sub.ExecuteWrapper(s.Body); err != nil {
			return err
		}
		value = buf.String()
	} else {
		expr := s.Expression
		if s.Condition != nil {
			cond := r.Eval(s.Condition)
			if err := valueError(cond); err != nil {
				return err
			}
			if !cond.IsTrue() {
				expr = s.Alternative
			}
		}
		v := r.Eval(expr)
		if err := valueError(v); err != nil {
			return err
		}
		value = native(v)
	}
	if s.TargetObject == nil {
		r.Environment.Context.Set(s.TargetName, value)
		return nil
	}
	obj := r.Eval(s.TargetObject)
	if err := valueError(obj); err != nil {
		return err
	}
	ns, ok := obj.Interface().(*namespace)
	if !ok {
		return typeErrorf("cannot assign attribute on non-namespace object")
	}
	ns.attrs[s.TargetAttr] = value
	return nil
}

// parseSet parses the arguments of a {% set %} tag.
func parseSet(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	s := &setStatement{Location: p.Current()}
	name := args.Match(tokens.Name)
	if name == nil {
		return nil, args.Error("expected a variable name after 'set'", args.Current())
	}
	s.TargetName = name.Val
	if args.Match(tokens.Dot) != nil {
		attr := args.Match(tokens.Name)
		if attr == nil {
			return nil, args.Error("expected an attribute name", args.Current())
		}
		s.TargetObject = &nodes.Name{Name: name}
		s.TargetAttr = attr.Val
	}
	if args.Match(tokens.Assign) == nil {
		if !args.End() {
			return nil, args.Error("expected '=' or the end of the tag", args.Current())
		}
		if s.TargetObject != nil {
			return nil, args.Error("a block set cannot assign an attribute", nil)
		}
		wrapper, endargs, err := p.WrapUntil("endset")
		if err != nil {
			return nil, err
		}
		if !endargs.End() {
			return nil, endargs.Error("endset takes no arguments", nil)
		}
		s.Body = wrapper
		return s, nil
	}
	expr, err := args.ParseExpression()
	if err != nil {
		return nil, err
	}
	if expr == nil {
		return nil, args.Error("expected an expression", args.Current())
	}
	s.Expression = expr
	cond, alt, err := args.ParseCondition()
	if err != nil {
		return nil, err
	}
	if cond != nil {
		if alt == nil {
			alt = &nodes.String{Location: tok(position(cond), tokens.String, ""), Val: ""}
		}
		s.Condition, s.Alternative = cond, alt
	}
	if !args.End() {
		return nil, args.Error("malformed 'set' tag", args.Current())
	}
	return s, nil
}
