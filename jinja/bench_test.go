package jinja

import "testing"

func benchVars() map[string]any {
	hosts := make([]any, 50)
	for i := range hosts {
		hosts[i] = map[string]any{"name": "web" + PyStr(i), "port": 8000 + i}
	}
	return map[string]any{
		"inventory_hostname": "web01",
		"app":                map[string]any{"name": "shop", "version": "1.4.2", "port": 8080},
		"hosts":              hosts,
		"r":                  map[string]any{"rc": 0, "changed": true, "stdout": "ok\nready", "stdout_lines": []any{"ok", "ready"}},
		"item":               map[string]any{"name": "nginx", "state": "present"},
	}
}

// BenchmarkString renders a typical task argument (cached template).
func BenchmarkString(b *testing.B) {
	e := New()
	vars := benchVars()
	tpl := "/opt/{{ app.name }}/{{ app.version }}/{{ item.name | upper }}-{{ app.port | int + 1 }}.conf"
	if _, err := e.String(tpl, vars); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.String(tpl, vars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCond evaluates a typical when/failed_when conditional.
func BenchmarkCond(b *testing.B) {
	e := New()
	vars := benchVars()
	expr := "r is changed and r.rc == 0 and 'ready' in r.stdout_lines and item.state != 'absent'"
	b.ReportAllocs()
	for b.Loop() {
		ok, err := e.Cond(expr, vars)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkValue renders a single-expression template to a native value.
func BenchmarkValue(b *testing.B) {
	e := New()
	vars := benchVars()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Value("{{ hosts | map(attribute='name') | list }}", vars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoop renders a small config file with a loop.
func BenchmarkLoop(b *testing.B) {
	e := New()
	vars := benchVars()
	tpl := "{% for h in hosts %}server {{ h.name }}:{{ h.port }}{% if not loop.last %}\n{% endif %}{% endfor %}\n"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.String(tpl, vars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile measures parsing (a cache miss).
func BenchmarkCompile(b *testing.B) {
	e := New()
	tpl := "/opt/{{ app.name }}/{{ app.version }}/{{ item.name | upper }}-{{ app.port | int + 1 }}.conf"
	b.ReportAllocs()
	for b.Loop() {
		e.cache.clear()
		if _, err := e.compile(tpl); err != nil {
			b.Fatal(err)
		}
	}
}
