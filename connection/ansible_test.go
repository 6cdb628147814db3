package connection

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/sshtest"
)

// TestMessagesMatchAnsible runs ansible-playbook and the pool against the
// same failing hosts and compares the UNREACHABLE messages.
func TestMessagesMatchAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible-playbook")
	}
	playbook, err := osexec.LookPath("ansible-playbook")
	if err != nil {
		t.Skip("ansible-playbook not installed")
	}
	t.Parallel()
	f := sshtest.Start(t, 5, sshtest.WithWrongHostKey(1), sshtest.WithUnlistedHost(2))
	f.Stop(3)
	otherKey := filepath.Join(t.TempDir(), "id_other")
	writeTestKey(t, otherKey)
	silent := fakeServer(t, func(c net.Conn) {
		time.Sleep(5 * time.Second)
		c.Close()
	})
	closing := fakeServer(t, func(c net.Conn) {
		c.Read(make([]byte, 256))
		c.Close()
	})

	inv, err := os.ReadFile(f.InventoryINI(t))
	if err != nil {
		t.Fatal(err)
	}
	h0 := f.Hosts[0]
	extra := fmt.Sprintf(`
[others]
hauth ansible_host=%s ansible_port=%d ansible_ssh_private_key_file=%s
hbanner ansible_host=127.0.0.1 ansible_port=%d ansible_timeout=1
hclosed ansible_host=127.0.0.1 ansible_port=%d

[others:vars]
ansible_user=%s
ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'
`, h0.Addr, h0.Port, otherKey, silent, closing, f.User, f.KnownHosts)
	dir := t.TempDir()
	invPath := filepath.Join(dir, "inventory.ini")
	pbPath := filepath.Join(dir, "pb.yml")
	os.WriteFile(invPath, append(inv, extra...), 0o644)
	os.WriteFile(pbPath, []byte("- hosts: all\n  gather_facts: false\n  tasks:\n  - command: echo hi\n"), 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, playbook, "-i", invPath, pbPath)
	cmd.Env = append(os.Environ(), "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_PYTHON_INTERPRETER=auto_silent",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(dir, "cp"),
		"ANSIBLE_NOCOLOR=1")
	out, _ := cmd.Output() // exits 4 with unreachable hosts
	var report struct {
		Plays []struct {
			Tasks []struct {
				Hosts map[string]struct {
					Msg         string `json:"msg"`
					Unreachable bool   `json:"unreachable"`
				} `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	if err := json.Unmarshal(out, &report); err != nil || len(report.Plays) == 0 || len(report.Plays[0].Tasks) == 0 {
		t.Fatalf("ansible-playbook output: %v\n%s", err, out)
	}
	ansible := report.Plays[0].Tasks[0].Hosts

	target := func(addr string, port int, key string) job.Target {
		return job.Target{Address: addr, Port: port, User: f.User, PrivateKeyFiles: []string{key},
			KnownHostsFiles: []string{f.KnownHosts}, HostKeyChecking: true}
	}
	targets := map[string]job.Target{
		"h01": f.Target(0), "h02": f.Target(1), "h03": f.Target(2), "h04": f.Target(3), "h05": f.Target(4),
		"hauth":   target(h0.Addr, h0.Port, otherKey),
		"hbanner": target("127.0.0.1", silent, f.ClientKey),
		"hclosed": target("127.0.0.1", closing, f.ClientKey),
	}
	targets["hbanner"] = func(tg job.Target) job.Target { tg.ConnectTimeout = time.Second; return tg }(targets["hbanner"])

	p := newPool(t, Config{})
	for name, tg := range targets {
		tg.Host = name
		_, err := p.Get(context.Background(), tg)
		a, ok := ansible[name]
		if !ok {
			t.Errorf("%s: no result from ansible", name)
			continue
		}
		ours := UnreachableMsg(err)
		t.Logf("%s:\n  ansible: %q\n  gorun:   %q", name, a.Msg, ours)
		if a.Unreachable != (err != nil) {
			t.Errorf("%s: ansible unreachable=%v, gorun error %v", name, a.Unreachable, err)
			continue
		}
		if err == nil {
			continue
		}
		if name == "h02" { // mismatch: gorun's message is a one-line summary of OpenSSH's banner
			hk := fmt.Sprintf("Host key for [%s]:%d has changed and you have requested strict checking", f.Hosts[1].Addr, f.Hosts[1].Port)
			for _, m := range []string{a.Msg, ours} {
				if !strings.Contains(m, hk) || !strings.Contains(m, "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!") ||
					!strings.HasSuffix(m, "Host key verification failed.") {
					t.Errorf("%s: message %q", name, m)
				}
			}
			continue
		}
		if ours != a.Msg {
			t.Errorf("%s: messages differ:\n  ansible: %q\n  gorun:   %q", name, a.Msg, ours)
		}
	}
}
