package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/playbook"
)

// TestPrewarm: the embedded executor is told to open the connections of
// the first play's first hosts (forks of them), and their agents when the
// play has async tasks, only when the play's connection is known before it
// runs.
func TestPrewarm(t *testing.T) {
	dir := t.TempDir()
	inv, err := inventory.Load([]string{writeFile(t, dir, "hosts", "[web]\nw1 ansible_host=127.0.0.9 ansible_port=2299\nw2\nw3\n[db]\nd1\n")})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, play string
		hosts      []string
		agents     bool
	}{
		{"first forks hosts", "- hosts: web\n  tasks:\n    - command: /bin/true\n", []string{"w1", "w2"}, false},
		{"async task", "- hosts: db\n  tasks:\n    - block:\n        - command: sleep 1\n          async: 5\n", []string{"d1"}, true},
		{"async, become", "- hosts: db\n  become: true\n  tasks:\n    - command: sleep 1\n      async: 5\n", []string{"d1"}, false},
		{"connection keyword", "- hosts: web\n  connection: local\n  tasks:\n    - command: /bin/true\n", nil, false},
		{"remote_user", "- hosts: web\n  remote_user: bob\n  tasks:\n    - command: /bin/true\n", nil, false},
		{"connection variable", "- hosts: web\n  vars:\n    ansible_port: 2200\n  tasks:\n    - command: /bin/true\n", nil, false},
		{"templated hosts", "- hosts: \"{{ which }}\"\n  tasks:\n    - command: /bin/true\n", nil, false},
		{"no match", "- hosts: nosuch\n  tasks:\n    - command: /bin/true\n", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pb, err := playbook.Parse(filepath.Join(dir, "play.yml"), []byte(c.play), module.Known)
			if err != nil {
				t.Fatal(err)
			}
			s := &session{inv: inv, forks: 2, dcfg: dispatcher.Config{}}
			targets, agents := s.prewarm([]*playbook.Playbook{pb}, "")
			var hosts []string
			for _, tg := range targets {
				hosts = append(hosts, tg.Host)
			}
			if !slices.Equal(hosts, c.hosts) || agents != c.agents {
				t.Errorf("got %v agents=%v, want %v agents=%v", hosts, agents, c.hosts, c.agents)
			}
			if len(targets) > 0 && targets[0].Host == "w1" && (targets[0].Address != "127.0.0.9" || targets[0].Port != 2299) {
				t.Errorf("w1's target %+v: not as its inventory says", targets[0])
			}
		})
	}
}
