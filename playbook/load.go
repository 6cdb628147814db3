package playbook

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxValues bounds the number of values converted for one load, so that
// YAML aliases cannot expand a small file into an enormous structure.
const maxValues = 5_000_000

// maxImportDepth bounds nested import_playbook/import_tasks.
const maxImportDepth = 64

// loader holds the state of one Load/Parse/LoadTasks call.
type loader struct {
	known    func(string) (string, bool)
	sources  map[string][]byte
	warnings []string
	conv     converter
	// baseDir is Ansible's loader basedir: the directory of the playbook
	// being loaded (it changes while an imported playbook loads).
	baseDir string
	// stack is the chain of files being imported (cycle detection).
	stack []string
	// varsFilesChecked caches checkVarsFiles per play.
	varsFilesChecked map[*node]error
}

func newLoader(known func(string) (string, bool)) *loader {
	if known == nil {
		known = func(string) (string, bool) { return "", false }
	}
	return &loader{known: known, sources: map[string][]byte{}, conv: converter{budget: maxValues}, varsFilesChecked: map[*node]error{}}
}

// errAt builds a ParseError about obj; when obj has a position (an
// AnsibleBaseYAMLObject in Ansible) the location details are appended.
func (l *loader) errAt(obj *node, code int, msg string) *ParseError {
	e := &ParseError{Msg: msg, Code: code, text: msg}
	if obj != nil && obj.hasPos && obj.pos.File != "" {
		src := l.sources[obj.pos.File]
		ext, excerpt := extendedError(obj.pos.File, src, obj.pos.Line, obj.pos.Col)
		e.Pos = obj.pos
		e.Line = excerpt
		e.text = msg + "\n\n" + ext
	}
	return e
}

func (l *loader) errf(obj *node, code int, format string, args ...any) *ParseError {
	return l.errAt(obj, code, fmt.Sprintf(format, args...))
}

// errAtOrig is errAt for an error raised with orig_exc: without a
// position Ansible renders it as "msg. orig".
func (l *loader) errAtOrig(obj *node, code int, msg, orig string) *ParseError {
	if obj != nil && obj.hasPos && obj.pos.File != "" {
		return l.errAt(obj, code, msg)
	}
	return l.errOrig(code, msg, orig)
}

// errOrig is an error without position wrapping an original exception:
// Ansible renders it as "msg. orig".
func (l *loader) errOrig(code int, msg, orig string) *ParseError {
	return &ParseError{Msg: msg, Code: code, text: msg + ". " + orig}
}

// fromTaskError converts a taskError, attaching fallback as the object
// when the error has none (Ansible's re-raise with obj=task_ds).
func (l *loader) fromTaskError(err error, fallback *node) error {
	var te *taskError
	if !errors.As(err, &te) {
		if pe, ok := err.(*ParseError); ok {
			return pe
		}
		return l.errAt(fallback, ExitParserError, err.Error())
	}
	code := te.code
	if code == 0 {
		code = ExitParserError
	}
	if te.obj == nil && !te.noWrap {
		// raise AnsibleParserError(to_native(e), obj=task_ds, orig_exc=e)
		return l.errAtOrig(fallback, code, te.msg, te.msg)
	}
	return l.errAt(te.obj, code, te.msg)
}

// readImported reads a file named by an import statement.
func (l *loader) readImported(path string) ([]byte, error) {
	var data []byte
	st, err := os.Stat(path)
	if err == nil && !st.Mode().IsRegular() {
		err = &fs.PathError{Op: "read", Path: path, Err: fs.ErrInvalid}
	}
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, &ParseError{
			Msg: "Unable to retrieve file contents\nCould not find or access '" + path + "' on the Ansible Controller.\n" +
				"If you are using a module and expect the file to exist on the remote, see the remote_src option",
			Code: ExitGenericError,
			Err:  err,
		}
	}
	return data, nil
}

// loadFile parses a YAML/JSON file, recording its source for error
// excerpts.
func (l *loader) loadFile(path string, data []byte) (*node, error) {
	l.sources[path] = data
	root, warnings, err := loadDocument(path, data)
	l.warnings = append(l.warnings, warnings...)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			return nil, pe
		}
		var ye *yamlLoadError
		if errors.As(err, &ye) {
			msg := ye.Error()
			if ye.yaml.line > 0 {
				e := &ParseError{Msg: msg, Code: ExitParserError}
				ext, excerpt := extendedError(path, data, ye.yaml.line, ye.yaml.col)
				e.Pos = Pos{File: path, Line: ye.yaml.line, Col: ye.yaml.col}
				e.Line = excerpt
				e.text = msg + "\n\n" + ext
				return nil, e
			}
			return nil, l.errOrig(ExitParserError, msg, ye.yaml.text)
		}
		return nil, &ParseError{Msg: err.Error(), Code: ExitParserError, text: err.Error()}
	}
	return root, nil
}

// Load reads and parses a playbook file. known resolves a module/action
// name as written to its canonical short name (ok false: unknown module).
// import_playbook and import_tasks statements are resolved at load time,
// relative to the including file; include_tasks stays a task (Module
// "include_tasks") for the runner, which loads the file with LoadTasks.
//
// Errors are *ParseError values matching ErrParse, with Ansible's text.
func Load(path string, known func(action string) (module string, ok bool)) (*Playbook, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &ParseError{Msg: "the playbook: " + path + " could not be found", Code: ExitGenericError, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &ParseError{Msg: "the playbook: " + path + " does not appear to be a file", Code: ExitGenericError, Err: fs.ErrInvalid}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ParseError{Msg: "the playbook: " + path + " could not be found", Code: ExitGenericError, Err: err}
	}
	return Parse(path, data, known)
}

// Parse parses playbook data read from path (which is used for positions,
// messages and to resolve imports; it need not exist).
func Parse(path string, data []byte, known func(action string) (string, bool)) (pb *Playbook, err error) {
	defer func() {
		if r := recover(); r != nil {
			pb, err = nil, &ParseError{Msg: fmt.Sprint("Unexpected Exception, this is probably a bug: ", r), Code: 250, Err: errInternal}
		}
	}()
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	l := newLoader(known)
	l.baseDir = filepath.Dir(abs)
	plays, err := l.loadPlaybookData(abs, data, nil)
	if err != nil {
		return nil, err
	}
	for _, ps := range plays {
		if err := l.postValidatePlay(ps); err != nil {
			return nil, err
		}
	}
	pb = &Playbook{Path: abs, Dir: filepath.Dir(abs), Warnings: l.warnings}
	for _, ps := range plays {
		pb.Plays = append(pb.Plays, ps.play)
	}
	if l.conv.err != nil {
		return nil, l.conv.err
	}
	return pb, nil
}

// unfrackPath is Ansible's unfrackpath (absolute, symlinks resolved).
func unfrackPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		if a, err := filepath.Abs(r); err == nil {
			return a
		}
		return r
	}
	return p
}

// loadPlaybookData is Playbook._load_playbook_data.
func (l *loader) loadPlaybookData(file string, data []byte, importVars *node) ([]*playState, error) {
	if len(l.stack) >= maxImportDepth {
		return nil, &ParseError{Msg: "maximum import depth exceeded while importing " + file, Code: ExitGenericError}
	}
	for _, f := range l.stack {
		if f == file {
			return nil, &ParseError{Msg: "recursive import of playbook " + file, Code: ExitGenericError}
		}
	}
	l.stack = append(l.stack, file)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	saved := l.baseDir
	l.baseDir = filepath.Dir(file)
	defer func() { l.baseDir = saved }()

	ds, err := l.loadFile(file, data)
	if err != nil {
		return nil, err
	}
	switch {
	case ds.isNull():
		return nil, l.errAt(ds, ExitParserError, "Empty playbook, nothing to do: "+unfrackPath(file))
	case !ds.isSeq() || ds.pyType == pySet:
		return nil, l.errf(ds, ExitParserError, "A playbook must be a list of plays, got a %s instead: %s", ds.typeString(), unfrackPath(file))
	case len(ds.items) == 0:
		return nil, l.errAt(nil, ExitParserError, "A playbook must contain at least one play: "+unfrackPath(file))
	}
	var plays []*playState
	for _, entry := range ds.items {
		if !entry.isMap() {
			return nil, l.errAt(entry, ExitParserError, "playbook entries must be either valid plays or 'import_playbook' statements")
		}
		isImport := false
		for _, k := range actionImportPlaybook {
			if entry.has(k) {
				isImport = true
			}
		}
		if isImport {
			ps, err := l.loadPlaybookInclude(entry)
			if err != nil {
				return nil, err
			}
			plays = append(plays, ps...)
			continue
		}
		ps, err := l.loadPlay(entry, importVars)
		if err != nil {
			return nil, err
		}
		plays = append(plays, ps)
	}
	return plays, nil
}

// loadVars is Base._load_vars: a dict or a list of dicts, merged over base.
func (l *loader) loadVars(ds *node, class string, base *node) (*node, error) {
	invalid := func() error {
		return l.errAtOrig(ds, ExitParserError, fmt.Sprintf("Vars in a %s must be specified as a dictionary, or a list of dictionaries", class), "")
	}
	check := func(m *node) error {
		for _, p := range m.pairs {
			s, ok := p.key.str()
			if !ok || !isIdentifier(s) {
				te := fmt.Sprintf("'%s' is not a valid variable name", pyStrOf(p.key))
				return l.errAtOrig(ds, ExitParserError, fmt.Sprintf("Invalid variable name in vars specified for %s: %s", class, te), te)
			}
		}
		return nil
	}
	switch {
	case ds.isNull():
		return &node{kind: mappingNode, pyType: pyDict}, nil
	case ds.isMap() && ds.pyType != pySet:
		if err := check(ds); err != nil {
			return nil, err
		}
		return mergeMaps(base, ds), nil
	case ds.isSeq() && ds.pyType != pySet:
		all := base
		for _, it := range ds.items {
			if !it.isMap() {
				return nil, invalid()
			}
			if err := check(it); err != nil {
				return nil, err
			}
			all = mergeMaps(all, it)
		}
		if all == nil {
			all = &node{kind: mappingNode, pyType: pyDict}
		}
		return all, nil
	}
	return nil, invalid()
}

// mergeMaps is a | b for dicts (b wins, a's order first).
func mergeMaps(a, b *node) *node {
	out := &node{kind: mappingNode, pyType: pyDict}
	index := map[string]int{}
	for _, m := range []*node{a, b} {
		if m == nil {
			continue
		}
		for _, p := range m.pairs {
			h := keyHash(p.key)
			if i, ok := index[h]; ok {
				out.pairs[i].val = p.val
				continue
			}
			index[h] = len(out.pairs)
			out.pairs = append(out.pairs, p)
		}
	}
	return out
}

// loadTags is Taggable._load_tags.
func (l *loader) loadTags(ds *node) ([]string, error) {
	switch {
	case ds.isSeq() && ds.pyType != pySet && ds.pyType != "tuple":
		out := make([]string, 0, len(ds.items))
		for _, it := range ds.items {
			out = append(out, pyStrOf(it))
		}
		return out, nil
	case ds.isString():
		s, _ := ds.str()
		parts := strings.Split(s, ",")
		out := make([]string, 0, len(parts))
		for _, p := range parts {
			out = append(out, pyStrip(p))
		}
		return out, nil
	}
	return nil, l.errAt(ds, ExitGenericError, "tags must be specified as a list")
}

// validateCollections is get_validated_value for 'collections'.
func (l *loader) validateCollections(v, owner *node) error {
	if v.isNull() {
		return nil
	}
	items := []*node{v}
	if v.isSeq() && v.pyType != pySet {
		items = v.items
	}
	for _, it := range items {
		if !it.isString() {
			return l.errf(owner, ExitParserError, "the field 'collections' should be a list of (<class 'str'>,), but the item '%s' is a %s", pyStrOf(it), it.typeString())
		}
	}
	return nil
}

// validateModuleDefaults is Base._load_module_defaults.
func (l *loader) validateModuleDefaults(v *node) error {
	if v.isNull() {
		return nil
	}
	items := []*node{v}
	if v.isSeq() {
		items = v.items
	}
	for _, d := range items {
		if !d.isMap() {
			return l.errAt(nil, ExitParserError, "The field 'module_defaults' is supposed to be a dictionary or list of dictionaries, the keys of which must be static action, module, or group names. Only the values may contain templates. For example: {'ping': \"{{ ping_defaults }}\"}")
		}
		for _, p := range d.pairs {
			k := pyStrOf(p.key)
			if strings.HasPrefix(k, "group/") {
				continue
			}
			if len(strings.Split(k, ".")) < 3 {
				k = "ansible.legacy." + k
			}
			if _, ok := l.known(k); !ok {
				return l.errAt(nil, ExitParserError, "Could not resolve action "+k+" in module_defaults")
			}
		}
	}
	return nil
}

// stringTypeCheck is the part of FieldAttributeBase.validate rejecting a
// list or dict for a string attribute.
func (l *loader) stringTypeCheck(name string, v, owner *node) error {
	if v == nil || !stringKeywords[name] {
		return nil
	}
	if v.kind == mappingNode || (v.kind == sequenceNode && v.pyType != "tuple" && v.pyType != pySet) {
		return l.errf(owner, ExitParserError, "The field '%s' is supposed to be a string type, however the incoming data structure is a %s", name, v.typeString())
	}
	return nil
}

// renameKey returns a copy of the mapping with key from renamed to "to"
// and moved last (Python's ds[to] = ds[from]; del ds[from]).
func renameKey(m *node, from, to string) *node {
	out := *m
	out.pairs = nil
	var moved pair
	for _, p := range m.pairs {
		if s, ok := p.key.str(); ok && s == from {
			moved = pair{key: &node{kind: scalarNode, pyType: pyStr, val: to}, val: p.val}
			continue
		}
		out.pairs = append(out.pairs, p)
	}
	out.pairs = append(out.pairs, moved)
	return &out
}
