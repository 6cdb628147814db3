package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gorun/gorun/job"
)

func sortRecords(rs []*job.Record) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].Queued.Equal(rs[j].Queued) {
			return rs[i].Queued.Before(rs[j].Queued)
		}
		return rs[i].JID < rs[j].JID
	})
}

// watcher is the one KV watch of a process, fanned out to subscriptions by
// job id.
type watcher struct {
	s      *Store
	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Subscription follows one job record. C carries the newest version of the
// record each time it changes (intermediate versions may be skipped when the
// reader is slow; a later one is never followed by an earlier one).
type Subscription struct {
	jid string
	w   *watcher
	ch  chan *job.Record
	// want, if not nil, picks the versions to deliver by their stored
	// bytes (the others are not even decoded)
	want func(raw []byte) bool
	mu   sync.Mutex
	rev  uint64
}

// C returns the channel of record versions.
func (sub *Subscription) C() <-chan *job.Record { return sub.ch }

func (sub *Subscription) deliver(r *job.Record, rev uint64) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if rev <= sub.rev {
		return
	}
	sub.rev = rev
	for {
		select {
		case sub.ch <- r:
			return
		default:
			select { // replace the unread older version
			case <-sub.ch:
			default:
			}
		}
	}
}

// Skip says the caller knows version rev of the record (it wrote it): that
// version and earlier ones are not delivered (nor decoded for this
// subscription).
func (sub *Subscription) Skip(rev uint64) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.rev = max(sub.rev, rev)
}

// wants says whether version rev, stored as raw, is to be delivered.
func (sub *Subscription) wants(rev uint64, raw []byte) bool {
	sub.mu.Lock()
	newer := rev > sub.rev
	sub.mu.Unlock()
	return newer && (sub.want == nil || sub.want(raw))
}

// Close ends the subscription.
func (sub *Subscription) Close() {
	sub.w.mu.Lock()
	defer sub.w.mu.Unlock()
	if m := sub.w.subs[sub.jid]; m != nil {
		delete(m, sub)
		if len(m) == 0 {
			delete(sub.w.subs, sub.jid)
		}
	}
}

// Subscribe follows the record of jid: the current version (if any) comes
// first on C, then every change, as seen by the process's single KV watch.
func (s *Store) Subscribe(ctx context.Context, jid string) (*Subscription, error) {
	w, err := s.startWatcher()
	if err != nil {
		return nil, err
	}
	sub := w.add(jid, nil)
	// The watch only reports changes from now on: read the current version.
	e, err := s.Get(ctx, jid)
	switch {
	case err == nil:
		sub.deliver(e.Record, e.Revision)
	case errors.Is(err, ErrNotFound):
	default:
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// Follow follows the record of jid from now on, without reading its current
// version: for a record about to be created by the caller.
func (s *Store) Follow(jid string) (*Subscription, error) {
	w, err := s.startWatcher()
	if err != nil {
		return nil, err
	}
	return w.add(jid, nil), nil
}

// FollowEnd follows the record of jid from now on, delivering only its
// terminal versions: for a waiter with no use for the others, which are
// not decoded.
func (s *Store) FollowEnd(jid string) (*Subscription, error) {
	w, err := s.startWatcher()
	if err != nil {
		return nil, err
	}
	return w.add(jid, func(raw []byte) bool {
		st, ok := storedState(raw)
		return !ok || st.Terminal() // unsure: decoded, and delivered
	}), nil
}

// stateKey starts a record's state as stored.
var stateKey = []byte(`"state":"`)

// storedState reads the state of a stored record without decoding it.
// Only jid, run_id, host, task and module come before the state, all of
// them strings, in which a quote is always escaped: the first "state":"
// in the bytes is the record's own (TestStoredState pins the order).
func storedState(raw []byte) (job.State, bool) {
	i := bytes.Index(raw, stateKey)
	if i < 0 {
		return "", false
	}
	rest := raw[i+len(stateKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	st := job.State(rest[:j])
	return st, st.Valid()
}

// cancelRequested is how a record with a cancel request is stored.
var cancelRequested = []byte(`"cancel_requested":true`)

// FollowCancel follows the record of jid from now on, delivering only the
// versions with a cancel request: for an executor running the job, which
// has no use for the other versions (its own writes, mostly), so they are
// not decoded.
func (s *Store) FollowCancel(jid string) (*Subscription, error) {
	w, err := s.startWatcher()
	if err != nil {
		return nil, err
	}
	return w.add(jid, func(raw []byte) bool { return bytes.Contains(raw, cancelRequested) }), nil
}

func (w *watcher) add(jid string, want func([]byte) bool) *Subscription {
	sub := &Subscription{jid: jid, w: w, ch: make(chan *job.Record, 1), want: want}
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.subs[jid]
	if m == nil {
		m = map[*Subscription]struct{}{}
		w.subs[jid] = m
	}
	m[sub] = struct{}{}
	return sub
}

// WaitTerminal blocks until the record of jid reaches a terminal state and
// returns it; onChange, if not nil, sees every version observed before that.
func (s *Store) WaitTerminal(ctx context.Context, jid string, onChange func(*job.Record)) (*job.Record, error) {
	sub, err := s.Subscribe(ctx, jid)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	return sub.WaitTerminal(ctx, onChange)
}

// WaitTerminal blocks until the followed record reaches a terminal state;
// onChange, if not nil, sees the versions observed before that.
func (sub *Subscription) WaitTerminal(ctx context.Context, onChange func(*job.Record)) (*job.Record, error) {
	jid := sub.jid
	for {
		select {
		case r := <-sub.C():
			if r.State.Terminal() {
				return r, nil
			}
			if onChange != nil {
				onChange(r)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for job %s: %w", jid, ctx.Err())
		}
	}
}

func (s *Store) startWatcher() (*watcher, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.w != nil {
		return s.w, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{s: s, subs: map[string]map[*Subscription]struct{}{}, cancel: cancel, done: make(chan struct{})}
	kw, stop, err := startWatch(ctx, s.watchAll)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching bucket %s: %w", s.cfg.Bucket, err)
	}
	go w.run(ctx, kw, stop)
	s.w = w
	return w, nil
}

func (s *Store) watchAll(ctx context.Context) (jetstream.KeyWatcher, error) {
	return s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
}

func (w *watcher) run(ctx context.Context, kw jetstream.KeyWatcher, stop func()) {
	defer close(w.done)
	backoff := 100 * time.Millisecond
	for {
		w.consume(ctx, kw)
		stop()
		if ctx.Err() != nil {
			return
		}
		// The watch ended (connection closed or consumer lost): start a new
		// one, then re-read every followed record so no change is missed.
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			kw, stop, err = startWatch(ctx, w.s.watchAll)
			if err == nil {
				backoff = 100 * time.Millisecond
				break
			}
			backoff = min(backoff*2, 5*time.Second)
		}
		w.refresh(ctx)
	}
}

func (w *watcher) consume(ctx context.Context, kw jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-kw.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			subs := w.followers(e.Key(), e.Revision(), e.Value())
			if len(subs) == 0 {
				continue
			}
			r, err := w.s.decode(e.Value())
			if err != nil {
				continue
			}
			if f := w.s.watchLag.Load(); f != nil && *f != nil {
				(*f)(time.Since(e.Created()))
			}
			for _, sub := range subs {
				sub.deliver(r, e.Revision())
			}
		}
	}
}

// followers returns the subscriptions to jid that want version rev
// (stored as raw); all of them when raw is nil.
func (w *watcher) followers(jid string, rev uint64, raw []byte) []*Subscription {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.subs[jid]
	if len(m) == 0 {
		return nil
	}
	out := make([]*Subscription, 0, len(m))
	for sub := range m {
		if raw == nil || sub.wants(rev, raw) {
			out = append(out, sub)
		}
	}
	return out
}

func (w *watcher) refresh(ctx context.Context) {
	w.mu.Lock()
	jids := make([]string, 0, len(w.subs))
	for jid := range w.subs {
		jids = append(jids, jid)
	}
	w.mu.Unlock()
	for _, jid := range jids {
		e, err := w.s.Get(ctx, jid)
		if err != nil {
			continue
		}
		for _, sub := range w.followers(jid, 0, nil) {
			sub.deliver(e.Record, e.Revision)
		}
	}
}

// Close stops the store's watch.
func (s *Store) Close() {
	s.wmu.Lock()
	w := s.w
	s.w = nil
	s.wmu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}
