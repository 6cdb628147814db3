// Package conformance holds gorun's differential conformance suite: every
// playbook in scenarios/ is run by the real ansible-playbook and by gorun
// against the same hosts (a real sshd host on loopback, and -c local), and
// the outputs are compared after masking what legitimately differs between
// two runs (job ids, pids, times, paths) and the deliberate differences
// listed in the README (a polled job's end is seen at once, so gorun may
// print fewer ASYNC POLL lines, and async jobs are killed at their exact
// time limit, which can change how many times an until loop retries).
package conformance
