// Package dispatcher runs playbooks: it expands plays × hosts × tasks,
// renders each task with its host's variables, publishes one job per
// (host, task) to the work queue, learns each job's outcome from the KV job
// records (one watch per process), and evaluates register, when, loop,
// until, changed_when and failed_when on the results, reporting everything
// to a Callback in the order Ansible's default output shows it.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/status"
)

// Publisher enqueues jobs (queue.Queue implements it).
type Publisher interface {
	Publish(ctx context.Context, j *job.Job) error
}

// Config configures a run. Zero values take the documented defaults.
type Config struct {
	// RunID names the run in job records; default a fresh id.
	RunID string
	// Forks is -f: at most this many hosts run a task at once (default 5).
	Forks int
	// Limit is -l, a host pattern further restricting every play's hosts.
	Limit string
	// ExtraVars are -e variables, the highest precedence.
	ExtraVars map[string]any
	// Verbosity is the number of -v.
	Verbosity int
	// Check is --check.
	Check bool
	// Connection is -c, the default connection type (default "ssh").
	Connection string
	// RemoteUser is -u, the default remote user.
	RemoteUser string
	// PrivateKeyFile is --private-key, the default key file.
	PrivateKeyFile string
	// ConnectTimeout is --timeout / ansible.cfg timeout (default 10 s).
	ConnectTimeout time.Duration
	// HostKeyChecking is false only when turned off the Ansible way.
	HostKeyChecking bool
	// SSHArgs are default extra ssh arguments (ANSIBLE_SSH_ARGS or
	// ansible.cfg ssh_args); only -o UserKnownHostsFile and -o
	// StrictHostKeyChecking are honoured.
	SSHArgs string
	// Become, BecomeUser, BecomeMethod and BecomePassword are the -b,
	// --become-user, --become-method and -K defaults.
	Become         bool
	BecomeUser     string
	BecomeMethod   string
	BecomePassword string
	// PollInterval is the default poll of async tasks, in seconds (default 10).
	PollInterval int
	// AsyncDir is the default async job directory (default ~/.ansible_async).
	AsyncDir string
	// SourceRoot is where the run's files were unpacked (a submitted run),
	// left out of the positions that job ids derive from, so that a run
	// resumed by another dispatcher finds the same job ids.
	SourceRoot string
	// SealKey is the run's key for the records of its no_log jobs, which
	// keep their results sealed under it (see status.UseSealKey); default
	// a fresh one. A run resumed by another dispatcher needs the key of
	// its first one to read the results of the jobs started before.
	SealKey []byte
	// Logger receives the dispatcher's logs.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.RunID == "" {
		c.RunID = NewRunID()
	}
	if c.Forks == 0 {
		c.Forks = 5
	}
	if c.Forks < 1 {
		return fmt.Errorf("dispatcher: forks must be at least 1, got %d", c.Forks)
	}
	if c.Connection == "" {
		c.Connection = "ssh"
	}
	if c.Connection != "ssh" && c.Connection != "local" && c.Connection != "smart" && c.Connection != "paramiko" {
		return fmt.Errorf("dispatcher: connection type %q is not supported (ssh or local)", c.Connection)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10
	}
	if c.AsyncDir == "" {
		c.AsyncDir = "~/.ansible_async"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SealKey == nil {
		c.SealKey = status.NewSealKey()
	}
	if len(c.SealKey) != status.SealKeySize {
		return fmt.Errorf("dispatcher: seal key of %d bytes, want %d", len(c.SealKey), status.SealKeySize)
	}
	return nil
}

// NewRunID returns a fresh run id.
func NewRunID() string {
	return fmt.Sprintf("r%s-%06d", time.Now().UTC().Format("20060102T150405"), rand.IntN(1_000_000))
}

// Stats are one host's counters in the PLAY RECAP.
type Stats struct {
	OK, Changed, Unreachable, Failed, Skipped, Rescued, Ignored int
}

// Recap is the outcome of a run: per-host counters, in host order.
type Recap struct {
	Hosts []string
	Stats map[string]*Stats
}

// ExitCode returns ansible-playbook's exit code for the recap: 4 if any
// host was unreachable, 2 if any failed, else 0.
func (r *Recap) ExitCode() int {
	code := 0
	for _, s := range r.Stats {
		if s.Unreachable > 0 {
			return 4
		}
		if s.Failed > 0 {
			code = 2
		}
	}
	return code
}

// sealing gives every no_log job it publishes the run's seal key: the
// executor seals the job's record under it.
type sealing struct {
	Publisher
	key []byte
}

func (p sealing) Publish(ctx context.Context, j *job.Job) error {
	if j.NoLog {
		j.SealKey = p.key
	}
	return p.Publisher.Publish(ctx, j)
}

// Runner runs playbooks.
type Runner struct {
	cfg   Config
	pub   Publisher
	st    *status.Store
	inv   *inventory.Inventory
	tmpl  *jinja.Env
	cb    Callback
	log   *slog.Logger
	limit map[string]bool // nil: no limit

	mu     sync.Mutex
	hosts  map[string]*hostState
	order  []string // hosts in first-seen order, for the recap
	forks  chan struct{}
	jobs   sync.WaitGroup
	groups map[string][]string
}

// New returns a runner.
func New(cfg Config, pub Publisher, st *status.Store, inv *inventory.Inventory, cb Callback) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cb == nil {
		cb = NopCallback{}
	}
	r := &Runner{cfg: cfg, pub: sealing{pub, cfg.SealKey}, st: st, inv: inv, tmpl: jinja.New(), cb: cb, log: cfg.Logger.With("run_id", cfg.RunID),
		hosts: map[string]*hostState{}, forks: make(chan struct{}, cfg.Forks)}
	r.groups = inv.Groups()
	if cfg.Limit != "" {
		hosts, warns, err := inv.Select(cfg.Limit)
		if err != nil {
			return nil, fmt.Errorf("limit %q: %w", cfg.Limit, err)
		}
		for _, w := range warns {
			cb.Warning(w)
		}
		r.limit = map[string]bool{}
		for _, h := range hosts {
			r.limit[h] = true
		}
	}
	return r, nil
}

// RunID returns the run's id.
func (r *Runner) RunID() string { return r.cfg.RunID }

// ErrInterrupted is returned by Run when ctx was cancelled.
var ErrInterrupted = errors.New("run interrupted")

// Run runs the playbooks in order and returns the recap. An error means the
// run could not go on (interrupted, or the queue failed); the recap then
// holds what was done.
func (r *Runner) Run(ctx context.Context, books []*playbook.Playbook) (*Recap, error) {
	release, err := r.st.UseSealKey(r.cfg.RunID, r.cfg.SealKey)
	if err != nil {
		return r.recap(), err
	}
	defer release()
	for bi, pb := range books {
		r.cb.PlaybookStart(pb)
		for pi, play := range pb.Plays {
			if err = r.runPlay(ctx, bi, pi, pb, play); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	r.jobs.Wait()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
	}
	recap := r.recap()
	if err == nil || errors.Is(err, ErrInterrupted) {
		// an error that stops the run (a bad host pattern, the queue
		// failing) ends it without a recap, as an AnsibleError does
		r.cb.Recap(recap)
	}
	return recap, err
}

func (r *Runner) recap() *Recap {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := &Recap{Stats: map[string]*Stats{}}
	for _, h := range r.order {
		hs := r.hosts[h]
		s := hs.stats
		rc.Stats[h] = &s
		rc.Hosts = append(rc.Hosts, h)
	}
	sort.Strings(rc.Hosts)
	return rc
}

// host returns the state of a host, creating it on first use.
func (r *Runner) host(name string) *hostState {
	r.mu.Lock()
	defer r.mu.Unlock()
	hs := r.hosts[name]
	if hs == nil {
		hs = &hostState{name: name, facts: map[string]any{}, vars: map[string]any{}}
		r.hosts[name] = hs
		r.order = append(r.order, name)
	}
	return hs
}

// hostState is what a run knows about one host.
type hostState struct {
	name string
	mu   sync.Mutex
	// facts are ansible_facts (gathered, or set by set_fact/modules).
	facts map[string]any
	// vars are set_fact and registered variables.
	vars        map[string]any
	failed      bool // failed for the rest of the run
	unreachable bool
	stats       Stats
}

func (h *hostState) count(f func(s *Stats)) {
	h.mu.Lock()
	f(&h.stats)
	h.mu.Unlock()
}

func (h *hostState) done() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed || h.unreachable
}
