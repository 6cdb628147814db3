package jinja

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nikolalohinski/gonja/v2/parser"
)

// jinjaSyntaxMessage words a gonja parse error as Jinja2's
// TemplateSyntaxError words the same mistake (the text Ansible shows), for
// the mistakes people make: a dangling filter bar, an unclosed {{ or block,
// an unknown tag, a missing operand, two names without an operator. Other
// errors keep gonja's words and position. text is the source gonja parsed.
//
// Inside a {% %} tag gonja parses the tag's own tokens and reports the end
// of them without a position (stmt): that is Jinja2's end of statement
// block.
func jinjaSyntaxMessage(se *parser.SyntaxError, text string, stmt bool) string {
	got := describeToken(se.Raw)
	if stmt && se.Raw == "" && se.Line == 0 {
		got = "end of statement block"
	}
	m := se.Message
	switch {
	case m == "filter name must be an identifier":
		return fmt.Sprintf("expected token 'name', got '%s'", got)
	case m == "'}}' expected here":
		if se.Raw == "" {
			return "unexpected end of template, expected 'end of print statement'."
		}
		return fmt.Sprintf("expected token 'end of print statement', got '%s'", got)
	case strings.HasPrefix(m, "Unexpected EOF, expected tag "):
		if msg, ok := unclosedBlock(strings.TrimSuffix(strings.TrimPrefix(m, "Unexpected EOF, expected tag "), ".")); ok {
			return msg
		}
	case strings.HasPrefix(m, "ControlStructure '"):
		name, _, _ := strings.Cut(strings.TrimPrefix(m, "ControlStructure '"), "'")
		return fmt.Sprintf("Encountered unknown tag '%s'.", name)
	case m == "expected either a number, string, keyword or identifier.":
		if expressionStarts(text, se.Line, se.Column) || (stmt && se.Line == 0 && emptyStatementRE.MatchString(text)) {
			return fmt.Sprintf("Expected an expression, got '%s'", got)
		}
		return fmt.Sprintf("unexpected '%s'", got)
	}
	return se.Error()
}

// describeToken is jinja2.lexer.describe_token for the tokens gonja reports
// as raw text: the end of a tag or of the template by their names, any
// other token by its text.
func describeToken(raw string) string {
	switch strings.TrimSpace(raw) {
	case "":
		return "end of template"
	case "}}", "-}}", "+}}":
		return "end of print statement"
	case "%}", "-%}", "+%}":
		return "end of statement block"
	}
	return raw
}

// unclosedBlock words gonja's "expected tag a or b" at the end of the
// template as Jinja2 does, naming the block left open. Jinja2 lists the
// tags in its parser's order, which differs per block.
func unclosedBlock(tags string) (string, bool) {
	var block string
	for _, tag := range strings.Split(tags, " or ") {
		if strings.HasPrefix(tag, "end") {
			block = strings.TrimPrefix(tag, "end")
		}
	}
	var want string
	switch block {
	case "":
		return "", false
	case "if":
		want = "'elif' or 'else' or 'endif'"
	case "for":
		want = "'endfor' or 'else'"
	default:
		want = "'end" + block + "'"
	}
	return fmt.Sprintf("Unexpected end of template. Jinja was looking for the following tags: %s. The innermost block that needs to be closed is '%s'.", want, block), true
}

// exprStartRE matches the text before an expression that has not begun:
// a tag's opening or a keyword that must be followed by one.
var exprStartRE = regexp.MustCompile(`(\{\{[-+]?|\{%[-+]?\s*(if|elif)|\sin|\sif|\selse)\s*$`)

// emptyStatementRE matches a tag whose expression is missing.
var emptyStatementRE = regexp.MustCompile(`\{%[-+]?\s*(if|elif)\s*[-+]?%\}|\sin\s*[-+]?%\}`)

// expressionStarts reports whether the token at line:col (1-based, as gonja
// counts) of text is where an expression should have started, for which
// Jinja2 says "Expected an expression" rather than "unexpected".
func expressionStarts(text string, line, col int) bool {
	if line < 1 || col < 1 {
		return false
	}
	lines := strings.SplitAfter(text, "\n")
	if line > len(lines) {
		return false
	}
	before := strings.Join(lines[:line-1], "")
	l := []rune(lines[line-1])
	if col-1 > len(l) {
		return false
	}
	before += string(l[:col-1])
	return exprStartRE.MatchString(before)
}

// condTemplate is how Ansible 2.14 evaluates a conditional: as this
// template, whose text its error messages show.
func condTemplate(expr string) string {
	return "{% if " + expr + " %} True {% else %} False {% endif %}"
}

// Cause returns the message of the Jinja2 exception behind a template
// error, which Ansible appends to its own message (". <cause>"): the
// undefined variable, the syntax error, the Python type error. It is ""
// for errors Ansible reports without a cause (filter and lookup errors).
func Cause(err error) string {
	var u *undefined
	if errors.As(err, &u) {
		return u.Error()
	}
	var se *syntaxError
	if errors.As(err, &se) {
		return se.msg
	}
	var te *TemplateError
	if errors.As(err, &te) {
		var re *runtimeError
		if errors.As(te.Err, &re) && re.kind == kindType {
			return re.msg
		}
	}
	return ""
}
