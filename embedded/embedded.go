// Package embedded is the single-machine gorun: a NATS server with
// JetStream embedded in the process (files in a state directory), the task
// queue and job-record store on it, and an in-process executor — what
// `gorun playbook` uses when no NATS URL is given.
//
// One process at a time owns a state directory (a lock file); it serves
// NATS on a loopback port whose URL and token it writes into the directory
// (mode 0600), so another gorun process started meanwhile on the same
// directory joins it as a client instead of failing.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorun/gorun/broker"
	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// Config configures an embedded node.
type Config struct {
	// StateDir holds the JetStream files, the lock and the URL file (required).
	StateDir string
	// Listen, if set, is the address the owner's NATS server listens on
	// (gorun server); default a random loopback port with a random token.
	Listen string
	// Token is required from clients when Listen is set (empty: none).
	Token string
	// Forks is the in-process executor's fork count; 0 starts no executor.
	Forks int
	// Metrics, if set, counts the in-process executor's jobs and dials.
	Metrics *metrics.Executor
	// Runs opens the run queue (GORUN_RUNS and its dispatchers' consumer,
	// GORUN_LOG, the bundles) at start, as a server that dispatches
	// submitted runs needs; otherwise Node.OpenRuns opens it when asked. A
	// playbook run needs none of it (nor the shutdown time of a consumer).
	Runs bool
	// Queue and Store override the queue and bucket settings.
	Queue  queue.Config
	Store  status.Config
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.StateDir == "" {
		return errors.New("embedded: StateDir is required")
	}
	if c.Forks < 0 {
		return fmt.Errorf("embedded: forks must not be negative, got %d", c.Forks)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Queue.AckWait == 0 {
		c.Queue.AckWait = 30 * time.Second
	}
	return nil
}

// Node is a running embedded gorun.
type Node struct {
	Conn  *queue.Conn
	Queue *queue.Queue
	Store *status.Store
	// Runs is the run queue, once open (see Config.Runs and OpenRuns).
	Runs     *queue.Runs
	RunStore *status.RunStore
	Registry *status.Registry
	Locks    *status.Locks
	Pool     *connection.Pool
	Executor *executor.Executor // nil when Forks is 0

	server    *broker.Server // nil when joined another process's server
	lock      *os.File
	dir       string
	log       *slog.Logger
	runsMu    sync.Mutex
	retention time.Duration // of the run queue's logs and bundles
}

const (
	lockFile = "gorun.lock"
	urlFile  = "nats.url"
)

// Start starts (or joins) the embedded broker in cfg.StateDir and, with
// Forks > 0, an in-process executor.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir %s: %w", cfg.StateDir, err)
	}
	n := &Node{dir: cfg.StateDir, log: cfg.Logger}
	ok := false
	defer func() {
		if !ok {
			n.Close(context.Background())
		}
	}()
	// Output kept up to four times what a record keeps (see cmd/executor).
	maxOutput := cfg.Store.MaxOutput
	if maxOutput == 0 {
		maxOutput = status.DefaultMaxOutput
	}
	var err error
	if n.Pool, err = connection.NewPool(connection.Config{Logger: cfg.Logger, Observer: observer(cfg.Metrics),
		MaxOutput: 4 * maxOutput}); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(cfg.StateDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock in %s: %w", cfg.StateDir, err)
	}
	var cc queue.ConnConfig
	cc.Logger = cfg.Logger
	cc.Name = "gorun-embedded"
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		n.lock = lf
		token, listen := cfg.Token, cfg.Listen
		if listen == "" {
			listen = "127.0.0.1:-1"
			if token, err = randomToken(); err != nil {
				return nil, err
			}
		}
		n.server, err = broker.Start(broker.Config{StoreDir: filepath.Join(cfg.StateDir, "nats"),
			Listen: listen, Token: token, Logger: nil})
		if err != nil {
			return nil, err
		}
		url := n.server.ClientURL()
		if token != "" {
			url = strings.Replace(url, "nats://", "nats://"+token+"@", 1)
		}
		if err := writeFileAtomic(filepath.Join(cfg.StateDir, urlFile), []byte(url+"\n")); err != nil {
			return nil, err
		}
		cc.InProcess, cc.Token = n.server, token
	} else {
		lf.Close()
		data, err := os.ReadFile(filepath.Join(cfg.StateDir, urlFile))
		if err != nil {
			return nil, fmt.Errorf("state dir %s is in use by another gorun, and its NATS URL is unreadable: %w", cfg.StateDir, err)
		}
		cc.URL = strings.TrimSpace(string(data))
		cfg.Logger.Info("joining the embedded NATS of another gorun process", "state_dir", cfg.StateDir)
	}
	if n.Conn, err = queue.Connect(ctx, cc); err != nil {
		return nil, err
	}
	if n.Queue, err = queue.Open(ctx, n.Conn, cfg.Queue); err != nil {
		return nil, err
	}
	if n.Store, err = status.Open(ctx, n.Conn.JetStream(), cfg.Store); err != nil {
		return nil, err
	}
	n.retention = cfg.Store.Retention
	if cfg.Runs {
		if _, err = n.OpenRuns(ctx); err != nil {
			return nil, err
		}
	}
	if n.RunStore, err = status.OpenRuns(ctx, n.Conn.JetStream(), cfg.Store); err != nil {
		return nil, err
	}
	if n.Registry, err = status.OpenRegistry(ctx, n.Conn.JetStream(), status.RegistryConfig{}); err != nil {
		return nil, err
	}
	if n.Locks, err = status.OpenLocks(ctx, n.Conn.JetStream(), status.LocksConfig{}); err != nil {
		return nil, err
	}
	if cfg.Forks > 0 {
		if n.Executor, err = executor.New(executor.Config{Forks: cfg.Forks, Logger: cfg.Logger,
			Registry: n.Registry, Locks: n.Locks, Metrics: cfg.Metrics}, n.Queue, n.Store, n.Pool); err != nil {
			return nil, err
		}
		if err := n.Executor.Start(ctx); err != nil {
			return nil, err
		}
	}
	ok = true
	return n, nil
}

// OpenRuns returns the run queue, creating its streams, consumer and
// bundle store the first time (see Config.Runs).
func (n *Node) OpenRuns(ctx context.Context) (*queue.Runs, error) {
	n.runsMu.Lock()
	defer n.runsMu.Unlock()
	if n.Runs == nil {
		// run output and bundles are kept as long as the records (when created)
		r, err := queue.OpenRuns(ctx, n.Conn, queue.RunsConfig{Retention: n.retention})
		if err != nil {
			return nil, err
		}
		n.Runs = r
	}
	return n.Runs, nil
}

// Owner reports whether this process owns the state directory (started its
// NATS server); then no other process's executor is running on it.
func (n *Node) Owner() bool { return n.server != nil }

// Close stops the executor (letting running jobs finish until ctx ends),
// then the connection and the server.
func (n *Node) Close(ctx context.Context) error {
	var err error
	if n.Executor != nil {
		err = n.Executor.Stop(ctx)
	}
	// The SSH connections close while NATS stops (each wakes its sshd:
	// on a busy machine that is time to overlap).
	poolClosed := make(chan struct{})
	go func() {
		defer close(poolClosed)
		if n.Pool != nil {
			n.Pool.Close()
		}
	}()
	if n.Store != nil {
		n.Store.Close()
	}
	if n.Conn != nil {
		n.Conn.Close()
	}
	if n.server != nil {
		_ = os.Remove(filepath.Join(n.dir, urlFile))
		n.server.Shutdown()
	}
	<-poolClosed
	if n.lock != nil {
		_ = syscall.Flock(int(n.lock.Fd()), syscall.LOCK_UN)
		n.lock.Close()
	}
	return err
}

func randomToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating NATS token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// DefaultStateDir returns $XDG_STATE_HOME/gorun, or ~/.local/state/gorun.
func DefaultStateDir(xdgStateHome, home string) string {
	if xdgStateHome != "" {
		return filepath.Join(xdgStateHome, "gorun")
	}
	return filepath.Join(home, ".local", "state", "gorun")
}

// observer returns m as the pool's observer, or nil (not a typed nil).
func observer(m *metrics.Executor) connection.Observer {
	if m == nil {
		return nil
	}
	return m
}
