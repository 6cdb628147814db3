package connection

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	// cancelGrace is how long a cancelled command has to end after SIGTERM
	// before it gets SIGKILL.
	cancelGrace = time.Second
	// closeWait bounds the wait for a session to close after it was killed;
	// past it the connection is presumed dead and dropped.
	closeWait = 5 * time.Second
	// sessionRetry bounds the retries of a session the server refused to
	// open (its MaxSessions is lower than Config.MaxSessions).
	sessionRetry = 10 * time.Second
)

// Exec runs cmd in a new session on the target's connection. See Conn.
//
// The connection is dialled if the pool has none open (a dead one was
// dropped). If the connection turns out dead when the session is opened, it
// is dropped and dialled once more; a command that started is never re-run.
// When ctx ends, the command's process group gets SIGTERM, then SIGKILL
// after a second, the session is closed and ctx's error returned.
func (c *sshConn) Exec(ctx context.Context, cmd string, stdin []byte) (*Result, error) {
	return c.exec(ctx, cmd, stdin, false)
}

// ExecPortable is Exec for a portable command line: one that means the
// same in every portableShell (see PortableExecer). When the
// login shell is one of them, the command runs in it directly, without
// exec'ing /bin/sh first.
func (c *sshConn) ExecPortable(ctx context.Context, cmd string, stdin []byte) (*Result, error) {
	return c.exec(ctx, cmd, stdin, true)
}

func (c *sshConn) exec(ctx context.Context, cmd string, stdin []byte, portable bool) (*Result, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a session on %s: %w", c.ep.hostPort(), ctx.Err())
	}
	defer func() { <-c.sem }()

	redialled := false
	var refusedSince time.Time
	for {
		lc, err := c.client(ctx)
		if err != nil {
			return nil, err
		}
		sess, err := lc.NewSession()
		if err == nil {
			return c.run(ctx, lc, sess, cmd, stdin, portable)
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			// The server refused the session but the connection is fine:
			// typically its MaxSessions is lower than ours. Wait for others
			// to end.
			if refusedSince.IsZero() {
				refusedSince = time.Now()
			}
			if time.Since(refusedSince) > sessionRetry {
				return nil, fmt.Errorf("opening a session on %s: %w (is the server's MaxSessions lower than Config.MaxSessions, %d?)", c.ep.hostPort(), err, c.p.cfg.MaxSessions)
			}
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("opening a session on %s: %w", c.ep.hostPort(), ctx.Err())
			}
			continue
		}
		c.drop(lc, "opening a session: "+err.Error())
		if redialled || ctx.Err() != nil {
			return nil, c.ep.lostError(err)
		}
		redialled = true
		c.p.log.Debug("ssh connection dead; dialling again", "host", c.t.Host, "addr", c.ep.hostPort(), "err", err)
	}
}

// wrapCommand returns the command line sent to the server for cmd. cmd
// always runs as /bin/sh -c cmd (as Ansible runs its commands, so that the
// login shell does not matter), and the shell that sshd started prints its
// pid first, on a line of stderr of its own. That pid leads the command's
// process group (sshd starts every session with setsid); Exec strips the line
// and uses the pid to kill the command when its context ends, since OpenSSH
// ignores "signal" requests in root sessions.
//
// When the login shell is known to be POSIX (posixLogin), it prints the pid
// itself and execs /bin/sh; otherwise a first /bin/sh does, which costs one
// more exec per command.
//
// A portable cmd (see PortableExecer) runs in the login shell itself when
// that is a portableShell: "echo $$ >&2; cmd".
//
// Until the login shell is known (a new connection's first commands), a
// first /bin/sh prints "pid $SHELL" (sshd sets SHELL to the login shell),
// which the connection learns it from: no session of its own to ask.
func wrapCommand(cmd string, login string, known, portable bool) string {
	switch {
	case !known && portable:
		return "exec /bin/sh -c " + shellQuote(`echo "$$ $SHELL" >&2; `+cmd)
	case !known:
		return `exec /bin/sh -c 'echo "$$ $SHELL" >&2; exec /bin/sh -c "$1"' /bin/sh ` + shellQuote(cmd)
	case portable && portableShell(login):
		return "echo $$ >&2; " + cmd
	case posixShells[login]:
		return "echo $$ >&2; exec /bin/sh -c " + shellQuote(cmd)
	}
	return `exec /bin/sh -c 'echo $$ >&2; exec /bin/sh -c "$1"' /bin/sh ` + shellQuote(cmd)
}

// posixShells are login shells that run "echo $$ >&2; exec ..." as POSIX sh
// does.
var posixShells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "ash": true, "ksh": true, "ksh93": true,
	"mksh": true, "pdksh": true, "oksh": true, "zsh": true, "yash": true, "posh": true,
}

// portableShell reports whether login runs a portable command line as
// /bin/sh would: the posixShells but zsh (which does not split unquoted
// words).
func portableShell(login string) bool { return posixShells[login] && login != "zsh" }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// pidFilter passes stderr through but for its first line, the pid printed by
// wrapCommand, which it sends on pid (0 if the line is not a pid). When
// learn is set (wrapCommand did not know the login shell), the line is
// "pid $SHELL", and learn gets the shell's name.
type pidFilter struct {
	w     io.Writer
	buf   []byte
	done  bool
	pid   chan int // buffered, receives one value
	learn func(login string)
}

func (f *pidFilter) Write(p []byte) (int, error) {
	if f.done {
		return f.w.Write(p)
	}
	f.buf = append(f.buf, p...)
	i := bytes.IndexByte(f.buf, '\n')
	limit := 32 // "pid"
	if f.learn != nil {
		limit = 4096 // "pid $SHELL"
	}
	if i < 0 && len(f.buf) < limit {
		return len(p), nil
	}
	f.done = true
	rest := f.buf
	pid := 0
	if i > 0 {
		first, shell, withShell := strings.Cut(string(f.buf[:i]), " ")
		if n, err := strconv.Atoi(first); err == nil && n > 1 && withShell == (f.learn != nil) {
			pid, rest = n, f.buf[i+1:]
			if f.learn != nil {
				f.learn(shell[strings.LastIndexByte(shell, '/')+1:])
			}
		}
	}
	f.pid <- pid
	f.buf = nil
	if _, err := f.w.Write(rest); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush writes what the filter holds back, if it never saw a pid.
func (f *pidFilter) flush() {
	if !f.done {
		f.done = true
		f.pid <- 0
		f.w.Write(f.buf)
		f.buf = nil
	}
}

// run runs cmd in sess and waits for its end.
func (c *sshConn) run(ctx context.Context, lc *liveClient, sess *ssh.Session, cmd string, stdin []byte, portable bool) (*Result, error) {
	defer sess.Close()
	stdout, stderr := &capped{max: c.p.cfg.MaxOutput}, &capped{max: c.p.cfg.MaxOutput}
	filter := &pidFilter{w: stderr, pid: make(chan int, 1)}
	login, known := lc.login.get()
	if !known {
		filter.learn = func(login string) {
			lc.login.set(login)
			c.p.log.Debug("login shell", "host", c.t.Host, "addr", c.ep.hostPort(), "login_shell", login)
		}
	}
	sess.Stdout, sess.Stderr = stdout, filter
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	if err := sess.Start(wrapCommand(cmd, login, known, portable)); err != nil {
		if c.isDead(lc) {
			return nil, c.ep.lostError(err)
		}
		return nil, fmt.Errorf("starting command on %s: %w", c.ep.hostPort(), err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		c.cancel(lc, sess, filter.pid, done)
		return nil, fmt.Errorf("command on %s: %w", c.ep.hostPort(), ctx.Err())
	}
	filter.flush()
	res := &Result{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes(), Truncated: stdout.dropped || stderr.dropped}
	if err == nil {
		return res, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		res.RC = ee.ExitStatus()
		if sig := ee.Signal(); sig != "" {
			if n, ok := signalNumbers[strings.TrimPrefix(sig, "SIG")]; ok {
				res.RC = -n
			}
		}
		return res, nil
	}
	// No exit status: the connection dropped under the command, or the
	// server closed the session without saying how it ended.
	if c.isDead(lc) {
		return nil, c.ep.lostError(err)
	}
	var em *ssh.ExitMissingError
	if errors.As(err, &em) {
		return nil, fmt.Errorf("command on %s: the session ended without an exit status: %w", c.ep.hostPort(), err)
	}
	return nil, fmt.Errorf("command on %s: %w", c.ep.hostPort(), err)
}

// cancel stops the command of sess: SIGTERM to its process group, SIGKILL
// after cancelGrace, then closes the session. Signals go both as "signal"
// requests (which OpenSSH honours for non-root users) and as kill commands
// in a second session. A session that does not close within closeWait
// means a dead connection, which is dropped.
func (c *sshConn) cancel(lc *liveClient, sess *ssh.Session, pidc <-chan int, done <-chan error) {
	t := time.NewTimer(cancelGrace)
	defer t.Stop()
	pid := 0
	select {
	case pid = <-pidc:
	case <-done:
		return
	case <-t.C:
	}
	signal := func(sig ssh.Signal) {
		sess.Signal(sig)
		if pid > 1 {
			c.kill(lc, pid, sig)
		}
	}
	signal(ssh.SIGTERM)
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(cancelGrace)
	select {
	case <-done:
		return
	case <-t.C:
	}
	signal(ssh.SIGKILL)
	sess.Close()
	t.Reset(closeWait)
	select {
	case <-done:
	case <-t.C:
		// Either the connection is dead, or the command survived (its
		// pid unknown and signals refused): drop the one, leave the other.
		if err := ping(lc, closeWait); err != nil {
			c.drop(lc, "session did not close after its command was killed: "+err.Error())
			<-done
			return
		}
		c.p.log.Warn("a cancelled command did not end; leaving its session", "host", c.t.Host, "addr", c.ep.hostPort(), "pid", pid)
	}
}

// kill sends sig to the process group pgid (or, failing that, the process)
// on the target, in a session of its own; a session the server refuses
// (MaxSessions reached) is asked for again until closeWait passes.
func (c *sshConn) kill(lc *liveClient, pgid int, sig ssh.Signal) {
	deadline := time.Now().Add(closeWait)
	var s *ssh.Session
	for {
		var err error
		s, err = lc.NewSession()
		if err == nil {
			break
		}
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || time.Now().After(deadline) {
			c.p.log.Debug("cannot open a session to kill a command", "host", c.t.Host, "err", err)
			return
		}
		select {
		case <-lc.dead:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() {
		errc <- s.Run(fmt.Sprintf("/bin/sh -c 'kill -%s -%d 2>/dev/null || kill -%s %d 2>/dev/null'", sig, pgid, sig, pgid))
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-errc:
	case <-t.C:
	}
}

// isDead reports whether lc has been closed, or is found dead by a short
// keepalive.
func (c *sshConn) isDead(lc *liveClient) bool {
	t := time.NewTimer(200 * time.Millisecond)
	defer t.Stop()
	select {
	case <-lc.dead:
		return true
	case <-t.C:
	}
	if err := ping(lc, 2*time.Second); err != nil {
		c.drop(lc, "keepalive: "+err.Error())
		return true
	}
	return false
}

// signalNumbers maps RFC 4254 signal names to Linux signal numbers.
var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
	"URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31,
}
