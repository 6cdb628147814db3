package queue

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Transient reports whether err is one that passes when a cluster has
// elected a new leader or a client has reconnected: no responders, no
// response from the stream, a request timeout.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) {
		return true
	}
	// 503: no leader, no quorum
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return true
	}
	// "JetStream system temporarily unavailable", with an API error or
	// without one (nats.go's own, as when a KV watch's consumer fails while
	// a node of the cluster is down)
	return strings.Contains(strings.ToLower(err.Error()), "temporarily unavailable")
}

// Attempt is how long one try of a retried request may take.
const Attempt = 3 * time.Second

// Retry runs fn until it succeeds, fails with a non-transient error, or ctx
// ends; each try gets its own deadline (Attempt). Use it for requests that
// are safe to repeat (reads, compare-and-swap writes, deduplicated
// publishes).
func Retry(ctx context.Context, fn func(ctx context.Context) error) error {
	return retry(ctx, Transient, fn)
}

func retry(ctx context.Context, transient func(error) bool, fn func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, Attempt)
		err := fn(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil && transient(err) {
				return errors.Join(ctx.Err(), err)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// setupTimeout bounds how long opening assets is retried (a cluster
// electing leaders).
const setupTimeout = 60 * time.Second

// retrySetup retries an asset lookup or creation while the cluster is
// settling, within setupTimeout (or ctx's own deadline).
func retrySetup(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, setupTimeout)
		defer cancel()
	}
	return retry(ctx, settling, fn)
}

// errCodeClusterNoPeers is the server's JSClusterNoPeersErrF (nats.go has
// no name for it).
const errCodeClusterNoPeers jetstream.ErrorCode = 10005

// settling reports errors of a cluster that is still forming or missing a
// node for a moment: transient ones, and "no suitable peers for placement"
// (a stream or bucket cannot be placed on enough live servers yet).
func settling(err error) bool {
	var apiErr *jetstream.APIError
	return Transient(err) || errors.Is(err, errSettling) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeClusterNoPeers
}

// errSettling marks an error of an asset that the cluster has not settled
// yet (created, not yet known everywhere).
var errSettling = errors.New("the cluster is settling")
