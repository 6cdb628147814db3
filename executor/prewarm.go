package executor

import (
	"context"

	"github.com/gorun/gorun/job"
)

// Prewarm connects to targets ahead of their jobs, in the background, and
// starts their async agents too when agents is set: a run's first task then
// finds them open instead of dialling. A target that cannot be reached is
// left to its jobs, which meet (and report) the same error. Stopping the
// executor abandons what is still under way.
func (e *Executor) Prewarm(targets []job.Target, agents bool) {
	if len(targets) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(e.jobCtx)
	go func() {
		select {
		case <-e.stopping:
		case <-ctx.Done():
		}
		cancel()
	}()
	left := make(chan struct{}, len(targets))
	for _, t := range targets {
		go func() {
			defer func() { left <- struct{}{} }()
			if agents {
				_, _ = e.agents.Get(ctx, t)
				return
			}
			_, _ = e.conns.Get(ctx, t)
		}()
	}
	go func() {
		for range targets {
			<-left
		}
		cancel()
	}()
}
