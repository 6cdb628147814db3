package job

import "time"

// RunState is the life-cycle state of a submitted run.
type RunState string

// The states of a run record.
const (
	RunQueued    RunState = "queued"    // submitted, waiting for a dispatcher
	RunRunning   RunState = "running"   // a dispatcher runs it
	RunFinished  RunState = "finished"  // ran to its end (see ExitCode)
	RunFailed    RunState = "failed"    // could not run (bad bundle, parse error, ...)
	RunCancelled RunState = "cancelled" // cancelled on request
)

// Terminal reports whether no further state change follows s.
func (s RunState) Terminal() bool {
	return s == RunFinished || s == RunFailed || s == RunCancelled
}

// HostStats are one host's counters in a run's recap.
type HostStats struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Unreachable int `json:"unreachable"`
	Failed      int `json:"failures"`
	Skipped     int `json:"skipped"`
	Rescued     int `json:"rescued"`
	Ignored     int `json:"ignored"`
}

// Run is the record of a submitted run, kept in the runs bucket under its
// run id.
type Run struct {
	RunID     string   `json:"run_id"`
	State     RunState `json:"state"`
	Playbooks []string `json:"playbooks"`
	// Submitter names who submitted it (user@host).
	Submitter string `json:"submitter,omitempty"`
	// Dispatcher names the dispatcher that runs or ran it; Attempt counts
	// the dispatchers that took it (more than 1 after a dispatcher crash).
	Dispatcher string `json:"dispatcher,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	// ExitCode is ansible-playbook's exit code for the run, once finished.
	ExitCode *int `json:"exit_code,omitempty"`
	// Msg says why a run failed or was cancelled.
	Msg string `json:"msg,omitempty"`
	// Recap is the PLAY RECAP, by host.
	Recap map[string]HostStats `json:"recap,omitempty"`
	// CancelRequested asks the dispatcher to stop the run.
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	Submitted       time.Time `json:"submitted"`
	Started         time.Time `json:"started,omitzero"`
	Ended           time.Time `json:"ended,omitzero"`
}
