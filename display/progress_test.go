package display

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/playbook"
)

// lockedBuffer is a terminal both streams write to, read while the progress
// timer writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// screen is what a terminal shows after s: "\r" moves to the start of the
// line, ESC[K erases to its end, other runes overwrite.
func screen(s string) string {
	var out strings.Builder
	var line []rune
	col := 0
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "\033[K"):
			line = line[:min(col, len(line))]
			i += 3
			continue
		case s[i] == '\r':
			col = 0
		case s[i] == '\n':
			out.WriteString(string(line) + "\n")
			line, col = nil, 0
		default:
			r := []rune(s[i:])[0]
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
			i += len(string(r))
			continue
		}
		i++
	}
	return out.String() + string(line)
}

func waitOutput(t *testing.T, b *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%q", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func changed(host string) *dispatcher.Event {
	return &dispatcher.Event{Host: host, TaskName: "long", Action: "command", Status: dispatcher.StatusChanged,
		Result: map[string]any{"changed": true}}
}

// run plays a run on d: a play on three hosts, a long task whose hosts end
// one by one (h2 fails), a second task; between the steps, step(i) may wait
// for the progress line.
func playRun(d *Default, step func(i int)) {
	play := &playbook.Play{Name: "p", Hosts: "all"}
	d.PlaybookStart(&playbook.Playbook{})
	d.PlayStart(play, "p")
	d.TaskStart("long", false)
	step(0)
	d.HostResult(changed("h1"))
	step(1)
	d.AsyncPoll("h3", "j1.1", 1, 0)
	d.Warning("something to say")
	step(2)
	d.HostResult(&dispatcher.Event{Host: "h2", TaskName: "long", Action: "command", Status: dispatcher.StatusFailed,
		Result: map[string]any{"failed": true, "msg": "boom"}})
	d.AsyncDone("h3", "j1.1", true)
	d.HostResult(changed("h3"))
	d.TaskStart("second", false)
	step(3)
	d.HostResult(changed("h1"))
	d.HostResult(changed("h3"))
	d.Recap(&dispatcher.Recap{Hosts: []string{"h1", "h2", "h3"}, Stats: map[string]*dispatcher.Stats{
		"h1": {OK: 2, Changed: 2}, "h2": {Failed: 1}, "h3": {OK: 2, Changed: 2}}})
}

const plainRun = `
PLAY [p] ***********************************************************************

TASK [long] ********************************************************************
changed: [h1]
ASYNC POLL on h3: jid=j1.1 started=1 finished=0
[WARNING]: something to say
fatal: [h2]: FAILED! => {"msg": "boom"}
ASYNC OK on h3: jid=j1.1
changed: [h3]

TASK [second] ******************************************************************
changed: [h1]
changed: [h3]

PLAY RECAP *********************************************************************
h1                         : ok=2    changed=2    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   
h2                         : ok=0    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   
h3                         : ok=2    changed=2    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   

`

// Without Progress (not a terminal) the output is the plain one, byte for
// byte, even with the play's hosts known and time passing.
func TestNoProgressOffTerminal(t *testing.T) {
	var b lockedBuffer
	d := NewDefault(&b, &b, Options{PlayHosts: func(*playbook.Play) []string { return []string{"h1", "h2", "h3"} }})
	playRun(d, func(int) { time.Sleep(30 * time.Millisecond) })
	d.Close()
	if got := b.String(); got != plainRun {
		t.Fatalf("output differs:\n%q\nwant\n%q", got, plainRun)
	}
}

func TestProgressLine(t *testing.T) {
	var b lockedBuffer
	d := NewDefault(&b, &b, Options{Progress: true,
		PlayHosts: func(*playbook.Play) []string { return []string{"h1", "h2", "h3"} }})
	d.prog.delay, d.prog.every = 20*time.Millisecond, 5*time.Millisecond
	playRun(d, func(i int) {
		switch i {
		case 0:
			waitOutput(t, &b, eraseLine+"hosts finished 0/3 (0s)")
		case 1:
			waitOutput(t, &b, eraseLine+"hosts finished 1/3 (0s)")
		case 2:
			// the warning (on the other stream) erased the line first
			if !strings.Contains(b.String(), "hosts finished 1/3 (0s)"+eraseLine+"ASYNC POLL") ||
				!strings.Contains(b.String(), "finished=0\n[WARNING]") {
				t.Errorf("the line was not erased before the output:\n%q", b.String())
			}
			waitOutput(t, &b, "[WARNING]: something to say\n"+eraseLine+"hosts finished 1/3")
		case 3:
			// h2 failed: the second task runs on two hosts
			waitOutput(t, &b, eraseLine+"hosts finished 0/2 (0s)")
		}
	})
	raw := b.String()
	if got := screen(raw); got != plainRun {
		t.Fatalf("screen differs from the plain output:\n%s\nwant\n%s\nraw %q", got, plainRun, raw)
	}
	// the line ends with its task: nothing is drawn after the recap
	time.Sleep(50 * time.Millisecond)
	if b.String() != raw {
		t.Fatalf("written after the recap: %q", strings.TrimPrefix(b.String(), raw))
	}
}

// A task faster than the delay shows no line at all; Close erases a line
// left by an interrupted run and stops it.
func TestProgressShortTaskAndClose(t *testing.T) {
	var b lockedBuffer
	d := NewDefault(&b, &b, Options{Progress: true})
	d.prog.delay, d.prog.every = time.Hour, time.Millisecond
	d.PlayStart(&playbook.Play{Hosts: "all"}, "all")
	d.TaskStart("quick", false)
	d.HostResult(changed("h1"))
	d.TaskStart("slow", false)
	if strings.Contains(b.String(), "\r") {
		t.Fatalf("a line for a short task: %q", b.String())
	}
	d.mu.Lock()
	d.prog.timer.Reset(time.Millisecond)
	d.mu.Unlock()
	// the play's hosts are unknown here, but h1 reported in the play
	waitOutput(t, &b, eraseLine+"hosts finished 0/1 (0s)")
	d.Close()
	raw := b.String()
	if !strings.HasSuffix(raw, eraseLine) {
		t.Fatalf("Close did not erase the line: %q", raw)
	}
	time.Sleep(20 * time.Millisecond)
	if b.String() != raw {
		t.Fatalf("written after Close: %q", strings.TrimPrefix(b.String(), raw))
	}
	fmt.Fprint(d.Guard(&b), "after\n")
	if got := screen(b.String()); !strings.HasSuffix(got, "changed: [h1]\n\nTASK [slow] "+strings.Repeat("*", 68)+"\nafter\n") {
		t.Fatalf("screen: %q", got)
	}
}
