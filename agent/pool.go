package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorun/gorun/connection"
	"github.com/gorun/gorun/job"
)

// Connector hands out connections to targets (connection.Pool implements it).
type Connector interface {
	Get(ctx context.Context, t job.Target) (connection.Conn, error)
}

// Pool keeps one agent per target, starting a new one when the last died.
type Pool struct {
	conns Connector
	log   *slog.Logger

	mu       sync.Mutex
	agents   map[string]*Agent
	starting map[string]*startCall
	closed   bool
}

// startCall is an agent start in progress, shared by all who need it.
type startCall struct {
	done chan struct{}
	a    *Agent
	err  error
}

// NewPool returns an empty pool.
func NewPool(conns Connector, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{conns: conns, log: log, agents: map[string]*Agent{}, starting: map[string]*startCall{}}
}

func targetKey(t job.Target) string {
	return fmt.Sprintf("%s|%s|%s|%d|%s|%v", t.Connection, t.Host, t.Address, t.Port, t.User, t.Become)
}

// Get returns the agent of a target, starting one if needed; concurrent
// calls for one target share the start, calls for different targets run in
// parallel.
func (p *Pool) Get(ctx context.Context, t job.Target) (*Agent, error) {
	key := targetKey(t)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("agent pool closed")
	}
	if a := p.agents[key]; a != nil {
		select {
		case <-a.Dead():
		default:
			p.mu.Unlock()
			return a, nil
		}
	}
	call := p.starting[key]
	if call == nil {
		call = &startCall{done: make(chan struct{})}
		p.starting[key] = call
		go p.start(key, t, call)
	}
	p.mu.Unlock()
	select {
	case <-call.done:
		return call.a, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start starts an agent; it is bound to no caller's context (callers may
// give up waiting), only to a start timeout.
func (p *Pool) start(key string, t job.Target, call *startCall) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := p.conns.Get(ctx, t)
	if err == nil {
		call.a, err = Start(ctx, conn, p.log.With("host", t.Host))
	}
	call.err = err
	p.mu.Lock()
	delete(p.starting, key)
	if err == nil {
		if p.closed {
			call.a.Close()
			call.a, call.err = nil, fmt.Errorf("agent pool closed")
		} else {
			p.agents[key] = call.a
		}
	}
	p.mu.Unlock()
	close(call.done)
}

// startTimeout bounds dialling a target and starting its agent.
const startTimeout = time.Minute

// Close ends every agent's session; the jobs keep running on their targets.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, a := range p.agents {
		a.Close()
		delete(p.agents, k)
	}
}
