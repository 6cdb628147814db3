// Package broker runs an embedded NATS server with JetStream, the default
// message broker of a single-machine gorun: `gorun playbook` without a NATS
// URL, `gorun server`, and the tests.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an embedded server.
type Config struct {
	// StoreDir is where JetStream keeps its files (required). Streams and
	// buckets survive restarts on the same dir.
	StoreDir string
	// Listen is host:port to accept clients on; empty accepts only
	// in-process connections (see Server.InProcessConn).
	Listen string
	// HTTPListen is host:port of the NATS monitoring endpoint; empty is off.
	HTTPListen string
	// Name is the server name; default "gorun-embedded".
	Name string
	// MaxMemory and MaxStore cap JetStream's memory and file usage; zero
	// values default to 256 MiB and 10 GiB.
	MaxMemory, MaxStore int64
	// MaxPayload is the largest message; default 8 MiB (job records with
	// large outputs fit).
	MaxPayload int32
	// Token, when set, is required from every client (in-process ones too).
	Token string
	// ReadyTimeout bounds start-up; default 10 s.
	ReadyTimeout time.Duration
	// Logger receives the server's notices and errors when set.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.StoreDir == "" {
		return errors.New("broker: StoreDir is required (where JetStream keeps its files)")
	}
	if c.Name == "" {
		c.Name = "gorun-embedded"
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = 256 << 20
	}
	if c.MaxStore == 0 {
		c.MaxStore = 10 << 30
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = 8 << 20
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Second
	}
	return nil
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts an embedded server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating NATS store dir %s: %w", cfg.StoreDir, err)
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		JetStream:          true,
		StoreDir:           filepath.Clean(cfg.StoreDir),
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		MaxPayload:         cfg.MaxPayload,
		NoSigs:             true,
		NoLog:              cfg.Logger == nil,
		Authorization:      cfg.Token,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("NATS listen address %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.HTTPListen != "" {
		host, port, err := splitHostPort(cfg.HTTPListen)
		if err != nil {
			return nil, fmt.Errorf("NATS monitoring address %q: %w", cfg.HTTPListen, err)
		}
		opts.HTTPHost, opts.HTTPPort = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting embedded NATS: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(&logAdapter{l: cfg.Logger}, false, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS not ready after %s (store %s)", cfg.ReadyTimeout, cfg.StoreDir)
	}
	return &Server{ns: ns}, nil
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}

// InProcessConn returns an in-memory client connection (no TCP); it makes
// *Server usable with nats.InProcessServer.
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// ClientURL returns the nats:// URL clients can dial, or "" when the server
// accepts only in-process connections.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits until it has stopped. JetStream
// stops first (its streams and consumers written out, as Shutdown would):
// the server's own shutdown then has no pull request to signal, which it
// follows with a fixed 50 ms pause for the signals to get out — pulls of
// this process's executors, or of clients that reconnect anyway.
func (s *Server) Shutdown() {
	_ = s.ns.ShutdownJetStream()
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

type logAdapter struct{ l *slog.Logger }

func (a *logAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *logAdapter) Tracef(format string, v ...any)  {}
