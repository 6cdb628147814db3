package agent

// prelude is sent to the agent shell once: it defines the functions the
// executor calls, one request a line. Responses go to stdout ("OK ...",
// "ERR ...", or framed files "F <bytes>\n<content>"); job notifications go
// to stderr, one line each, from the job runners themselves (fd 3):
// "D <jid> <rc>" (done; "D <jid> <rc> <start> <end>" when the job wrote no
// output, which then needs no collect), "T <jid>" (killed by the
// target-side watchdog), "X <jid>" (gone without an exit status).
//
// The job's runner runs under bash when the target has it, whose
// $EPOCHREALTIME gives the start and end times without a process (one exec
// of bash costs less than the two of date it saves); under another sh, or a
// bash older than 5.0, date writes them. It starts the job's command only
// after it wrote its pid and start time, and tells the launch so by
// closing fd 4 (see gl). A portable script (the command module's line,
// which means the same in sh and bash) runs in a subshell of the runner,
// any other under /bin/sh. Under bash the runner is its job's watchdog
// too: it reads the job's exit status from a process substitution with
// read -t (limit + grace), so a job costs no watchdog subshell and sleep
// (a watchdog then goes only with its runner: the runner leads the job's
// process group, which is killed as one; a status that never comes — the
// substitution killed on its own — is told as X); under sh a watchdog
// subshell sleeps beside the job. The runner writes rc and pid in place (no mv:
// each is one short write, and readers take an empty file for "not yet":
// gw waits for rc to have a size, collects come after the notification, gs
// reads pid only when it has one).
const prelude = `
umask 077
_GNS=; for _t in setsid mkdir mv rm cat wc sleep; do command -v $_t >/dev/null 2>&1 || _GNS="${_GNS:+$_GNS, }$_t"; done
_gq() { printf '%s' "$1" | tr '\n' ' '; }
_GSH=/bin/sh; command -v bash >/dev/null 2>&1 && _GSH=bash
# _gdir sets _b to directory $1 with a leading ~ expanded (a variable, not
# output: a command substitution would fork)
_gdir() { case $1 in "~") _b=$HOME;; "~/"*) _b="$HOME/${1#"~/"}";; *) _b=$1;; esac; }
_GR='j=$1 jid=$2 lim=$3 grace=$4 portable=$5
[ -s "$j/pid" ] || echo $$ > "$j/pid"
_gt() { if [ -n "${EPOCHREALTIME:-}" ]; then _t=$EPOCHREALTIME; printf -v _ts "%(%Y-%m-%d %H:%M:%S)T.%s" "${_t%[.,]*}" "${_t#*[.,]}"; else _ts=$(date "+%Y-%m-%d %H:%M:%S.%N" 2>/dev/null); fi; }
_gt; _s=$_ts; echo "$_s" > "$j/start"
_gj() { if [ "$portable" = 1 ]; then ( . "$j/cmd" ); else /bin/sh "$j/cmd"; fi < "$j/stdin" > "$j/stdout" 2> "$j/stderr"; }
'
# the time limit: bash reads the job's status from a process substitution
# with read -t, a watchdog with no process of its own; sh has a watchdog
# subshell sleep
if [ "$_GSH" = bash ]; then _GR=$_GR'exec 4>&-
exec 5< <( _gj; echo $? )
if [ "$lim" -gt 0 ]; then read -t $((lim + grace)) rc <&5; else read rc <&5; fi
[ $? -gt 128 ] && { : > "$j/timeout"; kill -KILL -$$; }
[ -n "$rc" ] || { echo "X $jid" >&3; exit 1; }
'
else _GR=$_GR'wd=
if [ "$lim" -gt 0 ]; then
  ( trap "kill \$s 2>/dev/null; exit 0" TERM
    sleep $((lim + grace)) & s=$!
    wait $s
    : > "$j/timeout"
    kill -KILL -$$ 2>/dev/null ) </dev/null >/dev/null 2>&1 4>&- &
  wd=$!
fi
exec 4>&-
_gj; rc=$?
[ -n "$wd" ] && kill $wd 2>/dev/null
'
fi
_GR=$_GR'_gt; echo "$_ts" > "$j/end"
echo $rc > "$j/rc"
if [ -s "$j/stdout" ] || [ -s "$j/stderr" ]; then echo "D $jid $rc" >&3; else echo "D $jid $rc $_s $_ts" >&3; fi'
gl() {
  if [ -n "$_GNS" ]; then echo "ERR not found on the target (PATH=$PATH): $_GNS; gorun's async wrapper needs them (setsid: util-linux or busybox)"; return; fi
  _gdir "$2"; _j="$_b/$1"
  if ! mkdir -p "$_j" 2>/dev/null; then _e=$(mkdir -p "$_j" 2>&1); echo "ERR could not create directory: $_b - $(_gq "$_e")"; return; fi
  if ! printf '%s' "$5" > "$_j/cmd" 2>/dev/null; then echo "ERR could not write to $_j"; return; fi
  if [ "$6" = 1 ]; then printf '%s' "$7" > "$_j/stdin"; else : > "$_j/stdin"; fi
  if [ -e "$_j/pid" ] || [ -e "$_j/rc" ]; then rm -f "$_j/pid" "$_j/rc"; fi
  _p=$(setsid $_GSH -c "$_GR" gorun-job "$_j" "$1" "$3" "$4" "$8" 3>&2 4>&1 </dev/null >/dev/null 2>&1 & echo $!)
  # setsid execs the runner in the background child (not a group leader,
  # so it does not fork): $! is the job's pid and process group. The
  # runner holds the substitution's pipe (fd 4) until it starts the
  # command, so the launch is answered once the job has started, as
  # Ansible's async_wrapper answers once its job has. The pid is written
  # here too (the runner writes the same).
  [ -s "$_j/pid" ] || echo "$_p" > "$_j/pid"
  echo "OK $_p $_j"
}
_galive() {
  if [ -r "/proc/$1/stat" ]; then
    read -r _s < "/proc/$1/stat" 2>/dev/null || return 1
    _s=${_s##*) }; [ "${_s%% *}" != Z ]
  else kill -0 "$1" 2>/dev/null; fi
}
gw() {
  ( while [ ! -s "$2/rc" ] && _galive "$3"; do sleep 1; done
    if [ -s "$2/rc" ]; then echo "D $1 $(cat "$2/rc")"; elif [ -e "$2/timeout" ]; then echo "T $1"; else echo "X $1"; fi ) </dev/null >&2 2>/dev/null &
  echo OK
}
gs() {
  _gdir "$2"; _j="$_b/$1"
  if [ -s "$_j/pid" ]; then echo "OK $(cat "$_j/pid") $_j"; elif [ -d "$_j" ]; then echo "OK 0 $_j"; else echo "OK -1 $_j"; fi
}
# _gf frames a file as it is, up to its first MiB (maxFrame in agent.go);
# _gs a one-line file (rc, times, marker) with shell builtins only, its
# newline dropped: no process per file.
_gf() { if [ -s "$1" ]; then _n=$(wc -c < "$1"); if [ "$_n" -gt 1048576 ]; then echo "F 1048576"; head -c 1048576 "$1"; else echo "F $((_n))"; cat "$1"; fi; elif [ -f "$1" ]; then echo "F 0"; else echo "F -1"; fi; }
_gs() { if [ -f "$1" ]; then _v=; IFS= read -r _v < "$1"; echo "F ${#_v}"; printf '%s' "$_v"; else echo "F -1"; fi; }
# gR frames each directory; those after "--" are then removed, with one rm,
# and OK said once they are gone
gR() { while [ $# -gt 0 ] && [ "$1" != -- ]; do gr "$1"; shift; done; if [ $# -gt 1 ]; then shift; rm -rf -- "$@"; echo OK; fi; }
gr() { _gs "$1/rc"; _gs "$1/start"; _gs "$1/end"; _gf "$1/stdout"; _gf "$1/stderr"; _gs "$1/timeout"; }
gk() {
  [ -n "$4" ] && : > "$1/$4" 2>/dev/null
  kill -TERM -"$2" 2>/dev/null || kill -TERM "$2" 2>/dev/null
  ( sleep "$3"; kill -KILL -"$2" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
  echo OK
}
ga() { if _galive "$1"; then echo "OK 1"; else echo "OK 0"; fi; }
echo READY
`
