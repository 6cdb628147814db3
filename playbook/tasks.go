package playbook

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// playCtx is what task loading needs from the enclosing play.
type playCtx struct {
	vars *node  // play vars (for templated import paths)
	dir  string // playbook basedir (playbook_dir)
	ds   *node  // the play's mapping (nil for a task file)
}

// taskCtx is the context of a task list being loaded.
type taskCtx struct {
	handlers bool
	// importDirs are the directories of the enclosing imported files,
	// innermost first (Ansible searches them for nested imports).
	importDirs []string
	// dynamic is true inside a file loaded by a dynamic include.
	dynamic bool
	// scopes are the vars of the enclosing blocks/imports, innermost first.
	scopes []*node
	// tags are the tags keywords of the enclosing play, blocks and imports.
	tags []*node
	play *playCtx
}

// assertError is Ansible's AnsibleAssertionError raised by
// load_list_of_blocks/load_list_of_tasks; callers wrap it.
type assertError struct{ msg string }

func (e *assertError) Error() string { return e.msg }

// isBlockDS is Block.is_block.
func isBlockDS(ds *node) bool {
	return ds.isMap() && (ds.has("block") || ds.has("rescue") || ds.has("always"))
}

// loadBlocks is load_list_of_blocks: bare tasks are grouped into implicit
// blocks, which are flattened into the returned list.
func (l *loader) loadBlocks(ds *node, ctx *taskCtx) ([]*Task, error) {
	if ds.isNull() {
		return nil, nil
	}
	if !ds.isSeq() || ds.pyType == pySet {
		return nil, &assertError{fmt.Sprintf("%s should be a list or None but is %s", pyStrOf(ds), ds.typeString())}
	}
	var out []*Task
	items := ds.items
	for i := 0; i < len(items); i++ {
		var implicit []*node
		bd := items[i]
		for bd != nil && !bd.isNull() && !isBlockDS(bd) {
			implicit = append(implicit, bd)
			i++
			if i < len(items) {
				bd = items[i]
			} else {
				bd = nil
			}
		}
		if len(implicit) > 0 {
			tasks, err := l.loadTaskList(implicit, nil, ctx)
			if err != nil {
				if ae, ok := err.(*assertError); ok {
					return nil, l.errOrig(ExitParserError, "A malformed block was encountered while loading a block", ae.msg)
				}
				return nil, err
			}
			out = append(out, tasks...)
		}
		if bd != nil && !bd.isNull() {
			t, err := l.loadBlock(bd, ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// listRepr renders a task list for "The ds (...)" assertion messages: an
// implicit block is a plain Python list.
func listRepr(items []*node, owner *node) (string, string) {
	if owner != nil {
		return pyStrOf(owner), owner.typeString()
	}
	tmp := &node{kind: sequenceNode, pyType: pyList, items: items}
	return pyStrOf(tmp), "<class 'list'>"
}

// loadTaskList is load_list_of_tasks. owner is the list node for an
// explicit block's section (nil for an implicit block, a Python list).
func (l *loader) loadTaskList(items []*node, owner *node, ctx *taskCtx) ([]*Task, error) {
	var out []*Task
	for _, tds := range items {
		if !tds.isMap() {
			s, t := listRepr(items, owner)
			return nil, &assertError{fmt.Sprintf("The ds (%s) should be a dict but was a %s", s, t)}
		}
		if tds.has("block") {
			if ctx.handlers {
				return nil, l.errAt(tds, ExitParserError, "Using a block as a handler is not supported.")
			}
			t, err := l.loadBlock(tds, ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			continue
		}
		pre := &argsParser{ds: tds, known: l.known}
		ma, err := pre.parse(true)
		if err != nil {
			return nil, l.fromTaskError(err, tds)
		}
		switch {
		case actionAllIncludeImportTasks[ma.action]:
			tasks, err := l.loadTaskInclude(tds, ma.action, ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, tasks...)
		case actionAllIncludeImportRoles[ma.action]:
			if ctx.handlers {
				return nil, l.errf(tds, ExitParserError, "Using '%s' as a handler is not supported.", ma.action)
			}
			t, err := l.loadIncludeRole(tds, ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		default:
			class := "Task"
			if ctx.handlers {
				class = "Handler"
			}
			t, _, err := l.loadTask(tds, class, ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// loadBlock is Block.load for an explicit block.
func (l *loader) loadBlock(ds *node, ctx *taskCtx) (*Task, error) {
	for _, p := range ds.pairs {
		if k := pyStrOf(p.key); !blockKeywords[k] {
			return nil, l.errf(ds, ExitParserError, "'%s' is not a valid attribute for a Block", k)
		}
	}
	t := &Task{Pos: ds.pos, Raw: map[string]any{}}
	for _, p := range ds.pairs {
		t.Raw[pyStrOf(p.key)] = l.conv.toGo(p.val)
	}
	if ds.has("collections") {
		if err := l.validateCollections(ds.get("collections"), ds); err != nil {
			return nil, err
		}
	}
	var vars *node
	if ds.has("vars") {
		v, err := l.loadVars(ds.get("vars"), "Block", nil)
		if err != nil {
			return nil, err
		}
		vars = v
		t.Vars = l.conv.toMap(v)
	}
	if ds.has("tags") {
		tags, err := l.loadTags(ds.get("tags"))
		if err != nil {
			return nil, err
		}
		t.Tags = tags
	}
	if ds.has("module_defaults") {
		if err := l.validateModuleDefaults(ds.get("module_defaults")); err != nil {
			return nil, err
		}
	}
	inner := *ctx
	if vars != nil {
		inner.scopes = append([]*node{vars}, ctx.scopes...)
	}
	if ds.has("tags") {
		inner.tags = append(append([]*node{}, ctx.tags...), ds.get("tags"))
	}
	sections := []struct {
		key  string
		dst  *[]*Task
		wrap string
	}{
		{"block", &t.Block, "A malformed block was encountered while loading a block"},
		{"rescue", &t.Rescue, "A malformed block was encountered while loading rescue."},
		{"always", &t.Always, "A malformed block was encountered while loading always"},
	}
	for _, s := range sections {
		if !ds.has(s.key) {
			continue
		}
		v := ds.get(s.key)
		if !v.isSeq() || v.pyType == pySet {
			return nil, l.errAtOrig(ds, ExitParserError, s.wrap, fmt.Sprintf("The ds (%s) should be a list but was a %s", pyStrOf(v), v.typeString()))
		}
		tasks, err := l.loadTaskList(v.items, v, &inner)
		if err != nil {
			if ae, ok := err.(*assertError); ok {
				return nil, l.errAtOrig(ds, ExitParserError, s.wrap, ae.msg)
			}
			return nil, err
		}
		if tasks == nil {
			tasks = []*Task{}
		}
		*s.dst = tasks
	}
	for _, name := range blockValidateOrder {
		switch name {
		case "rescue", "always":
			if ds.get(name).truthy() && !ds.get("block").truthy() {
				return nil, l.errf(ds, ExitParserError, "'%s' keyword cannot be used without 'block'", name)
			}
		default:
			if ds.has(name) {
				if err := l.stringTypeCheck(name, ds.get(name), ds); err != nil {
					return nil, err
				}
			}
		}
	}
	if t.Block == nil {
		t.Block = []*Task{}
	}
	l.fillCommon(t, ds)
	return t, nil
}

// loadTask is Task.load (class is "Task", "Handler", "TaskInclude",
// "HandlerTaskInclude" or "IncludeRole"). It also returns the parsed
// module arguments.
func (l *loader) loadTask(ds *node, class string, ctx *taskCtx) (*Task, *moduleArgs, error) {
	if ds.has("collections") {
		if err := l.validateCollections(ds.get("collections"), ds); err != nil {
			return nil, nil, err
		}
	}
	ap := &argsParser{ds: ds, known: l.known}
	ma, err := ap.parse(false)
	if err != nil {
		return nil, nil, l.fromTaskError(err, ds)
	}
	if actionHasCmd[ma.action] {
		if cmd, ok := ma.args.get("cmd"); ok {
			if ma.args.rawParamsNonEmpty() {
				return nil, nil, l.errAt(ds, ExitGenericError, "The 'cmd' argument cannot be used when other raw parameters are specified. Please put everything in one or the other place.")
			}
			ma.args.del("cmd")
			ma.args.set("_raw_params", cmd)
		}
	}
	var vars *node
	if ds.has("vars") {
		v, err := l.loadVars(ds.get("vars"), class, nil)
		if err != nil {
			return nil, nil, err
		}
		vars = v
	}

	// Build new_ds: action, args, delegate_to, vars, then the other keys.
	type kv struct {
		k string
		v *node
	}
	newDS := []kv{{"action", newStr(ma.action)}, {"args", nil}, {"delegate_to", ma.delegateTo}, {"vars", vars}}
	var loop *node
	loopKeyword := ""
	hasLoop := false
	for _, p := range ds.pairs {
		k := pyStrOf(p.key)
		switch {
		case k == "action" || k == "local_action" || k == "args" || k == "delegate_to" || k == ma.action || k == "shell" || k == "vars":
			continue
		case strings.HasPrefix(k, "with_") && lookupPlugins[k[len("with_"):]]:
			name := k[len("with_"):]
			if (hasLoop && !loop.isNull()) || loopKeyword != "" && strings.HasPrefix(loopKeyword, "with_") {
				return nil, nil, l.errf(ds, ExitGenericError, "duplicate loop in task: %s", name)
			}
			if p.val.isNull() {
				return nil, nil, l.errf(ds, ExitGenericError, "you must specify a value when using %s", k)
			}
			loop, loopKeyword, hasLoop = p.val, k, true
		case k == "loop":
			loop, hasLoop = p.val, true
			if loopKeyword == "" {
				loopKeyword = "loop"
			}
			newDS = append(newDS, kv{k, p.val})
		default:
			newDS = append(newDS, kv{k, p.val})
		}
	}
	posNode := newDSNode(ds)

	// TaskInclude.preprocess_data: keywords valid for includes.
	isInclude := class == "TaskInclude" || class == "HandlerTaskInclude" || class == "IncludeRole"
	if isInclude && actionAllIncludeRoleTasks[ma.action] {
		for _, e := range newDS {
			if validIncludeKeywords[e.k] {
				continue
			}
			if e.k == "delegate_to" && !ma.hasDelgate {
				continue
			}
			if e.k == "args" || e.k == "action" || e.k == "vars" {
				continue
			}
			return nil, nil, l.errf(posNode, ExitParserError, "'%s' is not a valid attribute for a %s", e.k, class)
		}
	}
	valid := taskKeywords
	if ctx.handlers {
		valid = handlerKeywords
	}
	if class == "IncludeRole" {
		valid = union(valid, set("allow_duplicates", "public", "rolespec_validate"))
	}
	for _, e := range newDS {
		if !valid[e.k] {
			msg := fmt.Sprintf("'%s' is not a valid attribute for a %s", e.k, class)
			first := l.errAt(posNode, ExitParserError, msg)
			full := first.Error() + "\nThis error can be suppressed as a warning using the \"invalid_task_attribute_failed\" configuration"
			e2 := l.errAt(posNode, ExitParserError, full)
			e2.Msg = msg
			return nil, nil, e2
		}
	}

	t := &Task{Pos: ds.pos, Action: ma.action, Raw: map[string]any{}}
	for _, p := range ds.pairs {
		t.Raw[pyStrOf(p.key)] = l.conv.toGo(p.val)
	}
	if ds.has("tags") {
		tags, err := l.loadTags(ds.get("tags"))
		if err != nil {
			return nil, nil, err
		}
		t.Tags = tags
	}
	if ds.has("module_defaults") {
		if err := l.validateModuleDefaults(ds.get("module_defaults")); err != nil {
			return nil, nil, err
		}
	}
	if ds.has("loop_control") {
		lc := ds.get("loop_control")
		if !lc.isMap() {
			return nil, nil, l.errAt(lc, ExitParserError, "the `loop_control` value must be specified as a dictionary and cannot be a variable itself (though it can contain variables)")
		}
		for _, p := range lc.pairs {
			if k := pyStrOf(p.key); !loopControlKeywords[k] {
				return nil, nil, l.errf(lc, ExitParserError, "'%s' is not a valid attribute for a LoopControl", k)
			}
		}
		t.LoopControl = l.conv.toMap(lc)
	}
	for _, name := range taskValidateOrder {
		var v *node
		switch name {
		case "action":
			continue
		case "delegate_to":
			v = ma.delegateTo
		case "loop_with":
			continue
		default:
			if !ds.has(name) {
				continue
			}
			v = ds.get(name)
		}
		if err := l.stringTypeCheck(name, v, ds); err != nil {
			return nil, nil, err
		}
	}

	// Typed fields.
	t.Args = l.conv.argsToMap(ma.args)
	switch {
	case builtinTasks[ma.action]:
		t.Module = shortActionName(ma.action)
	case ma.resolved != "":
		t.Module = ma.resolved
	default:
		if m, ok := l.known(ma.action); ok {
			t.Module = m
		}
	}
	if vars != nil {
		t.Vars = l.conv.toMap(vars)
	}
	if hasLoop {
		t.Loop = l.conv.toGo(loop)
		t.LoopKeyword = loopKeyword
	}
	if ma.hasDelgate {
		t.DelegateTo = l.conv.toGo(ma.delegateTo)
	}
	t.Register = scalarString(ds.get("register"))
	t.Lock = scalarString(ds.get("lock"))
	if ds.has("failed_when") {
		t.FailedWhen = l.conv.condList(ds.get("failed_when"))
	}
	if ds.has("changed_when") {
		t.ChangedWhen = l.conv.condList(ds.get("changed_when"))
	}
	if ds.has("until") {
		t.Until = l.conv.condList(ds.get("until"))
	}
	t.Retries = l.conv.toGoOpt(ds.get("retries"))
	t.Delay = l.conv.toGoOpt(ds.get("delay"))
	if ds.has("async") {
		t.Async = l.conv.toGoOpt(ds.get("async"))
	} else {
		t.Async = l.conv.toGoOpt(ds.get("async_val"))
	}
	t.Poll = l.conv.toGoOpt(ds.get("poll"))
	if ds.has("listen") {
		t.Listen = l.conv.stringList(ds.get("listen"))
	}
	l.fillCommon(t, ds)
	return t, ma, nil
}

// fillCommon sets the keywords shared by tasks and blocks.
func (l *loader) fillCommon(t *Task, ds *node) {
	t.Name = scalarString(ds.get("name"))
	if ds.has("when") {
		t.When = l.conv.condList(ds.get("when"))
	}
	if ds.has("notify") {
		t.Notify = l.conv.stringList(ds.get("notify"))
	}
	t.IgnoreErrors = l.conv.toGoOpt(ds.get("ignore_errors"))
	t.IgnoreUnreachable = l.conv.toGoOpt(ds.get("ignore_unreachable"))
	t.NoLog = l.conv.toGoOpt(ds.get("no_log"))
	t.CheckMode = l.conv.toGoOpt(ds.get("check_mode"))
	t.RunOnce = l.conv.toGoOpt(ds.get("run_once"))
	t.Throttle = l.conv.toGoOpt(ds.get("throttle"))
	t.Environment = l.conv.toGoOpt(ds.get("environment"))
	t.Become = l.conv.toGoOpt(ds.get("become"))
	t.BecomeUser = l.conv.toGoOpt(ds.get("become_user"))
	t.BecomeMethod = l.conv.toGoOpt(ds.get("become_method"))
	t.RemoteUser = l.conv.toGoOpt(ds.get("remote_user"))
	t.Connection = l.conv.toGoOpt(ds.get("connection"))
	if t.DelegateTo == nil && ds.has("delegate_to") {
		t.DelegateTo = l.conv.toGoOpt(ds.get("delegate_to"))
	}
}

// loadIncludeRole loads include_role/import_role as a plain task (roles are
// not expanded by this package) after IncludeRole's argument checks.
func (l *loader) loadIncludeRole(ds *node, ctx *taskCtx) (*Task, error) {
	t, ma, err := l.loadTask(ds, "IncludeRole", ctx)
	if err != nil {
		return nil, err
	}

	args := ma.args
	name, ok := args.get("name")
	if !ok {
		name, ok = args.get("role")
	}
	if !ok || name.isNull() {
		return nil, l.errf(ds, ExitParserError, "'name' is a required field for %s.", ma.action)
	}
	isInclude := actionIncludeRole[ma.action]
	if _, ok := args.get("public"); ok && !isInclude {
		return nil, l.errf(ds, ExitParserError, "Invalid options for %s: public", ma.action)
	}
	validArgs := set("name", "role", "tasks_from", "vars_from", "defaults_from", "handlers_from", "apply", "public", "allow_duplicates", "rolespec_validate")
	var bad []string
	for _, k := range args.keys {
		if !validArgs[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return nil, l.errf(ds, ExitParserError, "Invalid options for %s: %s", ma.action, strings.Join(bad, ","))
	}
	for _, k := range args.keys {
		if strings.HasSuffix(k, "_from") {
			if v, _ := args.get(k); !v.isString() {
				return nil, l.errf(nil, ExitParserError, "Expected a string for %s but got %s instead", k, v.typeString())
			}
		}
	}
	if apply, ok := args.get("apply"); ok {
		if apply.truthy() && !isInclude {
			return nil, l.errf(ds, ExitParserError, "Invalid options for %s: apply", ma.action)
		} else if !apply.isMap() {
			return nil, l.errf(ds, ExitParserError, "Expected a dict for apply but got %s instead", apply.typeString())
		}
	}
	if actionImportRole[ma.action] {
		// A static import_role computes the task vars, reading vars_files,
		// then loads the role.
		if err := l.checkVarsFiles(ctx.play.ds); err != nil {
			return nil, err
		}
		if s, ok := name.str(); ok {
			if err := l.checkRoleExists(s, name); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// loadTaskInclude handles include/include_tasks/import_tasks: TaskInclude.load
// plus the static import of load_list_of_tasks.
func (l *loader) loadTaskInclude(ds *node, action string, ctx *taskCtx) ([]*Task, error) {
	class := "TaskInclude"
	if ctx.handlers {
		class = "HandlerTaskInclude"
	}
	t, ma, err := l.loadTask(ds, class, ctx)
	if err != nil {
		return nil, err
	}
	// TaskInclude.check_options
	args := ma.args
	if actionAllProperIncludeImportTasks[ma.action] {
		var bad []string
		for _, k := range args.keys {
			if k != "file" && k != "_raw_params" && k != "apply" {
				bad = append(bad, k)
			}
		}
		if len(bad) > 0 {
			return nil, l.errf(ds, ExitParserError, "Invalid options for %s: %s", ma.action, strings.Join(bad, ","))
		}
	}
	if raw, ok := args.get("_raw_params"); !ok || !raw.truthy() {
		file, _ := args.get("file")
		args.del("file")
		args.set("_raw_params", file)
		if !file.truthy() {
			return nil, l.errf(nil, ExitParserError, "No file specified for %s", ma.action)
		}
	}
	if apply, ok := args.get("apply"); ok {
		if apply.truthy() && !actionIncludeTasks[ma.action] {
			return nil, l.errf(ds, ExitParserError, "Invalid options for %s: apply", ma.action)
		} else if !apply.isMap() {
			return nil, l.errf(ds, ExitParserError, "Expected a dict for apply but got %s instead", apply.typeString())
		}
	}
	t.Args = l.conv.argsToMap(args)
	// load_list_of_tasks computes the task vars here, reading vars_files.
	if err := l.checkVarsFiles(ctx.play.ds); err != nil {
		return nil, err
	}

	rawNode, _ := args.get("_raw_params")
	raw, isStr := rawNode.str()
	var loop *node
	for _, k := range []string{"loop"} {
		if ds.has(k) {
			loop = ds.get(k)
		}
	}
	for _, p := range ds.pairs {
		if k := pyStrOf(p.key); strings.HasPrefix(k, "with_") && lookupPlugins[k[5:]] {
			loop = p.val
		}
	}
	static := false
	switch {
	case actionIncludeTasks[ma.action]:
	case actionImportTasks[ma.action]:
		static = true
	default: // include
		l.warnings = append(l.warnings, `[DEPRECATION WARNING]: "include" is deprecated, use include_tasks/import_tasks instead. `+
			`See https://docs.ansible.com/ansible-core/2.14/user_guide/playbooks_reuse_includes.html for details. `+
			`This feature will be removed in version 2.16. Deprecation warnings can be disabled by setting deprecation_warnings=False in ansible.cfg.`)
		static = !(isStr && IsTemplate(raw)) && !ctx.dynamic && loop.isNull()
	}
	if !static {
		return []*Task{t}, nil
	}
	if !loop.isNull() {
		if actionImportTasks[ma.action] {
			return nil, l.errAt(ds, ExitParserError, "You cannot use loops on 'import_tasks' statements. You should use 'include_tasks' instead.")
		}
		return nil, l.errAt(ds, ExitParserError, "You cannot use 'static' on an include with a loop")
	}
	if !isStr {
		raw = pyStrOf(rawNode)
	}
	var taskVars *node
	if ds.has("vars") {
		taskVars, _ = l.loadVars(ds.get("vars"), class, nil)
	}
	scopes := ctx.scopes
	if taskVars != nil {
		scopes = append([]*node{taskVars}, scopes...)
	}
	target, err := l.renderImportPath(raw, scopes, ctx)
	if err != nil {
		return nil, err
	}
	path := l.resolveImport(target, ctx)
	data, err := l.readImported(path)
	if err != nil {
		return nil, err
	}
	for _, f := range l.stack {
		if f == path {
			return nil, &ParseError{Msg: "recursive import of task file " + path, Code: ExitGenericError}
		}
	}
	if len(l.stack) >= maxImportDepth {
		return nil, &ParseError{Msg: "maximum import depth exceeded while importing " + path, Code: ExitGenericError}
	}
	l.stack = append(l.stack, path)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	root, err := l.loadFile(path, data)
	if err != nil {
		return nil, err
	}
	if !root.truthy() {
		l.warnings = append(l.warnings, fmt.Sprintf("file %s is empty and had no tasks to include", path))
		return nil, nil
	}
	if !root.isSeq() || root.pyType == pySet {
		return nil, l.errAt(root, ExitParserError, "included task files must contain a list of tasks")
	}
	inner := *ctx
	inner.importDirs = append([]string{filepath.Dir(path)}, ctx.importDirs...)
	inner.scopes = scopes
	inner.tags = append(append([]*node{}, ctx.tags...), ds.get("tags"))
	tasks, err := l.loadBlocks(root, &inner)
	if err != nil {
		if ae, ok := err.(*assertError); ok {
			return nil, l.errOrig(ExitParserError, "A malformed block was encountered while loading a block", ae.msg)
		}
		return nil, err
	}
	// b.tags = list(set(b.tags).union(tags)) for the imported blocks needs
	// hashable tags (including the inherited ones).
	tagNodes := inner.tags
	for _, it := range root.items {
		if isBlockDS(it) {
			tagNodes = append(tagNodes, it.get("tags"))
		}
	}
	for _, tn := range tagNodes {
		if tn.isSeq() {
			for _, it := range tn.items {
				if it.kind != scalarNode {
					return nil, &ParseError{Msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: unhashable type: '%s'", it.shortType()), Code: 250}
				}
			}
		}
	}
	if tasks == nil {
		tasks = []*Task{}
	}
	block := t
	block.Block = tasks
	block.Include = path
	block.Action, block.Module, block.Args = "", "", nil
	if actionInclude[ma.action] {
		// The parameters of a static "include" become variables.
		extra := map[string]any{}
		for k, v := range l.conv.argsToMap(args) {
			if k != "_raw_params" && k != "tags" && k != "when" {
				extra[k] = v
			}
		}
		if len(extra) > 0 {
			if block.Vars == nil {
				block.Vars = map[string]any{}
			}
			for k, v := range extra {
				block.Vars[k] = v
			}
		}
	}
	return []*Task{block}, nil
}

var simpleVarRe = regexp.MustCompile(`\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)

// renderImportPath evaluates the (rare) templated import_tasks path. Only
// plain "{{ var }}" references to vars of the enclosing blocks, the play,
// and playbook_dir are supported.
func (l *loader) renderImportPath(raw string, scopes []*node, ctx *taskCtx) (string, error) {
	if !IsTemplate(raw) {
		return raw, nil
	}
	undefined := &ParseError{
		Msg: "Error when evaluating variable in import path: " + raw + ".\n\n" +
			"When using static imports, ensure that any variables used in their names are defined in vars/vars_files\n" +
			"or extra-vars passed in from the command line. Static imports cannot use variables from facts or inventory\n" +
			"sources like group or host vars.",
		Code: ExitParserError,
	}
	lookup := func(name string) (string, bool) {
		all := append(append([]*node{}, scopes...), ctx.play.vars)
		for _, sc := range all {
			if v := sc.get(name); v != nil && sc.has(name) {
				s, ok := v.str()
				if !ok {
					return pyStrOf(v), true
				}
				return s, true
			}
		}
		if name == "playbook_dir" {
			return ctx.play.dir, true
		}
		return "", false
	}
	out := raw
	for depth := 0; depth < 10 && IsTemplate(out); depth++ {
		var missing bool
		out = simpleVarRe.ReplaceAllStringFunc(out, func(m string) string {
			name := simpleVarRe.FindStringSubmatch(m)[1]
			v, ok := lookup(name)
			if !ok {
				missing = true
				return m
			}
			return v
		})
		if missing {
			return "", undefined
		}
		if IsTemplate(out) && !simpleVarRe.MatchString(out) {
			return "", &ParseError{Msg: "gorun: cannot evaluate the template in import path: " + raw, Code: ExitParserError}
		}
	}
	if IsTemplate(out) {
		return "", &ParseError{Msg: "gorun: cannot evaluate the template in import path: " + raw, Code: ExitParserError}
	}
	return out, nil
}

// resolveImport finds an imported task file: relative paths are looked up
// next to the enclosing imported files (innermost first), then in the
// playbook directory.
func (l *loader) resolveImport(target string, ctx *taskCtx) string {
	target = expandUser(target)
	if filepath.IsAbs(target) {
		return filepath.Clean(target)
	}
	for _, d := range ctx.importDirs {
		p := filepath.Join(d, target)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(l.baseDir, unquote(target))
}

// IncludePath resolves the file named by an include_tasks (or dynamic
// include) task t at run time; target is its templated "_raw_params". An
// absolute path is used as is; a relative one is looked up next to the file
// holding the task (as Ansible searches the enclosing imports first) and
// otherwise taken relative to playbookDir.
func IncludePath(t *Task, target, playbookDir string) string {
	target = expandUser(target)
	if filepath.IsAbs(target) {
		return filepath.Clean(target)
	}
	if t != nil && t.Pos.File != "" {
		p := filepath.Join(filepath.Dir(t.Pos.File), target)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(playbookDir, target)
}

// newDSNode stands for the AnsibleMapping Ansible's preprocess_data builds
// from ds: it has ds's position, or, when ds has none (JSON input), the
// default position of AnsibleBaseYAMLObject ('None', line 0, column 0).
func newDSNode(ds *node) *node {
	n := &node{kind: mappingNode, pos: ds.pos, hasPos: true, pyType: pyMapping}
	if !ds.hasPos {
		n.pos = Pos{File: "None"}
	}
	return n
}
