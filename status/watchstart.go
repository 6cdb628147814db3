package status

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// watchStartTimeout bounds how long starting a KV watch may take: its
// consumer is created by a request to the JetStream meta leader, which
// goes unanswered (without an error) while the cluster elects a new one.
const watchStartTimeout = 5 * time.Second

// startWatch starts a KV watch with start, giving up after
// watchStartTimeout. The watch lives until ctx ends or stop is called
// (a watch's context is also its lifetime, so the attempt cannot simply
// be given a deadline).
func startWatch(ctx context.Context, start func(ctx context.Context) (jetstream.KeyWatcher, error)) (w jetstream.KeyWatcher, stop func(), err error) {
	wctx, cancel := context.WithCancel(ctx)
	type result struct {
		w   jetstream.KeyWatcher
		err error
	}
	rc := make(chan result, 1)
	go func() {
		w, err := start(wctx)
		rc <- result{w, err}
	}()
	t := time.NewTimer(watchStartTimeout)
	defer t.Stop()
	select {
	case r := <-rc:
		if r.err != nil {
			cancel()
			return nil, nil, r.err
		}
		return r.w, func() { _ = r.w.Stop(); cancel() }, nil
	case <-t.C:
		cancel()
		return nil, nil, fmt.Errorf("starting a watch: no answer in %s: %w", watchStartTimeout, context.DeadlineExceeded)
	case <-ctx.Done():
		cancel()
		return nil, nil, ctx.Err()
	}
}
