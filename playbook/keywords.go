package playbook

// Keyword tables of Ansible 2.14 (the FieldAttributes of Play, Block, Task,
// Handler, PlaybookInclude, TaskInclude and LoopControl) and the action
// name sets of ansible/constants.py and ansible/parsing/mod_args.py.

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// baseKeywords are the attributes of Base, shared by every object.
var baseKeywords = []string{
	"name", "connection", "port", "remote_user", "vars", "module_defaults", "environment",
	"no_log", "run_once", "ignore_errors", "ignore_unreachable", "check_mode", "diff",
	"any_errors_fatal", "throttle", "timeout", "debugger", "become", "become_method",
	"become_user", "become_flags", "become_exe",
}

func withBase(extra ...string) map[string]bool {
	return set(append(append([]string{}, baseKeywords...), extra...)...)
}

var (
	playKeywords = withBase("collections", "tags", "hosts", "gather_facts", "gather_subset",
		"gather_timeout", "fact_path", "vars_files", "vars_prompt", "roles", "handlers",
		"pre_tasks", "post_tasks", "tasks", "force_handlers", "max_fail_percentage", "serial",
		"strategy", "order")

	blockKeywords = withBase("tags", "collections", "when", "block", "rescue", "always",
		"notify", "delegate_to", "delegate_facts")

	taskKeywords = withBase("collections", "tags", "when", "args", "action", "async_val",
		"async", "changed_when", "delay", "delegate_to", "delegate_facts", "failed_when",
		"loop", "loop_control", "notify", "poll", "register", "retries", "until", "loop_with",
		// gorun extension: a per-host lock name.
		"lock")

	handlerKeywords = union(taskKeywords, set("listen"))

	playbookIncludeKeywords = withBase("tags", "when", "import_playbook", "vars_val")

	loopControlKeywords = set("loop_var", "index_var", "label", "pause", "extended", "extended_allitems")

	// validIncludeKeywords is TaskInclude.VALID_INCLUDE_KEYWORDS.
	validIncludeKeywords = set("action", "args", "collections", "debugger", "ignore_errors",
		"loop", "loop_control", "loop_with", "name", "no_log", "register", "run_once", "tags",
		"timeout", "vars", "when")

	// argsParserTaskAttrs are the keys ModuleArgsParser never treats as an
	// action: Task and Handler attributes plus local_action and static.
	argsParserTaskAttrs = union(handlerKeywords, set("local_action", "static"))

	// stringKeywords are the attributes declared isa='string'; a list or dict
	// value is rejected at load time.
	stringKeywords = set("name", "connection", "remote_user", "debugger", "become_method",
		"become_user", "become_flags", "become_exe", "fact_path", "strategy", "order", "action",
		"delegate_to", "register", "loop_with", "import_playbook", "lock")

	// lookupPlugins are the builtin lookup plugins usable as with_<name>.
	lookupPlugins = set("config", "csvfile", "dict", "env", "file", "fileglob", "first_found",
		"indexed_items", "ini", "inventory_hostnames", "items", "lines", "list", "nested",
		"password", "pipe", "random_choice", "sequence", "subelements", "template", "together",
		"unvault", "url", "varnames", "vars")

	varsPromptKeys = set("name", "prompt", "default", "private", "confirm", "encrypt", "salt_size", "salt", "unsafe")
)

// Validation order of the attributes (Python's fattributes order), used to
// report the same error Ansible reports first.
var (
	playValidateOrder = []string{"collections", "tags", "name", "connection", "port", "remote_user",
		"vars", "module_defaults", "environment", "no_log", "run_once", "ignore_errors",
		"ignore_unreachable", "check_mode", "diff", "any_errors_fatal", "throttle", "timeout",
		"debugger", "become", "become_method", "become_user", "become_flags", "become_exe",
		"hosts", "gather_facts", "gather_subset", "gather_timeout", "fact_path", "vars_files",
		"vars_prompt", "roles", "handlers", "pre_tasks", "post_tasks", "tasks", "force_handlers",
		"max_fail_percentage", "serial", "strategy", "order"}

	blockValidateOrder = []string{"tags", "collections", "when", "name", "connection", "port",
		"remote_user", "vars", "module_defaults", "environment", "no_log", "run_once",
		"ignore_errors", "ignore_unreachable", "check_mode", "diff", "any_errors_fatal",
		"throttle", "timeout", "debugger", "become", "become_method", "become_user",
		"become_flags", "become_exe", "block", "rescue", "always", "notify", "delegate_to",
		"delegate_facts"}

	taskValidateOrder = []string{"collections", "tags", "when", "name", "connection", "port",
		"remote_user", "vars", "module_defaults", "environment", "no_log", "run_once",
		"ignore_errors", "ignore_unreachable", "check_mode", "diff", "any_errors_fatal",
		"throttle", "timeout", "debugger", "become", "become_method", "become_user",
		"become_flags", "become_exe", "args", "action", "async_val", "async", "changed_when",
		"delay", "delegate_to", "delegate_facts", "failed_when", "loop", "loop_control",
		"notify", "poll", "register", "retries", "until", "loop_with", "listen", "lock"}

	playbookIncludeValidateOrder = []string{"tags", "when", "name", "connection", "port",
		"remote_user", "vars", "module_defaults", "environment", "no_log", "run_once",
		"ignore_errors", "ignore_unreachable", "check_mode", "diff", "any_errors_fatal",
		"throttle", "timeout", "debugger", "become", "become_method", "become_user",
		"become_flags", "become_exe", "import_playbook", "vars_val"}
)

func union(a, b map[string]bool) map[string]bool {
	m := make(map[string]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// internalFQCNs is add_internal_fqcns: each name plus its ansible.builtin.
// and ansible.legacy. variants (names containing a dot are kept as is).
func internalFQCNs(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n)
		if !containsDot(n) {
			out = append(out, "ansible.builtin."+n, "ansible.legacy."+n)
		}
	}
	return out
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

var (
	// freeformActionList is C.MODULE_REQUIRE_ARGS (mod_args FREEFORM_ACTIONS).
	freeformActionList = internalFQCNs("command", "win_command", "ansible.windows.win_command",
		"shell", "win_shell", "ansible.windows.win_shell", "raw", "script")
	freeformActions = set(freeformActionList...)

	// rawParamModuleList is mod_args RAW_PARAM_MODULES.
	rawParamModuleList = append(append([]string{}, freeformActionList...), internalFQCNs("include",
		"include_vars", "include_tasks", "include_role", "import_tasks", "import_role",
		"add_host", "group_by", "set_fact", "meta")...)
	rawParamModules = set(rawParamModuleList...)

	// builtinTasks are always actions, whatever the module resolver says.
	builtinTasks = set(internalFQCNs("meta", "include", "include_tasks", "include_role",
		"import_tasks", "import_role")...)

	actionHasCmd         = set(internalFQCNs("command", "shell", "script")...)
	actionImportPlaybook = internalFQCNs("import_playbook")
	actionInclude        = set(internalFQCNs("include")...)
	actionIncludeTasks   = set(internalFQCNs("include_tasks")...)
	actionImportTasks    = set(internalFQCNs("import_tasks")...)
	actionIncludeRole    = set(internalFQCNs("include_role")...)
	actionImportRole     = set(internalFQCNs("import_role")...)
	// actionAllIncludeImportTasks is C._ACTION_ALL_INCLUDE_IMPORT_TASKS.
	actionAllIncludeImportTasks = union(union(actionInclude, actionIncludeTasks), actionImportTasks)
	// actionAllProperIncludeImportTasks is C._ACTION_ALL_PROPER_INCLUDE_IMPORT_TASKS.
	actionAllProperIncludeImportTasks = union(actionIncludeTasks, actionImportTasks)
	// actionAllIncludeRoleTasks is C._ACTION_ALL_INCLUDE_ROLE_TASKS.
	actionAllIncludeRoleTasks   = union(union(actionInclude, actionIncludeTasks), actionIncludeRole)
	actionAllIncludeImportRoles = union(actionIncludeRole, actionImportRole)
)

// pyKeywords are Python's reserved words (not valid variable names).
var pyKeywords = set("False", "None", "True", "and", "as", "assert", "async", "await", "break",
	"class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
	"global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
	"return", "try", "while", "with", "yield")

// isIdentifier is ansible.utils.vars.isidentifier: an ASCII Python
// identifier that is not a keyword.
func isIdentifier(s string) bool {
	if s == "" || pyKeywords[s] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// shortActionName strips the ansible.builtin./ansible.legacy. prefix.
func shortActionName(a string) string {
	for _, p := range []string{"ansible.builtin.", "ansible.legacy."} {
		if len(a) > len(p) && a[:len(p)] == p {
			return a[len(p):]
		}
	}
	return a
}
