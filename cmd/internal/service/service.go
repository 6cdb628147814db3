// Package service is what the long-running binaries (cmd/executor,
// cmd/dispatcher) share: their configuration from flags, environment and
// an optional YAML file (flags win over the environment, which wins over
// the file), logging, the NATS connection, and two-phase shutdown on
// SIGTERM/SIGINT.
package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gorun/gorun/metrics"
	"github.com/gorun/gorun/queue"
)

// Config is the configuration both services read. Zero values take the
// documented defaults.
type Config struct {
	NATS struct {
		URL      string `yaml:"url"`      // comma-separated nats:// URLs ($NATS_URL)
		Creds    string `yaml:"creds"`    // credentials file ($NATS_CREDS)
		NKey     string `yaml:"nkey"`     // nkey seed file ($NATS_NKEY)
		User     string `yaml:"user"`     // ($NATS_USER)
		Password string `yaml:"password"` // ($NATS_PASSWORD)
		TLS      struct {
			Cert string `yaml:"cert"` // client certificate ($NATS_CERT)
			Key  string `yaml:"key"`  // client key ($NATS_KEY)
			CA   string `yaml:"ca"`   // CA bundle ($NATS_CA)
		} `yaml:"tls"`
	} `yaml:"nats"`
	// Replicas of the streams and buckets the service creates: 1 or 3 ($GORUN_REPLICAS; default 1).
	Replicas int `yaml:"replicas"`
	// Assets: ensure (create what is missing), update, or bind ($GORUN_ASSETS; default ensure).
	Assets string `yaml:"assets"`
	// Retention of job and run records ($GORUN_RETENTION; default 168h).
	Retention time.Duration `yaml:"retention"`
	Log       struct {
		Level  string `yaml:"level"`  // debug, info, warn, error ($GORUN_LOG_LEVEL; default info)
		Format string `yaml:"format"` // text or json ($GORUN_LOG_FORMAT; default text)
	} `yaml:"log"`
	// StopTimeout is how long the first signal waits for running work ($GORUN_STOP_TIMEOUT; default 5m).
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// MetricsAddr is where /metrics, /healthz and /readyz are served ($GORUN_METRICS_ADDR; empty: off).
	MetricsAddr string `yaml:"metrics_addr"`
	// QueuePollInterval is how often the executor reads the task queue's
	// state for its metrics ($GORUN_QUEUE_POLL_INTERVAL; default 10s; negative: never).
	QueuePollInterval time.Duration `yaml:"queue_poll_interval"`
	Executor          struct {
		ID            string        `yaml:"id"`              // ($GORUN_EXECUTOR_ID; default hostname-pid)
		Forks         int           `yaml:"forks"`           // ($GORUN_FORKS; default 5)
		AckWait       time.Duration `yaml:"ack_wait"`        // ($GORUN_ACK_WAIT; default 30s)
		MaxAckPending int           `yaml:"max_ack_pending"` // fleet-wide cap of running jobs ($GORUN_MAX_ACK_PENDING; 0: none)
		// MetricsHostLabel adds a host label to gorun_jobs_finished_total ($GORUN_METRICS_HOST_LABEL=true; default off).
		MetricsHostLabel bool `yaml:"metrics_host_label"`
	} `yaml:"executor"`
	Dispatcher struct {
		ID          string `yaml:"id"`          // ($GORUN_DISPATCHER_ID)
		Concurrency int    `yaml:"concurrency"` // runs at once ($GORUN_CONCURRENCY; default 4)
		WorkDir     string `yaml:"work_dir"`    // ($GORUN_WORK_DIR; default the temp dir)
		// AckWait is how long a run may go without its dispatcher's
		// heartbeat before another dispatcher resumes it ($GORUN_RUN_ACK_WAIT; default 30s).
		AckWait time.Duration `yaml:"ack_wait"`
	} `yaml:"dispatcher"`
}

// Flags binds the configuration to a flag set; Load fills it.
type Flags struct {
	fs   *flag.FlagSet
	file string
	cfg  Config
}

// NewFlags defines the flags both services take on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	c := &f.cfg
	fs.StringVar(&f.file, "config", os.Getenv("GORUN_CONFIG"), "YAML configuration file ($GORUN_CONFIG)")
	fs.StringVar(&c.NATS.URL, "nats", "", "NATS server URL(s), comma-separated ($NATS_URL)")
	fs.StringVar(&c.NATS.Creds, "creds", "", "NATS credentials file ($NATS_CREDS)")
	fs.StringVar(&c.NATS.NKey, "nkey", "", "NATS nkey seed file ($NATS_NKEY)")
	fs.StringVar(&c.NATS.User, "user", "", "NATS user ($NATS_USER)")
	fs.StringVar(&c.NATS.Password, "password", "", "NATS password ($NATS_PASSWORD)")
	fs.StringVar(&c.NATS.TLS.Cert, "tlscert", "", "client TLS certificate ($NATS_CERT)")
	fs.StringVar(&c.NATS.TLS.Key, "tlskey", "", "client TLS key ($NATS_KEY)")
	fs.StringVar(&c.NATS.TLS.CA, "tlsca", "", "CA bundle to verify the NATS server ($NATS_CA)")
	fs.IntVar(&c.Replicas, "replicas", 0, "replicas of streams and buckets, 1 or 3 ($GORUN_REPLICAS; default 1)")
	fs.StringVar(&c.Assets, "assets", "", "ensure, update or bind the NATS assets ($GORUN_ASSETS; default ensure)")
	fs.DurationVar(&c.Retention, "retention", 0, "how long job and run records are kept ($GORUN_RETENTION; default 168h)")
	fs.StringVar(&c.Log.Level, "log-level", "", "debug, info, warn or error ($GORUN_LOG_LEVEL; default info)")
	fs.StringVar(&c.Log.Format, "log-format", "", "text or json ($GORUN_LOG_FORMAT; default text)")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", 0, "how long the first signal waits for running work ($GORUN_STOP_TIMEOUT; default 5m)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address of /metrics, /healthz, /readyz ($GORUN_METRICS_ADDR; default off)")
	return f
}

// Executor adds the executor's flags.
func (f *Flags) Executor() {
	c := &f.cfg
	f.fs.StringVar(&c.Executor.ID, "id", "", "executor id in job records ($GORUN_EXECUTOR_ID; default hostname-pid)")
	f.fs.IntVar(&c.Executor.Forks, "forks", 0, "jobs run at once ($GORUN_FORKS; default 5)")
	f.fs.DurationVar(&c.Executor.AckWait, "ack-wait", 0, "how long a job may go without a heartbeat before redelivery ($GORUN_ACK_WAIT; default 30s)")
	f.fs.IntVar(&c.Executor.MaxAckPending, "max-ack-pending", 0, "fleet-wide cap of jobs running at once, set on the shared consumer ($GORUN_MAX_ACK_PENDING; default none)")
	f.fs.BoolVar(&c.Executor.MetricsHostLabel, "metrics-host-label", false, "add a host label to gorun_jobs_finished_total: one series per host ($GORUN_METRICS_HOST_LABEL; default off)")
	f.fs.DurationVar(&c.QueuePollInterval, "queue-poll-interval", 0, "how often the task queue's state is read for metrics ($GORUN_QUEUE_POLL_INTERVAL; default 10s; negative: never)")
}

// Dispatcher adds the dispatcher's flags.
func (f *Flags) Dispatcher() {
	c := &f.cfg
	f.fs.StringVar(&c.Dispatcher.ID, "id", "", "dispatcher id in run records ($GORUN_DISPATCHER_ID; default hostname-pid)")
	f.fs.IntVar(&c.Dispatcher.Concurrency, "concurrency", 0, "runs run at once ($GORUN_CONCURRENCY; default 4)")
	f.fs.StringVar(&c.Dispatcher.WorkDir, "work-dir", "", "where run bundles are unpacked ($GORUN_WORK_DIR; default the temp dir)")
	f.fs.DurationVar(&c.Dispatcher.AckWait, "ack-wait", 0, "how long a run may go without its dispatcher's heartbeat before another resumes it ($GORUN_RUN_ACK_WAIT; default 30s)")
}

// Load parses args and merges the file, the environment and the flags.
func (f *Flags) Load(args []string, getenv func(string) string) (*Config, error) {
	if err := f.fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	flagged := f.cfg
	var cfg Config
	if f.file != "" {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return nil, fmt.Errorf("reading config %s: %w", f.file, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", f.file, err)
		}
	}
	str := func(dst *string, env, flagName, flagVal string) {
		if v := getenv(env); v != "" {
			*dst = v
		}
		if set[flagName] {
			*dst = flagVal
		}
	}
	var errs []error
	num := func(dst *int, env, flagName string, flagVal int) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s: %q is not a number", env, v))
			}
			*dst = n
		}
		if set[flagName] {
			*dst = flagVal
		}
	}
	dur := func(dst *time.Duration, env, flagName string, flagVal time.Duration) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s: %v", env, err))
			}
			*dst = d
		}
		if set[flagName] {
			*dst = flagVal
		}
	}
	str(&cfg.NATS.URL, "NATS_URL", "nats", flagged.NATS.URL)
	str(&cfg.NATS.Creds, "NATS_CREDS", "creds", flagged.NATS.Creds)
	str(&cfg.NATS.NKey, "NATS_NKEY", "nkey", flagged.NATS.NKey)
	str(&cfg.NATS.User, "NATS_USER", "user", flagged.NATS.User)
	str(&cfg.NATS.Password, "NATS_PASSWORD", "password", flagged.NATS.Password)
	str(&cfg.NATS.TLS.Cert, "NATS_CERT", "tlscert", flagged.NATS.TLS.Cert)
	str(&cfg.NATS.TLS.Key, "NATS_KEY", "tlskey", flagged.NATS.TLS.Key)
	str(&cfg.NATS.TLS.CA, "NATS_CA", "tlsca", flagged.NATS.TLS.CA)
	num(&cfg.Replicas, "GORUN_REPLICAS", "replicas", flagged.Replicas)
	str(&cfg.Assets, "GORUN_ASSETS", "assets", flagged.Assets)
	dur(&cfg.Retention, "GORUN_RETENTION", "retention", flagged.Retention)
	str(&cfg.Log.Level, "GORUN_LOG_LEVEL", "log-level", flagged.Log.Level)
	str(&cfg.Log.Format, "GORUN_LOG_FORMAT", "log-format", flagged.Log.Format)
	dur(&cfg.StopTimeout, "GORUN_STOP_TIMEOUT", "stop-timeout", flagged.StopTimeout)
	str(&cfg.MetricsAddr, "GORUN_METRICS_ADDR", "metrics-addr", flagged.MetricsAddr)
	str(&cfg.Executor.ID, "GORUN_EXECUTOR_ID", "id", flagged.Executor.ID)
	num(&cfg.Executor.Forks, "GORUN_FORKS", "forks", flagged.Executor.Forks)
	dur(&cfg.Executor.AckWait, "GORUN_ACK_WAIT", "ack-wait", flagged.Executor.AckWait)
	num(&cfg.Executor.MaxAckPending, "GORUN_MAX_ACK_PENDING", "max-ack-pending", flagged.Executor.MaxAckPending)
	dur(&cfg.QueuePollInterval, "GORUN_QUEUE_POLL_INTERVAL", "queue-poll-interval", flagged.QueuePollInterval)
	if v := getenv("GORUN_METRICS_HOST_LABEL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("$GORUN_METRICS_HOST_LABEL: %q is not true or false", v))
		}
		cfg.Executor.MetricsHostLabel = b
	}
	if set["metrics-host-label"] {
		cfg.Executor.MetricsHostLabel = flagged.Executor.MetricsHostLabel
	}
	str(&cfg.Dispatcher.ID, "GORUN_DISPATCHER_ID", "id", flagged.Dispatcher.ID)
	num(&cfg.Dispatcher.Concurrency, "GORUN_CONCURRENCY", "concurrency", flagged.Dispatcher.Concurrency)
	str(&cfg.Dispatcher.WorkDir, "GORUN_WORK_DIR", "work-dir", flagged.Dispatcher.WorkDir)
	dur(&cfg.Dispatcher.AckWait, "GORUN_RUN_ACK_WAIT", "ack-wait", flagged.Dispatcher.AckWait)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &cfg, cfg.validate()
}

func (c *Config) validate() error {
	if c.NATS.URL == "" {
		return errors.New("no NATS URL: use --nats URL, $NATS_URL or nats.url in the config file")
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		return fmt.Errorf("replicas must be 1, 3 or 5, got %d", c.Replicas)
	}
	if _, err := queue.ParseAssets(c.Assets); err != nil {
		return err
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 5 * time.Minute
	}
	if c.QueuePollInterval == 0 {
		c.QueuePollInterval = metrics.DefaultQueuePollInterval
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("metrics address %q: want host:port, e.g. :9467 or 127.0.0.1:9467", c.MetricsAddr)
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log format %q: want text or json", c.Log.Format)
	}
	return nil
}

// AssetsMode returns the parsed assets mode.
func (c *Config) AssetsMode() queue.Assets {
	m, _ := queue.ParseAssets(c.Assets)
	return m
}

// Logger returns the configured logger, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Connect connects to NATS as configured.
func (c *Config) Connect(ctx context.Context, name string, log *slog.Logger) (*queue.Conn, error) {
	return queue.Connect(ctx, queue.ConnConfig{URL: c.NATS.URL, Name: name, CredsFile: c.NATS.Creds,
		NKeyFile: c.NATS.NKey, User: c.NATS.User, Password: c.NATS.Password, TLSCert: c.NATS.TLS.Cert,
		TLSKey: c.NATS.TLS.Key, TLSCA: c.NATS.TLS.CA, Logger: log})
}

// Stopper is something that stops in two phases: Stop lets running work
// finish until ctx ends, then cancels it.
type Stopper interface {
	Stop(ctx context.Context) error
}

// RunUntilSignal blocks until SIGTERM or SIGINT, then stops s: the soft
// phase lasts until timeout or a second signal.
func RunUntilSignal(ctx context.Context, log *slog.Logger, timeout time.Duration, s Stopper) error {
	sig, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	<-sig.Done()
	stop()
	log.Info("stopping: no new work; waiting for running work (signal again to cancel it)", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	second, stop2 := signal.NotifyContext(sctx, os.Interrupt, syscall.SIGTERM)
	defer stop2()
	return s.Stop(second)
}
