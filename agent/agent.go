// Package agent runs and follows async jobs on a target through one
// long-lived shell session per target (the agent). A job runs detached
// (setsid) under a small POSIX-sh wrapper that keeps its pid, start and end
// times, output and exit status in a per-job directory on the target, so it
// survives the agent, the executor and the connection; its end is pushed to
// the agent the instant it happens. Any process can re-attach to a running
// job from its directory and pid, kill its process group, or collect its
// result.
package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorun/gorun/connection"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrLost: the agent's session ended (connection lost); jobs keep
	// running on the target and can be followed again with a new agent.
	ErrLost = errors.New("agent session lost")
	// ErrLaunch wraps failures to start a job (for example, its directory
	// cannot be created); the message is the target's.
	ErrLaunch = errors.New("async launch failed")
)

// Kind says how a job ended.
type Kind int

// The ways a job ends.
const (
	Done    Kind = iota + 1 // exited; RC holds the status
	Timeout                 // killed by the target-side watchdog
	Gone                    // its process disappeared without an exit status
)

// Outcome is a job's end as the target reported it.
type Outcome struct {
	Kind Kind
	RC   int
	// Output, when not nil, is the job's whole output, told with its end:
	// a job that wrote nothing on stdout and stderr reports its times on
	// its end's line, so that it needs no Collect.
	Output *Output
}

// Spec describes a job to launch.
type Spec struct {
	// JID names the job and its directory.
	JID string
	// Dir is the async directory on the target ("~/.ansible_async"; a
	// leading ~/ is the login user's home).
	Dir string
	// Script is the POSIX sh script the job runs.
	Script string
	// Portable says Script means the same in sh and bash (see
	// module.Async): the runner runs it in a subshell of its own, without
	// an exec of /bin/sh.
	Portable bool
	// Stdin, if not nil, is fed to the script.
	Stdin *string
	// Limit is the time limit in seconds (0: none). The target-side
	// watchdog kills the job at Limit+Grace seconds; the executor kills it
	// at Limit.
	Limit int
	// Grace is the watchdog's extra time (default 5 s).
	Grace int
}

// Handle locates a launched job on its target.
type Handle struct {
	JID string
	// Dir is the job's directory, expanded (also Ansible's results_file).
	Dir string
	// PID is the job's process (group) id.
	PID int
}

// Output is what a job left in its directory.
type Output struct {
	// Finished is true when the job wrote its exit status.
	Finished bool
	RC       int
	// Start and End are the target's timestamps ("2006-01-02 15:04:05.000000").
	Start, End string
	// Stdout and Stderr are the job's output, each up to its first MiB.
	Stdout, Stderr []byte
	// TimedOut is true when the job was killed for its time limit.
	TimedOut bool
}

// Agent is the shell session on one target.
type Agent struct {
	proc *connection.Proc
	log  *slog.Logger

	req turn // one request at a time: write a line, read its response
	out *bufio.Reader

	cmu      sync.Mutex
	collects []*collectCall // Collects waiting for a request

	mu       sync.Mutex
	waiters  map[string][]chan Outcome // jobs' waiters, by job id
	outcomes map[string]Outcome        // jobs' ends, kept until Forget
	dead     chan struct{}
}

// Start starts an agent on the target of conn, which must be a
// connection.Starter.
func Start(ctx context.Context, conn connection.Conn, log *slog.Logger) (*Agent, error) {
	st, ok := conn.(connection.Starter)
	if !ok {
		return nil, fmt.Errorf("agent: connection %T cannot start a long-running session", conn)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// the login shell execs /bin/sh itself when it can (one exec fewer)
	var proc *connection.Proc
	var err error
	if ps, ok := conn.(connection.ProgramStarter); ok {
		proc, err = ps.StartProgram(ctx, "/bin/sh", "-s")
	} else {
		proc, err = st.Start(ctx, "exec /bin/sh -s")
	}
	if err != nil {
		return nil, err
	}
	a := &Agent{proc: proc, log: log, out: bufio.NewReaderSize(proc.Stdout, 64<<10),
		waiters: map[string][]chan Outcome{}, outcomes: map[string]Outcome{}, dead: make(chan struct{})}
	go a.readNotes(proc.Stderr)
	go func() {
		<-proc.Done()
		a.die()
	}()
	ready := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(proc.Stdin, prelude); err != nil {
			ready <- err
			return
		}
		line, err := a.out.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "READY" {
			err = fmt.Errorf("unexpected first line %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		proc.Close()
		return nil, fmt.Errorf("starting the async agent: %w", err)
	}
	return a, nil
}

// Dead is closed when the agent's session has ended.
func (a *Agent) Dead() <-chan struct{} { return a.dead }

// Close ends the agent's session; jobs keep running on the target.
func (a *Agent) Close() {
	a.proc.Stdin.Close()
	a.proc.Close()
}

func (a *Agent) die() {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.dead:
		return
	default:
	}
	close(a.dead)
	for jid, chs := range a.waiters {
		for _, ch := range chs {
			close(ch)
		}
		delete(a.waiters, jid)
	}
}

// readNotes routes job notifications from the agent's stderr.
func (a *Agent) readNotes(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			a.log.Debug("agent said", "line", sc.Text())
			continue
		}
		var o Outcome
		switch f[0] {
		case "D":
			if len(f) < 3 {
				continue
			}
			rc, err := strconv.Atoi(f[2])
			if err != nil {
				continue
			}
			o = Outcome{Kind: Done, RC: rc}
			if len(f) == 7 { // "D jid rc start end", times of two words each
				o.Output = &Output{Finished: true, RC: rc,
					Start: timestamp([]byte(f[3] + " " + f[4])), End: timestamp([]byte(f[5] + " " + f[6]))}
			}
		case "T":
			o = Outcome{Kind: Timeout}
		case "X":
			o = Outcome{Kind: Gone}
		default:
			a.log.Debug("agent said", "line", sc.Text())
			continue
		}
		a.notify(f[1], o)
	}
}

func (a *Agent) notify(jid string, o Outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outcomes[jid] = o
	for _, ch := range a.waiters[jid] {
		ch <- o // buffered: one value each
	}
	delete(a.waiters, jid)
}

// Wait blocks until the job ends and returns how; ErrLost if the agent's
// session ended first (follow the job again with another agent). Several
// callers may wait for the same job; a job's end is kept, for later
// callers, until Forget.
func (a *Agent) Wait(ctx context.Context, jid string) (Outcome, error) {
	a.mu.Lock()
	if o, ok := a.outcomes[jid]; ok {
		a.mu.Unlock()
		return o, nil
	}
	select {
	case <-a.dead:
		a.mu.Unlock()
		return Outcome{}, ErrLost
	default:
	}
	ch := make(chan Outcome, 1)
	a.waiters[jid] = append(a.waiters[jid], ch)
	a.mu.Unlock()
	select {
	case o, ok := <-ch:
		if !ok {
			return Outcome{}, ErrLost
		}
		return o, nil
	case <-ctx.Done():
		a.mu.Lock()
		chs := a.waiters[jid]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				break
			}
		}
		if len(chs) == 0 {
			delete(a.waiters, jid)
		} else {
			a.waiters[jid] = chs
		}
		a.mu.Unlock()
		return Outcome{}, ctx.Err()
	}
}

// Forget drops the kept end of jid, once nobody will wait for it.
func (a *Agent) Forget(jid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.outcomes, jid)
}

// request sends one request line and returns the response's first line,
// after which read may read framed data under the same lock.
func (a *Agent) request(ctx context.Context, line string, read func(first string) error) error {
	return a.requestLine(ctx, false, func() string { return line }, read)
}

// requestLine is request with the line made once the request lock is
// held; an empty line sends nothing. A low-priority request (a launch)
// waits while others (collects, kills) are waiting: jobs that ended are
// reported before more are started.
func (a *Agent) requestLine(ctx context.Context, low bool, lineFn func() string, read func(first string) error) error {
	a.req.lock(low)
	defer a.req.unlock()
	select {
	case <-a.dead:
		return ErrLost
	default:
	}
	line := lineFn()
	if line == "" {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(a.proc.Stdin, line+"\n"); err != nil {
			done <- fmt.Errorf("%w: %v", ErrLost, err)
			return
		}
		first, err := a.nextLine()
		if err != nil {
			done <- err
			return
		}
		done <- read(first)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The response may still come; the session cannot be trusted any more.
		a.Close()
		return ctx.Err()
	case <-a.dead:
		return ErrLost
	}
}

// nextLine reads the next line of the agent's responses, without its
// newline; ErrLost if the session ended.
func (a *Agent) nextLine() (string, error) {
	l, err := a.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrLost, err)
	}
	return strings.TrimRight(l, "\n"), nil
}

func okFields(first string) ([]string, error) {
	switch {
	case strings.HasPrefix(first, "OK"):
		return strings.SplitN(strings.TrimSpace(strings.TrimPrefix(first, "OK")), " ", 2), nil
	case strings.HasPrefix(first, "ERR "):
		return nil, newLaunchError(strings.TrimPrefix(first, "ERR "))
	}
	return nil, fmt.Errorf("agent: unexpected response %q", first)
}

// LaunchError is a failure to start a job, worded as Ansible's
// async_wrapper words it; it wraps ErrLaunch.
type LaunchError struct {
	// Msg is the message ("could not create directory: DIR - [Errno 2] ...").
	Msg string
	// Exception is the Python exception Ansible would show
	// ("FileNotFoundError: [Errno 2] No such file or directory: 'DIR'").
	Exception string
}

func (e *LaunchError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrLaunch) hold.
func (e *LaunchError) Unwrap() error { return ErrLaunch }

// errnos maps strerror texts to errno numbers and Python exception classes.
var errnos = map[string]struct {
	n   int
	exc string
}{
	"No such file or directory": {2, "FileNotFoundError"},
	"Permission denied":         {13, "PermissionError"},
	"File exists":               {17, "FileExistsError"},
	"Not a directory":           {20, "NotADirectoryError"},
	"No space left on device":   {28, "OSError"},
	"Read-only file system":     {30, "OSError"},
	"Operation not permitted":   {1, "PermissionError"},
}

// newLaunchError rewords the target's mkdir error ("mkdir: cannot create
// directory '/x': No such file or directory") the way Python reports it.
func newLaunchError(msg string) *LaunchError {
	le := &LaunchError{Msg: msg}
	prefix, detail, ok := strings.Cut(msg, " - ")
	if !ok {
		return le
	}
	i := strings.LastIndex(detail, ": ")
	if i < 0 {
		return le
	}
	reason := detail[i+2:]
	e, known := errnos[reason]
	if !known {
		return le
	}
	path := detail[:i]
	if j := strings.IndexAny(path, "'\u2018"); j >= 0 {
		path = strings.Trim(path[j:], "'\u2018\u2019")
	}
	py := fmt.Sprintf("[Errno %d] %s: '%s'", e.n, reason, path)
	le.Msg = prefix + " - " + py
	le.Exception = e.exc + ": " + py
	return le
}

// Launch starts a job detached on the target and returns its handle.
func (a *Agent) Launch(ctx context.Context, s Spec) (Handle, error) {
	if s.Grace == 0 {
		s.Grace = 5
	}
	hasStdin, stdin := "0", ""
	if s.Stdin != nil {
		hasStdin, stdin = "1", *s.Stdin
	}
	portable := "0"
	if s.Portable {
		portable = "1"
	}
	line := strings.Join([]string{"gl", q(s.JID), q(s.Dir), strconv.Itoa(s.Limit), strconv.Itoa(s.Grace),
		q(s.Script), hasStdin, q(stdin), portable}, " ")
	var h Handle
	err := a.requestLine(ctx, true, func() string { return line }, func(first string) error {
		f, err := okFields(first)
		if err != nil {
			return err
		}
		if len(f) != 2 {
			return fmt.Errorf("agent: bad launch response %q", first)
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			return fmt.Errorf("agent: bad pid in %q", first)
		}
		h = Handle{JID: s.JID, PID: pid, Dir: f[1]}
		return nil
	})
	return h, err
}

// Probe looks for a job's directory: pid > 0 when the job was launched
// (its runner wrote its pid), 0 when the directory exists without a pid, -1
// when there is no directory.
func (a *Agent) Probe(ctx context.Context, jid, dir string) (Handle, int, error) {
	var h Handle
	pid := -1
	err := a.request(ctx, "gs "+q(jid)+" "+q(dir), func(first string) error {
		f, err := okFields(first)
		if err != nil {
			return err
		}
		if len(f) != 2 {
			return fmt.Errorf("agent: bad probe response %q", first)
		}
		pid, err = strconv.Atoi(f[0])
		if err != nil {
			return fmt.Errorf("agent: bad pid in %q", first)
		}
		h = Handle{JID: jid, Dir: f[1], PID: max(pid, 0)}
		return nil
	})
	return h, pid, err
}

// Follow re-attaches to a job launched earlier (by any process): its end
// is then reported to Wait. The target checks on it once a second.
func (a *Agent) Follow(ctx context.Context, h Handle) error {
	return a.request(ctx, "gw "+q(h.JID)+" "+q(h.Dir)+" "+strconv.Itoa(h.PID), func(first string) error {
		_, err := okFields(first)
		return err
	})
}

// Collect reads what the job left in its directory. Collects (and
// removes) that wait for the agent at the same time — jobs of a host
// ending together — are answered by one request.
func (a *Agent) Collect(ctx context.Context, h Handle) (Output, error) {
	return a.batched(ctx, &collectCall{dir: h.Dir, collect: true, done: make(chan struct{})})
}

// batched queues c for the next batch request and waits for its answer.
func (a *Agent) batched(ctx context.Context, c *collectCall) (Output, error) {
	a.cmu.Lock()
	a.collects = append(a.collects, c)
	a.cmu.Unlock()
	for {
		select {
		case <-c.done:
			return c.out, c.err
		default:
		}
		if err := a.collectBatch(ctx); err != nil {
			select {
			case <-c.done: // answered by the batch that failed later
				return c.out, c.err
			default:
			}
			a.dropCollect(c)
			return Output{}, err
		}
	}
}

// collectCall is one Collect or Remove waiting for its batch.
type collectCall struct {
	dir     string
	collect bool // read the directory's files
	remove  bool // then remove it
	out     Output
	err     error
	done    chan struct{}
	once    sync.Once
}

// finish answers the call once (a request abandoned on ctx may still be
// read by its goroutine).
func (c *collectCall) finish(out Output, err error) {
	c.once.Do(func() {
		c.out, c.err = out, err
		close(c.done)
	})
}

func (a *Agent) dropCollect(c *collectCall) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	for i, p := range a.collects {
		if p == c {
			a.collects = append(a.collects[:i], a.collects[i+1:]...)
			return
		}
	}
}

// collectBatch takes the request lock, then every Collect and Remove
// waiting, and does them all with one request ("gR dir... [-- dir-to-remove...]").
func (a *Agent) collectBatch(ctx context.Context) error {
	var batch []*collectCall
	line := func() string {
		a.cmu.Lock()
		batch, a.collects = a.collects, nil
		a.cmu.Unlock()
		if len(batch) == 0 {
			return ""
		}
		var b, rm strings.Builder
		b.WriteString("gR")
		for _, c := range batch {
			if c.collect {
				b.WriteString(" " + q(c.dir))
			}
			if c.remove {
				rm.WriteString(" " + q(c.dir))
			}
		}
		if rm.Len() > 0 {
			b.WriteString(" --" + rm.String())
		}
		return b.String()
	}
	err := a.requestLine(ctx, false, line, func(first string) error {
		// the response's lines: the first one, read already, then the next
		unread := true
		next := func() (string, error) {
			if unread {
				unread = false
				return first, nil
			}
			return a.nextLine()
		}
		outs := make([]Output, len(batch))
		removing := false
		for i, c := range batch {
			removing = removing || c.remove
			if !c.collect {
				continue
			}
			l, err := next()
			if err != nil {
				return err
			}
			if outs[i], err = a.readOutput(l); err != nil {
				return err
			}
		}
		if removing {
			// the directories are gone once the agent says so
			l, err := next()
			if err != nil {
				return err
			}
			if _, err := okFields(l); err != nil {
				return err
			}
		}
		for i, c := range batch {
			c.finish(outs[i], nil)
		}
		return nil
	})
	for _, c := range batch { // those not answered: the request failed
		if err != nil {
			c.finish(Output{}, err)
		} else {
			c.finish(Output{}, fmt.Errorf("%w: no answer", ErrLost))
		}
	}
	return err
}

// maxFrame is how much of a job's stdout, and of its stderr, Collect
// reads (the agent's _gf sends no more): four times what a job record
// keeps, so that records are cut as before while a job that printed
// gigabytes costs the executor no more memory than this.
const maxFrame = 1 << 20

// readOutput reads the six frames of one job directory (see gr).
func (a *Agent) readOutput(first string) (Output, error) {
	var o Output
	frames := make([][]byte, 6)
	present := make([]bool, 6)
	line := first
	for i := range frames {
		if i > 0 {
			var err error
			if line, err = a.nextLine(); err != nil {
				return o, err
			}
		}
		n, err := strconv.Atoi(strings.TrimPrefix(line, "F "))
		if !strings.HasPrefix(line, "F ") || err != nil {
			return o, fmt.Errorf("agent: bad frame header %q", line)
		}
		if n < 0 {
			continue
		}
		buf := make([]byte, min(n, maxFrame))
		if _, err := io.ReadFull(a.out, buf); err != nil {
			return o, fmt.Errorf("%w: %v", ErrLost, err)
		}
		if n > maxFrame { // an agent that does not cut its frames
			if _, err := io.CopyN(io.Discard, a.out, int64(n-maxFrame)); err != nil {
				return o, fmt.Errorf("%w: %v", ErrLost, err)
			}
		}
		frames[i], present[i] = buf, true
	}
	if present[0] {
		rc, err := strconv.Atoi(strings.TrimSpace(string(frames[0])))
		if err == nil {
			o.Finished, o.RC = true, rc
		}
	}
	o.Start, o.End = timestamp(frames[1]), timestamp(frames[2])
	o.Stdout, o.Stderr = frames[3], frames[4]
	o.TimedOut = present[5]
	return o, nil
}

// timestamp turns `date "+%Y-%m-%d %H:%M:%S.%N"` output into Python's
// datetime format (microseconds).
func timestamp(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	base, frac, ok := strings.Cut(s, ".")
	if !ok || frac == "N" || frac == "" {
		return base
	}
	if len(frac) > 6 {
		frac = frac[:6]
	}
	for len(frac) < 6 {
		frac += "0"
	}
	return base + "." + frac
}

// Kill sends SIGTERM to the job's process group, then SIGKILL after grace;
// marker, if not empty, is a file created in the job directory first
// ("timeout", "cancelled").
func (a *Agent) Kill(ctx context.Context, h Handle, grace time.Duration, marker string) error {
	secs := int(grace.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return a.request(ctx, "gk "+q(h.Dir)+" "+strconv.Itoa(h.PID)+" "+strconv.Itoa(secs)+" "+q(marker), func(first string) error {
		_, err := okFields(first)
		return err
	})
}

// Alive reports whether the job's process is still running.
func (a *Agent) Alive(ctx context.Context, h Handle) (bool, error) {
	alive := false
	err := a.request(ctx, "ga "+strconv.Itoa(h.PID), func(first string) error {
		f, err := okFields(first)
		if err != nil {
			return err
		}
		alive = len(f) > 0 && f[0] == "1"
		return nil
	})
	return alive, err
}

// Remove deletes the job's directory. Removes and collects waiting for the
// agent at the same time are done by one request.
func (a *Agent) Remove(ctx context.Context, dir string) error {
	if dir == "" || dir == "/" {
		return fmt.Errorf("agent: refusing to remove %q", dir)
	}
	_, err := a.batched(ctx, &collectCall{dir: dir, remove: true, done: make(chan struct{})})
	return err
}

// q quotes s as one POSIX sh word.
func q(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// turn is a lock with two queues: it goes to the longest-waiting
// high-priority holder first, then to the longest-waiting low one.
type turn struct {
	mu        sync.Mutex
	held      bool
	high, low []chan struct{}
}

func (t *turn) lock(low bool) {
	t.mu.Lock()
	if !t.held {
		t.held = true
		t.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	if low {
		t.low = append(t.low, ch)
	} else {
		t.high = append(t.high, ch)
	}
	t.mu.Unlock()
	<-ch // handed over, held
}

func (t *turn) unlock() {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case len(t.high) > 0:
		close(t.high[0])
		t.high = t.high[1:]
	case len(t.low) > 0:
		close(t.low[0])
		t.low = t.low[1:]
	default:
		t.held = false
	}
}
