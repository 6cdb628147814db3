package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorun/gorun/sshtest"
)

const (
	becomeUser   = "gorun-become" // a plain second user to become
	sudoerUser   = "gorun-sudoer" // logs in, may sudo with its password
	sudoerPasswd = "gorun-Pw-4-tests"
)

// testUsers creates the two local users the become tests need (once; they
// are left in place) and a sudoers rule for the second.
func testUsers(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("become tests create local users and need root (CI runs as root)")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Fatal("sudo not found: make test installs it")
	}
	for _, u := range []string{becomeUser, sudoerUser} {
		if exec.Command("id", u).Run() != nil {
			if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", u).CombinedOutput(); err != nil {
				t.Fatalf("useradd %s: %v\n%s", u, err, out)
			}
		}
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(sudoerUser + ":" + sudoerPasswd + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v\n%s", err, out)
	}
	rule := sudoerUser + " ALL=(ALL) ALL\n"
	p := "/etc/sudoers.d/gorun-tests"
	if err := os.WriteFile(p+".tmp", []byte(rule), 0o440); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("visudo", "-cf", p+".tmp").CombinedOutput(); err != nil {
		t.Fatalf("visudo: %v\n%s", err, out)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

func TestBecome(t *testing.T) {
	testUsers(t)
	f := sshtest.Start(t, 2)
	dir := t.TempDir()
	inv := f.InventoryINI(t)
	pb := writeFile(t, dir, "become.yml", `
- hosts: targets
  gather_facts: false
  tasks:
    - command: id -un
      become: true
      become_user: `+becomeUser+`
      register: who
    - command: id -un
      become: true
      become_method: su
      become_user: `+becomeUser+`
      register: su_who
    - shell: sleep 1; id -un; echo ~
      async: 30
      poll: 0
      become: true
      become_user: `+becomeUser+`
      register: job
    - async_status: jid={{ job.ansible_job_id }}
      become: true
      become_user: `+becomeUser+`
      register: st
      until: st is finished
      retries: 10
      delay: 1
    - assert:
        that:
          - who.stdout == "`+becomeUser+`"
          - su_who.stdout == "`+becomeUser+`"
          - st.stdout_lines == ["`+becomeUser+`", "/home/`+becomeUser+`"]
          - job.results_file.startswith("/home/`+becomeUser+`/.ansible_async/")
          - st.results_file == job.results_file
`)
	r := gorun(t, filepath.Join(dir, "state"), nil, "playbook", "-i", inv, pb)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestBecomeWithPassword logs in as an unprivileged user and becomes root
// with sudo and its password: given as a variable, asked with -K, wrong, or
// missing.
func TestBecomeWithPassword(t *testing.T) {
	testUsers(t)
	f := sshtest.Start(t, 1)
	dir := t.TempDir()
	inv := writeFile(t, dir, "inv.ini", "[targets]\n"+f.Hosts[0].Name+" ansible_host="+f.Hosts[0].Addr+
		" ansible_port="+itoa(f.Hosts[0].Port)+" ansible_user="+sudoerUser+" ansible_ssh_private_key_file="+f.ClientKey+
		"\n[targets:vars]\nansible_ssh_common_args='-o UserKnownHostsFile="+f.KnownHosts+" -o StrictHostKeyChecking=yes'\n")
	pb := writeFile(t, dir, "p.yml", `
- hosts: targets
  gather_facts: false
  become: true
  tasks:
    - command: id -un
      register: who
    - shell: id -un
      async: 20
      poll: 1
      register: polled
    - assert:
        that:
          - who.stdout == "root"
          - polled.stdout == "root"
`)
	state := filepath.Join(dir, "state")
	r := gorun(t, state, nil, "playbook", "-i", inv, "-e", "ansible_become_password="+sudoerPasswd, pb)
	if r.code != 0 {
		t.Fatalf("password as a variable: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = gorunStdin(t, state, sudoerPasswd+"\n", "playbook", "-i", inv, "-K", pb)
	if r.code != 0 {
		t.Fatalf("-K: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = gorun(t, state, nil, "playbook", "-i", inv, "-e", "ansible_become_password=wrong", pb)
	if r.code != 2 || !strings.Contains(r.stdout, `"msg": "Incorrect sudo password"`) {
		t.Fatalf("wrong password: exit %d\n%s", r.code, r.stdout)
	}
	r = gorun(t, state, nil, "playbook", "-i", inv, pb)
	if r.code != 2 || !strings.Contains(r.stdout, `"msg": "Missing sudo password"`) {
		t.Fatalf("no password: exit %d\n%s", r.code, r.stdout)
	}
}
