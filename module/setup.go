package module

import (
	"context"
	"strings"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
)

// factScript gathers gorun's fact set in one remote command.
const factScript = `h=$(hostname 2>/dev/null || uname -n)
printf 'nodename=%s\n' "$h"
printf 'fqdn=%s\n' "$(hostname -f 2>/dev/null || echo "$h")"
printf 'system=%s\n' "$(uname -s)"
printf 'kernel=%s\n' "$(uname -r)"
printf 'kernel_version=%s\n' "$(uname -v)"
printf 'machine=%s\n' "$(uname -m)"
printf 'user_id=%s\n' "$(id -un)"
printf 'debian_version=%s\n' "$(cat /etc/debian_version 2>/dev/null)"
echo '--os-release--'
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
`

// FactNames lists the facts gather_facts sets (each also as ansible_<name>).
var FactNames = []string{"hostname", "nodename", "fqdn", "domain", "system", "kernel", "kernel_version",
	"architecture", "machine", "user_id", "os_family", "distribution", "distribution_version",
	"distribution_major_version", "distribution_release"}

func runSetup(ctx context.Context, c connection.Conn, j *job.Job) (map[string]any, error) {
	res, err := c.Exec(ctx, factScript, nil)
	if err != nil {
		return nil, err
	}
	if res.RC != 0 {
		return map[string]any{"failed": true, "changed": false, "rc": res.RC,
			"msg": "gathering facts failed: " + strings.TrimSpace(text(res.Stderr))}, nil
	}
	return map[string]any{"changed": false, "ansible_facts": ParseFacts(text(res.Stdout))}, nil
}

// ParseFacts turns the output of the fact script into Ansible-named facts.
func ParseFacts(out string) map[string]any {
	kv := map[string]string{}
	osr := map[string]string{}
	target := kv
	for _, line := range strings.Split(out, "\n") {
		if line == "--os-release--" {
			target = osr
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		target[k] = strings.Trim(v, `"'`)
	}
	f := map[string]any{}
	set := func(k, v string) { f["ansible_"+k] = v }
	node := kv["nodename"]
	set("nodename", node)
	set("hostname", strings.SplitN(node, ".", 2)[0])
	fqdn := kv["fqdn"]
	set("fqdn", fqdn)
	domain := ""
	if _, d, ok := strings.Cut(fqdn, "."); ok {
		domain = d
	}
	set("domain", domain)
	set("system", kv["system"])
	set("kernel", kv["kernel"])
	set("kernel_version", kv["kernel_version"])
	arch := kv["machine"]
	set("machine", arch)
	set("architecture", arch)
	set("user_id", kv["user_id"])

	id := strings.ToLower(osr["ID"])
	dist := distNames[id]
	if dist == "" {
		dist = osr["NAME"]
		if dist == "" {
			dist = kv["system"]
		}
	}
	set("distribution", dist)
	version := osr["VERSION_ID"]
	if id == "debian" && kv["debian_version"] != "" && kv["debian_version"][0] >= '0' && kv["debian_version"][0] <= '9' {
		version = kv["debian_version"]
	}
	set("distribution_version", version)
	set("distribution_major_version", strings.SplitN(version, ".", 2)[0])
	release := osr["VERSION_CODENAME"]
	if release == "" {
		release = osr["UBUNTU_CODENAME"]
	}
	set("distribution_release", release)
	family := families[id]
	if family == "" {
		for _, like := range strings.Fields(strings.ToLower(osr["ID_LIKE"])) {
			if family = families[like]; family != "" {
				break
			}
		}
	}
	if family == "" {
		family = dist
	}
	set("os_family", family)
	f["gather_subset"] = []any{"min"}
	f["module_setup"] = true
	return f
}

var distNames = map[string]string{
	"debian": "Debian", "ubuntu": "Ubuntu", "centos": "CentOS", "rhel": "RedHat", "fedora": "Fedora",
	"rocky": "Rocky", "almalinux": "AlmaLinux", "ol": "OracleLinux", "amzn": "Amazon", "alpine": "Alpine",
	"arch": "Archlinux", "opensuse-leap": "openSUSE Leap", "sles": "SLES", "linuxmint": "Linux Mint",
}

var families = map[string]string{
	"debian": "Debian", "ubuntu": "Debian", "linuxmint": "Debian", "raspbian": "Debian",
	"centos": "RedHat", "rhel": "RedHat", "fedora": "RedHat", "rocky": "RedHat", "almalinux": "RedHat",
	"ol": "RedHat", "amzn": "RedHat", "alpine": "Alpine", "arch": "Archlinux",
	"opensuse-leap": "Suse", "sles": "Suse", "suse": "Suse",
}

// Actions computed from arguments the dispatcher already evaluated.

func runDebug(_ context.Context, _ connection.Conn, j *job.Job) (map[string]any, error) {
	if name, ok := j.Args["var"].(string); ok {
		v, defined := j.Args["_value"]
		if !defined {
			v = "VARIABLE IS NOT DEFINED!"
		}
		return map[string]any{name: v, "changed": false}, nil
	}
	msg, ok := j.Args["msg"]
	if !ok {
		msg = "Hello world!"
	}
	return map[string]any{"msg": msg, "changed": false}, nil
}

func runSetFact(_ context.Context, _ connection.Conn, j *job.Job) (map[string]any, error) {
	facts := map[string]any{}
	for k, v := range j.Args {
		if k == "cacheable" {
			continue
		}
		facts[k] = v
	}
	if len(facts) == 0 {
		return map[string]any{"failed": true, "changed": false,
			"msg": "No key/value pairs provided, at least one is required for this action to succeed"}, nil
	}
	return map[string]any{"ansible_facts": facts, "changed": false}, nil
}

func runFail(_ context.Context, _ connection.Conn, j *job.Job) (map[string]any, error) {
	msg, ok := j.Args["msg"]
	if !ok {
		msg = "Failed as requested from task"
	}
	return map[string]any{"failed": true, "changed": false, "msg": msg}, nil
}

// runAssert reports on conditions the dispatcher evaluated: _results holds
// one bool per entry of that.
func runAssert(_ context.Context, _ connection.Conn, j *job.Job) (map[string]any, error) {
	that, _ := j.Args["that"].([]any)
	results, _ := j.Args["_results"].([]any)
	for i, c := range that {
		ok := i < len(results) && results[i] == true
		if !ok {
			msg, has := j.Args["fail_msg"]
			if !has {
				msg, has = j.Args["msg"]
			}
			if !has {
				msg = "Assertion failed"
			}
			return map[string]any{"failed": true, "changed": false, "assertion": c, "evaluated_to": false, "msg": msg}, nil
		}
	}
	msg, has := j.Args["success_msg"]
	if !has {
		msg = "All assertions passed"
	}
	return map[string]any{"changed": false, "msg": msg}, nil
}
