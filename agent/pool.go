package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

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

	mu     sync.Mutex
	agents map[string]*Agent
	closed bool
}

// NewPool returns an empty pool.
func NewPool(conns Connector, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{conns: conns, log: log, agents: map[string]*Agent{}}
}

func targetKey(t job.Target) string {
	return fmt.Sprintf("%s|%s|%s|%d|%s|%v", t.Connection, t.Host, t.Address, t.Port, t.User, t.Become)
}

// Get returns the agent of a target, starting one if needed.
func (p *Pool) Get(ctx context.Context, t job.Target) (*Agent, error) {
	key := targetKey(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("agent pool closed")
	}
	if a := p.agents[key]; a != nil {
		select {
		case <-a.Dead():
		default:
			return a, nil
		}
	}
	conn, err := p.conns.Get(ctx, t)
	if err != nil {
		return nil, err
	}
	a, err := Start(ctx, conn, p.log.With("host", t.Host))
	if err != nil {
		return nil, err
	}
	p.agents[key] = a
	return a, nil
}

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
