// Package playbook parses Ansible playbooks into typed structures carrying
// source positions, and validates them the way Ansible 2.14 does when it
// loads a playbook (what "ansible-playbook --syntax-check" reports).
//
// Loading follows Ansible's own pipeline:
//
//   - a file is first tried as JSON (Python's json module, whose error text
//     is part of Ansible's YAML error message), then as YAML with libyaml's
//     scanner and PyYAML's YAML 1.1 rules: "yes"/"no"/"on"/"off" are
//     booleans, 0644 is an octal integer, merge keys work, duplicate keys
//     produce Ansible's warning (Playbook.Warnings) and the last value wins;
//   - plays, blocks and tasks are checked for unknown keywords in the same
//     order as Ansible, so the first error reported is Ansible's;
//   - the module of a task is found like Ansible's ModuleArgsParser (free
//     form, k=v and dict argument forms, action:/local_action:, args:);
//   - import_playbook and import_tasks (and static "include") are resolved
//     at load time; include_tasks stays a task for the runner (see LoadTasks
//     and IncludePath).
//
// Errors are *ParseError values carrying Ansible's exact message, location
// details (file, line, column, the offending lines and Ansible's hints) and
// the exit code ansible-playbook uses.
//
// Values Ansible templates at run time are kept raw: strings containing
// "{{ }}" are never rendered here, and keyword values (booleans, integers)
// are converted at run time by the runner, as in Ansible. !unsafe values are
// returned as Unsafe and !vault values as Vault.
//
// Limits: roles are not expanded (the "roles" keyword and include_role /
// import_role tasks are kept as written; only the existence of the role is
// checked); vars_files are parsed for syntax errors but their variables are
// not loaded; templated play keywords (hosts, gather_facts, ...) are not
// validated, since their values are only known at run time; templated
// import_tasks paths may only use plain {{ var }} references to play,
// block and task vars and playbook_dir; templated import_playbook paths
// are rejected.
package playbook
