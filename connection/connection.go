// Package connection runs commands on targets: over SSH with
// golang.org/x/crypto/ssh (one pooled connection per host, many sessions on
// it, host keys verified against known_hosts), or on the local machine.
package connection

import (
	"bytes"
	"context"
	"errors"
)

// Conn runs commands on one target.
type Conn interface {
	// Exec runs cmd, a POSIX shell command line, on the target and waits for
	// it to end. stdin, if not nil, is fed to the command's standard input.
	// A command that ran returns a Result (whatever its exit status) and a
	// nil error; an error means the command could not be run, and wraps
	// ErrUnreachable when the target could not be reached or authenticated.
	Exec(ctx context.Context, cmd string, stdin []byte) (*Result, error)
}

// PortableExecer is a Conn that can run a portable command line — one that
// means the same in POSIX sh and bash, ksh and the like: quoted words,
// assignments, case, [ ], command -v, printf, exec; nothing that differs
// between them, such as echo with backslashes — in the target's login
// shell itself when that is such a shell, sparing the exec of /bin/sh
// that Exec's "as /bin/sh -c" costs on every command.
type PortableExecer interface {
	ExecPortable(ctx context.Context, cmd string, stdin []byte) (*Result, error)
}

// ExecPortable runs the portable command line cmd on c: with c's
// ExecPortable when it has one, else with Exec.
func ExecPortable(ctx context.Context, c Conn, cmd string, stdin []byte) (*Result, error) {
	if p, ok := c.(PortableExecer); ok {
		return p.ExecPortable(ctx, cmd, stdin)
	}
	return c.Exec(ctx, cmd, stdin)
}

// Result is the outcome of one command.
type Result struct {
	Stdout []byte
	Stderr []byte
	// RC is the exit status; a command killed by signal N has RC -N, as
	// Python's subprocess reports it.
	RC int
	// Truncated is set when Stdout or Stderr holds only the first
	// Config.MaxOutput bytes of what the command printed.
	Truncated bool
}

// capped keeps the first max bytes written to it (all of them if max is
// 0) and drops the rest, so that a command's output costs at most max
// bytes of memory.
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.max - c.buf.Len(); c.max > 0 && len(p) > room {
		p, c.dropped = p[:max(room, 0)], true
	}
	c.buf.Write(p)
	return n, nil
}

// Sentinel errors, checked with errors.Is.
var (
	// ErrUnreachable wraps every failure to dial, handshake or authenticate.
	ErrUnreachable = errors.New("host unreachable")
	// ErrHostKey wraps host-key verification failures (unknown host or
	// mismatch); such errors also wrap ErrUnreachable.
	ErrHostKey = errors.New("host key verification failed")
)
