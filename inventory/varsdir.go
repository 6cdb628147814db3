package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// varsExtensions returns the extensions host_group_vars looks for, in
// order (C.YAML_FILENAME_EXTENSIONS, after the bare name).
func varsExtensions() []string { return []string{"", ".yml", ".yaml", ".json"} }

// varsDir holds the group_vars/ and host_vars/ files of one directory,
// merged per group or host name.
type varsDir struct {
	dir    string
	groups map[string]map[string]any
	hosts  map[string]map[string]any
}

// loadVarsDir loads dir/group_vars and dir/host_vars for the given names,
// as the host_group_vars vars plugin does.
func loadVarsDir(dir string, groupNames, hostNames []string) (*varsDir, []string, error) {
	vd := &varsDir{dir: dir}
	var warnings []string
	var err error
	for _, sub := range []struct {
		name  string
		names []string
		dst   *map[string]map[string]any
	}{{"group_vars", groupNames, &vd.groups}, {"host_vars", hostNames, &vd.hosts}} {
		base := filepath.Join(dir, sub.name)
		fi, statErr := os.Stat(base)
		if statErr != nil {
			if errors.Is(statErr, fs.ErrNotExist) {
				continue
			}
			return nil, warnings, fmt.Errorf("reading %s: %w", base, statErr)
		}
		if !fi.IsDir() {
			warnings = append(warnings, fmt.Sprintf("Found %s that is not a directory, skipping: %s", sub.name, base))
			continue
		}
		if *sub.dst, err = loadEntityVars(base, sub.names, &warnings); err != nil {
			return nil, warnings, err
		}
	}
	return vd, warnings, nil
}

func loadEntityVars(base string, names []string, warnings *[]string) (map[string]map[string]any, error) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", base, err)
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = true
	}
	out := map[string]map[string]any{}
	for _, name := range names {
		if strings.HasPrefix(name, string(os.PathSeparator)) {
			continue // avoid 'chroot' type inventory hostnames /path/to/chroot
		}
		files, err := findVarsFiles(base, name, present)
		if err != nil {
			return nil, err
		}
		var merged map[string]any
		for _, f := range files {
			vars, err := loadVarsFile(f, warnings)
			if err != nil {
				return nil, err
			}
			if len(vars) == 0 {
				continue
			}
			if merged == nil {
				merged = map[string]any{}
			}
			mergeInto(merged, vars)
		}
		if merged != nil {
			out[name] = merged
		}
	}
	return out, nil
}

// findVarsFiles mirrors DataLoader.find_vars_files: the first of NAME,
// NAME.yml, NAME.yaml and NAME.json that exists; a directory contributes
// all its vars files.
func findVarsFiles(base, name string, present map[string]bool) ([]string, error) {
	simple := !strings.ContainsRune(name, '/') && name != "." && name != ".."
	for _, ext := range varsExtensions() {
		candidate := name + ext
		if simple && !present[candidate] {
			continue
		}
		full := filepath.Join(base, candidate)
		fi, err := os.Stat(full)
		if err != nil {
			continue // as os.path.exists: missing or dangling
		}
		if fi.IsDir() {
			return dirVarsFiles(full)
		}
		return []string{full}, nil
	}
	return nil, nil
}

// dirVarsFiles lists the vars files of a directory recursively, sorted,
// skipping hidden and backup files and unknown extensions.
func dirVarsFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var found []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		ext := pySplitExt(name)
		full := filepath.Join(dir, name)
		fi, err := os.Stat(full)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir() && ext == "":
			more, err := dirVarsFiles(full)
			if err != nil {
				return nil, err
			}
			found = append(found, more...)
		case fi.Mode().IsRegular() && slices.Contains(varsExtensions(), ext):
			found = append(found, full)
		}
	}
	return found, nil
}

// loadVarsFile reads one YAML or JSON vars file. Empty files give nil.
func loadVarsFile(path string, warnings *[]string) (map[string]any, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	v, err := loadData(path, content, func(w string) { *warnings = append(*warnings, w) })
	if err != nil {
		return nil, err
	}
	if !truthy(v) {
		return nil, nil
	}
	m, ok := v.(*omap)
	if !ok {
		return nil, parseErrorf(path, 0, "failed to combine variables, expected dicts but got a 'dict' and a '%s'", pyTypeName(v))
	}
	return plain(m).(map[string]any), nil
}

// pySplitExt returns the extension of a file name as Python's
// os.path.splitext does: leading dots do not start an extension.
func pySplitExt(name string) string {
	trimmed := strings.TrimLeft(name, ".")
	i := strings.LastIndexByte(trimmed, '.')
	if i < 0 {
		return ""
	}
	return trimmed[i:]
}
