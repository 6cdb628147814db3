package dispatcher_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/executor"
	"github.com/gorun/gorun/inventory"
	"github.com/gorun/gorun/module"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/playbook"
	"github.com/gorun/gorun/sshtest"
)

// seen records when the dispatcher reported each async job's end.
type seen struct {
	dispatcher.NopCallback
	mu   sync.Mutex
	at   map[string]time.Time // jid → when ASYNC OK/FAILED was reported
	jids []string
}

func (s *seen) AsyncDone(host, jid string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[jid] = time.Now()
	s.jids = append(s.jids, jid)
}

// TestCompletionLatency measures how long after an async job's end on its
// target the dispatcher reports it, for 2 s jobs with poll: 1 on 5 real
// sshd hosts. It reports the figures; it does not gate on them (the
// machine is shared).
func TestCompletionLatency(t *testing.T) {
	env := natstest.Start(t)
	f := sshtest.Start(t, 5)
	pool, err := connection.NewPool(connection.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	ex, err := executor.New(executor.Config{Forks: 5}, env.Queue, env.Store, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Stop(context.Background()) })
	inv, err := inventory.Load([]string{f.InventoryINI(t)})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Parse("latency.yml", []byte(`
- hosts: targets
  gather_facts: false
  tasks:
    - command: /bin/sleep 2
      async: 10
      poll: 1
    - command: /bin/sleep 2
      async: 10
      poll: 1
`), module.Known)
	if err != nil {
		t.Fatal(err)
	}
	cb := &seen{at: map[string]time.Time{}}
	r, err := dispatcher.New(dispatcher.Config{Forks: 5}, env.Queue, env.Store, inv, cb)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recap, err := r.Run(ctx, []*playbook.Playbook{pb})
	if err != nil || recap.ExitCode() != 0 {
		t.Fatalf("run: %v, exit %d", err, recap.ExitCode())
	}
	var lat []time.Duration
	for _, jid := range cb.jids {
		e, err := env.Store.Get(ctx, jid)
		if err != nil {
			t.Fatal(err)
		}
		endStr, _ := e.Record.Result["end"].(string)
		end, err := time.ParseInLocation("2006-01-02 15:04:05.000000", endStr, time.Local)
		if err != nil {
			t.Fatalf("job %s: end %q: %v", jid, endStr, err)
		}
		lat = append(lat, cb.at[jid].Sub(end))
	}
	if len(lat) != 10 {
		t.Fatalf("%d async jobs reported, want 10", len(lat))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("job end on the target → dispatcher reports it: min %v, median %v, max %v (poll 1 s; Ansible: up to the next poll tick)",
		lat[0].Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	for _, l := range lat {
		if l < 0 || l > time.Second {
			t.Errorf("a job was reported %v after its end: it waited for a poll tick", l)
		}
	}
}
