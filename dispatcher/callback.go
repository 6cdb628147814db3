package dispatcher

import "github.com/gorun/gorun/playbook"

// Status is the outcome of a task on a host, as the output shows it.
type Status string

// The statuses of a host result.
const (
	StatusOK          Status = "ok"
	StatusChanged     Status = "changed"
	StatusFailed      Status = "failed"
	StatusSkipped     Status = "skipped"
	StatusUnreachable Status = "unreachable"
)

// Event is a host's result for a task, or for one item of a looped task.
type Event struct {
	Host string
	// Task is the task as parsed; nil for the implicit fact gathering.
	Task *playbook.Task
	// TaskName is the name the banner shows.
	TaskName string
	// Action is the module as written (debug output depends on it).
	Action string
	// Status is the outcome.
	Status Status
	// Result is the result as registered (internal _ansible_ keys included:
	// _ansible_no_log, _ansible_verbose_always, _ansible_item_label).
	Result map[string]any
	// Item is true for the result of one loop item; Loop is true for the
	// summary result of a looped task.
	Item, Loop bool
	// Ignored is true when the failure is ignored (ignore_errors).
	Ignored bool
}

// Callback receives a run's progress, in the order Ansible's default
// callback prints it. Calls may come from several goroutines at once for
// different hosts; implementations serialise their output.
type Callback interface {
	PlaybookStart(pb *playbook.Playbook)
	// PlayStart announces a play with its (rendered) name.
	PlayStart(play *playbook.Play, name string)
	// NoHostsMatched: the play matched no host.
	NoHostsMatched()
	// TaskStart announces a task; handler is true for handlers.
	TaskStart(name string, handler bool)
	// HostResult reports a host's (or a loop item's) result.
	HostResult(ev *Event)
	// Retry reports a failed attempt of an until loop with retries left.
	Retry(ev *Event, retriesLeft int)
	// AsyncPoll reports an async job still running at a poll tick.
	AsyncPoll(host, jid string, started, finished any)
	// AsyncDone reports an async job's end before its result line.
	AsyncDone(host, jid string, ok bool)
	// NoMoreHosts: every host of the play has failed.
	NoMoreHosts()
	// Warning prints a [WARNING].
	Warning(msg string)
	// Recap ends the run.
	Recap(r *Recap)
}

// NopCallback ignores everything.
type NopCallback struct{}

// PlaybookStart implements Callback.
func (NopCallback) PlaybookStart(*playbook.Playbook) {}

// PlayStart implements Callback.
func (NopCallback) PlayStart(*playbook.Play, string) {}

// NoHostsMatched implements Callback.
func (NopCallback) NoHostsMatched() {}

// TaskStart implements Callback.
func (NopCallback) TaskStart(string, bool) {}

// HostResult implements Callback.
func (NopCallback) HostResult(*Event) {}

// Retry implements Callback.
func (NopCallback) Retry(*Event, int) {}

// AsyncPoll implements Callback.
func (NopCallback) AsyncPoll(string, string, any, any) {}

// AsyncDone implements Callback.
func (NopCallback) AsyncDone(string, string, bool) {}

// NoMoreHosts implements Callback.
func (NopCallback) NoMoreHosts() {}

// Warning implements Callback.
func (NopCallback) Warning(string) {}

// Recap implements Callback.
func (NopCallback) Recap(*Recap) {}
