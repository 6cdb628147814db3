// Package job holds the types that travel between gorun's parts: the task
// message an executor pulls from the queue (Job), the connection parameters of
// its target (Target), and the job record kept in the KV bucket (Record).
//
// It is a leaf package: it imports nothing of gorun's, so every other package
// (queue, status, executor, dispatcher, the CLI) can share it.
package job

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"
	"unicode/utf8"
)

// State is the life-cycle state of a job record.
//
//	queued → running → finished | failed | timeout | cancelled | unreachable | lost
type State string

// The states of a job record.
const (
	StateQueued      State = "queued"      // accepted into the queue, not yet picked up
	StateRunning     State = "running"     // an executor claimed it and is running it
	StateFinished    State = "finished"    // the module ran and reported success
	StateFailed      State = "failed"      // the module ran and failed, or could not be started
	StateTimeout     State = "timeout"     // an async job passed its time limit and was killed
	StateCancelled   State = "cancelled"   // killed on request
	StateUnreachable State = "unreachable" // the target could not be reached or authenticated
	StateLost        State = "lost"        // the job exhausted its deliveries; its outcome is unknown
)

// Terminal reports whether no further state change follows s.
func (s State) Terminal() bool {
	switch s {
	case StateFinished, StateFailed, StateTimeout, StateCancelled, StateUnreachable, StateLost:
		return true
	}
	return false
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool { return s == StateQueued || s == StateRunning || s.Terminal() }

// Censored replaces what a no_log result hides, in Ansible's words.
const Censored = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"

// Target says how to reach the host a job runs on.
type Target struct {
	// Host is the inventory name of the host (inventory_hostname).
	Host string `json:"host"`
	// Connection is "ssh" (default) or "local".
	Connection string `json:"connection,omitempty"`
	// Address is the address to dial (ansible_host); empty means Host.
	Address string `json:"address,omitempty"`
	// Port is the SSH port (ansible_port); 0 means 22.
	Port int `json:"port,omitempty"`
	// User is the remote user (ansible_user / remote_user); empty means the local user.
	User string `json:"user,omitempty"`
	// Password is ansible_password / ansible_ssh_pass, used for password auth.
	Password string `json:"password,omitempty"`
	// PrivateKeyFiles are the key files to offer (ansible_ssh_private_key_file),
	// tried before ssh-agent and the default ~/.ssh keys.
	PrivateKeyFiles []string `json:"private_key_files,omitempty"`
	// KnownHostsFiles are the known_hosts files to check host keys against;
	// empty means ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	KnownHostsFiles []string `json:"known_hosts_files,omitempty"`
	// HostKeyChecking is false only when the user turned it off the Ansible way.
	HostKeyChecking bool `json:"host_key_checking"`
	// ConnectTimeout bounds dialling and authentication; 0 means the default (10 s).
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	// Become, BecomeUser, BecomeMethod and BecomePassword describe privilege escalation.
	Become         bool   `json:"become,omitempty"`
	BecomeUser     string `json:"become_user,omitempty"`
	BecomeMethod   string `json:"become_method,omitempty"`
	BecomePassword string `json:"become_password,omitempty"`
}

// Job is one (host, task) unit of work: the message published to the work
// queue and pulled by an executor.
type Job struct {
	// ID is the job id (jid), also the KV key and the Nats-Msg-Id.
	ID string `json:"jid"`
	// RunID names the playbook run the job belongs to.
	RunID string `json:"run_id"`
	// Task is the task's name as shown in the TASK banner.
	Task string `json:"task"`
	// Module is the canonical module name (command, shell, ...).
	Module string `json:"module"`
	// Args are the module arguments, templates already rendered.
	Args map[string]any `json:"args,omitempty"`
	// Env is the task's environment, exported before the command runs.
	Env map[string]string `json:"env,omitempty"`
	// Target says where and how to run.
	Target Target `json:"target"`
	// NoLog hides the result from logs and human-readable views.
	NoLog bool `json:"no_log,omitempty"`
	// SealKey is the run's key for the results of no_log jobs: their
	// records keep result, output, msg and args sealed under it (see
	// status.UseSealKey). Set on no_log jobs only; the message that carries
	// it is deleted once the job is done.
	SealKey []byte `json:"seal_key,omitempty"`
	// Async is the async time limit in seconds; 0 runs the job synchronously.
	Async int `json:"async,omitempty"`
	// Poll is the poll interval of an async job; 0 is fire-and-forget.
	Poll int `json:"poll,omitempty"`
	// AsyncDir is the job directory root on the target (ansible_async_dir).
	AsyncDir string `json:"async_dir,omitempty"`
	// CheckMode is true when the run is in check mode (--check).
	CheckMode bool `json:"check_mode,omitempty"`
	// Attempt counts until/retries attempts of the task, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Lock names a per-host lock the job holds while it runs (the task
	// keyword lock:, a gorun extension).
	Lock string `json:"lock,omitempty"`
	// Created is when the dispatcher made the job.
	Created time.Time `json:"created"`
	// RecordRevision is the revision of the job's record as the dispatcher
	// created it (NewRecord of this job), 0 if unknown: an executor may then
	// claim the record by compare-and-swap without reading it first.
	RecordRevision uint64 `json:"record_revision,omitempty"`
}

// Remote is the handle of an async job on its target, enough to re-attach to
// it, poll it or kill it from any process.
type Remote struct {
	// Dir is the job directory on the target.
	Dir string `json:"dir"`
	// PID is the process (group) id of the job on the target.
	PID int `json:"pid,omitempty"`
	// ResultsFile is the file Ansible users see as results_file.
	ResultsFile string `json:"results_file,omitempty"`
	// Launched is when the job started on its target.
	Launched time.Time `json:"launched,omitzero"`
	// Collected, when set, is the state the job ended in: its end was read
	// from the target and is held in the record (rc, output, result, end
	// time) while the job's directory is removed, and the record is written
	// terminal next. A process that takes the job over in between records
	// that end instead of looking for the removed files.
	Collected State `json:"collected,omitempty"`
}

// Record is the job record kept in the KV bucket under the job id.
type Record struct {
	JID    string `json:"jid"`
	RunID  string `json:"run_id"`
	Host   string `json:"host"`
	Task   string `json:"task"`
	Module string `json:"module"`
	State  State  `json:"state"`
	// RC is the exit status of the command, when there is one.
	RC *int `json:"rc,omitempty"`
	// Stdout and Stderr are the job's output, capped (see Truncated).
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// Output is set when the module's result has stdout and stderr keys
	// (kept in Stdout and Stderr instead of Result).
	Output bool `json:"output,omitempty"`
	// Truncated is set when Stdout or Stderr were cut to fit the record.
	Truncated bool `json:"truncated,omitempty"`
	// Result is the module's result as Ansible would register it, without
	// stdout/stderr and their _lines (see FullResult).
	Result map[string]any `json:"result,omitempty"`
	// Msg is a human-readable reason for failed, unreachable, timeout, lost.
	Msg string `json:"msg,omitempty"`
	// NoLog marks a record whose result is hidden from views. In the
	// bucket, such a record keeps Result, Stdout, Stderr, Msg and Args
	// censored (see Censored) and their real values in Sealed.
	NoLog bool `json:"no_log,omitempty"`
	// Sealed holds the real result, output, msg and args of a no_log job,
	// encrypted under its run's seal key; nil once opened (or when the
	// writer held no key: the values are then lost, not kept in clear).
	Sealed []byte `json:"sealed,omitempty"`
	// Target is where the job runs (secrets removed), so any process can
	// re-attach to it.
	Target Target `json:"target"`
	// Async is the time limit of an async job in seconds; Poll its poll interval.
	Async int `json:"async,omitempty"`
	Poll  int `json:"poll,omitempty"`
	// Remote is the handle of an async job on its target.
	Remote *Remote `json:"remote,omitempty"`
	// Args are an async job's module arguments, kept so that any process
	// can shape its result when it re-attaches.
	Args map[string]any `json:"args,omitempty"`
	// AsyncDir is an async job's async directory as given (unexpanded).
	AsyncDir string `json:"async_dir,omitempty"`
	// Executor names the executor that runs or ran the job.
	Executor string `json:"executor,omitempty"`
	// Attempt counts deliveries/claims of the job.
	Attempt int `json:"attempt,omitempty"`
	// Seq is the stream sequence of the task message the job was last
	// claimed from: a delivery of that very message whose count did not go
	// up (a consumer leader change can deliver it again so) is its holder's
	// message, not a duplicate to acknowledge.
	Seq uint64 `json:"seq,omitempty"`
	// CancelRequested asks the job's executor to kill it and record it
	// cancelled.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Erased is when async_status mode=cleanup erased the job: the record
	// stays as a tombstone (so the job is never launched again) but reads as
	// missing to async_status.
	Erased time.Time `json:"erased,omitzero"`
	// Queued, Started and Ended are the times of the state changes.
	Queued  time.Time `json:"queued"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
}

// NewRecord returns the queued record of j.
func NewRecord(j *Job) *Record {
	t := j.Target
	t.Password, t.BecomePassword = "", ""
	r := &Record{
		JID: j.ID, RunID: j.RunID, Host: j.Target.Host, Task: j.Task, Module: j.Module,
		State: StateQueued, Target: t, Async: j.Async, Poll: j.Poll, NoLog: j.NoLog,
		Queued: j.Created,
	}
	if j.Async > 0 {
		r.Args, r.AsyncDir = j.Args, j.AsyncDir
	}
	return r
}

// SplitResult stores a module result in r: rc, stdout and stderr in the
// record's own fields, the rest in Result (the _lines are derived again by
// FullResult).
func (r *Record) SplitResult(result map[string]any) {
	res := make(map[string]any, len(result))
	for k, v := range result {
		switch k {
		case "stdout_lines", "stderr_lines":
			continue
		case "stdout", "stderr":
			if s, ok := v.(string); ok {
				r.Output = true
				if k == "stdout" {
					r.Stdout = s
				} else {
					r.Stderr = s
				}
				continue
			}
		case "rc":
			if n, ok := v.(int); ok {
				r.RC = &n
			}
		}
		res[k] = v
	}
	r.Result = res
}

// FullResult returns the module result as Ansible registers it: Result plus
// stdout, stderr and their _lines. The map is new; values are shared.
func (r *Record) FullResult() map[string]any {
	out := make(map[string]any, len(r.Result)+4)
	for k, v := range r.Result {
		out[k] = v
	}
	if r.Output {
		out["stdout"], out["stderr"] = r.Stdout, r.Stderr
		out["stdout_lines"], out["stderr_lines"] = Lines(r.Stdout), Lines(r.Stderr)
	}
	return out
}

// Lines splits s as Python's str.splitlines(), as a []any list.
func Lines(s string) []any {
	lines := []any{}
	start := 0
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		switch c {
		case '\n', '\v', '\f', '\x1c', '\x1d', '\x1e', '\u0085', '\u2028', '\u2029':
			lines = append(lines, s[start:i])
			start = i + size
		case '\r':
			lines = append(lines, s[start:i])
			if i+1 < len(s) && s[i+1] == '\n' {
				size++
			}
			start = i + size
		}
		i += size
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

var jidRE = regexp.MustCompile(`^j\d{1,12}\.\d{1,12}$`)

// ValidID reports whether id looks like a job id.
func ValidID(id string) bool { return jidRE.MatchString(id) }

// IDFor returns the job id of a job at a position in a run: the same parts
// always give the same id, so that a dispatcher resuming a run finds the
// jobs it already started instead of starting them again.
func IDFor(parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum64()
	h.Write([]byte("pid"))
	sum2 := h.Sum64()
	return fmt.Sprintf("j%d.%d", sum%1_000_000_000_000, sum2%1_000_000)
}

// NewID returns a fresh job id shaped as Ansible's: j<1-12 digits>.<digits>.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("job: reading random bytes: %v", err))
	}
	a := binary.BigEndian.Uint64(b[:8]) % 1_000_000_000_000
	p := binary.BigEndian.Uint64(b[8:]) % 1_000_000
	return fmt.Sprintf("j%d.%d", a, p)
}
