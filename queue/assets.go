package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Assets says how Open treats the streams, consumers and buckets it needs.
type Assets int

// The ways of treating NATS assets.
const (
	// Ensure creates what is missing and uses what exists as it is
	// (the default: a client with fewer permissions still starts when an
	// operator created the assets).
	Ensure Assets = iota
	// Update creates what is missing and updates what exists to the
	// configuration given.
	Update
	// Bind only uses existing assets and fails if one is missing.
	Bind
)

// ParseAssets parses "ensure", "update" or "bind".
func ParseAssets(s string) (Assets, error) {
	switch s {
	case "", "ensure":
		return Ensure, nil
	case "update":
		return Update, nil
	case "bind":
		return Bind, nil
	}
	return Ensure, fmt.Errorf("assets mode %q: want ensure, update or bind", s)
}

// EnsureStream returns stream cfg.Name, created or updated as mode says.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, mode Assets) (jetstream.Stream, error) {
	if mode == Update {
		st, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("creating or updating stream %s: %w", cfg.Name, err)
		}
		return st, nil
	}
	st, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("looking up stream %s: %w", cfg.Name, err)
	}
	if mode == Bind {
		return nil, fmt.Errorf("stream %s does not exist (assets mode bind: create it first, for example with a dispatcher)", cfg.Name)
	}
	st, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		st, err = js.Stream(ctx, cfg.Name) // created meanwhile by another process
	}
	if err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// EnsureConsumer returns durable consumer cfg.Durable of st, created or
// updated as mode says.
func EnsureConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, mode Assets) (jetstream.Consumer, error) {
	if mode == Update {
		c, err := st.CreateOrUpdateConsumer(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("creating or updating consumer %s: %w", cfg.Durable, err)
		}
		return c, nil
	}
	c, err := st.Consumer(ctx, cfg.Durable)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("looking up consumer %s: %w", cfg.Durable, err)
	}
	if mode == Bind {
		return nil, fmt.Errorf("consumer %s does not exist (assets mode bind: create it first)", cfg.Durable)
	}
	c, err = st.CreateConsumer(ctx, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		c, err = st.Consumer(ctx, cfg.Durable)
	}
	if err != nil {
		return nil, fmt.Errorf("creating consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}

// EnsureKeyValue returns bucket cfg.Bucket, created or updated as mode says.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, mode Assets) (jetstream.KeyValue, error) {
	if mode == Update {
		kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("creating or updating bucket %s: %w", cfg.Bucket, err)
		}
		return kv, nil
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("looking up bucket %s: %w", cfg.Bucket, err)
	}
	if mode == Bind {
		return nil, fmt.Errorf("bucket %s does not exist (assets mode bind: create it first)", cfg.Bucket)
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
