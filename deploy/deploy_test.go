package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// metricsDoc is the contract every metric name used here must appear in.
const metricsDoc = "../docs/metrics.md"

// yamlFiles lists every *.yml and *.yaml file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no YAML file found under deploy/")
	}
	return files
}

// decodeYAML decodes every document of a YAML stream.
func decodeYAML(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		docs = append(docs, doc)
	}
}

func TestYAMLParses(t *testing.T) {
	for _, path := range yamlFiles(t) {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := decodeYAML(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) == 0 {
				t.Fatal("no YAML document")
			}
			for i, doc := range docs {
				if doc == nil {
					t.Errorf("document %d is empty", i+1)
				}
			}
		})
	}
}

// dashboard is the part of deploy/grafana/gorun.json the tests look at.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Inputs        any    `json:"__inputs"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	GridPos    *gridPos    `json:"gridPos"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID        string      `json:"refId"`
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
}

type gridPos struct{ H, W, X, Y int }

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/gorun.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/gorun.json: %v", err)
	}
	return d
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "gorun" || d.Title == "" {
		t.Errorf("uid %q, title %q: want uid gorun and a title", d.UID, d.Title)
	}
	if d.Inputs != nil {
		t.Error("__inputs present: the dashboard must select its data source through the datasource variable")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a Grafana 10 dashboard", d.SchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no templating variable `datasource` of type datasource with query prometheus")
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: no id", name)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id already used by %q", name, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("%s: no title", name)
		}
		if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: bad or missing gridPos %+v", name, p.GridPos)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: panel datasource %+v, want uid ${datasource}", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", name)
		}
		refs := map[string]bool{}
		for i, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: target %d has no expr", name, i)
			}
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: target %d datasource %+v, want uid ${datasource}", name, i, tg.Datasource)
			}
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: target %d: missing or duplicate refId %q", name, i, tg.RefID)
			}
			refs[tg.RefID] = true
		}
	}
	// No two panels overlap on the grid.
	for i, a := range d.Panels {
		for _, b := range d.Panels[i+1:] {
			if a.GridPos == nil || b.GridPos == nil {
				continue
			}
			p, q := a.GridPos, b.GridPos
			if p.X < q.X+q.W && q.X < p.X+p.W && p.Y < q.Y+q.H && q.Y < p.Y+p.H {
				t.Errorf("panels %q and %q overlap", a.Title, b.Title)
			}
		}
	}
}

// readmeRow is a row of the "Dashboard panels" table of deploy/README.md.
type readmeRow struct{ panel, series, expr string }

// unescapeCell undoes the Markdown escaping of a table cell: \| is |.
func unescapeCell(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), `\|`, "|") }

// splitRow splits a Markdown table row on its unescaped pipes.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, cur.String())
}

// TestDashboardREADME checks that deploy/README.md's "Dashboard panels" table
// lists exactly the dashboard's queries.
func TestDashboardREADME(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Dashboard panels\n")
	if !ok {
		t.Fatal(`README.md has no "## Dashboard panels" section`)
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	var got []readmeRow
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| Panel |") {
			continue
		}
		cells := splitRow(line)
		if len(cells) != 3 {
			t.Errorf("README.md: row %q: want 3 cells, got %d", line, len(cells))
			continue
		}
		expr := unescapeCell(cells[2])
		if !strings.HasPrefix(expr, "`") || !strings.HasSuffix(expr, "`") {
			t.Errorf("README.md: row %q: the PromQL is not in backquotes", line)
		}
		got = append(got, readmeRow{unescapeCell(cells[0]), unescapeCell(cells[1]), strings.Trim(expr, "`")})
	}
	var want []readmeRow
	for _, p := range loadDashboard(t).Panels {
		for _, tg := range p.Targets {
			series := tg.LegendFormat
			if series == "" {
				series = "(" + p.Type + ")"
			}
			want = append(want, readmeRow{p.Title, series, tg.Expr})
		}
	}
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	format := func(r readmeRow) string {
		return fmt.Sprintf("| %s | %s | `%s` |", esc(r.panel), esc(r.series), esc(r.expr))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("README.md's Dashboard panels table lacks row %d:\n%s", i+1, format(want[i]))
		case i >= len(want):
			t.Errorf("README.md's Dashboard panels table has row %d, which no dashboard query matches:\n%s", i+1, format(got[i]))
		case got[i] != want[i]:
			t.Errorf("README.md's Dashboard panels table, row %d:\n%s\nthe dashboard has:\n%s", i+1, format(got[i]), format(want[i]))
		}
	}
}

// documentedMetrics parses the metric names and types out of the tables of
// docs/metrics.md.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(gorun_[a-z0-9_]+)` \\| ([a-z]+) \\|")
	metrics := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		metrics[m[1]] = m[2]
	}
	if len(metrics) < 20 {
		t.Fatalf("%s: found only %d metrics in its tables; has the format changed?", metricsDoc, len(metrics))
	}
	return metrics
}

// metricRef finds gorun metric names: not inside a longer word, and not the
// metric part of a recording rule name (job:gorun_...:rate5m).
var metricRef = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:])(gorun_[a-z0-9_]*[a-z0-9])`)

// TestMetricsDocumented checks that every metric the dashboard, the rules, the
// Kubernetes and Compose files and the READMEs name is in docs/metrics.md.
func TestMetricsDocumented(t *testing.T) {
	docs := documentedMetrics(t)
	var files []string
	for _, dir := range []string{"grafana", "prometheus", "k8s", "compose"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	files = append(files, "README.md")
	used := map[string]bool{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricRef.FindAllStringSubmatch(string(data), -1) {
			name := m[1]
			used[name] = true
			if _, ok := docs[name]; ok {
				continue
			}
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				base = strings.TrimSuffix(base, suffix)
			}
			if docs[base] == "histogram" && base != name {
				continue
			}
			t.Errorf("%s: metric %s is not in %s", path, name, metricsDoc)
		}
	}
	if len(used) < 20 {
		t.Errorf("found only %d metric names in deploy/: is the pattern still right?", len(used))
	}
}

// TestStopTimeouts checks that what stops gorun's services waits longer than
// their soft stop ($GORUN_STOP_TIMEOUT), wherever both are set.
func TestStopTimeouts(t *testing.T) {
	// GORUN_STOP_TIMEOUT=5m, GORUN_STOP_TIMEOUT: 5m, or a Kubernetes env entry.
	stop := regexp.MustCompile(`GORUN_STOP_TIMEOUT(?:[=:][ \t]*|\s*\n\s*value:\s*)"?(\d+(?:ms|s|m|h))\b`)
	cases := []struct {
		file, stopFile string
		grace          *regexp.Regexp // its first group is the grace period
		unit           time.Duration  // of the grace period's number, when it has none
	}{
		{"k8s/executor.yaml", "k8s/executor.yaml", regexp.MustCompile(`terminationGracePeriodSeconds:\s*(\d+)`), time.Second},
		{"k8s/dispatcher.yaml", "k8s/dispatcher.yaml", regexp.MustCompile(`terminationGracePeriodSeconds:\s*(\d+)`), time.Second},
		{"systemd/gorun-executor@.service", "systemd/executor.env", regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`), time.Second},
		{"systemd/gorun-dispatcher.service", "systemd/dispatcher.env", regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`), time.Second},
		{"compose/compose.yml", "compose/compose.yml", regexp.MustCompile(`stop_grace_period:\s*(\d+s)`), 0},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			read := func(path string) string {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return string(data)
			}
			sm := stop.FindAllStringSubmatch(read(c.stopFile), -1)
			gm := c.grace.FindAllStringSubmatch(read(c.file), -1)
			if len(sm) == 0 || len(gm) == 0 {
				t.Fatalf("stop timeout (%s) or grace period (%s) not found", c.stopFile, c.file)
			}
			for _, s := range sm {
				soft, err := time.ParseDuration(s[1])
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range gm {
					var grace time.Duration
					if c.unit != 0 {
						n, err := strconv.Atoi(g[1])
						if err != nil {
							t.Fatal(err)
						}
						grace = time.Duration(n) * c.unit
					} else if grace, err = time.ParseDuration(g[1]); err != nil {
						t.Fatal(err)
					}
					if grace <= soft {
						t.Errorf("grace period %v is not above GORUN_STOP_TIMEOUT %v", grace, soft)
					}
				}
			}
		})
	}
}

// TestKEDA checks the ScaledObject against the executors' Deployment and the
// metadata KEDA's nats-jetstream scaler reads.
func TestKEDA(t *testing.T) {
	load := func(path string) []map[string]any {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decodeYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var out []map[string]any
		for _, d := range docs {
			m, _ := d.(map[string]any)
			out = append(out, m)
		}
		return out
	}
	get := func(m any, keys ...string) any {
		for _, k := range keys {
			mm, _ := m.(map[string]any)
			m = mm[k]
		}
		return m
	}
	so := load("k8s/keda-scaledobject.yaml")[0]
	if so["kind"] != "ScaledObject" {
		t.Fatalf("keda-scaledobject.yaml: kind %v", so["kind"])
	}
	dep := load("k8s/executor.yaml")[0]
	if target := get(so, "spec", "scaleTargetRef", "name"); target != get(dep, "metadata", "name") {
		t.Errorf("scaleTargetRef %v is not the executors' Deployment %v", target, get(dep, "metadata", "name"))
	}
	triggers, _ := get(so, "spec", "triggers").([]any)
	if len(triggers) != 1 || get(triggers[0], "type") != "nats-jetstream" {
		t.Fatalf("want one nats-jetstream trigger, got %v", triggers)
	}
	meta, _ := get(triggers[0], "metadata").(map[string]any)
	known := []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}
	for k := range meta {
		if !slices.Contains(known, k) {
			t.Errorf("trigger metadata %q is not one KEDA's nats-jetstream scaler reads", k)
		}
	}
	want := map[string]string{"account": "GORUN", "stream": "GORUN_TASKS", "consumer": "executors"}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("trigger metadata %s = %v, want %s", k, meta[k], v)
		}
	}
	if _, err := strconv.Atoi(fmt.Sprint(meta["lagThreshold"])); err != nil {
		t.Errorf("lagThreshold %v: %v", meta["lagThreshold"], err)
	}
	if ep := fmt.Sprint(meta["natsServerMonitoringEndpoint"]); !strings.HasSuffix(ep, ":8222") {
		t.Errorf("natsServerMonitoringEndpoint %s: want the monitoring port 8222", ep)
	}
}

// promtool returns promtool's path, or skips the test outside CI; in CI
// ($CI set and not false), a missing promtool fails it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if ci, ok := os.LookupEnv("CI"); ok && ci != "" {
		if b, err := strconv.ParseBool(ci); err != nil || b {
			t.Fatalf("promtool not found in CI (CI=%s): install Debian's prometheus package (make deps)", ci)
		}
	}
	t.Skip("promtool not found: the Prometheus configuration and rules are not checked (apt-get install prometheus, or make deps)")
	return ""
}

// dashboardRules writes the dashboard's queries as recording rules, with its
// variables replaced, so that promtool parses them.
func dashboardRules(t *testing.T, dir string) string {
	t.Helper()
	repl := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	var rules []map[string]string
	for _, p := range loadDashboard(t).Panels {
		for _, tg := range p.Targets {
			rules = append(rules, map[string]string{
				"record": fmt.Sprintf("dashboard:panel_%d_%s", p.ID, tg.RefID),
				"expr":   repl.Replace(tg.Expr),
			})
		}
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboard.rules.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPromtool runs promtool on the scrape configurations (deploy/prometheus's
// and deploy/compose's, the latter next to a copy of the rules as in its
// container), the rules, their unit tests, and the dashboard's queries.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	rules, err := os.ReadFile("prometheus/gorun.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	composeCfg, err := os.ReadFile("compose/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"gorun.rules.yml": rules, "prometheus.yml": composeCfg} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		dir  string
		args []string
	}{
		{"check config", "prometheus", []string{"check", "config", "prometheus.yml"}},
		{"check compose config", dir, []string{"check", "config", "prometheus.yml"}},
		{"check rules", "prometheus", []string{"check", "rules", "gorun.rules.yml"}},
		{"test rules", "prometheus", []string{"test", "rules", "gorun.rules.test.yml"}},
		{"check dashboard queries", dir, []string{"check", "rules", dashboardRules(t, dir)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, c.args...)
			cmd.Dir = c.dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(c.args, " "), err, out)
			}
		})
	}
}

// TestRuleTestsCoverAlerts checks that every alert of gorun.rules.yml is
// expected to fire in at least one case of gorun.rules.test.yml, and to stay
// quiet in at least one.
func TestRuleTestsCoverAlerts(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	for path, v := range map[string]any{"prometheus/gorun.rules.yml": &rules, "prometheus/gorun.rules.test.yml": &tests} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("%s: no test expects it to fire", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no test expects it to stay quiet", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert found in gorun.rules.yml")
	}
}
