// Package queue is gorun's work queue on NATS JetStream: the connection to
// NATS, the work-queue stream of task messages (one per (host, task) job,
// deduplicated by job id), and the durable pull consumer that all executors
// share, pulled without prefetch so that an executor never holds more jobs
// than it has free forks.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// InProcessServer is an embedded NATS server that hands out in-memory
// connections (broker.Server implements it).
type InProcessServer interface {
	InProcessConn() (net.Conn, error)
}

// ConnConfig says how to reach NATS.
type ConnConfig struct {
	// URL is one or more comma-separated nats:// URLs. Ignored when InProcess is set.
	URL string
	// InProcess, when set, connects to an embedded server in memory.
	InProcess InProcessServer
	// Name is the client name shown in server monitoring (default "gorun").
	Name string
	// User and Password authenticate with a user/password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// CredsFile is a NATS .creds file (JWT + nkey seed).
	CredsFile string
	// NKeyFile is an nkey seed file.
	NKeyFile string
	// TLSCert and TLSKey are a client certificate and key (mutual TLS);
	// TLSCA is a CA bundle to verify the server.
	TLSCert, TLSKey, TLSCA string
	// ConnectTimeout bounds the first connection; default 5 s.
	ConnectTimeout time.Duration
	// Logger receives connection events and asynchronous errors (permission
	// violations are reported only there).
	Logger *slog.Logger
}

func (c *ConnConfig) validate() error {
	if c.InProcess == nil && strings.TrimSpace(c.URL) == "" {
		return errors.New("queue: no NATS URL given (use --nats URL or NATS_URL), and no embedded server")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("queue: --tlscert and --tlskey go together")
	}
	if c.Name == "" {
		c.Name = "gorun"
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Conn is a connection to NATS with its JetStream context.
type Conn struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	closed    chan struct{}
	inProcess bool
}

// Connect connects to NATS as cfg says.
func Connect(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	closed := make(chan struct{})
	opts := []nats.Option{
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading nkey seed %s: %w", cfg.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	url := cfg.URL
	if cfg.InProcess != nil {
		url = ""
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		ch <- result{nc, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to NATS %s: %w", redact(url), ctx.Err())
	}
	if r.err != nil {
		var ne net.Error
		if errors.As(r.err, &ne) && ne.Timeout() {
			// something listens but does not speak NATS (or is stuck):
			// say so, without the connection's ephemeral addresses
			return nil, fmt.Errorf("connecting to NATS %s: the server did not answer within %s: %w", redact(url), cfg.ConnectTimeout, os.ErrDeadlineExceeded)
		}
		return nil, fmt.Errorf("connecting to NATS %s: %w", redact(url), r.err)
	}
	js, err := jetstream.New(r.nc)
	if err != nil {
		r.nc.Close()
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	return &Conn{nc: r.nc, js: js, closed: closed, inProcess: cfg.InProcess != nil}, nil
}

// redact removes passwords from URLs for messages.
func redact(url string) string {
	if url == "" {
		return "(embedded)"
	}
	parts := strings.Split(url, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// JetStream returns the connection's JetStream context.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// Close drains and closes the connection. An in-process connection (whose
// server goes with the process) is flushed, then closed: what was sent is
// in, without Drain's wait for the server to take the unsubscriptions.
func (c *Conn) Close() {
	if c.inProcess {
		_ = c.nc.FlushTimeout(2 * time.Second)
		c.nc.Close()
		return
	}
	if err := c.nc.Drain(); err != nil {
		c.nc.Close()
	}
	// Drain is asynchronous; wait a little for it to finish.
	select {
	case <-c.closed:
	case <-time.After(2 * time.Second):
		c.nc.Close()
	}
}

// Connected returns nil while the connection is up, and an error saying
// its state otherwise (reconnecting, closed).
func (c *Conn) Connected() error {
	if st := c.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS connection is %s", strings.ToLower(st.String()))
	}
	return nil
}
