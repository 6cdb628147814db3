package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorun/gorun/become"
	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/display"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/status"
)

// gcOpts are gorun gc's options: the connection options of gorun run
// (without --check, which is --dry-run here), its own, and NATS's.
var gcOpts = func() []*opt {
	var o []*opt
	for _, c := range commonOpts {
		if key(c) != "check" {
			o = append(o, c)
		}
	}
	o = append(o,
		&opt{long: []string{"older-than"}, arg: "DURATION", help: "remove the directories and records of jobs that ended longer ago than this, e.g. 24h or 30m (default: the job bucket's retention)"},
		&opt{short: "C", long: []string{"dry-run", "check"}, help: "print what would be removed; remove nothing"},
	)
	return append(o, natsOpts...)
}()

const gcUsage = "[PATTERN]"

// cmdGC is gorun gc: on each selected host it removes the directories of
// async jobs that are over (their record is gone, erased, or ended longer
// ago than --older-than, and no process of theirs runs), then deletes the
// host's job records that ended longer ago than --older-than.
//
// Exit codes, as Ansible's: 0 done, 2 something failed on a host, 4 a host
// was unreachable, 1 any other error (NATS, inventory), 99 interrupted.
func cmdGC(ctx context.Context, e *env, args []string) int {
	p, err := parseOpts(args, gcOpts)
	if err != nil {
		return usageFail(e, "gc", gcUsage, gcOpts, err.Error())
	}
	if p.has("help") {
		fmt.Fprint(e.stdout, usage("gc", gcUsage, gcOpts))
		return 0
	}
	if len(p.args) > 1 {
		return usageFail(e, "gc", gcUsage, gcOpts, "unrecognized arguments: "+strings.Join(p.args[1:], " "))
	}
	pattern := "all"
	if len(p.args) == 1 {
		pattern = p.args[0]
	}
	olderThan := time.Duration(-1)
	if v := p.str("older-than"); v != "" {
		if olderThan, err = time.ParseDuration(v); err != nil || olderThan < 0 {
			return usageFail(e, "gc", gcUsage, gcOpts, fmt.Sprintf("argument --older-than: invalid duration '%s' (e.g. 168h, 30m, 0s)", v))
		}
	}
	s, code := prepare(e, "gc", gcUsage, gcOpts, p)
	if code != 0 {
		return code
	}
	out := display.NewMinimal(e.stdout, e.stderr, (e.isTTY && !s.cfg.NoColor) || s.cfg.ForceColor)
	for _, w := range s.warnings {
		out.Warning(w)
	}
	if code := s.loadInventory(e, p, out); code != 0 {
		return code
	}
	hosts, warns, err := s.inv.SelectLimit(pattern, p.str("limit"))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	for _, w := range warns {
		out.Warning(w)
	}
	if len(hosts) == 0 {
		out.Warning("No hosts matched, nothing to do")
		return 0
	}
	be, err := openBackend(ctx, e, p, 0, logger(e, s.verbosity))
	if err != nil {
		return fail(e, 1, "ERROR! "+err.Error())
	}
	defer be.Close(context.Background())
	if olderThan < 0 {
		if olderThan, err = be.Store.Retention(ctx); err != nil {
			return fail(e, 1, "ERROR! "+err.Error())
		}
		if olderThan == 0 {
			return fail(e, 1, "ERROR! the job bucket keeps records forever (no retention): give --older-than")
		}
	}
	g := &gcRun{st: be.Store, conns: poolOf(be), dcfg: s.dcfg, olderThan: olderThan,
		dryRun: p.has("dry-run"), verbose: s.verbosity > 0, now: time.Now(), recs: map[string][]gcRecord{}}
	selected := map[string]bool{}
	for _, h := range hosts {
		selected[h] = true
	}
	// the records of the selected hosts, as they are now: their async
	// directories, and those that ended before the horizon
	if err := be.Store.Scan(ctx, status.Filter{}, func(l status.Listed) bool {
		if selected[l.Record.Host] {
			g.recs[l.Record.Host] = append(g.recs[l.Record.Host], newGCRecord(l))
		}
		return true
	}); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "[ERROR]: User interrupted execution")
			return 99
		}
		return fail(e, 1, "ERROR! "+err.Error())
	}
	results := make([]*gcResult, len(hosts))
	for i := range results {
		results[i] = &gcResult{host: hosts[i], done: make(chan struct{})}
	}
	sem := make(chan struct{}, s.forks)
	var wg sync.WaitGroup
	for _, r := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done)
			sem <- struct{}{}
			defer func() { <-sem }()
			g.host(ctx, s, r)
		}()
	}
	code = 0
	var removed, records int
	for _, r := range results {
		<-r.done // in host order, each as soon as it is done
		for _, l := range r.lines {
			fmt.Fprintf(e.stdout, "%s: %s\n", r.host, l)
		}
		switch {
		case r.unreachable:
			code = 4
		case r.failed && code == 0:
			code = 2
		}
		removed += r.removed
		records += r.deleted
	}
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "[ERROR]: User interrupted execution")
		return 99
	}
	verb := "removed"
	if g.dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(e.stdout, "gc: %s %d job directories and %d job records on %d hosts (older than %s)\n",
		verb, removed, records, len(hosts), olderThan)
	return code
}

// gcRun is one gorun gc.
type gcRun struct {
	st        *status.Store
	conns     executor.Connector
	dcfg      dispatcher.Config
	olderThan time.Duration
	dryRun    bool
	verbose   bool
	now       time.Time
	recs      map[string][]gcRecord // by host
}

// gcRecord is what gc keeps of a listed record.
type gcRecord struct {
	jid     string
	rev     uint64
	written time.Time
	state   job.State
	dir     string // the async directory its job directory is in ("": none)
	target  job.Target
}

func newGCRecord(l status.Listed) gcRecord {
	r := l.Record
	g := gcRecord{jid: r.JID, rev: l.Revision, written: l.Written, state: r.State, target: r.Target}
	if r.Remote != nil && r.Remote.Dir != "" {
		g.dir = path.Dir(r.Remote.Dir)
	}
	return g
}

// gcResult is what gc did on one host.
type gcResult struct {
	host                string
	lines               []string
	removed, deleted    int
	unreachable, failed bool
	done                chan struct{}
}

func (r *gcResult) say(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *gcResult) fail(format string, args ...any) {
	r.failed = true
	r.say("FAILED! "+format, args...)
}

// gcDir is a job directory found on a target.
type gcDir struct {
	path, jid string
	pid       int
	ended     bool  // the job wrote its exit status
	alive     bool  // its process runs
	age       int64 // seconds since the directory last changed, by the target's clock
	why       string
}

func (d gcDir) running() bool { return d.alive && !d.ended }

func (g *gcRun) host(ctx context.Context, s *session, r *gcResult) {
	t, asyncDir, err := dispatcher.HostTarget(g.dcfg, s.inv, r.host)
	if err != nil {
		r.fail("%v", err)
		return
	}
	conn, err := g.conns.Get(ctx, t)
	if err == nil {
		conn, err = become.Wrap(conn, t)
	}
	if err != nil {
		g.connFailed(r, err)
		return
	}
	// the host's async directory, and those its records name (jobs run
	// as the same user with another ansible_async_dir)
	bases := []string{asyncDir}
	seen := map[string]bool{asyncDir: true}
	for _, rec := range g.recs[r.host] {
		if rec.dir != "" && !seen[rec.dir] && sameUser(rec.target, t) {
			seen[rec.dir] = true
			bases = append(bases, rec.dir)
		}
	}
	dirs, err := g.list(ctx, conn, bases, r)
	if err != nil {
		g.connFailed(r, err)
		return
	}
	var remove []gcDir
	keep := map[string]bool{} // job ids whose directory stays
	for _, d := range dirs {
		why, ok := g.removable(ctx, d, r)
		if !ok {
			keep[d.jid] = true
			continue
		}
		d.why = why
		remove = append(remove, d)
		if g.dryRun {
			r.say("would remove %s (%s)", d.path, why)
			r.removed++
		}
	}
	if len(remove) > 0 && !g.dryRun {
		if err := g.remove(ctx, conn, remove, keep, r); err != nil {
			g.connFailed(r, err)
			return
		}
	}
	if r.failed {
		return // records of a host gc could not clean stay for the next one
	}
	g.deleteRecords(ctx, r, keep)
	if r.failed {
		return
	}
	if g.dryRun {
		r.say("would delete %d job records", r.deleted)
	} else {
		r.say("removed %d job directories, deleted %d job records", r.removed, r.deleted)
	}
}

// deleteRecords deletes the host's records that ended before the horizon,
// but those of the job directories kept, each only if it was not written
// since it was listed.
func (g *gcRun) deleteRecords(ctx context.Context, r *gcResult, keep map[string]bool) {
	for _, rec := range g.recs[r.host] {
		if !rec.state.Terminal() || g.now.Sub(rec.written) < g.olderThan || keep[rec.jid] {
			continue
		}
		if g.dryRun {
			r.deleted++
			continue
		}
		switch err := g.st.DeleteIf(ctx, rec.jid, rec.rev); {
		case err == nil:
			r.deleted++
		case errors.Is(err, status.ErrConflict):
			// written since it was listed, or gone already: not gc's to delete
		default:
			r.fail("%v", err)
			return
		}
	}
}

// connFailed records a failure to reach the host or to run a command on it.
func (g *gcRun) connFailed(r *gcResult, err error) {
	if errors.Is(err, connection.ErrUnreachable) {
		r.unreachable = true
		r.say("UNREACHABLE! %s", connection.UnreachableMsg(err))
		return
	}
	r.fail("%v", err)
}

// sameUser reports whether a job ran as the user gc works as on the host
// (a directory of another user's is not gc's to list).
func sameUser(a, b job.Target) bool {
	if a.Become != b.Become {
		return false
	}
	if a.Become {
		return a.BecomeUser == b.BecomeUser
	}
	return a.User == b.User
}

// removable says whether a job directory is to go, and why: its job does
// not run, and its record is gone (directory unchanged for olderThan),
// erased by async_status cleanup, or ended and unchanged for olderThan.
func (g *gcRun) removable(ctx context.Context, d gcDir, r *gcResult) (string, bool) {
	if d.running() {
		r.say("kept %s (running, pid %d)", d.path, d.pid)
		return "", false
	}
	l, err := g.st.Stat(ctx, d.jid)
	switch {
	case errors.Is(err, status.ErrNotFound):
		age := time.Duration(d.age) * time.Second
		if age < g.olderThan {
			if g.verbose {
				r.say("kept %s (no job record, but changed %s ago)", d.path, age)
			}
			return "", false
		}
		return fmt.Sprintf("no job record; changed %s ago", age), true
	case err != nil:
		r.fail("%v", err)
		return "", false
	}
	rec := l.Record
	ago := g.now.Sub(l.Written).Round(time.Second)
	switch {
	case !rec.Erased.IsZero():
		return "erased by async_status cleanup", true
	case !rec.State.Terminal():
		// its end is not recorded yet: gorun status JID collects it from
		// the directory
		r.say("kept %s (job record says %s)", d.path, rec.State)
		return "", false
	case ago < g.olderThan:
		if g.verbose {
			r.say("kept %s (%s %s ago)", d.path, rec.State, ago)
		}
		return "", false
	}
	return fmt.Sprintf("%s %s ago", rec.State, ago), true
}

// gcShell are the shell functions gc's commands use: ~ expansion and the
// liveness test of the async agent's.
const gcShell = `_gdir() { case $1 in "~") printf '%s' "$HOME";; "~/"*) printf '%s/%s' "$HOME" "${1#"~/"}";; *) printf '%s' "$1";; esac; }
_galive() {
  if [ -r "/proc/$1/stat" ]; then
    read -r _s < "/proc/$1/stat" 2>/dev/null || return 1
    _s=${_s##*) }; [ "${_s%% *}" != Z ]
  else kill -0 "$1" 2>/dev/null; fi
}
_gpid() { _p=0; if [ -s "$1/pid" ]; then read -r _p < "$1/pid" || _p=0; fi; case $_p in ''|*[!0-9]*) _p=0;; esac; }
`

// gcListScript lists the job directories of the async directories given as
// arguments, one line each: J, name, pid, ended, alive, seconds since it
// changed (tab-separated); B before each async directory, E for one that
// cannot be read.
const gcListScript = gcShell + `_now=$(date +%s)
for _a; do
  _b=$(_gdir "$_a")
  [ -e "$_b" ] || continue
  if ! _e=$(ls -d "$_b"/. 2>&1 >/dev/null) || [ ! -r "$_b" ]; then printf 'E\t%s\t%s\n' "$_b" "$(printf '%s' "$_e" | tr '\n\t' '  ')"; continue; fi
  printf 'B\t%s\n' "$_b"
  for _j in "$_b"/j*; do
    { [ -d "$_j" ] && [ ! -L "$_j" ]; } || continue
    _gpid "$_j"
    _r=0; [ -e "$_j/rc" ] && _r=1
    _l=0; [ "$_p" -gt 0 ] && _galive "$_p" && _l=1
    _m=$(stat -c %Y "$_j" 2>/dev/null || date -r "$_j" +%s 2>/dev/null || echo "$_now")
    printf 'J\t%s\t%s\t%s\t%s\t%s\n' "${_j##*/}" "$_p" "$_r" "$_l" "$((_now - _m))"
  done
done
`

// gcRemoveScript removes the job directories read from stdin, one a line,
// answering one line each: R (removed), K (kept: its job runs after all),
// or X and the error.
const gcRemoveScript = gcShell + `while IFS= read -r _j; do
  _gpid "$_j"
  if [ ! -e "$_j/rc" ] && [ "$_p" -gt 0 ] && _galive "$_p"; then echo K; continue; fi
  if _e=$(rm -rf -- "$_j" 2>&1); then echo R; else printf 'X %s\n' "$(printf '%s' "$_e" | tr '\n' ' ')"; fi
done
`

func (g *gcRun) list(ctx context.Context, conn connection.Conn, bases []string, r *gcResult) ([]gcDir, error) {
	q := make([]string, len(bases))
	for i, b := range bases {
		q[i] = shq(b)
	}
	res, err := conn.Exec(ctx, "set -- "+strings.Join(q, " ")+"\n"+gcListScript, nil)
	if err != nil {
		return nil, fmt.Errorf("listing job directories: %w", err)
	}
	if res.RC != 0 {
		return nil, fmt.Errorf("listing job directories: exit status %d: %s", res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	var dirs []gcDir
	seen := map[string]bool{}
	base := ""
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		f := strings.Split(line, "\t")
		switch {
		case f[0] == "B" && len(f) == 2:
			base = ""
			if !seen[f[1]] { // "~/x" and "/home/u/x" are listed once
				base = f[1]
				seen[base] = true
			}
		case f[0] == "E" && len(f) == 3:
			r.say("[WARNING]: cannot read %s: %s", f[1], strings.TrimSpace(f[2]))
		case f[0] == "J" && len(f) == 6 && base != "" && job.ValidID(f[1]):
			pid, _ := strconv.Atoi(f[2])
			age, _ := strconv.ParseInt(f[5], 10, 64)
			dirs = append(dirs, gcDir{path: strings.TrimSuffix(base, "/") + "/" + f[1], jid: f[1], pid: pid,
				ended: f[3] == "1", alive: f[4] == "1", age: age})
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].path < dirs[j].path })
	return dirs, nil
}

func (g *gcRun) remove(ctx context.Context, conn connection.Conn, dirs []gcDir, keep map[string]bool, r *gcResult) error {
	var in strings.Builder
	for _, d := range dirs {
		in.WriteString(d.path + "\n")
	}
	res, err := conn.Exec(ctx, gcRemoveScript, []byte(in.String()))
	if err != nil {
		return fmt.Errorf("removing job directories: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(res.Stdout), "\n"), "\n")
	for i, d := range dirs {
		a := ""
		if i < len(lines) {
			a = lines[i]
		}
		switch {
		case a == "R":
			r.removed++
			r.say("removed %s (%s)", d.path, d.why)
		case a == "K":
			keep[d.jid] = true
			r.say("kept %s (its job started running)", d.path)
		default:
			keep[d.jid] = true
			msg := strings.TrimSpace(strings.TrimPrefix(a, "X"))
			if msg == "" {
				msg = fmt.Sprintf("no answer (exit status %d: %s)", res.RC, strings.TrimSpace(string(res.Stderr)))
			}
			r.fail("removing %s: %s", d.path, msg)
		}
	}
	return nil
}

// shq quotes s as one POSIX sh word.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
