// Package become runs commands as another user on a target (Ansible's
// privilege escalation): it wraps a connection so that every command, and
// every long-running session such as the async agent, goes through sudo or
// su, feeding the become password when there is one.
package become

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrMissingPassword: sudo asked for a password and none was given.
	ErrMissingPassword = errors.New("Missing sudo password")
	// ErrIncorrectPassword: the become password was refused.
	ErrIncorrectPassword = errors.New("Incorrect sudo password")
	// ErrMethod: the become method is not supported.
	ErrMethod = errors.New("unsupported become method")
)

// Methods are the supported become methods.
var Methods = []string{"sudo", "su"}

// Wrap returns conn unchanged when t asks for no privilege escalation,
// else a connection that runs everything as t.BecomeUser (default root)
// through t.BecomeMethod (default sudo).
func Wrap(conn connection.Conn, t job.Target) (connection.Conn, error) {
	if !t.Become {
		return conn, nil
	}
	method := t.BecomeMethod
	if method == "" {
		method = "sudo"
	}
	if method != "sudo" && method != "su" {
		return nil, fmt.Errorf("%w %q: gorun supports %s", ErrMethod, method, strings.Join(Methods, " and "))
	}
	user := t.BecomeUser
	if user == "" {
		user = "root"
	}
	if method == "su" && t.BecomePassword != "" {
		return nil, fmt.Errorf("%w: su with a password needs a terminal, which gorun does not drive; use sudo, or su from root without a password", ErrMethod)
	}
	return &becomeConn{inner: conn, method: method, user: user, password: t.BecomePassword}, nil
}

type becomeConn struct {
	inner    connection.Conn
	method   string
	user     string
	password string
}

// prompt is the sudo prompt gorun sets, on a line of its own, so that it
// can tell the prompt from the command's output.
const prompt = "[gorun-become-password]\n"

// command returns the command line that runs cmd as the become user.
func (c *becomeConn) command(cmd string) string {
	switch c.method {
	case "su":
		return "su " + shellQuote(c.user) + " -s /bin/sh -c " + shellQuote(cmd)
	default:
		if c.password == "" {
			return "sudo -H -S -n -u " + shellQuote(c.user) + " /bin/sh -c " + shellQuote(cmd)
		}
		return "sudo -H -S -p " + shellQuote(prompt) + " -u " + shellQuote(c.user) + " /bin/sh -c " + shellQuote(cmd)
	}
}

// stdin prepends the password line sudo -S reads first.
func (c *becomeConn) stdin(in []byte) []byte {
	if c.method != "sudo" || c.password == "" {
		return in
	}
	return append([]byte(c.password+"\n"), in...)
}

// Exec implements connection.Conn.
func (c *becomeConn) Exec(ctx context.Context, cmd string, stdin []byte) (*connection.Result, error) {
	if c.method == "sudo" && c.password != "" && stdin == nil {
		stdin = []byte{}
	}
	res, err := c.inner.Exec(ctx, c.command(cmd), c.stdin(stdin))
	if err != nil {
		return nil, err
	}
	if err := c.check(res.RC, res.Stderr); err != nil {
		return nil, err
	}
	res.Stderr = stripPrompt(res.Stderr)
	return res, nil
}

// check recognises sudo's own failures (as opposed to the command's).
func (c *becomeConn) check(rc int, stderr []byte) error {
	if c.method != "sudo" || rc != 1 {
		return nil
	}
	s := string(stderr)
	switch {
	case strings.Contains(s, "a password is required"):
		return ErrMissingPassword
	case strings.Contains(s, "incorrect password attempt"):
		return ErrIncorrectPassword
	case strings.Contains(s, "is not in the sudoers file"), strings.Contains(s, "is not allowed to execute"):
		return fmt.Errorf("sudo refused: %s", strings.TrimSpace(string(stripPrompt(stderr))))
	}
	return nil
}

func stripPrompt(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(prompt), nil)
}

// Start implements connection.Starter: the session runs as the become user.
func (c *becomeConn) Start(ctx context.Context, cmd string) (*connection.Proc, error) {
	st, ok := c.inner.(connection.Starter)
	if !ok {
		return nil, fmt.Errorf("become: connection %T cannot start sessions", c.inner)
	}
	p, err := st.Start(ctx, c.command(cmd))
	if err != nil {
		return nil, err
	}
	if c.method == "sudo" && c.password != "" {
		if _, err := io.WriteString(p.Stdin, c.password+"\n"); err != nil {
			p.Close()
			return nil, fmt.Errorf("become: sending the password: %w", err)
		}
	}
	return p, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
