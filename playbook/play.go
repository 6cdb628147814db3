package playbook

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// playState is a loaded play plus what the deferred post-validation needs.
type playState struct {
	play *Play
	ds   *node
}

// loadPlay is Play.load. importVars are the vars of the import_playbook
// statement loading this play (nil otherwise).
func (l *loader) loadPlay(ds *node, importVars *node) (*playState, error) {
	if ds.has("user") {
		if ds.has("remote_user") {
			return nil, l.errAt(ds, ExitParserError, "both 'user' and 'remote_user' are set for this play. The use of 'user' is deprecated, and should be removed")
		}
		ds = renameKey(ds, "user", "remote_user")
	}
	for _, p := range ds.pairs {
		if k := pyStrOf(p.key); !playKeywords[k] {
			return nil, l.errf(ds, ExitParserError, "'%s' is not a valid attribute for a Play", k)
		}
	}
	play := &Play{Pos: ds.pos, Raw: map[string]any{}}
	for _, p := range ds.pairs {
		play.Raw[pyStrOf(p.key)] = l.conv.toGo(p.val)
	}

	// Fields load in priority order (collections, vars, vars_files, roles,
	// tags, ..., vars_prompt, ..., handlers, pre_tasks, post_tasks, tasks).
	if ds.has("collections") {
		if err := l.validateCollections(ds.get("collections"), ds); err != nil {
			return nil, err
		}
	}
	vars := importVars
	if ds.has("vars") {
		v, err := l.loadVars(ds.get("vars"), "Play", importVars)
		if err != nil {
			return nil, err
		}
		vars = v
	}
	if ds.has("roles") {
		r := ds.get("roles")
		if !r.isNull() && !r.isSeq() {
			return nil, l.errAtOrig(ds, ExitParserError, "A malformed role declaration was encountered.",
				fmt.Sprintf("ds (%s) should be a list but was a %s", pyStrOf(r), r.typeString()))
		}
		if err := l.checkRoles(r); err != nil {
			return nil, err
		}
	}
	if ds.has("tags") {
		tags, err := l.loadTags(ds.get("tags"))
		if err != nil {
			return nil, err
		}
		play.Tags = tags
	}
	if ds.has("module_defaults") {
		if err := l.validateModuleDefaults(ds.get("module_defaults")); err != nil {
			return nil, err
		}
	}
	if ds.has("vars_prompt") {
		if err := l.validateVarsPrompt(ds.get("vars_prompt")); err != nil {
			return nil, err
		}
	}
	ctx := &taskCtx{play: &playCtx{vars: vars, dir: l.baseDir, ds: ds}}
	if ds.has("tags") {
		ctx.tags = []*node{ds.get("tags")}
	}
	lists := []struct {
		key      string
		dst      *[]*Task
		handlers bool
		wrap     string
	}{
		{"handlers", &play.Handlers, true, "A malformed block was encountered while loading handlers"},
		{"pre_tasks", &play.PreTasks, false, "A malformed block was encountered while loading pre_tasks"},
		{"post_tasks", &play.PostTasks, false, "A malformed block was encountered while loading post_tasks"},
		{"tasks", &play.Tasks, false, "A malformed block was encountered while loading tasks"},
	}
	for _, li := range lists {
		if !ds.has(li.key) {
			continue
		}
		c := *ctx
		c.handlers = li.handlers
		tasks, err := l.loadBlocks(ds.get(li.key), &c)
		if err != nil {
			if ae, ok := err.(*assertError); ok {
				msg := li.wrap
				if li.key == "tasks" {
					msg += ": " + ae.msg
				}
				return nil, l.errAtOrig(ds, ExitParserError, msg, ae.msg)
			}
			return nil, err
		}
		*li.dst = tasks
	}

	// validate(): string attributes and hosts, in attribute order.
	for _, name := range playValidateOrder {
		if name == "hosts" {
			if err := l.validateHosts(ds); err != nil {
				return nil, err
			}
			continue
		}
		if ds.has(name) {
			if err := l.stringTypeCheck(name, ds.get(name), ds); err != nil {
				return nil, err
			}
		}
	}

	l.fillPlay(play, ds, vars)
	return &playState{play: play, ds: ds}, nil
}

// validateHosts is Play._validate_hosts.
func (l *loader) validateHosts(ds *node) error {
	if !ds.has("hosts") {
		return nil
	}
	v := ds.get("hosts")
	if !v.truthy() {
		return l.errAt(nil, ExitParserError, "Hosts list cannot be empty. Please check your playbook")
	}
	if v.isSeq() && (v.pyType == pySequence || v.pyType == pyList || v.pyType == "tuple") {
		for _, e := range v.items {
			if e.isNull() {
				return l.errAt(nil, ExitParserError, "Hosts list cannot contain values of 'None'. Please check your playbook")
			}
			if !e.isString() && e.pyType != pyBytes {
				return l.errf(nil, ExitParserError, "Hosts list contains an invalid host value: '%s'", pyStrOf(e))
			}
		}
		return nil
	}
	if !v.isString() && v.pyType != pyBytes {
		return l.errAt(nil, ExitParserError, "Hosts list must be a sequence or string. Please check your playbook.")
	}
	return nil
}

// validateVarsPrompt is Play._load_vars_prompt.
func (l *loader) validateVarsPrompt(ds *node) error {
	if ds.isNull() {
		return nil
	}
	items := []*node{ds}
	if ds.isSeq() {
		items = ds.items
	}
	for _, it := range items {
		if !it.isMap() {
			return l.errf(nil, ExitGenericError, "variable files must contain either a dictionary of variables, or a list of dictionaries. Got: %s (%s)", pyStrOf(ds), ds.typeString())
		}
	}
	for _, it := range items {
		if !it.has("name") {
			return l.errAt(ds, ExitParserError, "Invalid vars_prompt data structure, missing 'name' key")
		}
		for _, p := range it.pairs {
			if k := pyStrOf(p.key); !varsPromptKeys[k] {
				return l.errf(ds, ExitParserError, "Invalid vars_prompt data structure, found unsupported key '%s'", k)
			}
		}
	}
	return nil
}

// fillPlay sets the typed fields of a play from its keywords.
func (l *loader) fillPlay(p *Play, ds *node, vars *node) {
	p.Name = scalarString(ds.get("name"))
	if h := ds.get("hosts"); h != nil {
		if h.isSeq() {
			parts := make([]string, 0, len(h.items))
			for _, it := range h.items {
				parts = append(parts, pyStrOf(it))
			}
			p.Hosts = strings.Join(parts, ",")
		} else {
			p.Hosts = scalarString(h)
		}
	}
	p.RemoteUser = scalarString(ds.get("remote_user"))
	p.Connection = scalarString(ds.get("connection"))
	p.Strategy = scalarString(ds.get("strategy"))
	p.BecomeUser = scalarString(ds.get("become_user"))
	p.BecomeMethod = scalarString(ds.get("become_method"))
	p.Vars = l.conv.toMap(vars)
	if vf := ds.get("vars_files"); vf != nil && !vf.isNull() {
		entries := []*node{vf}
		if vf.isSeq() {
			entries = vf.items
		}
		for _, e := range entries {
			if e.isSeq() {
				var alts []string
				for _, a := range e.items {
					alts = append(alts, pyStrOf(a))
				}
				p.VarsFileChoices = append(p.VarsFileChoices, alts)
				continue
			}
			s := pyStrOf(e)
			p.VarsFiles = append(p.VarsFiles, s)
			p.VarsFileChoices = append(p.VarsFileChoices, []string{s})
		}
	}
	p.GatherFacts = boolPtr(ds.get("gather_facts"))
	p.Become = boolPtr(ds.get("become"))
	p.Environment = l.conv.toGoOpt(ds.get("environment"))
	p.IgnoreErrors = l.conv.toGoOpt(ds.get("ignore_errors"))
	p.IgnoreUnreachable = l.conv.toGoOpt(ds.get("ignore_unreachable"))
	p.NoLog = l.conv.toGoOpt(ds.get("no_log"))
	p.CheckMode = l.conv.toGoOpt(ds.get("check_mode"))
	p.AnyErrorsFatal = l.conv.toGoOpt(ds.get("any_errors_fatal"))
	p.MaxFailPercentage = l.conv.toGoOpt(ds.get("max_fail_percentage"))
	p.Serial = l.conv.toGoOpt(ds.get("serial"))
	p.Port = l.conv.toGoOpt(ds.get("port"))
	p.Throttle = l.conv.toGoOpt(ds.get("throttle"))
	p.Order = l.conv.toGoOpt(ds.get("order"))
}

// scalarString is str() of a scalar keyword ("" for None or absent).
func scalarString(n *node) string {
	if n.isNull() {
		return ""
	}
	return pyStrOf(n)
}

// boolPtr converts a keyword with Ansible's boolean(); nil when absent,
// None, templated or not a boolean.
func boolPtr(n *node) *bool {
	if n.isNull() {
		return nil
	}
	b, ok := pyBoolean(n)
	if !ok {
		return nil
	}
	return &b
}

// pyBoolean is ansible.module_utils.parsing.convert_bool.boolean(strict).
func pyBoolean(n *node) (bool, bool) {
	if n == nil || n.kind != scalarNode {
		return false, false
	}
	switch v := n.val.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(pyStrip(v)) {
		case "y", "yes", "on", "1", "true", "t":
			return true, true
		case "n", "no", "off", "0", "false", "f":
			return false, true
		}
	case int64:
		if v == 1 || v == 0 {
			return v == 1, true
		}
	case float64:
		if v == 1 || v == 0 {
			return v == 1, true
		}
	}
	return false, false
}

// booleansRepr is ', '.join(repr(i) for i in BOOLEANS); Python's set order
// varies between runs, this is one of them.
const booleansRepr = "0, 'y', 1, 'yes', 'n', 'on', 'f', '1', 'off', 't', 'true', 'no', 'false', '0'"

// containsTemplate reports whether a value may hold a template anywhere
// (Ansible validates such values only after templating them, which this
// package does not do).
func containsTemplate(n *node) bool {
	return containsTemplateMemo(n, map[*node]bool{})
}

func containsTemplateMemo(n *node, seen map[*node]bool) bool {
	if n == nil || seen[n] {
		return false
	}
	seen[n] = true
	switch n.kind {
	case mappingNode:
		for _, p := range n.pairs {
			if containsTemplateMemo(p.key, seen) || containsTemplateMemo(p.val, seen) {
				return true
			}
		}
		return false
	case sequenceNode:
		for _, it := range n.items {
			if containsTemplateMemo(it, seen) {
				return true
			}
		}
		return false
	}
	s, ok := n.str()
	return ok && isPossiblyTemplate(s)
}

// isPossiblyTemplate is Ansible's is_possibly_template: the string contains
// a Jinja2 start delimiter.
func isPossiblyTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

// postValidatePlay is the part of Play.post_validate that does not depend
// on templating: PlaybookExecutor runs it for every play after the whole
// playbook is loaded.
func (l *loader) postValidatePlay(ps *playState) error {
	ds := ps.ds
	convErr := func(name, isa string, v *node, e string) error {
		return l.errAtOrig(ds, ExitParserError, fmt.Sprintf("the field '%s' has an invalid value (%s), and could not be converted to an %s.The error was: %s", name, pyStrOf(v), isa, e), e)
	}
	// VariableManager.get_vars(play=play) runs first and reads vars_files.
	if err := l.checkVarsFiles(ds); err != nil {
		return err
	}
	for _, name := range playValidateOrder {
		v := ds.get(name)
		if name == "hosts" && v.isNull() {
			return l.errAt(nil, ExitParserError, "the field 'hosts' is required but was not set")
		}
		if v.isNull() || containsTemplate(v) {
			continue
		}
		switch name {
		case "hosts":
			items := []*node{v}
			if v.isSeq() {
				items = v.items
			}
			for _, it := range items {
				if !it.isString() {
					return l.errf(ds, ExitParserError, "the field 'hosts' should be a list of (<class 'str'>,), but the item '%s' is a %s", pyStrOf(it), it.typeString())
				}
				if s, _ := it.str(); pyStrip(s) == "" {
					return l.errAt(ds, ExitParserError, "the field 'hosts' is required, and cannot have empty values")
				}
			}
		case "gather_subset":
			items := []*node{v}
			if v.isSeq() {
				items = v.items
			}
			for _, it := range items {
				if !it.isString() {
					return l.errf(ds, ExitParserError, "the field 'gather_subset' should be a list of (<class 'str'>,), but the item '%s' is a %s", pyStrOf(it), it.typeString())
				}
			}
		case "gather_facts", "force_handlers":
			if _, ok := pyBoolean(v); !ok {
				if v.kind != scalarNode {
					return convErr(name, "bool", v, fmt.Sprintf("unhashable type: '%s'", v.shortType()))
				}
				return convErr(name, "bool", v, fmt.Sprintf("The value '%s' is not a valid boolean.  Valid booleans include: %s", pyStrOf(v), booleansRepr))
			}
		case "gather_timeout":
			if msg := pyIntError(v); msg != "" {
				return convErr(name, "int", v, msg)
			}
		case "max_fail_percentage":
			if msg := pyPercentError(v); msg != "" {
				return convErr(name, "percent", v, msg)
			}
		}
	}
	return nil
}

// pyIntError returns the error int(v) raises ("" when it succeeds).
func pyIntError(v *node) string {
	if v.kind != scalarNode {
		return fmt.Sprintf("int() argument must be a string, a bytes-like object or a real number, not '%s'", v.shortType())
	}
	switch x := v.val.(type) {
	case bool, int64, *big.Int:
		return ""
	case float64:
		if math.IsNaN(x) {
			return "cannot convert float NaN to integer"
		}
		return ""
	case string:
		if v.pyType == pyDate || v.pyType == pyDateTime {
			return fmt.Sprintf("int() argument must be a string, a bytes-like object or a real number, not '%s'", v.pyType[strings.LastIndexByte(v.pyType, '.')+1:])
		}
		s := pyStrip(x)
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if pyDigits(s) {
			return ""
		}
		return "invalid literal for int() with base 10: " + pyRepr(x)
	}
	return ""
}

// pyDigits reports whether s is a non-empty decimal literal with optional
// single underscores between digits (Python int() syntax).
func pyDigits(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// pyPercentError returns the error of Ansible's percent conversion.
func pyPercentError(v *node) string {
	if v.kind != scalarNode {
		return fmt.Sprintf("float() argument must be a string or a real number, not '%s'", v.shortType())
	}
	x, ok := v.val.(string)
	if !ok {
		return ""
	}
	if v.pyType == pyDate || v.pyType == pyDateTime {
		return fmt.Sprintf("float() argument must be a string or a real number, not '%s'", v.pyType[strings.LastIndexByte(v.pyType, '.')+1:])
	}
	x = strings.ReplaceAll(x, "%", "")
	s := strings.ToLower(pyStrip(x))
	t := strings.TrimLeft(s, "+-")
	switch t {
	case "inf", "infinity", "nan":
		return ""
	}
	if !strings.Contains(s, "__") && !strings.HasPrefix(t, "_") && !strings.HasSuffix(t, "_") {
		if _, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil && !strings.ContainsAny(t, "xXpP") {
			return ""
		}
	}
	return "could not convert string to float: " + pyRepr(x)
}

// loadPlaybookInclude is PlaybookInclude.load_data.
func (l *loader) loadPlaybookInclude(ds *node) ([]*playState, error) {
	newDS := newDSNode(ds)
	var file string
	for _, p := range ds.pairs {
		k := pyStrOf(p.key)
		isImport := false
		for _, a := range actionImportPlaybook {
			if k == a {
				isImport = true
			}
		}
		if isImport {
			v := p.val
			if v.isNull() {
				return nil, l.errAt(ds, ExitParserError, "playbook import parameter is missing")
			}
			s, ok := v.str()
			if !ok {
				return nil, l.errf(ds, ExitParserError, "playbook import parameter must be a string indicating a file path, got %s instead", v.typeString())
			}
			items, err := SplitArgs(s)
			if err != nil {
				// Raised without an object and not re-raised with one.
				msg := err.Error()
				if err == errArgIndex {
					return nil, &ParseError{Msg: "Unexpected Exception, this is probably a bug: list index out of range", Code: 250}
				}
				return nil, &ParseError{Msg: msg, Code: ExitParserError}
			}
			if len(items) == 0 {
				return nil, l.errAt(ds, ExitParserError, "import_playbook statements must specify the file name to import")
			}
			file = pyStrip(items[0])
			setPair(newDS, "import_playbook", newStr(file))
			continue
		}
		if k == "vars" && !p.val.isMap() {
			return nil, l.errAt(ds, ExitParserError, "vars for import_playbook statements must be specified as a dictionary")
		}
		newDS.pairs = append(newDS.pairs, p)
	}
	for _, p := range newDS.pairs {
		if k := pyStrOf(p.key); !playbookIncludeKeywords[k] {
			return nil, l.errf(newDS, ExitParserError, "'%s' is not a valid attribute for a PlaybookInclude", k)
		}
	}
	var tags []string
	if newDS.has("tags") {
		t, err := l.loadTags(newDS.get("tags"))
		if err != nil {
			return nil, err
		}
		tags = t
	}
	var vars *node
	if newDS.has("vars") {
		v, err := l.loadVars(newDS.get("vars"), "PlaybookInclude", nil)
		if err != nil {
			return nil, err
		}
		vars = v
	}
	for _, name := range playbookIncludeValidateOrder {
		if newDS.has(name) {
			if err := l.stringTypeCheck(name, newDS.get(name), ds); err != nil {
				return nil, err
			}
		}
	}
	var when []any
	if newDS.has("when") {
		when = l.conv.condList(newDS.get("when"))
	}

	if IsTemplate(file) {
		return nil, l.errAt(ds, ExitParserError, "gorun: templated import_playbook paths are not supported: "+file)
	}
	path := expandUser(file)
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.baseDir, path)
	}
	path = filepath.Clean(path)
	data, err := l.readImported(path)
	if err != nil {
		return nil, err
	}
	plays, err := l.loadPlaybookData(path, data, vars)
	if err != nil {
		return nil, err
	}
	// entry.tags = list(set(entry.tags).union(new_obj.tags)) needs
	// hashable tags.
	for _, ps := range plays {
		for _, tn := range []*node{ps.ds.get("tags"), newDS.get("tags")} {
			if tn.isSeq() {
				for _, it := range tn.items {
					if it.kind != scalarNode {
						return nil, &ParseError{Msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: unhashable type: '%s'", it.shortType()), Code: 250}
					}
				}
			}
		}
	}
	for _, ps := range plays {
		p := ps.play
		if len(when) > 0 {
			p.When = append(append([]any{}, when...), p.When...)
		}
		merged := p.Vars
		if merged == nil {
			merged = map[string]any{}
		}
		for k, v := range l.conv.toMap(vars) {
			merged[k] = v
		}
		if t, ok := merged["tags"]; ok {
			delete(merged, "tags")
			if s, ok := t.(string); ok {
				p.Tags = append(p.Tags, strings.Split(s, ",")...)
			}
		}
		p.Vars = merged
		p.Tags = unionStrings(p.Tags, tags)
		if len(when) > 0 {
			for _, list := range [][]*Task{p.PreTasks, p.Tasks, p.PostTasks} {
				for _, t := range list {
					t.When = append(append([]any{}, when...), t.When...)
				}
			}
		}
	}
	return plays, nil
}

func setPair(m *node, k string, v *node) {
	for i, p := range m.pairs {
		if s, ok := p.key.str(); ok && s == k {
			m.pairs[i].val = v
			return
		}
	}
	m.pairs = append(m.pairs, pair{key: newStr(k), val: v})
}

func unionStrings(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// expandUser expands a leading "~" like os.path.expanduser.
func expandUser(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// roleSearchPaths is the role search path of RoleDefinition._load_role_path
// (without collections).
func (l *loader) roleSearchPaths() []string {
	paths := []string{filepath.Join(l.baseDir, "roles")}
	rp := os.Getenv("ANSIBLE_ROLES_PATH")
	if rp == "" {
		rp = "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"
	}
	for _, p := range strings.Split(rp, ":") {
		if p == "" {
			continue
		}
		p = expandUser(p)
		if a, err := filepath.Abs(p); err == nil {
			p = a
		}
		paths = append(paths, p)
	}
	return append(paths, l.baseDir)
}

var fqcrRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*$`)

// checkRoles does the checks of load_list_of_roles that do not need the
// role contents: each role must name an existing role directory. Roles
// are not expanded by this package.
func (l *loader) checkRoles(r *node) error {
	if !r.isSeq() {
		return nil
	}
	for _, def := range r.items {
		var name string
		switch {
		case def.isString():
			name, _ = def.str()
		case def.isMap():
			v := def.get("role")
			if !def.has("role") {
				v = def.get("name")
			}
			s, ok := v.str()
			if !ok || s == "" {
				return l.errAt(def, ExitGenericError, "role definitions must contain a role name")
			}
			name = s
		case def.isSeq():
			return &ParseError{Msg: fmt.Sprintf("Unexpected Exception, this is probably a bug: '%s' object has no attribute 'get'", def.shortType()), Code: 250}
		default:
			return l.errf(nil, ExitParserError, "Invalid role definition: %s", pyStrOf(def))
		}
		if err := l.checkRoleExists(name, def); err != nil {
			return err
		}
		if def.isMap() {
			// RoleInclude.load_data: the keywords of the role definition.
			if def.has("collections") {
				if err := l.validateCollections(def.get("collections"), def); err != nil {
					return err
				}
			}
			if def.has("vars") {
				if _, err := l.loadVars(def.get("vars"), "RoleInclude", nil); err != nil {
					return err
				}
			}
			if def.has("tags") {
				if _, err := l.loadTags(def.get("tags")); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkVarsFiles is the part of VariableManager.get_vars(play=play) that
// can fail while loading: it validates the vars_files entries and parses
// the vars files that exist (the first found of each list of
// alternatives). Templated entries are skipped. Ansible runs it for every
// include/import task while loading, and for every play before
// post-validation.
func (l *loader) checkVarsFiles(ds *node) error {
	if ds == nil {
		return nil
	}
	if err, done := l.varsFilesChecked[ds]; done {
		return err
	}
	err := l.doCheckVarsFiles(ds)
	l.varsFilesChecked[ds] = err
	return err
}

func (l *loader) doCheckVarsFiles(ds *node) error {
	vf := ds.get("vars_files")
	if vf.isNull() {
		return nil
	}
	entries := []*node{vf}
	if vf.isSeq() && vf.pyType != pySet {
		entries = vf.items
	}
	for _, e := range entries {
		alts := []*node{e}
		if e.isSeq() && e.pyType != pySet {
			alts = e.items
		}
		for _, a := range alts {
			if containsTemplate(a) {
				break
			}
			if !a.isString() && !a.isSeq() && a.pyType != pyBytes {
				return &ParseError{Msg: "Invalid vars_files entry found: " + pyReprOf(a) + "\n" +
					"vars_files entries should be either a string type or a list of string types after template expansion", Code: ExitGenericError}
			}
			name, ok := a.str()
			if !ok {
				break
			}
			found := l.findVarsFile(name, filepath.Dir(ds.pos.File))
			if found == "" {
				continue
			}
			data, err := os.ReadFile(found)
			if err != nil {
				continue
			}
			root, err := l.loadFile(found, data)
			if err != nil {
				return err
			}
			if !root.isNull() {
				items := []*node{root}
				if root.isSeq() {
					items = root.items
				}
				for _, it := range items {
					if !it.isMap() {
						return l.errf(nil, ExitGenericError, "variable files must contain either a dictionary of variables, or a list of dictionaries. Got: %s (%s)", pyStrOf(root), root.typeString())
					}
				}
			}
			break
		}
	}
	return nil
}

// findVarsFile is DataLoader.path_dwim_relative_stack(play search path,
// 'vars', name); "" when not found.
func (l *loader) findVarsFile(name, playDir string) string {
	if name == "" {
		return ""
	}
	var search []string
	if strings.HasPrefix(name, "~") || filepath.IsAbs(name) {
		search = []string{expandUser(name)}
	} else {
		first := strings.Split(name, "/")[0]
		for _, d := range []string{playDir, l.baseDir} {
			if first != "vars" {
				search = append(search, filepath.Join(d, "vars", name))
			}
			search = append(search, filepath.Join(d, name))
		}
	}
	for _, c := range search {
		if st, err := os.Stat(c); err == nil {
			if st.Mode().IsRegular() {
				return c
			}
			return ""
		}
	}
	return ""
}

// checkRoleExists is RoleDefinition._load_role_path for a role that is not
// templated nor a collection role.
func (l *loader) checkRoleExists(name string, obj *node) error {
	if IsTemplate(name) || fqcrRe.MatchString(name) {
		return nil
	}
	paths := l.roleSearchPaths()
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(p, name)); err == nil {
			return nil
		}
	}
	if _, err := os.Stat(name); err == nil {
		return nil
	}
	return l.errf(obj, ExitGenericError, "the role '%s' was not found in %s", name, strings.Join(paths, ":"))
}
