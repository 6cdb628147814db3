package dispatcher

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/job"
)

// HostTarget builds a host's connection outside any play as a task's:
// inventory variables (templated ones too) over the CLI defaults, extra
// variables over those, privilege escalation, the async directory.
func TestHostTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(path, []byte(`[web]
w1 ansible_host=127.0.0.9 ansible_port=2222 ansible_user=deploy
w2 ansible_host="{{ inventory_hostname }}.example" ansible_become=true ansible_async_dir=/var/tmp/async
loc ansible_connection=local

[web:vars]
ansible_ssh_common_args='-o UserKnownHostsFile=/etc/kh -o StrictHostKeyChecking=yes'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	base := Config{RemoteUser: "ops", ConnectTimeout: 7 * time.Second, HostKeyChecking: true}
	for _, tc := range []struct {
		name    string
		cfg     func(Config) Config
		host    string
		want    job.Target
		wantDir string
	}{
		{"inventory vars", nil, "w1",
			job.Target{Host: "w1", Connection: "ssh", Address: "127.0.0.9", Port: 2222, User: "deploy",
				KnownHostsFiles: []string{"/etc/kh"}, HostKeyChecking: true, ConnectTimeout: 7 * time.Second},
			"~/.ansible_async"},
		{"templated address, become, async dir", nil, "w2",
			job.Target{Host: "w2", Connection: "ssh", Address: "w2.example", User: "ops", KnownHostsFiles: []string{"/etc/kh"},
				HostKeyChecking: true, ConnectTimeout: 7 * time.Second, Become: true, BecomeUser: "root"},
			"/var/tmp/async"},
		{"extra vars win", func(c Config) Config {
			c.ExtraVars = map[string]any{"ansible_user": "x", "ansible_async_dir": "/tmp/a"}
			c.Become, c.BecomeUser, c.BecomePassword = true, "app", "pw"
			return c
		}, "w1",
			job.Target{Host: "w1", Connection: "ssh", Address: "127.0.0.9", Port: 2222, User: "x",
				KnownHostsFiles: []string{"/etc/kh"}, HostKeyChecking: true, ConnectTimeout: 7 * time.Second,
				Become: true, BecomeUser: "app", BecomePassword: "pw"},
			"/tmp/a"},
		{"local connection", nil, "loc",
			job.Target{Host: "loc", Connection: "local", User: "ops", KnownHostsFiles: []string{"/etc/kh"}, HostKeyChecking: true,
				ConnectTimeout: 7 * time.Second},
			"~/.ansible_async"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			if tc.cfg != nil {
				cfg = tc.cfg(cfg)
			}
			got, dir, err := HostTarget(cfg, inv, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || dir != tc.wantDir {
				t.Errorf("HostTarget(%s) =\n  %+v, %q\nwant\n  %+v, %q", tc.host, got, dir, tc.want, tc.wantDir)
			}
		})
	}
}
