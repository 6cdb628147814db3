package playbook

import "strings"

// testModules are the modules the tests' known() resolves.
var testModules = map[string]bool{}

func init() {
	for _, m := range strings.Fields("command shell raw ping debug set_fact fail assert async_status setup meta include_tasks import_tasks pause wait_for copy file stat") {
		testModules[m] = true
	}
}

// testKnown resolves the test modules, also with the ansible.builtin. and
// ansible.legacy. prefixes.
func testKnown(action string) (string, bool) {
	for _, p := range []string{"ansible.builtin.", "ansible.legacy."} {
		action = strings.TrimPrefix(action, p)
	}
	if testModules[action] {
		return action, true
	}
	return "", false
}
