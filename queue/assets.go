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
	var st jetstream.Stream
	err := retrySetup(ctx, func(ctx context.Context) (err error) {
		st, err = ensureStream(ctx, js, cfg, mode)
		return err
	})
	return st, err
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, mode Assets) (jetstream.Stream, error) {
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
	var c jetstream.Consumer
	err := retrySetup(ctx, func(ctx context.Context) (err error) {
		c, err = ensureConsumer(ctx, st, cfg, mode)
		return err
	})
	return c, err
}

func ensureConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, mode Assets) (jetstream.Consumer, error) {
	if mode == Update {
		if cur, err := st.Consumer(ctx, cfg.Durable); err == nil {
			if info := cur.CachedInfo(); info != nil {
				cfg.MaxWaiting = info.Config.MaxWaiting // the server cannot change it
			}
		}
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
//
// Reads of gorun's buckets must see the writes that came before them (an
// executor re-reads the record it just claimed): unless mode is Bind, the
// bucket's stream is set to answer reads from its leader only (no direct
// gets from replicas that may lag behind).
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, mode Assets) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := retrySetup(ctx, func(ctx context.Context) (err error) {
		kv, err = ensureKeyValue(ctx, js, cfg, mode)
		if err != nil || mode == Bind {
			return err
		}
		st, err := js.Stream(ctx, "KV_"+cfg.Bucket)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// just created: not yet known to the server that answered
			return fmt.Errorf("bucket %s: %w (%w)", cfg.Bucket, err, errSettling)
		}
		if err != nil {
			return err
		}
		if sc := st.CachedInfo().Config; sc.AllowDirect {
			sc.AllowDirect = false
			if _, err := js.UpdateStream(ctx, sc); err != nil {
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					err = fmt.Errorf("%w (%w)", err, errSettling)
				}
				return fmt.Errorf("making bucket %s read from its leader: %w", cfg.Bucket, err)
			}
			kv, err = js.KeyValue(ctx, cfg.Bucket)
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				err = fmt.Errorf("%w (%w)", err, errSettling)
			}
		}
		return err
	})
	return kv, err
}

func ensureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, mode Assets) (jetstream.KeyValue, error) {
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
