#!/usr/bin/env python3
"""Regenerate golden.json from cases.yaml by running real Ansible (the oracle).

Usage (from the repository root):   python3 jinja/testdata/oracle.py [OUTPUT]
OUTPUT defaults to jinja/testdata/golden.json.

Needs ansible-core 2.14 (ansible-playbook on PATH) and PyYAML. The Go tests
only read golden.json and never need Ansible.

Each case in cases.yaml has exactly one of these keys, naming the mode:
  s: template rendered with Env.String   (oracle: debug msg "@@<tpl>", prefix stripped)
  v: template rendered with Env.Value    (oracle: debug msg "<tpl>", as Ansible 2.14 returns it)
  e: bare expression for Env.Eval        (oracle: debug msg "@@{{ (<expr>) | to_json }}")
  c: conditional for Env.Cond            (oracle: debug with when: <cond>; skipped means false)
Optional keys:
  vars:   variables for this case, merged over the defaults
  govars: variables given only to the Go side (e.g. hostvars/groups, which
          Ansible builds from the inventory written below)
  err:    substring that both Ansible's and our error message must contain
  go:     our expected result when we deliberately differ from Ansible
  goerr:  substring of our error when we fail although Ansible does not
  note:   why we differ
"""
import json
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("s", "v", "e", "c")

INVENTORY = """\
localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3
[web]
h1 x=1 role=front
h2 x=2 role=back
[db]
h3 x=3
"""


def main():
    with open(os.path.join(HERE, "cases.yaml")) as f:
        spec = yaml.safe_load(f)
    defaults = spec["vars"]
    cases = []
    tasks = []
    for i, case in enumerate(spec["cases"]):
        modes = [m for m in MODES if m in case]
        if len(modes) != 1:
            sys.exit("case %d needs exactly one mode key: %r" % (i, case))
        mode = modes[0]
        tpl = case[mode]
        cid = "%03d_%s" % (i, mode)
        task_vars = dict(case.get("vars") or {})
        task = {"name": cid, "ignore_errors": True}
        if task_vars:
            task["vars"] = task_vars
        if mode == "s":
            task["debug"] = {"msg": "@@" + tpl}
        elif mode == "v":
            task["debug"] = {"msg": tpl}
        elif mode == "e":
            task["debug"] = {"msg": "@@{{ (" + tpl + ") | to_json }}"}
        else:
            task["debug"] = {"msg": "ok"}
            task["when"] = tpl
        tasks.append(task)
        cases.append({"id": cid, "mode": mode, "tpl": tpl, "case": case})

    play = [{"hosts": "localhost", "gather_facts": False, "vars": defaults, "tasks": tasks}]
    with tempfile.TemporaryDirectory() as tmp:
        pb = os.path.join(tmp, "play.yml")
        inv = os.path.join(tmp, "inventory")
        with open(pb, "w") as f:
            json.dump(play, f)  # JSON is YAML; avoids any quoting ambiguity
        with open(inv, "w") as f:
            f.write(INVENTORY)
        env = dict(os.environ, ANSIBLE_NOCOWS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_LOCALHOST_WARNING="0")
        out = subprocess.run(["ansible-playbook", "-i", inv, pb], env=env, capture_output=True, text=True)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            sys.exit("ansible-playbook output is not JSON:\n" + out.stdout[:2000] + out.stderr[:2000])

    results = {}
    for t in report["plays"][0]["tasks"]:
        results[t["task"]["name"]] = t["hosts"]["localhost"]

    golden = []
    problems = 0
    for c in cases:
        r = results[c["id"]]
        case = c["case"]
        entry = {"id": c["id"], "mode": c["mode"], "tpl": c["tpl"]}
        for k in ("vars", "govars", "err", "go", "goerr", "note"):
            if k in case:
                entry[k] = case[k]
        if r.get("failed"):
            entry["ok"] = False
            msg = r.get("msg") or ""
            if not msg and r.get("exception"):
                msg = r["exception"].strip().splitlines()[-1]
            msg = normalize(msg)
            entry["error"] = msg
            if "err" in case and case["err"] not in msg:
                print("%s: expected error %r not in Ansible's message %r" % (c["id"], case["err"], msg))
                problems += 1
        else:
            entry["ok"] = True
            if c["mode"] == "c":
                entry["result"] = not r.get("skipped", False)
            else:
                msg = r.get("msg")
                if c["mode"] in ("s", "e"):
                    assert isinstance(msg, str) and msg.startswith("@@"), (c["id"], msg)
                    msg = msg[2:]
                if c["mode"] == "e":
                    entry["json"] = msg  # keep the JSON text: it tells ints from floats
                else:
                    entry["result"] = msg
            if "err" in case:
                print("%s: expected an error %r but Ansible succeeded" % (c["id"], case["err"]))
                problems += 1
        golden.append(entry)

    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "golden.json")
    with open(output, "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print("wrote %d cases (%d problems)" % (len(golden), problems))
    return 1 if problems else 0


def normalize(msg):
    """Map Ansible's YAML wrapper types to the plain Python names we use."""
    for a, b in (("ansible.parsing.yaml.objects.AnsibleUnicode", "str"),
                 ("ansible.parsing.yaml.objects.AnsibleMapping", "dict"),
                 ("ansible.parsing.yaml.objects.AnsibleSequence", "list"),
                 ("AnsibleUnsafeText", "str")):
        msg = msg.replace(a, b)
    return msg


if __name__ == "__main__":
    sys.exit(main())
