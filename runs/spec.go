package runs

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gorun/gorun/dispatcher"
)

// Spec is what travels with a submitted run: which playbooks and
// inventories of the bundle to use, and ansible-playbook's options.
type Spec struct {
	RunID string `json:"run_id"`
	// Playbooks are absolute paths on the submitter's machine (found in the
	// bundle under the same paths).
	Playbooks []string `json:"playbooks"`
	// Inventory are the -i sources: absolute paths or host lists.
	Inventory []string  `json:"inventory,omitempty"`
	Options   Options   `json:"options"`
	Submitter string    `json:"submitter,omitempty"`
	Submitted time.Time `json:"submitted"`
	// SealKey is the run's key for the results of its no_log jobs (see
	// dispatcher.Config.SealKey), made by the submitter: a dispatcher that
	// resumes the run reads what the jobs of the first one recorded. It
	// lives only in the run's message, deleted when the run ends.
	SealKey []byte `json:"seal_key,omitempty"`
}

// Options are the run's ansible-playbook options (see dispatcher.Config).
type Options struct {
	Forks           int            `json:"forks,omitempty"`
	Limit           string         `json:"limit,omitempty"`
	ExtraVars       map[string]any `json:"extra_vars,omitempty"`
	Verbosity       int            `json:"verbosity,omitempty"`
	Check           bool           `json:"check,omitempty"`
	Connection      string         `json:"connection,omitempty"`
	RemoteUser      string         `json:"remote_user,omitempty"`
	PrivateKeyFile  string         `json:"private_key_file,omitempty"`
	ConnectTimeout  time.Duration  `json:"connect_timeout,omitempty"`
	HostKeyChecking bool           `json:"host_key_checking"`
	SSHArgs         string         `json:"ssh_args,omitempty"`
	PollInterval    int            `json:"poll_interval,omitempty"`
	AsyncDir        string         `json:"async_dir,omitempty"`
	Become          bool           `json:"become,omitempty"`
	BecomeUser      string         `json:"become_user,omitempty"`
	BecomeMethod    string         `json:"become_method,omitempty"`
	BecomePassword  string         `json:"become_password,omitempty"`
}

// OptionsOf takes a dispatcher configuration's options.
func OptionsOf(c dispatcher.Config) Options {
	return Options{Forks: c.Forks, Limit: c.Limit, ExtraVars: c.ExtraVars, Verbosity: c.Verbosity, Check: c.Check,
		Connection: c.Connection, RemoteUser: c.RemoteUser, PrivateKeyFile: c.PrivateKeyFile,
		ConnectTimeout: c.ConnectTimeout, HostKeyChecking: c.HostKeyChecking, SSHArgs: c.SSHArgs,
		PollInterval: c.PollInterval, AsyncDir: c.AsyncDir, Become: c.Become, BecomeUser: c.BecomeUser,
		BecomeMethod: c.BecomeMethod, BecomePassword: c.BecomePassword}
}

// Config returns the dispatcher configuration of the options.
func (o Options) Config(runID string) dispatcher.Config {
	return dispatcher.Config{RunID: runID, Forks: o.Forks, Limit: o.Limit, ExtraVars: o.ExtraVars,
		Verbosity: o.Verbosity, Check: o.Check, Connection: o.Connection, RemoteUser: o.RemoteUser,
		PrivateKeyFile: o.PrivateKeyFile, ConnectTimeout: o.ConnectTimeout, HostKeyChecking: o.HostKeyChecking,
		SSHArgs: o.SSHArgs, PollInterval: o.PollInterval, AsyncDir: o.AsyncDir, Become: o.Become,
		BecomeUser: o.BecomeUser, BecomeMethod: o.BecomeMethod, BecomePassword: o.BecomePassword}
}

// Encode returns the spec as JSON.
func (s *Spec) Encode() ([]byte, error) { return json.Marshal(s) }

// DecodeSpec parses a spec.
func DecodeSpec(data []byte) (*Spec, error) {
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decoding run spec: %w", err)
	}
	if s.RunID == "" || len(s.Playbooks) == 0 {
		return nil, fmt.Errorf("decoding run spec: no run id or no playbook")
	}
	for _, p := range s.Playbooks {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("decoding run spec: playbook path %q is not absolute", p)
		}
	}
	return &s, nil
}
