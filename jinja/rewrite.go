package jinja

import (
	"fmt"
	"strconv"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Internal filters. Their names cannot be written in a template (they are not
// identifiers), so templates cannot call them directly. The rewriter turns the
// parts of gonja's AST whose semantics differ from Python/Jinja2 into calls to
// these filters, which implement Ansible's behaviour.
const (
	fName    = "·name"    // variable lookup (template locals, then vars, then globals, else Undefined)
	fGetattr = "·getattr" // x.name
	fGetitem = "·getitem" // x[key], x.0
	fCall    = "·call"    // f(args, kw=...)
	fBinop   = "·binop"   // arithmetic and comparison operators; first arg is the operator
	fModT    = "·modt"    // 'fmt' % (a, b): printf-style formatting with a tuple
	fNot     = "·not"     // not x
	fNeg     = "·neg"     // -x
	fPos     = "·pos"     // +x
	fList    = "·list"    // list and tuple literals
	fDict    = "·dict"    // dict literals
	fTest    = "·test"    // x is test(args); first arg is the test name
	fStr     = "·str"     // {{ x }}: Python str() with Ansible's finalize (None → '')
	fBool    = "·bool"    // conditions: Python truthiness, Undefined fails
	fIter    = "·iter"    // for-loop iterables: Python iteration order and errors
	fGuard   = "·guard"   // {% call %} targets: counts the call depth
	fPath    = "·path"    // a.b[c].0 on a value: args are (kind, key) pairs
	fVarPath = "·varpath" // the same, starting from a variable name (one call for the whole chain)
)

// rewriter walks a parsed template and replaces expression nodes in place.
type rewriter struct {
	env *Env
	err error
}

func (rw *rewriter) fail(format string, args ...any) {
	if rw.err == nil {
		rw.err = fmt.Errorf(format, args...)
	}
}

// tok builds a synthetic token at the position of at.
func tok(at *tokens.Token, typ tokens.Type, val string) *tokens.Token {
	t := &tokens.Token{Type: typ, Val: val}
	if at != nil {
		t.Pos, t.Line, t.Col = at.Pos, at.Line, at.Col
	}
	return t
}

func strNode(at *tokens.Token, s string) *nodes.String {
	return &nodes.String{Location: tok(at, tokens.String, s), Val: s}
}

func intNode(at *tokens.Token, i int) *nodes.Integer {
	return &nodes.Integer{Location: tok(at, tokens.Integer, strconv.Itoa(i)), Val: i}
}

// call wraps in with one internal filter call.
func call(in nodes.Expression, name string, args ...nodes.Expression) *nodes.FilteredExpression {
	return &nodes.FilteredExpression{
		Expression: in,
		Filters: []*nodes.FilterCall{{
			Token:  tok(position(in), tokens.Name, name),
			Name:   name,
			Args:   args,
			Kwargs: map[string]nodes.Expression{},
		}},
	}
}

func position(n nodes.Node) *tokens.Token {
	if n == nil {
		return nil
	}
	defer func() { _ = recover() }()
	return n.Position()
}

var binops = map[tokens.Type]string{
	tokens.Addition:           "+",
	tokens.Subtraction:        "-",
	tokens.Multiply:           "*",
	tokens.Division:           "/",
	tokens.FloorDivision:      "//",
	tokens.Modulo:             "%",
	tokens.Power:              "**",
	tokens.Tilde:              "~",
	tokens.Equals:             "==",
	tokens.Ne:                 "!=",
	tokens.LowerThan:          "<",
	tokens.LowerThanOrEqual:   "<=",
	tokens.GreaterThan:        ">",
	tokens.GreaterThanOrEqual: ">=",
	tokens.In:                 "in",
}

// expr returns the rewritten form of an expression.
func (rw *rewriter) expr(n nodes.Node) nodes.Expression {
	switch x := n.(type) {
	case nil:
		return nil
	case *nodes.Name:
		if x.Name.Val == "none" { // Jinja2's lowercase literal (gonja only knows None)
			return &nodes.None{Location: x.Name}
		}
		return call(strNode(x.Name, x.Name.Val), fName)
	case *nodes.String, *nodes.Integer, *nodes.Float, *nodes.Bool, *nodes.None, *nodes.Error:
		return x
	case *nodes.List:
		for i := range x.Val {
			x.Val[i] = rw.expr(x.Val[i])
		}
		return call(x, fList)
	case *nodes.Tuple:
		for i := range x.Val {
			x.Val[i] = rw.expr(x.Val[i])
		}
		return call(x, fList)
	case *nodes.Dict:
		for _, p := range x.Pairs {
			p.Key = rw.expr(p.Key)
			p.Value = rw.expr(p.Value)
		}
		return call(x, fDict)
	case *nodes.GetAttribute, *nodes.GetItem:
		return rw.path(x)
	case *nodes.GetSlice:
		x.Node = rw.expr(x.Node)
		x.Start = rw.expr(x.Start)
		x.End = rw.expr(x.End)
		x.Step = rw.expr(x.Step)
		return x
	case *nodes.Call:
		fn := rw.expr(x.Func)
		args := make([]nodes.Expression, len(x.Args))
		for i, a := range x.Args {
			args[i] = rw.expr(a)
		}
		kw := make(map[string]nodes.Expression, len(x.Kwargs))
		for k, a := range x.Kwargs {
			kw[k] = rw.expr(a)
		}
		fe := call(fn, fCall, args...)
		fe.Filters[0].Kwargs = kw
		return fe
	case *nodes.Negation:
		return call(rw.expr(x.Term), fNot)
	case *nodes.UnaryExpression:
		if x.Negative {
			return call(rw.expr(x.Term), fNeg)
		}
		return call(rw.expr(x.Term), fPos)
	case *nodes.BinaryExpression:
		switch x.Operator.Token.Type {
		case tokens.And, tokens.Or:
			// gonja's lazy and/or already returns the operand (Python semantics)
			// and tests truthiness with IsTrue, which is Python's bool() for the
			// data model; an Undefined operand is an error value and fails.
			x.Left = rw.expr(x.Left)
			x.Right = rw.expr(x.Right)
			return x
		}
		op, ok := binops[x.Operator.Token.Type]
		if !ok {
			rw.fail("unsupported operator %q", x.Operator.Token.Val)
			return x
		}
		left := rw.expr(x.Left)
		if tuple, isTuple := x.Right.(*nodes.Tuple); isTuple && op == "%" {
			args := make([]nodes.Expression, len(tuple.Val))
			for i, a := range tuple.Val {
				args[i] = rw.expr(a)
			}
			return call(left, fModT, args...)
		}
		return call(left, fBinop, strNode(x.Operator.Token, op), rw.expr(x.Right))
	case *nodes.FilteredExpression:
		// gonja stops a filter chain at the first error value; nest each
		// filter so that an undefined result still reaches `| default`.
		if len(x.Filters) > 1 {
			inner := &nodes.FilteredExpression{Expression: x.Expression, Filters: x.Filters[:len(x.Filters)-1]}
			x.Expression, x.Filters = inner, x.Filters[len(x.Filters)-1:]
		}
		x.Expression = rw.expr(x.Expression)
		for _, f := range x.Filters {
			if !rw.env.hasFilter(f.Name) {
				rw.fail("Could not load \"%s\": %s", f.Name, quotePy(f.Name)) // Ansible's plugin loader's words
			}
			for i := range f.Args {
				f.Args[i] = rw.expr(f.Args[i])
			}
			for k := range f.Kwargs {
				f.Kwargs[k] = rw.expr(f.Kwargs[k])
			}
		}
		return x
	case *nodes.TestExpression:
		name := x.Test.Name
		if !rw.env.hasTest(name) {
			rw.fail("Could not load \"%s\": %s", name, quotePy(name))
		}
		raw := x.Test.Args
		// gonja parses `x is test(a, b)` as one tuple argument; Jinja2 treats the
		// parentheses as the call's argument list. `x in (a, b)` keeps its tuple.
		if len(raw) == 1 && name != "in" {
			if t, ok := raw[0].(*nodes.Tuple); ok {
				raw = t.Val
			}
		}
		args := make([]nodes.Expression, 0, len(raw)+1)
		args = append(args, strNode(x.Test.Token, name))
		for _, a := range raw {
			args = append(args, rw.expr(a))
		}
		fe := call(rw.expr(x.Expression), fTest, args...)
		kw := make(map[string]nodes.Expression, len(x.Test.Kwargs))
		for k, a := range x.Test.Kwargs {
			kw[k] = rw.expr(a)
		}
		fe.Filters[0].Kwargs = kw
		return fe
	}
	rw.fail("unsupported expression %T", n)
	return n
}

// path rewrites a chain of attribute and item accesses (a.b[c].0) into one
// internal call: gonja's per-filter overhead dominates evaluation time.
func (rw *rewriter) path(n nodes.Node) nodes.Expression {
	var steps []nodes.Expression // reversed (kind, key) pairs
	for {
		switch x := n.(type) {
		case *nodes.GetAttribute:
			if x.Attribute != "" {
				steps = append(steps, strNode(x.Location, x.Attribute), strNode(x.Location, "."))
			} else {
				steps = append(steps, intNode(x.Location, x.Index), strNode(x.Location, "["))
			}
			n = x.Node
			continue
		case *nodes.GetItem:
			if x.Arg == nil {
				rw.fail("expected an expression inside []")
				return x
			}
			steps = append(steps, rw.expr(x.Arg), strNode(x.Location, "["))
			n = x.Node
			continue
		}
		break
	}
	for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
		steps[i], steps[j] = steps[j], steps[i]
	}
	if name, ok := n.(*nodes.Name); ok && name.Name.Val != "none" {
		return call(strNode(name.Name, name.Name.Val), fVarPath, steps...)
	}
	return call(rw.expr(n), fPath, steps...)
}

// stmt rewrites a template-level node.
func (rw *rewriter) stmt(n nodes.Node) nodes.Node {
	switch x := n.(type) {
	case *nodes.Data, *nodes.Comment, nil:
		return n
	case *nodes.Output:
		x.Expression = call(rw.expr(x.Expression), fStr)
		if x.Condition != nil {
			x.Condition = call(rw.expr(x.Condition), fBool)
		}
		if x.Alternative != nil {
			x.Alternative = call(rw.expr(x.Alternative), fStr)
		}
		return x
	case *nodes.ControlStructureBlock:
		rw.control(x.ControlStructure)
		return x
	}
	rw.fail("unsupported template node %T", n)
	return n
}

func (rw *rewriter) wrapper(w *nodes.Wrapper) {
	if w == nil {
		return
	}
	for i, n := range w.Nodes {
		w.Nodes[i] = rw.stmt(n)
	}
}

func (rw *rewriter) control(cs nodes.ControlStructure) {
	switch x := cs.(type) {
	case *controlStructures.IfControlStructure:
		for i, c := range x.Conditions {
			x.Conditions[i] = call(rw.expr(c), fBool)
		}
		for _, w := range x.Wrappers {
			rw.wrapper(w)
		}
	case *controlStructures.ForControlStructure:
		x.ObjectEvaluator = call(rw.expr(x.ObjectEvaluator), fIter)
		if x.IfCondition != nil {
			x.IfCondition = call(rw.expr(x.IfCondition), fBool)
		}
		rw.wrapper(x.BodyWrapper)
		rw.wrapper(x.EmptyWrapper)
	case *controlStructures.MacroControlStructure:
		for _, p := range x.Kwargs {
			p.Value = rw.expr(p.Value)
		}
		rw.wrapper(x.Wrapper)
	case *controlStructures.CallControlStructure:
		x.Call.Func = call(rw.expr(x.Call.Func), fGuard)
		for i := range x.Call.Args {
			x.Call.Args[i] = rw.expr(x.Call.Args[i])
		}
		for k := range x.Call.Kwargs {
			x.Call.Kwargs[k] = rw.expr(x.Call.Kwargs[k])
		}
		rw.wrapper(x.Body)
	case *controlStructures.DoControlStructure:
		x.Expression = rw.expr(x.Expression)
	case *setStatement:
		if x.TargetObject != nil {
			x.TargetObject = rw.expr(x.TargetObject)
		}
		if x.Expression != nil {
			x.Expression = rw.expr(x.Expression)
		}
		if x.Condition != nil {
			x.Condition = call(rw.expr(x.Condition), fBool)
		}
		if x.Alternative != nil {
			x.Alternative = rw.expr(x.Alternative)
		}
		rw.wrapper(x.Body)
	case *controlStructures.RawControlStructure, *controlStructures.BreakControlStructure,
		*controlStructures.ContinueControlStructure:
	default:
		rw.fail("unsupported tag %T", cs)
	}
}
