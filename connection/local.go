package connection

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// localConn runs commands on the local machine with /bin/sh -c, each in a
// process group of its own.
type localConn struct {
	log       *slog.Logger
	closed    func() bool // reports whether the pool is closed; may be nil
	maxOutput int         // Config.MaxOutput
}

// Exec runs cmd with /bin/sh -c. See Conn. When ctx ends, the command's
// process group gets SIGTERM, then SIGKILL after a second.
func (l *localConn) Exec(ctx context.Context, cmd string, stdin []byte) (*Result, error) {
	if l.closed != nil && l.closed() {
		return nil, ErrPoolClosed
	}
	c := exec.Command("/bin/sh", "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, stderr := &capped{max: l.maxOutput}, &capped{max: l.maxOutput}
	c.Stdout, c.Stderr = stdout, stderr
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("local: starting /bin/sh: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		pgid := c.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(cancelGrace)
		select {
		case <-done:
		case <-t.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			t.Reset(closeWait)
			select {
			case <-done:
			case <-t.C:
				// A process that left the group holds the output pipes;
				// its Wait goroutine ends when it does.
				l.log.Warn("local command still holds its output after being killed", "pid", pgid)
			}
		}
		t.Stop()
		return nil, fmt.Errorf("local command: %w", ctx.Err())
	}
	res := &Result{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes(), Truncated: stdout.dropped || stderr.dropped}
	if err == nil {
		return res, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.RC = -int(ws.Signal())
		} else {
			res.RC = ee.ExitCode()
		}
		return res, nil
	}
	return nil, fmt.Errorf("local command: %w", err)
}
