// Package inventory loads Ansible inventories and matches Ansible host
// patterns against them, following ansible-core 2.14.
//
// Sources are given as to ansible's -i option: INI files, YAML (or JSON)
// files, directories of such files, and comma-separated host lists. The
// group_vars/ and host_vars/ directories next to each source are loaded as
// Ansible's host_group_vars plugin does, and more such directories (the
// playbook's) can be added with [Inventory.AddVarsDir].
//
// As in Ansible, files in a directory source are skipped when hidden or when
// their names end in one of the default INVENTORY_IGNORE_EXTS (".ini",
// ".cfg", ".md", ".txt", "~", ...), and an INI [group:children] section that
// names a group never defined is an error.
//
// Variable values keep the types Ansible gives them: string, int, float64,
// bool, nil, []any and map[string]any. INI values are converted as the ini
// plugin does with Python's ast.literal_eval, and YAML scalars are resolved
// with YAML 1.1 rules as PyYAML does (so yes/no/on/off are booleans and 0755
// is an octal int).
//
// Host patterns ([Inventory.Select]) follow Ansible's InventoryManager:
// unions, intersections (&) and exclusions (!), fnmatch globs, ~regexes,
// subscripts and the implicit localhost.
//
// An Inventory is safe for concurrent use by multiple goroutines.
package inventory
