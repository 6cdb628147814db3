package sshtest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dial logs in to h with the fleet's client key, checking the host key
// against f.KnownHosts.
func dial(t *testing.T, f *Fleet, h Host) (*ssh.Client, error) {
	t.Helper()
	cb, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", h.HostPort(), &ssh.ClientConfig{
		User:              f.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           5 * time.Second,
	})
}

func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

func TestFleet(t *testing.T) {
	t0 := time.Now()
	f := Start(t, 5)
	t.Logf("5 hosts ready in %v", time.Since(t0))
	if len(f.Hosts) != 5 {
		t.Fatalf("got %d hosts", len(f.Hosts))
	}
	seen := map[string]bool{}
	for i, h := range f.Hosts {
		if want := "h0" + strconv.Itoa(i+1); h.Name != want {
			t.Errorf("host %d named %q, want %q", i, h.Name, want)
		}
		if seen[h.HostPort()] {
			t.Errorf("address %s used twice", h.HostPort())
		}
		seen[h.HostPort()] = true
		if !strings.HasPrefix(h.Addr, "127.") || !strings.HasPrefix(h.HostKeyPub, "ssh-ed25519 AAAA") {
			t.Errorf("host %+v", h)
		}
		c, err := dial(t, f, h)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		out := run(t, c, "echo $SHLVL; id -un")
		c.Close()
		lines := strings.Fields(out)
		if len(lines) != 2 || lines[1] != f.User {
			t.Fatalf("%s: output %q", h.Name, out)
		}
		if lvl, _ := strconv.Atoi(lines[0]); lvl < 1 {
			t.Errorf("%s: SHLVL=%q: bash would run ~/.bashrc", h.Name, lines[0])
		}
	}
}

func TestStartTenHosts(t *testing.T) {
	t0 := time.Now()
	f := Start(t, 10)
	t.Logf("10 hosts ready in %v", time.Since(t0))
	blocks := map[string]bool{}
	for _, h := range f.Hosts {
		blocks[h.Addr[:strings.LastIndexByte(h.Addr, '.')]] = true
	}
	if len(blocks) != 1 {
		t.Errorf("fleet spans blocks %v", blocks)
	}
}

func TestParallelFleetsDoNotCollide(t *testing.T) {
	var mu sync.Mutex
	addrs := map[string]bool{}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := Start(t, 3)
			mu.Lock()
			defer mu.Unlock()
			for _, h := range f.Hosts {
				if addrs[h.HostPort()] {
					t.Errorf("address %s reused", h.HostPort())
				}
				addrs[h.HostPort()] = true
			}
		}()
	}
	wg.Wait()
}

func TestStopRestartDrop(t *testing.T) {
	f := Start(t, 2)
	h := f.Hosts[0]
	c, err := dial(t, f, h)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()

	f.Stop(0)
	f.Stop(0) // idempotent
	if f.Running(0) {
		t.Fatal("host 0 still running")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection to a stopped host still open")
	}
	if _, err := net.DialTimeout("tcp", h.HostPort(), time.Second); err == nil {
		t.Fatal("stopped host accepts connections")
	}
	// The other host is untouched.
	c1, err := dial(t, f, f.Hosts[1])
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()

	f.Restart(t, 0)
	c, err = dial(t, f, h)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	go func() { closed <- c.Wait() }()
	f.DropConnections(0)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not dropped")
	}
	c, err = dial(t, f, h)
	if err != nil {
		t.Fatalf("after DropConnections: %v", err)
	}
	c.Close()
}

func TestStopKillsCommands(t *testing.T) {
	f := Start(t, 1)
	c, err := dial(t, f, f.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("echo $$; exec sleep 300"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	f.Stop(0)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break // gone or a zombie
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %d survived Stop", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKnownHostsOptions(t *testing.T) {
	f := Start(t, 4, WithWrongHostKey(1), WithUnlistedHost(2), WithHashedKnownHosts())
	kh, err := os.ReadFile(f.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(kh), "\n"); n != 3 {
		t.Errorf("known_hosts has %d lines, want 3:\n%s", n, kh)
	}
	if strings.Contains(string(kh), f.Hosts[0].Addr) || !strings.HasPrefix(string(kh), "|1|") {
		t.Errorf("known_hosts not hashed:\n%s", kh)
	}
	for i, want := range []string{"", "knownhosts: key mismatch", "knownhosts: key is unknown", ""} {
		c, err := dial(t, f, f.Hosts[i])
		if want == "" {
			if err != nil {
				t.Errorf("host %d: %v", i, err)
			} else {
				c.Close()
			}
			continue
		}
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) || !strings.Contains(err.Error(), want) {
			t.Errorf("host %d: got %v, want %q", i, err, want)
		}
	}
}

func TestECDSAHostKey(t *testing.T) {
	f := Start(t, 1, WithECDSAHostKey())
	// A client preferring ECDSA gets the unlisted ECDSA key.
	c, err := ssh.Dial("tcp", f.Hosts[0].HostPort(), &ssh.ClientConfig{
		User:              f.User,
		HostKeyCallback:   ssh.FixedHostKey(f.procs[0].hostKey),
		HostKeyAlgorithms: []string{ssh.KeyAlgoECDSA256},
		Timeout:           5 * time.Second,
	})
	if err == nil {
		c.Close()
		t.Fatal("host offered no ECDSA key")
	}
}

// TestOpenSSHClient checks the files with the real ssh client, as Ansible
// uses them.
func TestOpenSSHClient(t *testing.T) {
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	f := Start(t, 2, WithWrongHostKey(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := func(h Host) []string {
		return []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + f.KnownHosts,
			"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-i", f.ClientKey,
			"-p", strconv.Itoa(h.Port), "-l", f.User, h.Addr}
	}
	out, err := exec.CommandContext(ctx, sshPath, append(args(f.Hosts[0]), "echo ok")...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	out, err = exec.CommandContext(ctx, sshPath, append(args(f.Hosts[1]), "echo ok")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Fatalf("ssh to a host with a wrong known key: %v: %s", err, out)
	}
}

// TestAnsibleInventory runs Ansible's ping module over the inventory.
func TestAnsibleInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	ansible, err := exec.LookPath("ansible")
	if err != nil {
		t.Skip("ansible not installed")
	}
	f := Start(t, 2)
	inv := f.InventoryINI(t, "ansible_python_interpreter=auto_silent")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ansible, "-i", inv, "targets", "-m", "ping", "-o")
	cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_SSH_CONTROL_PATH_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "SUCCESS"); n != 2 {
		t.Fatalf("ansible ping: %d successes:\n%s", n, out)
	}
	if inv2 := f.InventoryINI(t); inv2 == inv {
		t.Errorf("second inventory overwrote the first")
	}
}

// TestSessionEnv: WithSessionEnv sets variables, PATH included, in the
// sessions of that host only.
func TestSessionEnv(t *testing.T) {
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	f := Start(t, 2, WithSessionEnv(0, "PATH=/nonexistent", "GORUN_X=a b"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, want := range []string{"/nonexistent|a b", "|"} {
		h := f.Hosts[i]
		args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + f.KnownHosts,
			"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-i", f.ClientKey,
			"-p", strconv.Itoa(h.Port), "-l", f.User, h.Addr, `case $PATH in /nonexistent) printf %s "$PATH";; esac; printf '|%s' "$GORUN_X"`}
		out, err := exec.CommandContext(ctx, sshPath, args...).CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("%s: %v: %q, want %q", h.Name, err, out, want)
		}
	}
}
