package jinja

import "testing"

// TestSyntaxErrorWording: template mistakes are reported in Jinja2's words,
// as Ansible shows them (the messages below are ansible-core 2.14's, with
// Jinja2 3.1: jinja2.Environment().parse and ansible-playbook).
func TestSyntaxErrorWording(t *testing.T) {
	tests := []struct {
		mode, tpl string
		err       string // the whole error
		cause     string // Cause(err), what Ansible appends
	}{
		{"s", "{{ foo | }}", "template error while templating string: expected token 'name', got 'end of print statement'. String: {{ foo | }}", "expected token 'name', got 'end of print statement'"},
		{"s", "echo {{ foo", "template error while templating string: unexpected end of template, expected 'end of print statement'.. String: echo {{ foo", "unexpected end of template, expected 'end of print statement'."},
		{"s", "{% if x %}a", "", "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'."},
		{"s", "{% for i in l %}{{ i }}", "", "Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'."},
		{"s", "{% foo %}", "", "Encountered unknown tag 'foo'."},
		{"s", "{% endif %}", "", "Encountered unknown tag 'endif'."},
		{"s", "{{ 1 + }}", "", "unexpected 'end of print statement'"},
		{"s", "{{ foo bar }}", "", "expected token 'end of print statement', got 'bar'"},
		{"s", "{{ }}", "", "Expected an expression, got 'end of print statement'"},
		{"s", "{% if %}{% endif %}", "", "Expected an expression, got 'end of statement block'"},
		{"s", "{% for x in %}{% endfor %}", "", "Expected an expression, got 'end of statement block'"},
		{"s", "{{ 'x' | nosuchfilter }}", "", `Could not load "nosuchfilter": 'nosuchfilter'`},
		{"s", "{{ 1 is nosuchtest }}", "", `Could not load "nosuchtest": 'nosuchtest'`},
		{"c", "foo |", "template error while templating string: expected token 'name', got 'end of statement block'. String: {% if foo | %} True {% else %} False {% endif %}", "expected token 'name', got 'end of statement block'"},
		{"c", "x ==", "template error while templating string: unexpected 'end of statement block'. String: {% if x == %} True {% else %} False {% endif %}", "unexpected 'end of statement block'"},
		{"c", "x | nosuchfilter", "template error while templating string: Could not load \"nosuchfilter\": 'nosuchfilter'. String: {% if x | nosuchfilter %} True {% else %} False {% endif %}", `Could not load "nosuchfilter": 'nosuchfilter'`},
		{"c", "nosuch == 1", "error while evaluating conditional (nosuch == 1): 'nosuch' is undefined", "'nosuch' is undefined"},
		{"c", "1 + 'a'", "Unexpected templating type error occurred on ({% if 1 + 'a' %} True {% else %} False {% endif %}): unsupported operand type(s) for +: 'int' and 'str'", "unsupported operand type(s) for +: 'int' and 'str'"},
		{"s", "{{ 1 + 'a' }}", "Unexpected templating type error occurred on ({{ 1 + 'a' }}): unsupported operand type(s) for +: 'int' and 'str'", "unsupported operand type(s) for +: 'int' and 'str'"},
	}
	e := New()
	for _, tc := range tests {
		t.Run(tc.tpl, func(t *testing.T) {
			var err error
			if tc.mode == "c" {
				_, err = e.Cond(tc.tpl, map[string]any{"x": 1})
			} else {
				_, err = e.String(tc.tpl, map[string]any{"x": 1, "l": []any{1}})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.err != "" && err.Error() != tc.err {
				t.Errorf("error:\n got  %s\n want %s", err, tc.err)
			}
			if got := Cause(err); got != tc.cause {
				t.Errorf("cause:\n got  %s\n want %s", got, tc.cause)
			}
		})
	}
}
