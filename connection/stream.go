package connection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// Proc is a long-running command with streamed input and output, such as
// the async agent that follows jobs on a target.
type Proc struct {
	// Stdin feeds the command; closing it sends EOF.
	Stdin io.WriteCloser
	// Stdout and Stderr are the command's output streams; read them
	// continuously, or the command blocks.
	Stdout, Stderr io.Reader

	done    chan struct{}
	err     error
	closeFn func() error
	once    sync.Once
}

// Done is closed when the command has ended (or its connection was lost).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the command to end and returns why it ended: nil for exit
// status 0, an error otherwise (wrapping ErrUnreachable if the connection
// was lost).
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Close ends the command's session (the command sees EOF and hangs up) and
// releases its slot.
func (p *Proc) Close() error {
	var err error
	p.once.Do(func() { err = p.closeFn() })
	return err
}

// Starter is implemented by every Conn of this package: it starts a
// long-running command with streamed input and output.
type Starter interface {
	Start(ctx context.Context, cmd string) (*Proc, error)
}

// Start runs cmd (a POSIX sh command line) in a session of its own that
// lasts until the command ends or Close is called. The session takes one of
// the connection's MaxSessions slots for its whole life.
func (c *sshConn) Start(ctx context.Context, cmd string) (*Proc, error) {
	return c.start(ctx, func(lc *liveClient) string {
		if login, _ := lc.login.get(); posixShells[login] {
			return "exec /bin/sh -c " + shellQuote(cmd)
		}
		return "/bin/sh -c " + shellQuote(cmd)
	})
}

// ProgramStarter is a Starter that can start a program by itself: its
// absolute path and plain words, which every login shell (sh, bash, zsh,
// fish, csh…) runs the same, so the login shell execs it with no /bin/sh
// in between.
type ProgramStarter interface {
	StartProgram(ctx context.Context, argv ...string) (*Proc, error)
}

// plainWord is a word no shell gives a meaning to.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./=+:-]+$`)

// StartProgram is Start for a program (see ProgramStarter).
func (c *sshConn) StartProgram(ctx context.Context, argv ...string) (*Proc, error) {
	if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
		return nil, fmt.Errorf("starting a program on %s: %q is not an absolute path", c.ep.hostPort(), argv)
	}
	for _, w := range argv {
		if !plainWord.MatchString(w) {
			return nil, fmt.Errorf("starting a program on %s: %q is not a plain word", c.ep.hostPort(), w)
		}
	}
	line := "exec " + strings.Join(argv, " ")
	return c.start(ctx, func(*liveClient) string { return line })
}

// start runs the command line that line makes for the connection's live
// client in a session of its own (see Start).
func (c *sshConn) start(ctx context.Context, line func(*liveClient) string) (*Proc, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a session on %s: %w", c.ep.hostPort(), ctx.Err())
	}
	release := sync.OnceFunc(func() { <-c.sem })
	lc, err := c.client(ctx)
	if err != nil {
		release()
		return nil, err
	}
	sess, err := lc.NewSession()
	if err != nil {
		c.drop(lc, "opening a session: "+err.Error())
		release()
		return nil, c.ep.lostError(err)
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		sess.Close()
		release()
		return nil, fmt.Errorf("session pipes on %s: %w", c.ep.hostPort(), err)
	}
	if err := sess.Start(line(lc)); err != nil {
		sess.Close()
		release()
		return nil, c.ep.lostError(err)
	}
	p := &Proc{Stdin: stdin, Stdout: stdout, Stderr: stderr, done: make(chan struct{})}
	p.closeFn = func() error {
		err := sess.Close()
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return err
	}
	go func() {
		err := sess.Wait()
		if err != nil {
			var ee *ssh.ExitError
			if !errors.As(err, &ee) && c.isDead(lc) {
				err = c.ep.lostError(err)
			}
		}
		p.err = err
		release()
		close(p.done)
	}()
	return p, nil
}

// Start runs cmd with /bin/sh -c locally, in a process group of its own.
func (l *localConn) Start(ctx context.Context, cmd string) (*Proc, error) {
	if l.closed != nil && l.closed() {
		return nil, ErrPoolClosed
	}
	c := exec.Command("/bin/sh", "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err1 := c.StdinPipe()
	stdout, err2 := c.StdoutPipe()
	stderr, err3 := c.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("local: pipes: %w", err)
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("local: starting /bin/sh: %w", err)
	}
	p := &Proc{Stdin: stdin, Stdout: stdout, Stderr: stderr, done: make(chan struct{})}
	p.closeFn = func() error {
		stdin.Close()
		return c.Process.Signal(syscall.SIGHUP)
	}
	go func() {
		p.err = c.Wait()
		close(p.done)
	}()
	return p, nil
}
