package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/embedded"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/queue"
	"github.com/gorun/gorun/status"
)

// natsOpts are the options every command that talks to NATS takes.
var natsOpts = []*opt{
	{long: []string{"nats"}, arg: "URL", help: "NATS server URL(s), comma-separated (default $NATS_URL; none: embedded server)"},
	{long: []string{"creds"}, arg: "FILE", help: "NATS credentials file (default $NATS_CREDS)"},
	{long: []string{"nkey"}, arg: "FILE", help: "NATS nkey seed file (default $NATS_NKEY)"},
	{long: []string{"nats-user"}, arg: "USER", help: "NATS user (default $NATS_USER)"},
	{long: []string{"nats-password"}, arg: "PASSWORD", help: "NATS password (default $NATS_PASSWORD)"},
	{long: []string{"tlscert"}, arg: "FILE", help: "client TLS certificate (default $NATS_CERT)"},
	{long: []string{"tlskey"}, arg: "FILE", help: "client TLS key (default $NATS_KEY)"},
	{long: []string{"tlsca"}, arg: "FILE", help: "CA to verify the NATS server (default $NATS_CA)"},
	{long: []string{"context"}, arg: "NAME", help: "use this nats CLI context (~/.config/nats/context/NAME.json; default $NATS_CONTEXT)"},
	{long: []string{"state-dir"}, arg: "DIR", help: "embedded mode state directory (default $GORUN_STATE_DIR, $XDG_STATE_HOME/gorun or ~/.local/state/gorun)"},
	{long: []string{"retention"}, arg: "DURATION", help: "embedded mode: how long job and run records are kept after their last change, e.g. 168h (default $GORUN_RETENTION or 168h; set, it updates the state directory's buckets)"},
}

// backend is the NATS side of a command: either an embedded node or a
// connection to an external server.
type backend struct {
	Queue *queue.Queue
	Store *status.Store
	// runs, runStore and registry are opened on first use (only the run
	// commands need them; a dispatcher or executor creates them).
	runs     *queue.Runs
	runStore *status.RunStore
	registry *status.Registry
	node     *embedded.Node
	conn     *queue.Conn
	pool     *connection.Pool
}

// poolOf returns a connection pool for direct work on targets (checking
// or cancelling jobs whose executor is gone).
func poolOf(b *backend) executor.Connector {
	if b.node != nil {
		return b.node.Pool
	}
	if b.pool == nil {
		b.pool, _ = connection.NewPool(connection.Config{})
	}
	return b.pool
}

// executorGone reports whether the executor that holds a job is gone: no
// executor can run besides this process's own (soleOwner), or the
// liveness registry has not seen it.
func (b *backend) executorGone(ctx context.Context, id string) bool {
	if b.soleOwner() {
		return b.node.Executor == nil || id != b.node.Executor.ID()
	}
	reg, err := b.Registry(ctx)
	if err != nil {
		return false
	}
	alive, err := reg.Alive(ctx, id)
	return err == nil && !alive
}

// soleOwner reports whether no executor but this process's can be running:
// an embedded node that owns its state directory.
func (b *backend) soleOwner() bool { return b.node != nil && b.node.Owner() }

func (b *backend) Close(ctx context.Context) error {
	if b.node != nil {
		return b.node.Close(ctx)
	}
	if b.pool != nil {
		b.pool.Close()
	}
	if b.Store != nil {
		b.Store.Close()
	}
	if b.conn != nil {
		b.conn.Close()
	}
	return nil
}

func orEnv(p *parsed, e *env, name, envName string) string {
	if v := p.str(name); v != "" {
		return v
	}
	return e.getenv(envName)
}

// openBackend connects to NATS as the options say: an external server when a
// URL is given, else the embedded one (with an executor of forks forks).
func openBackend(ctx context.Context, e *env, p *parsed, forks int, log *slog.Logger) (*backend, error) {
	url := orEnv(p, e, "nats", "NATS_URL")
	var nctx *natsContext
	if name := orEnv(p, e, "context", "NATS_CONTEXT"); name != "" {
		c, err := loadNATSContext(e, name)
		if err != nil {
			return nil, err
		}
		nctx = c
		if url == "" {
			url = c.URL
		}
	}
	if url == "" {
		dir := orEnv(p, e, "state-dir", "GORUN_STATE_DIR")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("finding the state directory: %w (set --state-dir or GORUN_STATE_DIR)", err)
			}
			dir = embedded.DefaultStateDir(e.getenv("XDG_STATE_HOME"), home)
		}
		sc, err := embeddedStore(p, e)
		if err != nil {
			return nil, err
		}
		n, err := embedded.Start(ctx, embedded.Config{StateDir: dir, Forks: forks, Logger: log, Store: sc})
		if err != nil {
			return nil, err
		}
		return &backend{Queue: n.Queue, Store: n.Store, runStore: n.RunStore, registry: n.Registry, node: n}, nil
	}
	cc := queue.ConnConfig{
		URL: url, Logger: log, Name: "gorun",
		CredsFile: orEnv(p, e, "creds", "NATS_CREDS"), NKeyFile: orEnv(p, e, "nkey", "NATS_NKEY"),
		User: orEnv(p, e, "nats-user", "NATS_USER"), Password: orEnv(p, e, "nats-password", "NATS_PASSWORD"),
		TLSCert: orEnv(p, e, "tlscert", "NATS_CERT"), TLSKey: orEnv(p, e, "tlskey", "NATS_KEY"), TLSCA: orEnv(p, e, "tlsca", "NATS_CA"),
	}
	if nctx != nil { // the context fills what flags and environment leave empty
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&cc.CredsFile, nctx.Creds)
		fill(&cc.NKeyFile, nctx.NKey)
		fill(&cc.User, nctx.User)
		fill(&cc.Password, nctx.Password)
		fill(&cc.Token, nctx.Token)
		fill(&cc.TLSCert, nctx.Cert)
		fill(&cc.TLSKey, nctx.Key)
		fill(&cc.TLSCA, nctx.CA)
	}
	conn, err := queue.Connect(ctx, cc)
	if err != nil {
		return nil, err
	}
	// Against an external NATS the CLI only binds: the services create the
	// streams and buckets, with the replicas the operator chose.
	b := &backend{conn: conn}
	if b.Queue, err = queue.Open(ctx, conn, queue.Config{Assets: queue.Bind}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w (are the executors running?)", err)
	}
	if b.Store, err = status.Open(ctx, conn.JetStream(), status.Config{Assets: queue.Bind}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w (are the executors running?)", err)
	}
	return b, nil
}

// Runs returns the run queue (GORUN_RUNS, GORUN_LOG, gorun_bundles).
// The embedded node opens (creates) it when first asked.
func (b *backend) Runs(ctx context.Context) (*queue.Runs, error) {
	if b.node != nil {
		return b.node.OpenRuns(ctx)
	}
	if b.runs == nil {
		r, err := queue.OpenRuns(ctx, b.conn, queue.RunsConfig{Assets: queue.Bind})
		if err != nil {
			return nil, fmt.Errorf("%w (is a dispatcher running?)", err)
		}
		b.runs = r
	}
	return b.runs, nil
}

// RunStore returns the run records.
func (b *backend) RunStore(ctx context.Context) (*status.RunStore, error) {
	if b.runStore == nil {
		rs, err := status.OpenRuns(ctx, b.conn.JetStream(), status.Config{Assets: queue.Bind})
		if err != nil {
			return nil, fmt.Errorf("%w (is a dispatcher running?)", err)
		}
		b.runStore = rs
	}
	return b.runStore, nil
}

// Registry returns the executor registry.
func (b *backend) Registry(ctx context.Context) (*status.Registry, error) {
	if b.registry == nil {
		reg, err := status.OpenRegistry(ctx, b.conn.JetStream(), status.RegistryConfig{Assets: queue.Bind})
		if err != nil {
			return nil, err
		}
		b.registry = reg
	}
	return b.registry, nil
}

// embeddedStore is the record buckets' configuration of an embedded node:
// a retention given with --retention or $GORUN_RETENTION is applied to
// existing buckets too (the default only to new ones).
func embeddedStore(p *parsed, e *env) (status.Config, error) {
	v := orEnv(p, e, "retention", "GORUN_RETENTION")
	if v == "" {
		return status.Config{}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return status.Config{}, fmt.Errorf("retention %q: want a duration of at least 1s, e.g. 168h or 30m (--retention or $GORUN_RETENTION)", v)
	}
	return status.Config{Retention: d, Assets: queue.Update}, nil
}
