// Package connection runs commands on targets: over SSH with
// golang.org/x/crypto/ssh (one pooled connection per host, many sessions on
// it, host keys verified against known_hosts), or on the local machine.
package connection

import (
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

// Result is the outcome of one command.
type Result struct {
	Stdout []byte
	Stderr []byte
	// RC is the exit status; a command killed by signal N has RC -N, as
	// Python's subprocess reports it.
	RC int
}

// Sentinel errors, checked with errors.Is.
var (
	// ErrUnreachable wraps every failure to dial, handshake or authenticate.
	ErrUnreachable = errors.New("host unreachable")
	// ErrHostKey wraps host-key verification failures (unknown host or
	// mismatch); such errors also wrap ErrUnreachable.
	ErrHostKey = errors.New("host key verification failed")
)
