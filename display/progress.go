package display

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/playbook"
)

// The progress line (Options.Progress, for a terminal): once a task has run
// for progressDelay without all its hosts done, a single line under its
// output says how many hosts finished it, "hosts finished 3/10 (12s)",
// redrawn in place ("\r" and erase to the end of the line) at most every
// progressEvery. The line is erased before anything else is written (to
// either stream), so the output left on the screen is exactly the output
// without it. It applies to any long task (an async task with poll > 0 is
// the usual one), but not to plays with strategy free, where the banners of
// tasks interleave.
//
// The count of hosts a task runs on is estimated: the play's hosts
// (Options.PlayHosts, plus any other host that reports a result in the
// play) without those that failed or were unreachable earlier in the run,
// as the linear strategy leaves them out. It can be too high for handlers,
// run_once tasks and rescue sections; the line then just shows fewer hosts
// finished than expected until the next task starts.
const (
	progressDelay = 2 * time.Second
	progressEvery = 250 * time.Millisecond
)

const eraseLine = "\r\033[K"

type progress struct {
	delay, every time.Duration
	out          io.Writer // the terminal (the unwrapped standard output)
	playHosts    func(*playbook.Play) []string

	known map[string]bool // the hosts of the current play
	down  map[string]bool // hosts that failed or were unreachable in the run
	free  bool            // the play's strategy is free: no line

	gen    int // the task's generation: timers of earlier tasks do nothing
	active bool
	start  time.Time
	total  int // the hosts expected to report, 0 when unknown
	done   map[string]bool
	timer  *time.Timer
	shown  string // the text on screen ("" when erased)
	closed bool
}

// eraser is a stream of a Default with a progress line: writing first
// erases the line. It is only written to with d.mu held.
type eraser struct {
	d *Default
	w io.Writer
}

func (e eraser) Write(b []byte) (int, error) {
	e.d.erase()
	return e.w.Write(b)
}

// guarded writes with d.mu held, erasing the line first: for writers that
// share the terminal with the display (a logger on standard error).
type guarded struct {
	d *Default
	w io.Writer
}

func (g guarded) Write(b []byte) (int, error) {
	g.d.mu.Lock()
	defer g.d.mu.Unlock()
	g.d.erase()
	return g.w.Write(b)
}

// Guard returns w wrapped so that what is written to it does not collide
// with the progress line (it is erased first); w itself without one.
func (d *Default) Guard(w io.Writer) io.Writer {
	if d.prog == nil {
		return w
	}
	return guarded{d: d, w: w}
}

func (d *Default) initProgress() {
	p := &progress{delay: progressDelay, every: progressEvery, out: d.out, playHosts: d.opt.PlayHosts,
		known: map[string]bool{}, down: map[string]bool{}}
	d.prog = p
	d.out = eraser{d: d, w: d.out}
	d.err = eraser{d: d, w: d.err}
}

// erase removes the line from the screen (d.mu held).
func (d *Default) erase() {
	if p := d.prog; p != nil && p.shown != "" {
		io.WriteString(p.out, eraseLine)
		p.shown = ""
	}
}

// progressPlay starts a play (d.mu held).
func (d *Default) progressPlay(play *playbook.Play) {
	p := d.prog
	if p == nil {
		return
	}
	d.progressEnd()
	p.known = map[string]bool{}
	p.free = play != nil && strings.EqualFold(play.Strategy, "free")
	if p.playHosts != nil && play != nil {
		for _, h := range p.playHosts(play) {
			p.known[h] = true
		}
	}
}

// progressTask starts a task (d.mu held).
func (d *Default) progressTask() {
	p := d.prog
	if p == nil {
		return
	}
	d.progressEnd()
	if p.free || p.closed {
		return
	}
	p.gen++
	p.active, p.start, p.done = true, time.Now(), map[string]bool{}
	p.total = 0
	for h := range p.known {
		if !p.down[h] {
			p.total++
		}
	}
	gen := p.gen
	p.timer = time.AfterFunc(p.delay, func() { d.progressTick(gen) })
}

// progressResult counts a host's result for the task (d.mu held).
func (d *Default) progressResult(ev *dispatcher.Event) {
	p := d.prog
	if p == nil || ev.Item {
		return
	}
	p.known[ev.Host] = true
	if ev.Status == dispatcher.StatusUnreachable || (ev.Status == dispatcher.StatusFailed && !ev.Ignored) {
		p.down[ev.Host] = true
	} else {
		delete(p.down, ev.Host)
	}
	if !p.active {
		return
	}
	p.done[ev.Host] = true
	if p.total > 0 && len(p.done) >= p.total {
		d.progressEnd() // every host is done: nothing left to wait for
	}
}

// progressEnd ends the task's line (d.mu held).
func (d *Default) progressEnd() {
	p := d.prog
	if p == nil {
		return
	}
	p.active = false
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	d.erase()
}

func (d *Default) progressTick(gen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.prog
	if p.closed || !p.active || gen != p.gen {
		return
	}
	n := fmt.Sprint(len(p.done))
	if p.total > 0 {
		n += fmt.Sprintf("/%d", p.total)
	}
	text := fmt.Sprintf("hosts finished %s (%s)", n, time.Since(p.start).Truncate(time.Second))
	cols := 79
	if d.opt.Columns > 0 {
		cols = d.opt.Columns - 1
	}
	if r := []rune(text); len(r) > cols {
		text = string(r[:max(cols, 0)])
	}
	if text != p.shown {
		io.WriteString(p.out, eraseLine+d.color(colorDebug, text))
		p.shown = text
	}
	p.timer = time.AfterFunc(p.every, func() { d.progressTick(gen) })
}

// Close erases the progress line and stops its updates, for a run that
// ends without its recap (interrupted, or an error) before something else
// is printed. The output can still be used.
func (d *Default) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prog == nil {
		return
	}
	d.progressEnd()
	d.prog.closed = true
}
