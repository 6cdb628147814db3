package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gorun/gorun/sshtest"
)

// A real Prometheus server (Debian's package) scrapes a gorun server and a
// separate executor with the project's scrape config and alert rules; after
// a playbook, its query API shows every job finished and the queue empty.
func TestPrometheusScrapesAPlaybook(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed (make deps installs Debian's package)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	natsAddr, serverMetrics, executorMetrics, promAddr := freePort(t), freePort(t), freePort(t), freePort(t)
	token := "metrics-e2e-token"
	natsURL := fmt.Sprintf("nats://%s@%s", token, natsAddr)

	start(t, "gorun", "server", "--listen", natsAddr, "--token", token,
		"--state-dir", t.TempDir(), "-f", "2", "--metrics-addr", serverMetrics, "--queue-poll-interval", "500ms")
	eventually(t, "gorun server to listen", 30*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", natsAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	waitReady(t, natsURL)
	start(t, "executor", "--nats", natsURL, "--forks", "2", "--id", "ex-metrics",
		"--metrics-addr", executorMetrics, "--queue-poll-interval", "500ms")
	for _, addr := range []string{serverMetrics, executorMetrics} {
		eventually(t, addr+"/readyz", 30*time.Second, func() bool { return httpGet(addr, "/readyz") == 200 })
	}

	dir := t.TempDir()
	promURL := startPrometheus(t, promBin, dir, promAddr, map[string]string{
		"gorun-server": serverMetrics, "gorun-executor": executorMetrics})
	eventually(t, "Prometheus to scrape both targets", 60*time.Second, func() bool {
		v, ok := promQuery(t, promURL, `count(up{job=~"gorun-server|gorun-executor"} == 1)`)
		return ok && v == 2
	})

	f := sshtest.Start(t, 3)
	pb := filepath.Join(dir, "p.yml")
	os.WriteFile(pb, []byte(`
- hosts: targets
  gather_facts: false
  tasks:
    - command: echo one
    - shell: sleep 1; echo two
      async: 30
      poll: 1
    - command: hostname
`), 0o644)
	runID := submit(t, natsURL, "-i", f.InventoryINI(t), pb)
	if code, out, errOut := gorunCmd(t, nil, "wait", "--timeout", "60s", "--nats", natsURL, runID); code != 0 {
		t.Fatalf("gorun wait: exit %d\n%s\n%s", code, out, errOut)
	}
	st, _ := client(t, natsURL)
	n := len(records(t, st, runID))
	if n != 9 {
		t.Fatalf("%d job records, want 9", n)
	}

	checks := []struct {
		query string
		want  float64
	}{
		{`sum(gorun_jobs_finished_total)`, float64(n)},
		{`sum(gorun_jobs_finished_total{state="finished"})`, float64(n)},
		{`sum(gorun_jobs_started_total)`, float64(n)},
		{`sum(gorun_tasks_published_total)`, float64(n)},
		{`sum(gorun_runs_finished_total{result="ok"})`, 1},
		{`sum(gorun_runs_active)`, 0},
		{`max(gorun_queue_messages_pending)`, 0},
		{`max(gorun_queue_messages_ack_pending)`, 0},
		{`max(gorun_queue_oldest_pending_age_seconds)`, 0},
		{`sum(gorun_executor_forks)`, 4},
		{`sum(gorun_executor_forks_busy)`, 0},
		{`sum(gorun_async_jobs_running)`, 0},
		{`sum(gorun_ssh_dial_failures_total)`, 0},
		{`count(gorun_build_info)`, 2},
	}
	for _, c := range checks {
		var got float64
		var ok bool
		eventually(t, fmt.Sprintf("%s == %v", c.query, c.want), 30*time.Second, func() bool {
			got, ok = promQuery(t, promURL, c.query)
			return ok && got == c.want
		})
		t.Logf("%s = %v", c.query, got)
	}
	// the KV watch lag was observed for every job the dispatcher followed
	if v, ok := promQuery(t, promURL, `sum(gorun_kv_watch_lag_seconds_count)`); !ok || v < float64(n) {
		t.Fatalf("kv watch lag observations %v", v)
	}
	// the alert rules loaded, and none fires
	rules := promAPI(t, promURL, "/api/v1/rules")
	var rr struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					State string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	json.Unmarshal(rules, &rr)
	alerts := 0
	for _, g := range rr.Data.Groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				alerts++
			}
			if r.State == "firing" {
				t.Errorf("alert %s is firing", r.Name)
			}
		}
	}
	if alerts < 5 {
		t.Fatalf("Prometheus loaded %d alert rules from deploy/prometheus", alerts)
	}
}

// startPrometheus runs Prometheus on 127.0.0.1:port with the project's
// scrape config and rules: the gorun jobs' targets replaced by targets,
// every other job dropped, and a 500ms scrape interval.
func startPrometheus(t *testing.T, promBin, dir, port string, targets map[string]string) string {
	t.Helper()
	src, err := os.ReadFile("../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
	}
	global["scrape_interval"], global["evaluation_interval"] = "500ms", "1s"
	global["scrape_timeout"] = "500ms"
	cfg["global"] = global
	var jobs []any
	for _, sc := range cfg["scrape_configs"].([]any) {
		m := sc.(map[string]any)
		addr, ok := targets[fmt.Sprint(m["job_name"])]
		if !ok {
			continue
		}
		m["static_configs"] = []any{map[string]any{"targets": []any{addr}}}
		delete(m, "scrape_interval")
		delete(m, "scrape_timeout")
		jobs = append(jobs, m)
	}
	if len(jobs) != len(targets) {
		t.Fatalf("deploy/prometheus/prometheus.yml has %d of the jobs %v", len(jobs), targets)
	}
	cfg["scrape_configs"] = jobs
	delete(cfg, "alerting")
	var rules []any
	for _, r := range cfg["rule_files"].([]any) {
		p, _ := filepath.Abs(filepath.Join("../deploy/prometheus", fmt.Sprint(r)))
		rules = append(rules, p)
	}
	cfg["rule_files"] = rules
	out, _ := yaml.Marshal(cfg)
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, out, 0o644); err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd := exec.Command(promBin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+port)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			data, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			if len(data) > 3000 {
				data = data[len(data)-3000:]
			}
			t.Logf("prometheus log (tail):\n%s\nconfig:\n%s", data, out)
		}
	})
	eventually(t, "Prometheus to be ready", 60*time.Second, func() bool {
		select {
		case <-done:
			t.Fatal("prometheus exited")
		default:
		}
		return httpGet(port, "/-/ready") == 200
	})
	return "http://" + port
}

// promQuery runs an instant query and returns its single value.
func promQuery(t *testing.T, promURL, q string) (float64, bool) {
	t.Helper()
	body := promAPI(t, promURL, "/api/v1/query?query="+url.QueryEscape(q))
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(fmt.Sprint(r.Data.Result[0].Value[1]), 64)
	return v, err == nil
}

func promAPI(t *testing.T, promURL, path string) []byte {
	t.Helper()
	resp, err := http.Get(promURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func httpGet(addr, path string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freePort returns a free loopback address, "127.0.0.1:port".
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
