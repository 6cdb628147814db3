// Package sshtest starts real OpenSSH sshd hosts on loopback addresses for
// tests: a Fleet of hosts, each one sshd process with its own generated
// ed25519 host key, its own 127.X.Y.Z address and a free port, a client key
// authorised on all of them and a known_hosts file listing them.
//
// Every fleet picks a random 127.X.Y.0/24 block (and a free port on each
// address), so fleets started by test binaries running in parallel do not
// collide. Hosts are stopped, with every session they started, when the test
// ends.
//
//	f := sshtest.Start(t, 5)
//	inv := f.InventoryINI(t) // for ansible-playbook -i
//	tgt := f.Target(0)       // for gorun's connection package
//
// sshd must be installed (Debian: openssh-server); Start fails the test with a
// clear message when it is not. On Linux as root the privilege separation
// directory /run/sshd is created when missing.
package sshtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gorun/gorun/job"
)

// ReadyTimeout bounds how long Start (and Restart) wait for a host to accept
// a key login.
const ReadyTimeout = 15 * time.Second

// Host is one sshd of a Fleet.
type Host struct {
	// Name is the inventory name of the host: h01, h02, ...
	Name string
	// Addr is the loopback address sshd listens on (127.X.Y.Z).
	Addr string
	// Port is the TCP port sshd listens on.
	Port int
	// HostKeyFile is the path of the host's private ed25519 host key.
	HostKeyFile string
	// HostKeyPub is the host's public ed25519 key in authorized_keys format
	// ("ssh-ed25519 AAAA..."), without a trailing newline.
	HostKeyPub string
}

// HostPort returns "Addr:Port", the address to dial.
func (h Host) HostPort() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// Fleet is a set of running sshd hosts started by Start.
type Fleet struct {
	authorizedKeys string // world-readable: sshd reads it as the user logging in
	// Hosts are the hosts, in inventory order.
	Hosts []Host
	// Dir is the fleet's state directory (a t.TempDir()): keys, sshd
	// configurations, logs (<Dir>/<host>.log).
	Dir string
	// ClientKey is the path of the client private key (ed25519, no
	// passphrase, OpenSSH format), authorised on every host.
	ClientKey string
	// KnownHosts is the path of a known_hosts file listing every host's key
	// as "[addr]:port key", except as changed by WithWrongHostKey,
	// WithUnlistedHost and WithHashedKnownHosts.
	KnownHosts string
	// User is the login user: the current user.
	User string

	sshd   string
	signer ssh.Signer
	procs  []*proc
	nInv   int
	invMu  sync.Mutex
}

// proc is the sshd of one host.
type proc struct {
	mu      sync.Mutex
	cfgFile string
	logFile string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	hostKey ssh.PublicKey
}

// Option changes how Start sets up a fleet.
type Option func(*options)

type options struct {
	wrongKey  map[int]bool
	unlisted  map[int]bool
	hashed    bool
	extraKeys bool
	env       map[int][]string
}

// WithWrongHostKey lists a freshly generated key, not the host's real one,
// for the hosts with these indexes in the known_hosts file (to test a host
// key mismatch).
func WithWrongHostKey(i ...int) Option {
	return func(o *options) {
		for _, x := range i {
			o.wrongKey[x] = true
		}
	}
}

// WithUnlistedHost leaves the hosts with these indexes out of the known_hosts
// file (to test an unknown host).
func WithUnlistedHost(i ...int) Option {
	return func(o *options) {
		for _, x := range i {
			o.unlisted[x] = true
		}
	}
}

// WithHashedKnownHosts writes the known_hosts entries with hashed host names
// (|1|salt|hash), as ssh-keygen -H does.
func WithHashedKnownHosts() Option { return func(o *options) { o.hashed = true } }

// WithECDSAHostKey gives every host an extra ecdsa-sha2-nistp256 host key that
// is not listed in known_hosts. A client that does not prefer the algorithms
// present in known_hosts is then offered the ECDSA key and fails spuriously.
func WithECDSAHostKey() Option { return func(o *options) { o.extraKeys = true } }

// WithSessionEnv sets environment variables ("NAME=value") in every session
// sshd starts on the host with index i (sshd's SetEnv, applied after the
// login environment): PATH=/some/dir, for example, makes a target whose
// commands lack tools.
func WithSessionEnv(i int, vars ...string) Option {
	return func(o *options) { o.env[i] = append(o.env[i], vars...) }
}

var (
	blocksMu sync.Mutex
	blocks   = map[[2]byte]bool{} // 127.X.Y blocks used by this process
)

// pickBlock returns a random 127.X.Y block not yet used by this process.
func pickBlock() [2]byte {
	blocksMu.Lock()
	defer blocksMu.Unlock()
	for {
		b := [2]byte{byte(1 + randInt(254)), byte(1 + randInt(254))}
		if !blocks[b] {
			blocks[b] = true
			return b
		}
	}
}

func randInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err)
	}
	return v.Int64()
}

// hostAddr returns the address of host i in block b: 127.X.Y.(i+1), carrying
// into Y for fleets of more than 254 hosts.
func hostAddr(b [2]byte, i int) string {
	y := int(b[1]) + i/254
	x := int(b[0]) + y/256
	return fmt.Sprintf("127.%d.%d.%d", x%256, y%256, i%254+1)
}

// Start starts n sshd hosts, waits until each accepts a key login with
// ClientKey (host key checked), and stops them when the test ends.
func Start(t testing.TB, n int, opts ...Option) *Fleet {
	t.Helper()
	if n < 1 {
		t.Fatalf("sshtest: Start needs at least one host, got %d", n)
	}
	o := &options{wrongKey: map[int]bool{}, unlisted: map[int]bool{}, env: map[int][]string{}}
	for _, opt := range opts {
		opt(o)
	}
	sshd, err := findSSHD()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: creating sshd's privilege separation directory: %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	f := &Fleet{Dir: t.TempDir(), User: u.Username, sshd: sshd}
	f.ClientKey = filepath.Join(f.Dir, "client_ed25519")
	f.KnownHosts = filepath.Join(f.Dir, "known_hosts")

	signer, pub, err := writeKey(f.ClientKey, "sshtest-client")
	if err != nil {
		t.Fatalf("sshtest: client key: %v", err)
	}
	f.signer = signer
	// sshd reads authorized_keys with the privileges of the user logging
	// in, so the file lives in a directory every user can traverse (it
	// holds only a public key), for tests that log in as other users.
	pubDir, err := os.MkdirTemp("", "gorun-sshtest-pub")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(pubDir) })
	if err := os.Chmod(pubDir, 0o755); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	f.authorizedKeys = filepath.Join(pubDir, "authorized_keys")
	if err := os.WriteFile(f.authorizedKeys, ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	usePAM := needsPAM(u.Username)
	penalties := supportsPerSourcePenalties(sshd, f.Dir)

	block := pickBlock()
	width := max(2, len(strconv.Itoa(n)))
	f.Hosts = make([]Host, n)
	f.procs = make([]*proc, n)
	t.Cleanup(f.stopAll) // registered before any sshd starts

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.startHost(i, fmt.Sprintf("h%0*d", width, i+1), hostAddr(block, i), usePAM, penalties, o.extraKeys, o.env[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := f.writeKnownHosts(o); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return f
}

// setEnv formats extra SetEnv values (sshd uses only its first SetEnv
// line, so they join SHLVL=1 on it), quoted.
func setEnv(vars []string) string {
	var b strings.Builder
	for _, v := range vars {
		b.WriteString(` "` + strings.ReplaceAll(v, `"`, `\"`) + `"`)
	}
	return b.String()
}

// findSSHD returns the absolute path of sshd.
func findSSHD() (string, error) {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("sshd"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
	}
	return "", errors.New("sshtest: sshd not found: install openssh-server (make test does)")
}

// needsPAM reports whether sshd must run with UsePAM yes for username: with
// UsePAM no OpenSSH refuses even key logins to accounts whose shadow password
// starts with '!' (locked).
func needsPAM(username string) bool {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if ok && name == username {
			return strings.HasPrefix(rest, "!")
		}
	}
	return false
}

var (
	penaltiesOnce sync.Once
	penaltiesOK   bool
)

// supportsPerSourcePenalties reports whether this sshd knows the
// PerSourcePenalties option (OpenSSH 9.8+), which must be off for tests that
// make many failing connections.
func supportsPerSourcePenalties(sshd, dir string) bool {
	penaltiesOnce.Do(func() {
		key := filepath.Join(dir, "probe_host_key")
		if _, _, err := writeKey(key, "probe"); err != nil {
			return
		}
		cfg := filepath.Join(dir, "probe_sshd_config")
		if err := os.WriteFile(cfg, []byte("HostKey "+key+"\nPerSourcePenalties no\n"), 0o600); err != nil {
			return
		}
		penaltiesOK = exec.Command(sshd, "-t", "-f", cfg).Run() == nil
		os.Remove(cfg)
		os.Remove(key)
		os.Remove(key + ".pub")
	})
	return penaltiesOK
}

// writeKey generates an ed25519 key, writes it in OpenSSH format to path
// (mode 0600) and its public half to path.pub.
func writeKey(path, comment string) (ssh.Signer, ssh.PublicKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return writePrivate(path, priv, comment)
}

func writePrivate(path string, priv any, comment string) (ssh.Signer, ssh.PublicKey, error) {
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pub := signer.PublicKey()
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		return nil, nil, err
	}
	return signer, pub, nil
}

// freePort returns a port that was free on addr a moment ago.
func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port, nil
}

// startHost writes host i's keys and configuration and starts its sshd,
// retrying with another port when the chosen one was taken meanwhile.
func (f *Fleet) startHost(i int, name, addr string, usePAM, penalties, extraKeys bool, env []string) error {
	h := Host{Name: name, Addr: addr, HostKeyFile: filepath.Join(f.Dir, name+"_host_ed25519")}
	_, pub, err := writeKey(h.HostKeyFile, "sshtest-"+name)
	if err != nil {
		return fmt.Errorf("%s: host key: %w", name, err)
	}
	h.HostKeyPub = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	hostKeys := []string{h.HostKeyFile}
	if extraKeys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		p := filepath.Join(f.Dir, name+"_host_ecdsa")
		if _, _, err := writePrivate(p, k, "sshtest-"+name); err != nil {
			return fmt.Errorf("%s: host key: %w", name, err)
		}
		hostKeys = append(hostKeys, p)
	}
	p := &proc{
		cfgFile: filepath.Join(f.Dir, name+".sshd_config"),
		logFile: filepath.Join(f.Dir, name+".log"),
		hostKey: pub,
	}
	f.procs[i] = p

	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		port, err := freePort(addr)
		if err != nil {
			return fmt.Errorf("%s: no free port on %s: %w", name, addr, err)
		}
		h.Port = port
		var cfg bytes.Buffer
		fmt.Fprintf(&cfg, "ListenAddress %s\n", h.HostPort())
		for _, k := range hostKeys {
			fmt.Fprintf(&cfg, "HostKey %s\n", k)
		}
		pam := "no"
		if usePAM {
			pam = "yes"
		}
		fmt.Fprintf(&cfg, `PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM %s
StrictModes no
UseDNS no
MaxStartups 1000:30:1000
MaxSessions 100
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
SetEnv SHLVL=1%s
LogLevel VERBOSE
`, filepath.Join(f.Dir, name+".pid"), f.authorizedKeys, pam, setEnv(env))
		if penalties {
			cfg.WriteString("PerSourcePenalties no\n")
		}
		if err := os.WriteFile(p.cfgFile, cfg.Bytes(), 0o600); err != nil {
			return err
		}
		f.Hosts[i] = h
		lastErr = f.run(i)
		if lastErr == nil {
			return nil
		}
		if !errors.Is(lastErr, errBind) {
			return lastErr
		}
	}
	return fmt.Errorf("%s: %w", name, lastErr)
}

var errBind = errors.New("port taken")

// run starts host i's sshd and waits until it accepts a login.
func (f *Fleet) run(i int) error {
	h, p := f.Hosts[i], f.procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	logStart := fileSize(p.logFile)
	cmd := exec.Command(f.sshd, "-D", "-f", p.cfgFile, "-E", p.logFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: starting %s: %w", h.Name, f.sshd, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited

	err := f.waitReady(h, p.hostKey, exited)
	if err == nil {
		return nil
	}
	killTree(cmd.Process.Pid, true)
	<-exited
	p.cmd, p.exited = nil, nil
	log := readFrom(p.logFile, logStart) + stderr.String()
	if strings.Contains(log, "Address already in use") || strings.Contains(log, "Cannot bind any address") {
		return fmt.Errorf("%s: %s: %w", h.Name, h.HostPort(), errBind)
	}
	return fmt.Errorf("%s (%s): %v; sshd said:\n%s", h.Name, h.HostPort(), err, strings.TrimSpace(log))
}

// waitReady polls until a key login to h succeeds, sshd exits, or
// ReadyTimeout passes.
func (f *Fleet) waitReady(h Host, hostKey ssh.PublicKey, exited <-chan struct{}) error {
	cfg := &ssh.ClientConfig{
		User:              f.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(f.signer)},
		HostKeyCallback:   ssh.FixedHostKey(hostKey),
		HostKeyAlgorithms: []string{hostKey.Type()},
		Timeout:           2 * time.Second,
	}
	deadline := time.Now().Add(ReadyTimeout)
	wait := 2 * time.Millisecond
	var lastErr error
	for {
		select {
		case <-exited:
			return errors.New("sshd exited")
		default:
		}
		c, err := ssh.Dial("tcp", h.HostPort(), cfg)
		if err == nil {
			err = runTrue(c)
			c.Close()
			if err == nil {
				return nil
			}
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", ReadyTimeout, lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-exited:
			t.Stop()
			return errors.New("sshd exited")
		case <-t.C:
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}

func runTrue(c *ssh.Client) error {
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run("true")
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

// writeKnownHosts writes f.KnownHosts.
func (f *Fleet) writeKnownHosts(o *options) error {
	var buf bytes.Buffer
	for i, h := range f.Hosts {
		if o.unlisted[i] {
			continue
		}
		key := f.procs[i].hostKey
		if o.wrongKey[i] {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			s, err := ssh.NewSignerFromKey(priv)
			if err != nil {
				return err
			}
			key = s.PublicKey()
		}
		name := knownhosts.Normalize(h.HostPort())
		if o.hashed {
			name = knownhosts.HashHostname(name)
		}
		fmt.Fprintf(&buf, "%s %s", name, ssh.MarshalAuthorizedKey(key))
	}
	return os.WriteFile(f.KnownHosts, buf.Bytes(), 0o644)
}

// InventoryINI writes an Ansible INI inventory of the fleet into Dir and
// returns its path. The hosts are in group targets, each with ansible_host,
// ansible_port, ansible_user and ansible_ssh_private_key_file; [targets:vars]
// sets ansible_ssh_common_args so that ssh checks host keys strictly against
// KnownHosts. extraGroupVars are added to [targets:vars] as they are, one a
// line ("name=value").
func (f *Fleet) InventoryINI(t testing.TB, extraGroupVars ...string) string {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("[targets]\n")
	for _, h := range f.Hosts {
		fmt.Fprintf(&buf, "%s ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s\n",
			h.Name, h.Addr, h.Port, f.User, f.ClientKey)
	}
	fmt.Fprintf(&buf, "\n[targets:vars]\nansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n", f.KnownHosts)
	for _, v := range extraGroupVars {
		buf.WriteString(v + "\n")
	}
	f.invMu.Lock()
	f.nInv++
	name := "inventory.ini"
	if f.nInv > 1 {
		name = fmt.Sprintf("inventory-%d.ini", f.nInv)
	}
	f.invMu.Unlock()
	path := filepath.Join(f.Dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatalf("sshtest: writing inventory: %v", err)
	}
	return path
}

// Target returns the connection parameters of host i for gorun's connection
// package: its address and port, User, ClientKey, and host key checking
// against KnownHosts.
func (f *Fleet) Target(i int) job.Target {
	h := f.Hosts[i]
	return job.Target{
		Host:            h.Name,
		Connection:      "ssh",
		Address:         h.Addr,
		Port:            h.Port,
		User:            f.User,
		PrivateKeyFiles: []string{f.ClientKey},
		KnownHostsFiles: []string{f.KnownHosts},
		HostKeyChecking: true,
	}
}

// Stop stops host i: its sshd and every connection and command it started
// are killed, so that clients see their connections drop and new ones
// refused. Stopping a stopped host does nothing.
func (f *Fleet) Stop(i int) {
	p := f.procs[i]
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	killTree(p.cmd.Process.Pid, true)
	<-p.exited
	p.cmd, p.exited = nil, nil
}

// Restart starts host i again, on the same address and port with the same
// host key, after Stop; it waits until the host accepts a login. Restarting a
// running host does nothing.
func (f *Fleet) Restart(t testing.TB, i int) {
	t.Helper()
	if err := f.run(i); err != nil {
		t.Fatalf("sshtest: restarting: %v", err)
	}
}

// DropConnections kills every connection to host i (and the commands they
// run) but leaves its sshd listening, as a network failure or a server-side
// timeout would.
func (f *Fleet) DropConnections(i int) {
	p := f.procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	killTree(p.cmd.Process.Pid, false)
}

// Pause freezes host i (SIGSTOP to its sshd and everything it started):
// connections stay open but nothing answers, as with a hung host or a
// network partition. Resume undoes it.
func (f *Fleet) Pause(i int) { f.signalTree(i, syscall.SIGSTOP) }

// Resume unfreezes host i after Pause.
func (f *Fleet) Resume(i int) { f.signalTree(i, syscall.SIGCONT) }

func (f *Fleet) signalTree(i int, sig syscall.Signal) {
	p := f.procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	if sig == syscall.SIGSTOP {
		syscall.Kill(pid, sig)
	}
	for _, d := range descendants(pid) {
		syscall.Kill(d, sig)
	}
	if sig != syscall.SIGSTOP {
		syscall.Kill(pid, sig)
	}
}

// Running reports whether host i's sshd is running.
func (f *Fleet) Running(i int) bool {
	p := f.procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// stopAll stops every host.
func (f *Fleet) stopAll() {
	var wg sync.WaitGroup
	for i, p := range f.procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); f.Stop(i) }()
	}
	wg.Wait()
}

// killTree kills every descendant of pid, and pid itself when self is set.
// sshd puts each connection (and each command) in a session of its own, so
// killing the process group is not enough; the tree is frozen with SIGSTOP
// first so that nothing forks or is re-parented while it is walked.
func killTree(pid int, self bool) {
	syscall.Kill(pid, syscall.SIGSTOP)
	frozen := map[int]bool{}
	for range 20 {
		added := false
		for _, d := range descendants(pid) {
			if !frozen[d] {
				syscall.Kill(d, syscall.SIGSTOP)
				frozen[d] = true
				added = true
			}
		}
		if !added {
			break
		}
	}
	for d := range frozen {
		syscall.Kill(d, syscall.SIGKILL)
	}
	if self {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGCONT)
}

// descendants returns the pids of every descendant of pid, from /proc.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parentheses.
		j := bytes.LastIndexByte(b, ')')
		if j < 0 {
			continue
		}
		fields := strings.Fields(string(b[j+1:]))
		if len(fields) < 2 {
			continue
		}
		pp, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
