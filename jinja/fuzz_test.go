package jinja

import (
	"testing"
)

// FuzzRender renders untrusted templates with untrusted variables through
// every entry point: nothing may panic, whatever the input.
func FuzzRender(f *testing.F) {
	seeds := []string{
		"{{ x }}", "x={{ x }}", "{{ l | map('string') | join(',') }}", "{% for i in l %}{{ loop.index }}{% endfor %}",
		"{{ d.a.b | default('z') }}", "{{ '%s-%d' % (s, x) }}", "{% if r is failed %}f{% else %}ok{% endif %}",
		"{{ s | regex_replace('(l+)', '<\\1>') }}", "{{ d | to_nice_yaml }}", "{{ json_s | from_json }}",
		"{% set ns = namespace(n=0) %}{% for i in l %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
		"{% macro m(a, b=2) %}{{ a ~ b }}{% endmacro %}{{ m(1) }}", "{{ x is version('1.0', '>') }}",
		"r is changed and x > 1", "{{ [1, {'a': none}] }}", "{{ 'a\\d' }}", "{% raw %}{{ x }}{% endraw %}",
	}
	for _, s := range seeds {
		f.Add(s, `{"x": 3, "s": "hello", "l": [1, 2, 3], "d": {"a": {"b": 1}}, "r": {"changed": true}, "json_s": "[1]"}`)
	}
	env := New()
	env.maxOps = 50_000
	f.Fuzz(func(t *testing.T, tpl string, varsJSON string) {
		vars := map[string]any{}
		if v, err := decodeJSON(varsJSON); err == nil {
			if m, ok := v.(map[string]any); ok {
				vars = m
			}
		}
		s, err := env.String(tpl, vars)
		if err == nil && !IsTemplate(tpl) && s != tpl {
			t.Fatalf("String changed a non-template: %q -> %q", tpl, s)
		}
		if v, err := env.Value(tpl, vars); err == nil {
			_ = PyRepr(v)
		}
		_, _ = env.Eval(tpl, vars)
		_, _ = env.Cond(tpl, vars)
		_, _ = env.Data(map[string]any{tpl: []any{tpl, vars}}, vars)
		_, _ = literalEval(tpl)
		_, _ = yamlDecodeAll(tpl)
	})
}
