package playbook

// Playbook is a loaded playbook: its plays, with import_playbook entries
// already replaced by the plays of the imported files.
type Playbook struct {
	// Path is the absolute path of the playbook file.
	Path string
	// Dir is the directory of Path (Ansible's playbook basedir).
	Dir string
	// Plays are the plays in execution order.
	Plays []*Play
	// Warnings are the warnings Ansible prints while loading (duplicate
	// mapping keys, empty imported task files, deprecated forms).
	Warnings []string
}

// Play is one play. Keyword values Ansible templates at run time are kept
// raw: strings containing "{{ }}" are untouched. The typed fields are
// conveniences; Raw holds every keyword as written.
type Play struct {
	// Pos is the position of the play's mapping.
	Pos Pos
	// Name is the play name ("" when absent).
	Name string
	// Hosts is the host pattern; a list is joined with ",".
	Hosts string
	// RemoteUser (also from the deprecated "user"), Connection and Strategy
	// hold the string keywords.
	RemoteUser, Connection, Strategy string
	// Vars are the play vars (a list of dicts is merged); for a play loaded
	// by import_playbook the import's vars are merged over them.
	Vars map[string]any
	// VarsFiles lists the plain string entries of vars_files; VarsFileChoices
	// has one element per vars_files entry, holding the alternatives of a
	// nested list entry (the first file found is used) or the single file.
	VarsFiles       []string
	VarsFileChoices [][]string
	// GatherFacts is nil when gather_facts is absent or templated (then
	// Raw["gather_facts"] has the raw value); "yes"/"no" style strings are
	// accepted like Ansible's boolean().
	GatherFacts *bool
	// Become is nil when absent or templated.
	Become                   *bool
	BecomeUser, BecomeMethod string
	// Raw keyword values, converted at run time.
	Environment                                  any
	IgnoreErrors, IgnoreUnreachable, NoLog       any
	CheckMode, AnyErrorsFatal, MaxFailPercentage any
	Serial, Port, Throttle, Order                any
	// Tags are the play tags (a comma separated string is split).
	Tags []string
	// When holds the conditions of the import_playbook statements that
	// loaded this play (nil otherwise). They are also prepended to the
	// When of every top-level task of PreTasks, Tasks and PostTasks, as
	// Ansible does; Ansible additionally uses them to skip fact gathering.
	When []any
	// PreTasks, Tasks, PostTasks and Handlers are the task lists. Blocks
	// are Tasks with Block set; import_tasks statements are resolved into
	// blocks (see Task.Include).
	PreTasks, Tasks, PostTasks, Handlers []*Task
	// Raw holds every play keyword as written (after the deprecated "user"
	// is renamed to "remote_user").
	Raw map[string]any
}

// Unsafe is a string marked !unsafe in YAML (or __ansible_unsafe in JSON):
// it must never be templated.
type Unsafe string

// Vault is a !vault tagged value: the vault-encrypted text as written.
// This package does not decrypt it.
type Vault string

// Task is a task, a handler or a block.
type Task struct {
	// Pos is the position of the task's mapping (inside the imported file
	// for tasks loaded by import_tasks).
	Pos Pos
	// Name is the task name, "" when absent (the runner shows the action).
	Name string
	// Action is the module key as written: "command",
	// "ansible.builtin.command", "ansible.legacy.shell", ... (for the
	// action:/local_action: forms, the module named there).
	Action string
	// Module is the canonical short module name ("command"); empty for
	// blocks, and for an action:/local_action: naming a module known()
	// does not resolve (Ansible only fails such a task when it runs).
	Module string
	// Args are the module arguments: the dict form as is, free-form text
	// under "_raw_params", k=v strings parsed, the "args" keyword merged in
	// (it has the lower priority), and "_variable_params" for a templated
	// args string, all as Ansible's ModuleArgsParser does.
	Args map[string]any
	// Register is the register keyword.
	Register string
	// When, FailedWhen, ChangedWhen and Until are the raw conditionals: nil
	// when the keyword is absent, a scalar becomes a one-element list;
	// elements are strings, bools or other scalars as written.
	When, FailedWhen, ChangedWhen, Until []any
	// Loop is the loop value and LoopKeyword the keyword that set it:
	// "loop" or "with_<lookup>" ("with_items", "with_dict", ...).
	Loop        any
	LoopKeyword string
	// LoopControl is the loop_control dict.
	LoopControl map[string]any
	// Raw keyword values, converted at run time.
	IgnoreErrors, IgnoreUnreachable, NoLog, CheckMode, RunOnce, Throttle any
	Retries, Delay, Async, Poll                                          any
	// Vars are the task (or block) vars.
	Vars        map[string]any
	Environment any
	// Privilege escalation and connection keywords, raw. DelegateTo is
	// "localhost" for local_action.
	Become, BecomeUser, BecomeMethod, RemoteUser, Connection, DelegateTo any
	// Notify lists the handlers to notify, Listen the topics a handler
	// listens to, Tags the task tags (a comma separated string is split).
	Notify, Listen, Tags []string
	// Lock is the gorun extension keyword "lock": a per-host lock name.
	Lock string
	// Block, Rescue and Always are set for a block (Action and Module are
	// then empty). A non-nil Block marks a block even when empty.
	Block, Rescue, Always []*Task
	// Include is set on the block an import_tasks (or a static include)
	// was resolved into: the absolute path of the imported file. The
	// block carries the import statement's keywords (when, tags, vars,
	// become, ...), which apply to the imported tasks.
	Include string
	// Raw holds every keyword as written, including the module key.
	Raw map[string]any
}

// IsBlock reports whether t is a block.
func (t *Task) IsBlock() bool { return t.Block != nil || t.Rescue != nil || t.Always != nil }

// TaskFile is a loaded task file (see LoadTasks).
type TaskFile struct {
	// Path is the absolute path of the file.
	Path string
	// Tasks are the tasks (or handlers) of the file.
	Tasks []*Task
	// Warnings are the loader warnings.
	Warnings []string
}
