package playbook

import (
	"fmt"
	"os"
	"path/filepath"
)

// LoadTasks reads and parses a task file, as the runner needs for
// include_tasks at run time (Ansible's dynamic include): the file must
// contain a list of tasks; import_tasks statements in it are resolved,
// relative to the file first and then to playbookDir (pass "" for the
// directory of path). handlers selects handler parsing (listen is allowed,
// nested blocks are not). An empty file gives no tasks and a warning.
func LoadTasks(path, playbookDir string, handlers bool, known func(action string) (string, bool)) (*TaskFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		abs, _ := filepath.Abs(path)
		return nil, &ParseError{
			Msg: "Unable to retrieve file contents\nCould not find or access '" + abs + "' on the Ansible Controller.\n" +
				"If you are using a module and expect the file to exist on the remote, see the remote_src option",
			Code: ExitGenericError,
			Err:  err,
		}
	}
	return ParseTasks(path, playbookDir, data, handlers, known)
}

// ParseTasks is LoadTasks for data already read from path.
func ParseTasks(path, playbookDir string, data []byte, handlers bool, known func(action string) (string, bool)) (tf *TaskFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			tf, err = nil, &ParseError{Msg: fmt.Sprint("Unexpected Exception, this is probably a bug: ", r), Code: 250, Err: errInternal}
		}
	}()
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	l := newLoader(known)
	l.baseDir = playbookDir
	if l.baseDir == "" {
		l.baseDir = filepath.Dir(abs)
	}
	l.stack = []string{abs}
	root, err := l.loadFile(abs, data)
	if err != nil {
		return nil, err
	}
	tf = &TaskFile{Path: abs}
	if !root.truthy() {
		l.warnings = append(l.warnings, fmt.Sprintf("file %s is empty and had no tasks to include", abs))
		tf.Warnings = l.warnings
		return tf, nil
	}
	if !root.isSeq() || root.pyType == pySet {
		return nil, l.errAt(root, ExitParserError, "included task files must contain a list of tasks")
	}
	ctx := &taskCtx{
		handlers:   handlers,
		importDirs: []string{filepath.Dir(abs)},
		dynamic:    true,
		play:       &playCtx{dir: l.baseDir},
	}
	tasks, err := l.loadBlocks(root, ctx)
	if err != nil {
		if ae, ok := err.(*assertError); ok {
			return nil, l.errOrig(ExitParserError, "A malformed block was encountered while loading a block", ae.msg)
		}
		return nil, err
	}
	if l.conv.err != nil {
		return nil, l.conv.err
	}
	tf.Tasks = tasks
	tf.Warnings = l.warnings
	return tf, nil
}
