package dispatcher

import (
	"fmt"
	"strings"

	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/jinja"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/playbook"
)

// HostTarget returns how gorun reaches host outside any play (gorun gc
// does): the connection, user, keys, host-key checking and privilege
// escalation a task without connection keywords would get, from cfg's
// defaults and the host's inventory and extra variables (templates in them
// resolved), and the host's async directory as given (ansible_async_dir,
// else cfg.AsyncDir; a leading ~ is the target user's home).
func HostTarget(cfg Config, inv *inventory.Inventory, host string) (job.Target, string, error) {
	if err := cfg.validate(); err != nil {
		return job.Target{}, "", err
	}
	r := &Runner{cfg: cfg, inv: inv, tmpl: jinja.New(), groups: inv.Groups()}
	pr := &playRun{r: r, play: &playbook.Play{}}
	vars := inv.Vars(host)
	var lazy []string
	for k, v := range vars {
		if hasTemplate(v) {
			lazy = append(lazy, k)
		}
	}
	for k, v := range cfg.ExtraVars {
		vars[k] = v
		if hasTemplate(v) {
			lazy = append(lazy, k)
		}
	}
	vars["inventory_hostname"] = host
	vars["inventory_hostname_short"] = strings.SplitN(host, ".", 2)[0]
	vars["group_names"] = toAnys(inv.GroupNames(host))
	vars["groups"] = pr.groupsVar()
	r.resolve(vars, lazy)
	t, err := pr.target(host, vars, nil)
	if err != nil {
		return job.Target{}, "", fmt.Errorf("host %s: %w", host, err)
	}
	dir := cfg.AsyncDir
	if s := firstString(vars, "ansible_async_dir"); s != "" {
		dir = s
	}
	return t, dir, nil
}
