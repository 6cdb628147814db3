package connection

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/sshtest"
)

func TestMain(m *testing.M) {
	// Tests must not depend on the agent or keys of whoever runs them.
	os.Unsetenv("SSH_AUTH_SOCK")
	os.Exit(m.Run())
}

func newPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	if testing.Verbose() && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func get(t testing.TB, p *Pool, tgt job.Target) Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := p.Get(ctx, tgt)
	if err != nil {
		t.Fatalf("Get %s: %v", tgt.Host, err)
	}
	return c
}

func mustExec(t testing.TB, c Conn, cmd string, stdin []byte) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Exec(ctx, cmd, stdin)
	if err != nil {
		t.Fatalf("Exec %q: %v", cmd, err)
	}
	return r
}

// execCases are run over SSH and locally.
var execCases = []struct {
	name           string
	cmd            string
	stdin          []byte
	rc             int
	stdout, stderr string
	check          func(t *testing.T, r *Result)
}{
	{name: "ok", cmd: "echo hello; echo oops >&2", stdout: "hello\n", stderr: "oops\n"},
	{name: "rc", cmd: "echo partial; exit 3", rc: 3, stdout: "partial\n"},
	{name: "rc 255", cmd: "exit 255", rc: 255},
	{name: "stdin", cmd: "cat; echo", stdin: []byte("line1\nline2"), stdout: "line1\nline2\n"},
	{name: "nil stdin reads EOF", cmd: "cat; echo done", stdout: "done\n"},
	{name: "empty stdin reads EOF", cmd: "wc -c", stdin: []byte{}, stdout: "0\n"},
	{name: "big stdin", cmd: "wc -c", stdin: bytes.Repeat([]byte("x"), 3<<20), stdout: "3145728\n"},
	{name: "signal TERM", cmd: "echo before; kill -TERM $$", rc: -15, stdout: "before\n"},
	{name: "signal KILL", cmd: "kill -KILL $$", rc: -9},
	{name: "shell syntax error", cmd: "if then", rc: 2, check: func(t *testing.T, r *Result) {
		if !strings.Contains(strings.ToLower(string(r.Stderr)), "syntax error") {
			t.Errorf("stderr %q", r.Stderr)
		}
	}},
	{name: "command not found", cmd: "no-such-command-gorun", rc: 127, check: func(t *testing.T, r *Result) {
		if !strings.Contains(string(r.Stderr), "no-such-command-gorun") || len(r.Stdout) != 0 {
			t.Errorf("stdout %q stderr %q", r.Stdout, r.Stderr)
		}
	}},
	{name: "stderr without newline", cmd: "printf abc >&2", stderr: "abc"},
	{name: "long stderr line", cmd: "printf '%0100d\\n' 0 >&2", stderr: strings.Repeat("0", 100) + "\n"},
	{name: "quotes", cmd: `echo "it's" '$HOME' "a\"b"`, stdout: "it's $HOME a\"b\n"},
	{name: "positional", cmd: `echo "[$0]" "[$#]"`, check: func(t *testing.T, r *Result) {
		if !strings.HasSuffix(string(r.Stdout), "sh] [0]\n") {
			t.Errorf("stdout %q", r.Stdout)
		}
	}},
	{name: "big output", cmd: "head -c 8000000 /dev/zero; head -c 100000 /dev/zero >&2", check: func(t *testing.T, r *Result) {
		if len(r.Stdout) != 8000000 || len(r.Stderr) != 100000 {
			t.Errorf("got %d bytes of stdout, %d of stderr", len(r.Stdout), len(r.Stderr))
		}
	}},
	{name: "binary output", cmd: `printf '\000\001\377'`, stdout: "\x00\x01\xff"},
}

func runExecCases(t *testing.T, c Conn) {
	for _, tc := range execCases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustExec(t, c, tc.cmd, tc.stdin)
			if r.RC != tc.rc {
				t.Errorf("rc %d, want %d (stderr %q)", r.RC, tc.rc, r.Stderr)
			}
			if tc.check != nil {
				tc.check(t, r)
				return
			}
			if string(r.Stdout) != tc.stdout || string(r.Stderr) != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", r.Stdout, r.Stderr, tc.stdout, tc.stderr)
			}
		})
	}
}

// oneHost starts one sshd host and returns a pool, its connection to the
// host, and the connection's live client.
func oneHost(t *testing.T) (*Pool, Conn, *liveClient) {
	t.Helper()
	f := sshtest.Start(t, 1)
	p := newPool(t, Config{})
	c := get(t, p, f.Target(0))
	lc, err := c.(*sshConn).client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, c, lc
}

func TestExecSSH(t *testing.T) {
	t.Parallel()
	p, c, lc := oneHost(t)
	if login, known := lc.login.get(); known {
		t.Errorf("the login shell is known (%q) before any command ran", login)
	}
	mustExec(t, c, "true", nil)
	if login, known := lc.login.get(); login != "bash" || !known {
		t.Errorf("the first command told the login shell %q (%v), want bash", login, known)
	}
	runExecCases(t, c)
	t.Run("non-POSIX login shell", func(t *testing.T) {
		lc.login.set("fish")
		defer lc.login.set("bash")
		runExecCases(t, c)
	})
	t.Run("login shell unknown", func(t *testing.T) {
		lc.login.set("")
		defer lc.login.set("bash")
		runExecCases(t, c)
	})
	t.Run("login shell not learned yet", func(t *testing.T) {
		defer lc.login.set("bash")
		for range 2 { // each case learns it: forget it again
			lc.login.name.Store(nil)
			runExecCases(t, c)
		}
	})
	if p.Open() != 1 {
		t.Errorf("Open() = %d, want 1", p.Open())
	}
	// The environment: user, and SHLVL set by sshtest so bash skips ~/.bashrc.
	r := mustExec(t, c, "id -un; echo $SHLVL", nil)
	if f := strings.Fields(string(r.Stdout)); len(f) != 2 || f[0] != sshtestUser(t) {
		t.Errorf("got %q", r.Stdout)
	}
}

// TestWrapCommand checks that both wrappers print the pid first and then
// behave exactly as /bin/sh -c cmd, under the shells installed here.
func TestWrapCommand(t *testing.T) {
	t.Parallel()
	l := &localConn{log: slog.New(slog.DiscardHandler)}
	for _, cmd := range []string{"echo out; echo err >&2; exit 4", "nosuchcmd-gorun", "if then", `echo "[$0] [$#] it's"`} {
		want, err := l.Exec(context.Background(), cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, login := range []string{"/bin/bash", "/bin/dash", "/bin/sh", "/usr/bin/zsh", "/usr/bin/fish", "/bin/csh"} {
			if _, err := os.Stat(login); err != nil {
				continue
			}
			for _, w := range []struct {
				name  string
				known bool
			}{{filepath.Base(login), true}, {"", true}, {"", false}} {
				if w.name != "" && !posixShells[w.name] {
					continue
				}
				for _, portable := range []bool{false, true} {
					if portable && (w.known || cmd == "if then") {
						continue // TestExecPortable; a portable line parses
					}
					got, err := l.Exec(context.Background(), login+" -c "+shellQuote(wrapCommand(cmd, w.name, w.known, portable)), nil)
					if err != nil {
						t.Fatal(err)
					}
					first, rest, _ := strings.Cut(string(got.Stderr), "\n")
					pid, shell, withShell := strings.Cut(first, " ")
					if _, err := strconv.Atoi(pid); err != nil || withShell == w.known || withShell && shell != os.Getenv("SHELL") ||
						rest != string(want.Stderr) || string(got.Stdout) != string(want.Stdout) || got.RC != want.RC {
						t.Errorf("%s as %q (known %v, portable %v) %q: got rc %d %q %q, want rc %d %q %q", login, w.name, w.known, portable, cmd,
							got.RC, got.Stdout, got.Stderr, want.RC, want.Stdout, want.Stderr)
					}
				}
			}
		}
	}
}

// TestExecPortable: a portable command line runs in a portable login shell
// itself (bash here: $0 says so) with the same results as through
// /bin/sh, and through /bin/sh under any other login shell.
func TestExecPortable(t *testing.T) {
	t.Parallel()
	_, c, lc := oneHost(t)
	lines := []struct{ cmd, stdin string }{
		{cmd: "__p=$(command -v true 2>/dev/null) || { printf '%s' nope >&2; exit 127; }\ncase $__p in /*) [ -f \"$__p\" ] && [ -x \"$__p\" ] || exit 126;; esac\nexec 'printf' '%s|' 'a b' \"it's\""},
		{cmd: "[ -f /bin/sh ] && [ -x /bin/sh ] || exit 126\nexec '/bin/sh' '-c' 'echo out; echo err >&2; exit 3'"},
		{cmd: "LANG=C; export LANG\ncd /nonexistent-gorun 2>/dev/null || { printf '%s' nodir >&2; exit 1; }"},
		{cmd: "read -r x; printf '%s\\n' \"got $x\"", stdin: "in put\n"},
	}
	for _, l := range lines {
		want, err := c.Exec(context.Background(), l.cmd, []byte(l.stdin))
		if err != nil {
			t.Fatal(err)
		}
		for _, login := range []string{"bash", "fish", "", "?"} {
			setLogin(lc, login)
			got, err := ExecPortable(context.Background(), c, l.cmd, []byte(l.stdin))
			if err != nil {
				t.Fatal(err)
			}
			if got.RC != want.RC || string(got.Stdout) != string(want.Stdout) || string(got.Stderr) != string(want.Stderr) {
				t.Errorf("login %q, %q: got rc %d %q %q, want rc %d %q %q", login, l.cmd, got.RC, got.Stdout, got.Stderr, want.RC, want.Stdout, want.Stderr)
			}
		}
		lc.login.set("bash")
	}
	for login, want := range map[string]string{"bash": "bash", "fish": "/bin/sh", "": "/bin/sh", "zsh": "/bin/sh", "?": "/bin/sh"} {
		setLogin(lc, login)
		r, err := ExecPortable(context.Background(), c, `printf '%s' "$0"`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Stdout) != want {
			t.Errorf("login %q: $0 = %q, want %q", login, r.Stdout, want)
		}
	}
	lc.login.set("bash")
}

// setLogin makes lc know its login shell as login, or not know it ("?").
func setLogin(lc *liveClient, login string) {
	if login == "?" {
		lc.login.name.Store(nil)
		return
	}
	lc.login.set(login)
}

func sshtestUser(t *testing.T) string {
	r, err := (&localConn{log: slog.New(slog.DiscardHandler)}).Exec(context.Background(), "id -un", nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(r.Stdout))
}

func TestExecLocal(t *testing.T) {
	t.Parallel()
	p := newPool(t, Config{})
	c := get(t, p, job.Target{Host: "localhost", Connection: "local"})
	runExecCases(t, c)
	if p.Open() != 0 {
		t.Errorf("Open() = %d with a local connection only", p.Open())
	}
}

// acceptedLogins counts the logins sshd logged for host i.
func acceptedLogins(t *testing.T, f *sshtest.Fleet, i int) int {
	b, err := os.ReadFile(filepath.Join(f.Dir, f.Hosts[i].Name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Accepted publickey")
}

func TestConcurrency(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 5)
	p := newPool(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := i % 5
			c, err := p.Get(ctx, f.Target(h))
			if err != nil {
				errs <- err
				return
			}
			r, err := c.Exec(ctx, fmt.Sprintf("echo %d; sleep 0.05", i), nil)
			if err != nil {
				errs <- err
				return
			}
			if got := strings.TrimSpace(string(r.Stdout)); got != strconv.Itoa(i) || r.RC != 0 {
				errs <- fmt.Errorf("exec %d: rc %d stdout %q", i, r.RC, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.Open() != 5 {
		t.Errorf("Open() = %d, want 5", p.Open())
	}
	// One login per host for the pool (plus sshtest's readiness check):
	// concurrent Gets shared one dial.
	for i := range f.Hosts {
		if n := acceptedLogins(t, f, i); n != 2 {
			t.Errorf("host %d: %d logins, want 2", i, n)
		}
	}
}

func TestMaxSessionsWait(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 1)
	p := newPool(t, Config{MaxSessions: 2})
	c := get(t, p, f.Target(0))
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); mustExec(t, c, "sleep 0.2", nil) }()
	}
	wg.Wait()
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("6 commands of 0.2 s with 2 sessions took %v: sessions not limited", d)
	}
	if p.Open() != 1 {
		t.Errorf("Open() = %d, want 1", p.Open())
	}
	// A caller whose context ends while waiting for a slot gives up.
	done := make(chan struct{})
	for range 2 {
		go func() { c.Exec(context.Background(), "sleep 1", nil); done <- struct{}{} }()
	}
	waitFor(t, "two sessions busy", func() bool { return len(c.(*sshConn).sem) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Exec(ctx, "true", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec waiting for a slot: %v", err)
	}
	<-done
	<-done
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRedial(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 2)
	p := newPool(t, Config{})
	c := get(t, p, f.Target(0))
	mustExec(t, c, "true", nil)

	// A connection killed on the server side is re-dialled on the next Exec.
	f.DropConnections(0)
	if r := mustExec(t, c, "echo again", nil); string(r.Stdout) != "again\n" {
		t.Fatalf("after drop: %q", r.Stdout)
	}
	if p.Open() != 1 {
		t.Errorf("Open() = %d, want 1", p.Open())
	}

	// A stopped host: the dead connection is dropped and the re-dial fails.
	f.Stop(0)
	waitFor(t, "the pool to notice", func() bool { return p.Open() == 0 })
	_, err := c.Exec(context.Background(), "true", nil)
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrHostKey) {
		t.Fatalf("Exec on a stopped host: %v", err)
	}
	want := fmt.Sprintf("Failed to connect to the host via ssh: ssh: connect to host %s port %d: Connection refused", f.Hosts[0].Addr, f.Hosts[0].Port)
	if UnreachableMsg(err) != want {
		t.Errorf("msg %q\nwant %q", UnreachableMsg(err), want)
	}
	// Back up: the same Conn works again.
	f.Restart(t, 0)
	if r := mustExec(t, c, "echo back", nil); string(r.Stdout) != "back\n" {
		t.Fatalf("after restart: %q", r.Stdout)
	}
	// The other host was never disturbed.
	mustExec(t, get(t, p, f.Target(1)), "true", nil)
	if p.Open() != 2 {
		t.Errorf("Open() = %d, want 2", p.Open())
	}
}

func TestConnectionLostDuringCommand(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 1)
	p := newPool(t, Config{})
	c := get(t, p, f.Target(0))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "sleep 30", nil)
		errc <- err
	}()
	waitFor(t, "the command to start", func() bool { return len(c.(*sshConn).sem) == 1 })
	time.Sleep(100 * time.Millisecond) // let sleep start; the test holds either way
	f.DropConnections(0)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v", err)
		}
		want := "Failed to connect to the host via ssh: Shared connection to " + f.Hosts[0].Addr + " closed."
		if UnreachableMsg(err) != want {
			t.Errorf("msg %q, want %q", UnreachableMsg(err), want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after its connection dropped")
	}
	mustExec(t, c, "true", nil) // re-dialled
}

func TestKeepAliveDropsHungConnection(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 1)
	p := newPool(t, Config{KeepAlive: 200 * time.Millisecond})
	c := get(t, p, f.Target(0))
	mustExec(t, c, "true", nil)
	f.Pause(0)
	waitFor(t, "keepalive to drop the hung connection", func() bool { return p.Open() == 0 })
	f.Resume(0)
	if r := mustExec(t, c, "echo alive", nil); string(r.Stdout) != "alive\n" {
		t.Fatalf("got %q", r.Stdout)
	}
	if p.Open() != 1 {
		t.Errorf("Open() = %d", p.Open())
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// fakeServer accepts connections and hands them to serve.
func fakeServer(t *testing.T, serve func(net.Conn)) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 1)
	otherKey := filepath.Join(t.TempDir(), "id_other")
	writeTestKey(t, otherKey)

	silent := fakeServer(t, func(c net.Conn) {
		time.Sleep(5 * time.Second)
		c.Close()
	})
	closing := fakeServer(t, func(c net.Conn) {
		c.Read(make([]byte, 256)) // the client's version line
		c.Close()
	})
	resetting := fakeServer(t, func(c net.Conn) {
		c.Read(make([]byte, 256))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	refused := freePort(t)

	wrongKey := f.Target(0)
	wrongKey.PrivateKeyFiles = []string{otherKey}
	wrongKey.Password = ""
	local := func(port int) job.Target {
		return job.Target{Host: "x", Address: "127.0.0.1", Port: port, User: "nobody", ConnectTimeout: 300 * time.Millisecond}
	}
	cases := []struct {
		name string
		t    job.Target
		msg  string
	}{
		{"refused", local(refused), fmt.Sprintf("ssh: connect to host 127.0.0.1 port %d: Connection refused", refused)},
		{"banner timeout", local(silent), fmt.Sprintf("Connection timed out during banner exchange\r\nConnection to 127.0.0.1 port %d timed out", silent)},
		{"closed before banner", local(closing), fmt.Sprintf("kex_exchange_identification: Connection closed by remote host\r\nConnection closed by 127.0.0.1 port %d", closing)},
		{"reset before banner", local(resetting), fmt.Sprintf("kex_exchange_identification: read: Connection reset by peer\r\nConnection reset by 127.0.0.1 port %d", resetting)},
		{"auth failure", wrongKey, fmt.Sprintf("%s@%s: Permission denied (publickey).", f.User, f.Hosts[0].Addr)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, Config{})
			start := time.Now()
			_, err := p.Get(context.Background(), tc.t)
			if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrHostKey) {
				t.Fatalf("got %v", err)
			}
			if got := UnreachableMsg(err); got != UnreachablePrefix+tc.msg {
				t.Errorf("msg %q\nwant %q", got, UnreachablePrefix+tc.msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if p.Open() != 0 {
				t.Errorf("Open() = %d", p.Open())
			}
		})
	}

	t.Run("dns", func(t *testing.T) {
		p := newPool(t, Config{ConnectTimeout: 2 * time.Second})
		_, err := p.Get(context.Background(), job.Target{Host: "nosuch.invalid"})
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v", err)
		}
		if got := UnreachableMsg(err); !strings.HasPrefix(got, UnreachablePrefix+"ssh: Could not resolve hostname nosuch.invalid: ") {
			t.Errorf("msg %q", got)
		}
	})
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	// Every host also has an ECDSA key that known_hosts does not list: the
	// client must ask for the ED25519 key known_hosts has.
	f := sshtest.Start(t, 3, sshtest.WithWrongHostKey(1), sshtest.WithUnlistedHost(2), sshtest.WithECDSAHostKey())
	hashed := sshtest.Start(t, 1, sshtest.WithHashedKnownHosts(), sshtest.WithECDSAHostKey())
	p := newPool(t, Config{})
	ctx := context.Background()

	t.Run("known", func(t *testing.T) {
		mustExec(t, get(t, p, f.Target(0)), "true", nil)
	})
	t.Run("hashed known_hosts", func(t *testing.T) {
		mustExec(t, get(t, p, hashed.Target(0)), "true", nil)
	})
	t.Run("mismatch", func(t *testing.T) {
		_, err := p.Get(ctx, f.Target(1))
		if !errors.Is(err, ErrHostKey) || !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v", err)
		}
		msg := UnreachableMsg(err)
		name := fmt.Sprintf("[%s]:%d", f.Hosts[1].Addr, f.Hosts[1].Port)
		for _, want := range []string{
			UnreachablePrefix + "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!",
			"Host key for " + name + " has changed and you have requested strict checking",
			"offending ED25519 key in " + f.KnownHosts + ":2",
			"SHA256:",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("msg %q lacks %q", msg, want)
			}
		}
		if !strings.HasSuffix(msg, "\r\nHost key verification failed.") {
			t.Errorf("msg %q", msg)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := p.Get(ctx, f.Target(2))
		if !errors.Is(err, ErrHostKey) || !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v", err)
		}
		want := fmt.Sprintf("%sNo ED25519 host key is known for [%s]:%d and you have requested strict checking.\r\nHost key verification failed.",
			UnreachablePrefix, f.Hosts[2].Addr, f.Hosts[2].Port)
		if got := UnreachableMsg(err); got != want {
			t.Errorf("msg %q\nwant %q", got, want)
		}
	})
	t.Run("missing known_hosts file", func(t *testing.T) {
		tg := f.Target(0)
		tg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "none")}
		_, err := p.Get(ctx, tg)
		if !errors.Is(err, ErrHostKey) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("checking off", func(t *testing.T) {
		for _, i := range []int{1, 2} {
			tg := f.Target(i)
			tg.HostKeyChecking = false
			mustExec(t, get(t, p, tg), "true", nil)
		}
	})
	t.Run("checking on is a different connection", func(t *testing.T) {
		if _, err := p.Get(ctx, f.Target(1)); !errors.Is(err, ErrHostKey) {
			t.Fatalf("a connection made without host key checking was reused: %v", err)
		}
	})
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 1)
	p := newPool(t, Config{})
	conns := map[string]Conn{
		"ssh":   get(t, p, f.Target(0)),
		"local": get(t, p, job.Target{Host: "localhost", Connection: "local"}),
	}
	for name, c := range conns {
		for _, ignoreTerm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s ignoreTERM=%v", name, ignoreTerm), func(t *testing.T) {
				marker := fmt.Sprintf("%d.%d", 100+time.Now().Nanosecond()%1000, time.Now().Nanosecond()%997)
				cmd := "sleep " + marker
				if ignoreTerm {
					cmd = "trap '' TERM; sleep " + marker + "; true"
				}
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := c.Exec(ctx, cmd, nil)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v", err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("Exec returned %v after its context ended", d)
				}
				waitFor(t, "the command to be killed", func() bool { return !processRunning("sleep " + marker) })
			})
		}
	}
	// The connection is still usable.
	mustExec(t, conns["ssh"], "true", nil)
}

// processRunning reports whether a live process has cmdline (space-separated).
func processRunning(cmdline string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || string(bytes.TrimRight(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), " ")) != cmdline {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err == nil && !strings.Contains(string(st), ") Z ") {
			return true
		}
	}
	return false
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 2)
	p := newPool(t, Config{})
	c := get(t, p, f.Target(0))
	get(t, p, f.Target(1))
	lc := get(t, p, job.Target{Host: "localhost", Connection: "local"})
	if p.Open() != 2 {
		t.Fatalf("Open() = %d", p.Open())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.Open() != 0 {
		t.Errorf("Open() = %d after Close", p.Open())
	}
	if _, err := c.Exec(context.Background(), "true", nil); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Exec after Close: %v", err)
	}
	if _, err := lc.Exec(context.Background(), "true", nil); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("local Exec after Close: %v", err)
	}
	if _, err := p.Get(context.Background(), f.Target(0)); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	f := sshtest.Start(t, 1)
	dir := t.TempDir()
	enc := filepath.Join(dir, "encrypted")
	writeEncryptedKey(t, enc)
	missing := filepath.Join(dir, "missing")
	p := newPool(t, Config{})
	// A passphrase-protected key and a missing file are skipped; the next key works.
	tg := f.Target(0)
	tg.PrivateKeyFiles = []string{enc, missing, f.ClientKey}
	mustExec(t, get(t, p, tg), "true", nil)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ConnectTimeout: -time.Second}, "Config.ConnectTimeout"},
		{Config{MaxSessions: -1}, "Config.MaxSessions"},
		{Config{KeepAlive: time.Millisecond}, "Config.KeepAlive"},
	} {
		if _, err := NewPool(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v", tc.cfg, err)
		}
	}
	p, err := NewPool(Config{KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.cfg.ConnectTimeout != DefaultConnectTimeout || p.cfg.MaxSessions != DefaultMaxSessions || p.cfg.KeepAlive != -1 {
		t.Errorf("defaults: %+v", p.cfg)
	}
	if _, err := p.Get(context.Background(), job.Target{Host: "x", Connection: "winrm"}); err == nil || !strings.Contains(err.Error(), "winrm") {
		t.Errorf("unsupported connection: %v", err)
	}
}

// BenchmarkExec measures the raw command rate over persistent connections
// to 10 hosts, with every host busy at once.
func BenchmarkExec(b *testing.B) {
	f := sshtest.Start(b, 10)
	p := newPool(b, Config{})
	conns := make([]Conn, len(f.Hosts))
	for i := range f.Hosts {
		conns[i] = get(b, p, f.Target(i))
	}
	var next sync.Mutex
	n := 0
	b.SetParallelism(80 / max(1, runtimeProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		c := conns[n%len(conns)]
		n++
		next.Unlock()
		for pb.Next() {
			r, err := c.Exec(context.Background(), "true", nil)
			if err != nil || r.RC != 0 {
				b.Errorf("exec: %v %+v", err, r)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
	if p.Open() != 10 {
		b.Errorf("Open() = %d", p.Open())
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	for _, kbd := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyboard-interactive=%v", kbd), func(t *testing.T) {
			port := passwordServer(t, kbd)
			p := newPool(t, Config{})
			tg := job.Target{Host: "pw", Address: "127.0.0.1", Port: port, User: "u", Password: "secret"}
			c := get(t, p, tg)
			if r := mustExec(t, c, "anything", nil); string(r.Stdout) != "ok\n" || r.RC != 0 {
				t.Errorf("got %+v", r)
			}
			tg.Password = "wrong"
			_, err := p.Get(context.Background(), tg)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("wrong password: %v", err)
			}
			if got, want := UnreachableMsg(err), "Invalid/incorrect password: Permission denied, please try again."; got != want {
				t.Errorf("msg %q, want %q", got, want)
			}
			tg.Password = ""
			_, err = p.Get(context.Background(), tg)
			method := "password"
			if kbd {
				method = "keyboard-interactive"
			}
			if got, want := UnreachableMsg(err), UnreachablePrefix+"u@127.0.0.1: Permission denied ("+method+")."; got != want {
				t.Errorf("no password: msg %q, want %q", got, want)
			}
		})
	}
}

// TestDefaultKeysAndFiles uses no key file nor known_hosts file in the
// target: the pool finds them in ~/.ssh, or in ssh-agent.
func TestDefaultKeysAndFiles(t *testing.T) {
	f := sshtest.Start(t, 1)
	key, err := os.ReadFile(f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	kh, err := os.ReadFile(f.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	tg := f.Target(0)
	tg.PrivateKeyFiles, tg.KnownHostsFiles = nil, nil

	t.Run("home", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
		os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), key, 0o600)
		os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), kh, 0o600)
		mustExec(t, get(t, newPool(t, Config{}), tg), "true", nil)
	})
	t.Run("agent", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
		os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), kh, 0o600)
		// Without a key anywhere, the login fails.
		if _, err := newPool(t, Config{}).Get(context.Background(), tg); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("without keys: %v", err)
		}
		t.Setenv("SSH_AUTH_SOCK", startAgent(t, key))
		mustExec(t, get(t, newPool(t, Config{}), tg), "true", nil)
	})
}

// TestStartProgram: a program started by itself runs under the login
// shell's exec (no /bin/sh in between: its parent is sshd's session
// process), whatever the login shell is known to be; anything but an
// absolute path and plain words is refused.
func TestStartProgram(t *testing.T) {
	t.Parallel()
	_, c, _ := oneHost(t)
	ps := c.(ProgramStarter)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := ps.StartProgram(ctx, "/bin/sh", "-s")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := io.WriteString(p.Stdin, "echo \"$0\"; read -r x < /proc/$PPID/comm; echo \"$x\"; exit 3\n"); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(p.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "/bin/sh\nsshd\n" {
		t.Errorf("output %q, want /bin/sh and a parent sshd", got)
	}
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "3") {
		t.Errorf("exit: %v, want status 3", err)
	}
	for _, argv := range [][]string{{"sh", "-s"}, {"/bin/sh", "-c", "echo hi"}, {"/bin/sh", "$HOME"}, {}} {
		if _, err := ps.StartProgram(ctx, argv...); err == nil {
			t.Errorf("StartProgram(%q) started", argv)
		}
	}
}
