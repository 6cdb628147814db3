package connection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gorun/gorun/job"
)

// ErrPoolClosed is returned by Get and Exec once the pool is closed.
var ErrPoolClosed = errors.New("connection: pool closed")

// Pool hands out connections to targets: a local Conn for targets whose
// Connection is "local" (commands run with /bin/sh -c on this machine),
// otherwise one SSH connection per (user, address, port, key files,
// password, host key checking, known_hosts files, connect timeout), shared
// by every task and goroutine that uses the target, with one session per
// command. A Pool is safe for concurrent use.
//
// Dialling: concurrent Gets for the same target share one dial. The user
// defaults to the current user, the port to 22. Keys are offered in this
// order: the target's PrivateKeyFiles (a passphrase-protected key is
// skipped, with a debug log), ssh-agent's keys (SSH_AUTH_SOCK), then
// ~/.ssh/id_ed25519, id_ecdsa and id_rsa; then the target's Password, by
// password and keyboard-interactive authentication.
//
// Host keys: with Target.HostKeyChecking, the server's key must be listed for
// the address ("host" for port 22, "[host]:port" otherwise, plain or hashed)
// in the target's KnownHostsFiles (default ~/.ssh/known_hosts and
// /etc/ssh/ssh_known_hosts; missing files are skipped). The host key
// algorithms of the keys listed for the host are asked for first, so that a
// server with several keys presents the listed one. An unknown host or a
// changed key fails with an error wrapping ErrHostKey and ErrUnreachable.
// Without HostKeyChecking any key is accepted.
//
// Failures to dial, handshake or authenticate are *UnreachableError values
// (wrapping ErrUnreachable) whose message is the one Ansible shows for the
// same failure (see UnreachableMsg).
//
// Commands: Exec runs cmd as /bin/sh -c cmd whatever the login shell (as
// Ansible does); Result.RC is the exit status, or -N for a command killed by
// signal N. When Exec's context ends, the command's process group gets
// SIGTERM, then SIGKILL a second later (through a kill command in a second
// session: OpenSSH ignores signal requests in root sessions), and Exec
// returns the context's error. Exec calls beyond Config.MaxSessions on one
// connection wait for a free session slot.
//
// Dead connections: every connection sends keepalives (Config.KeepAlive); a
// connection that dies (EOF, keepalive unanswered) is dropped, and the next
// Exec on the Conn dials again, once; if that fails, Exec returns the
// UnreachableError. A command is never run twice: if the connection drops
// while it runs, Exec returns an UnreachableError ("Shared connection to
// HOST closed.", as Ansible says).
type Pool struct {
	cfg  Config
	log  *slog.Logger
	home string // the current user's home directory ("" if unknown)
	user string // the current user's name

	ctx    context.Context // ended by Close; bounds dials
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[string]*sshConn
	closed bool

	open atomic.Int64

	khMu sync.Mutex
	kh   map[string]*hostKeyDB

	local *localConn
}

// NewPool returns a pool configured by cfg (zero fields take their
// defaults), or an error saying which field is invalid.
func NewPool(cfg Config) (*Pool, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Pool{
		cfg:   cfg,
		log:   cfg.Logger,
		conns: map[string]*sshConn{},
		kh:    map[string]*hostKeyDB{},
	}
	p.local = &localConn{log: p.log, closed: p.isClosed, maxOutput: cfg.MaxOutput}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if home, err := os.UserHomeDir(); err == nil {
		p.home = home
	}
	if u, err := user.Current(); err == nil {
		p.user = u.Username
	}
	return p, nil
}

// Get returns the connection to t, dialling it unless the pool has one
// already (see Pool). Connection "ssh" (or empty, "smart", "paramiko") uses
// SSH, "local" the local machine; any other type is an error. Its errors
// wrap ErrUnreachable (and ErrHostKey for host key failures) when the target
// cannot be reached or authenticated; see UnreachableMsg for the message
// Ansible would show.
func (p *Pool) Get(ctx context.Context, t job.Target) (Conn, error) {
	if t.Connection == "local" {
		if p.isClosed() {
			return nil, ErrPoolClosed
		}
		return p.local, nil
	}
	if t.Connection != "" && t.Connection != "ssh" && t.Connection != "paramiko" && t.Connection != "smart" {
		return nil, fmt.Errorf("connection: unsupported connection type %q for host %s: use ssh or local", t.Connection, t.Host)
	}
	ep := endpoint{host: t.Address, port: t.Port, user: t.User}
	if ep.host == "" {
		ep.host = t.Host
	}
	if ep.port == 0 {
		ep.port = 22
	}
	if ep.user == "" {
		ep.user = p.user
	}
	if ep.host == "" {
		return nil, errors.New("connection: target has neither an address nor a host name")
	}
	key := poolKey(t, ep)

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	c := p.conns[key]
	if c == nil {
		c = &sshConn{p: p, t: t, ep: ep, sem: make(chan struct{}, p.cfg.MaxSessions)}
		p.conns[key] = c
	}
	p.mu.Unlock()

	if _, err := c.client(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// poolKey identifies the connection a target uses.
func poolKey(t job.Target, ep endpoint) string {
	h := sha256.New()
	for _, s := range []string{ep.user, ep.host, fmt.Sprint(ep.port), strings.Join(t.PrivateKeyFiles, "\x00"),
		t.Password, fmt.Sprint(t.HostKeyChecking), strings.Join(t.KnownHostsFiles, "\x00"), t.ConnectTimeout.String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// connectTimeout returns the connect timeout for t.
func (p *Pool) connectTimeout(t job.Target) time.Duration {
	if t.ConnectTimeout > 0 {
		return t.ConnectTimeout
	}
	return p.cfg.ConnectTimeout
}

// Open returns the number of open SSH connections.
func (p *Pool) Open() int { return int(p.open.Load()) }

// Close closes every connection; commands still running on them end with an
// error. Later Gets and Execs return ErrPoolClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := p.conns
	p.conns = map[string]*sshConn{}
	p.mu.Unlock()
	p.cancel()
	for _, c := range conns {
		c.mu.Lock()
		lc := c.live
		c.mu.Unlock()
		if lc != nil {
			c.drop(lc, "pool closed")
		}
	}
	return nil
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// liveClient is an open SSH connection.
type liveClient struct {
	*ssh.Client
	login    loginShell    // the login shell's name, once known (see wrapCommand)
	dead     chan struct{} // closed once the connection is closed
	dropOnce sync.Once
}

// dialCall is a dial in progress, shared by every caller that needs it.
type dialCall struct {
	done chan struct{}
	lc   *liveClient
	err  error
}

// sshConn is the Conn of one SSH target.
type sshConn struct {
	p   *Pool
	t   job.Target
	ep  endpoint
	sem chan struct{} // one token per session in use

	mu      sync.Mutex
	live    *liveClient // nil when not connected
	dialing *dialCall
}

// client returns the open connection, dialling it if there is none; a dial
// in progress is shared.
func (c *sshConn) client(ctx context.Context) (*liveClient, error) {
	c.mu.Lock()
	if lc := c.live; lc != nil {
		c.mu.Unlock()
		return lc, nil
	}
	if c.p.isClosed() {
		c.mu.Unlock()
		return nil, ErrPoolClosed
	}
	d := c.dialing
	if d == nil {
		d = &dialCall{done: make(chan struct{})}
		c.dialing = d
		go c.dial(d)
	}
	c.mu.Unlock()
	select {
	case <-d.done:
		return d.lc, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("connecting to %s: %w", c.ep.hostPort(), ctx.Err())
	}
}

// dial runs d; it is not bound to any caller's context, only to the pool's.
func (c *sshConn) dial(d *dialCall) {
	start := time.Now()
	cl, err := c.p.dial(c.p.ctx, c.t, c.ep)
	var lc *liveClient
	if err == nil {
		lc = &liveClient{Client: cl, dead: make(chan struct{})}
		c.p.open.Add(1)
		c.p.log.Debug("ssh connected", "host", c.t.Host, "addr", c.ep.hostPort(), "user", c.ep.user,
			"took", time.Since(start))
	} else {
		c.p.log.Debug("ssh dial failed", "host", c.t.Host, "addr", c.ep.hostPort(), "err", err)
		if c.p.ctx.Err() != nil {
			err = ErrPoolClosed
		}
	}
	c.mu.Lock()
	c.dialing = nil
	if lc != nil {
		c.live = lc
	}
	c.mu.Unlock()
	d.lc, d.err = lc, err
	close(d.done)
	if lc == nil {
		return
	}
	if c.p.isClosed() {
		c.drop(lc, "pool closed")
		return
	}
	go func() {
		err := lc.Wait()
		c.drop(lc, fmt.Sprintf("connection closed: %v", err))
	}()
	if c.p.cfg.KeepAlive > 0 {
		go c.keepAlive(lc)
	}
}

// drop closes lc and forgets it, once; the next Exec dials again.
func (c *sshConn) drop(lc *liveClient, why string) {
	lc.dropOnce.Do(func() {
		c.mu.Lock()
		if c.live == lc {
			c.live = nil
		}
		c.mu.Unlock()
		lc.Close()
		close(lc.dead)
		c.p.open.Add(-1)
		c.p.log.Debug("ssh connection dropped", "host", c.t.Host, "addr", c.ep.hostPort(), "why", why)
	})
}

// keepAlive sends keepalive@openssh.com requests on lc every KeepAlive and
// drops lc when one fails or is not answered within KeepAlive.
func (c *sshConn) keepAlive(lc *liveClient) {
	every := c.p.cfg.KeepAlive
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-lc.dead:
			return
		case <-tick.C:
		}
		if err := ping(lc, every); err != nil {
			c.p.log.Warn("ssh keepalive failed; dropping the connection", "host", c.t.Host, "addr", c.ep.hostPort(), "err", err)
			c.drop(lc, "keepalive: "+err.Error())
			return
		}
	}
}

// ping sends one keepalive request on lc and waits up to timeout for the
// reply (OpenSSH answers it with a failure, which is fine).
func ping(lc *liveClient, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		_, _, err := lc.SendRequest("keepalive@openssh.com", true, nil)
		errc <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-lc.dead:
		return errors.New("connection closed")
	case <-t.C:
		return fmt.Errorf("no reply within %v", timeout)
	}
}

// loginShell is what a connection knows of its login shell: its name
// ("bash"; "" when it could not be told), once learned from a command's
// first line (see wrapCommand).
type loginShell struct{ name atomic.Pointer[string] }

// get returns the login shell's name and whether it is known.
func (l *loginShell) get() (string, bool) {
	if p := l.name.Load(); p != nil {
		return *p, true
	}
	return "", false
}

// set records the login shell's name.
func (l *loginShell) set(name string) { l.name.Store(&name) }
