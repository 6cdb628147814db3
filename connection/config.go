package connection

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	// DefaultConnectTimeout bounds dialling, and separately the SSH
	// handshake with authentication, as Ansible's timeout (10 s) does.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultKeepAlive is the interval of keepalive requests on a connection.
	DefaultKeepAlive = 15 * time.Second
	// DefaultMaxSessions is the number of sessions run at once on one
	// connection, kept below OpenSSH's default MaxSessions (10).
	DefaultMaxSessions = 8
)

// Config configures a Pool. Its zero value is valid: every field has a
// default.
type Config struct {
	// ConnectTimeout bounds the TCP connect to a target and, separately, the
	// SSH handshake and authentication that follow, unless the target sets
	// its own (job.Target.ConnectTimeout). 0 means DefaultConnectTimeout
	// (10 s).
	ConnectTimeout time.Duration
	// KeepAlive is the interval at which each connection sends a
	// keepalive@openssh.com request. A connection whose request fails, or is
	// not answered within KeepAlive, is closed and dropped from the pool; the
	// next Exec on it dials again. 0 means DefaultKeepAlive (15 s); a
	// negative value turns keepalives off.
	KeepAlive time.Duration
	// MaxSessions is the number of sessions (commands) run at once on one
	// connection. Exec calls beyond it, on the same target, wait for a free
	// slot (or for their context to end): the pool never opens a second
	// connection to a target. Keep it at or below the servers' MaxSessions
	// (OpenSSH's default is 10). 0 means DefaultMaxSessions (8).
	MaxSessions int
	// MaxOutput, if positive, is how many bytes of a command's stdout, and
	// of its stderr, Exec keeps in its Result: the rest is read and
	// dropped, and Result.Truncated says so. Executors set it (above what a
	// job record keeps), so that a command printing gigabytes costs them no
	// more memory than this. 0 keeps everything.
	MaxOutput int
	// Logger receives the pool's debug logs (dials, re-dials, skipped keys,
	// dropped connections). nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told of every SSH dial (metrics).
	Observer Observer
}

// Observer is told of the pool's SSH dials. Its methods must be quick and
// safe for concurrent use.
type Observer interface {
	// Dialed reports a dial: the time of its TCP connect and of its SSH
	// handshake (key exchange, host key check, authentication), and the
	// reason it failed ("" on success): one of "dns", "refused", "timeout",
	// "unreachable", "reset", "closed", "host_key", "auth", "other".
	Dialed(connect, handshake time.Duration, reason string)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports the first invalid field of c, saying how to fix it.
func (c Config) validate() error {
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("connection: Config.ConnectTimeout is %v: use a positive duration, or 0 for the default (%v)", c.ConnectTimeout, DefaultConnectTimeout)
	}
	if c.MaxSessions < 0 {
		return fmt.Errorf("connection: Config.MaxSessions is %d: use a positive number at or below the servers' sshd MaxSessions (OpenSSH's default is 10), or 0 for the default (%d)", c.MaxSessions, DefaultMaxSessions)
	}
	if c.MaxOutput < 0 {
		return fmt.Errorf("connection: Config.MaxOutput is %d: use a positive number of bytes, or 0 to keep all output", c.MaxOutput)
	}
	if c.KeepAlive > 0 && c.KeepAlive < 100*time.Millisecond {
		return fmt.Errorf("connection: Config.KeepAlive is %v: use at least 100ms, 0 for the default (%v), or a negative value to turn keepalives off", c.KeepAlive, DefaultKeepAlive)
	}
	return nil
}
