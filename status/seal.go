package status

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/gorun/gorun/job"
)

// The records of no_log jobs never hold their result in clear. What the
// job printed, its module result, its msg and (async jobs) its module
// arguments, which may hold templated secrets, are sealed with AES-256-GCM
// under a key of the job's run; the record keeps in clear only what views
// need (state, rc, times, the handle on the target) and a censored result
// (job.Censored, with changed/failed/skipped/unreachable). The dispatcher
// of the run generates the key, sends it to the executors in the no_log
// job messages (deleted once the job is done), and keeps it with the run
// (a submitted run's spec) so that it can open the results, after a
// restart too. A process that holds a run's key (UseSealKey) reads that
// run's records opened and writes them sealed, transparently; any other
// process reads them censored, and a record it writes keeps the sealed
// values as they were.

// SealKeySize is the size of a run's seal key: 32 bytes, AES-256.
const SealKeySize = 32

// ErrSealed says a no_log record's values are sealed under a key this
// process does not hold.
var ErrSealed = errors.New("the job is no_log: its result is sealed under its run's key")

// NewSealKey returns a fresh random seal key for a run.
func NewSealKey() []byte {
	k := make([]byte, SealKeySize)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("status: reading random bytes: %v", err))
	}
	return k
}

// sealVersion is the first byte of a sealed blob: version, then the GCM
// nonce, then the ciphertext.
const sealVersion = 1

// sealedFields are the values of a no_log record kept sealed. Only the
// values that are set are sealed; on opening, they replace the censored
// ones (a value a key-less writer set later, such as a cancel's result,
// stays when the blob has none).
type sealedFields struct {
	Result map[string]any `json:"result,omitzero"`
	Stdout string         `json:"stdout,omitempty"`
	Stderr string         `json:"stderr,omitempty"`
	Msg    string         `json:"msg,omitempty"`
	Args   map[string]any `json:"args,omitzero"`
}

// aad binds a blob to its record: a blob copied into another record does
// not open.
func aad(r *job.Record) []byte {
	return []byte("gorun-record\x00" + r.RunID + "\x00" + r.JID)
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("seal key of %d bytes, want %d", len(key), SealKeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal returns the blob of r's values under key.
func seal(r *job.Record, key []byte) ([]byte, error) {
	a, err := gcm(key)
	if err != nil {
		return nil, fmt.Errorf("sealing record %s: %w", r.JID, err)
	}
	plain, err := json.Marshal(sealedFields{Result: r.Result, Stdout: r.Stdout, Stderr: r.Stderr, Msg: r.Msg, Args: r.Args})
	if err != nil {
		return nil, fmt.Errorf("sealing record %s: %w", r.JID, err)
	}
	out := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plain)+a.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("sealing record %s: %w", r.JID, err)
	}
	return a.Seal(out, out[1:], plain, aad(r)), nil
}

// open puts the values sealed in r back in place of the censored ones and
// clears r.Sealed. On error r is left as it was.
func open(r *job.Record, key []byte) error {
	a, err := gcm(key)
	if err != nil {
		return fmt.Errorf("opening record %s: %w", r.JID, err)
	}
	b := r.Sealed
	if len(b) < 1+a.NonceSize() || b[0] != sealVersion {
		return fmt.Errorf("opening record %s: not a sealed blob of version %d", r.JID, sealVersion)
	}
	plain, err := a.Open(nil, b[1:1+a.NonceSize()], b[1+a.NonceSize():], aad(r))
	if err != nil {
		return fmt.Errorf("opening record %s: %w (%w)", r.JID, ErrSealed, err)
	}
	var f sealedFields
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("opening record %s: %w", r.JID, err)
	}
	if f.Result != nil {
		r.Result = numbers(f.Result).(map[string]any)
	}
	if f.Args != nil {
		r.Args = numbers(f.Args).(map[string]any)
	}
	if f.Stdout != "" {
		r.Stdout = f.Stdout
	}
	if f.Stderr != "" {
		r.Stderr = f.Stderr
	}
	if f.Msg != "" {
		r.Msg = f.Msg
	}
	r.Sealed = nil
	return nil
}

// censorKeys are the result keys a censored result keeps (when they hold a
// boolean or a number), as Ansible's censored results keep changed and the
// json callback adds failed and skipped.
var censorKeys = []string{"changed", "failed", "skipped", "unreachable"}

// Censor replaces what a no_log record hides by Ansible's censored message:
// the result keeps only censored and its status keys, msg becomes the
// message, output and arguments go. Sealed and the other fields stay. It
// is idempotent.
func Censor(r *job.Record) {
	if r.Result != nil {
		c := map[string]any{"censored": job.Censored}
		for _, k := range censorKeys {
			switch v := r.Result[k].(type) {
			case bool, int, int64, float64, json.Number:
				c[k] = v
			}
		}
		r.Result = c
	}
	if r.Msg != "" {
		r.Msg = job.Censored
	}
	r.Stdout, r.Stderr, r.Args = "", "", nil
}

// stored returns what is written to the bucket for r: r itself, or for a
// no_log record a censored copy, sealed under its run's key when this
// process holds it. A record read without the key (still sealed) keeps its
// blob as it was.
func (s *Store) stored(r *job.Record) (*job.Record, error) {
	if !r.NoLog {
		return r, nil
	}
	c := *r
	if c.Sealed == nil {
		if key := s.keys.get(r.RunID); key != nil {
			blob, err := seal(r, key)
			if err != nil {
				return nil, err
			}
			c.Sealed = blob
		}
	}
	Censor(&c)
	return &c, nil
}

// decode decodes a record and opens it when this process holds its run's
// key; a record that does not open is returned sealed (censored).
func (s *Store) decode(data []byte) (*job.Record, error) {
	r, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if r.Sealed != nil {
		if key := s.keys.get(r.RunID); key != nil {
			_ = open(r, key)
		}
	}
	return r, nil
}

// UseSealKey makes the store seal the no_log records of run runID that it
// writes, and open those it reads, with key, until release is called (the
// key is held as long as any user has not released it). One run has one
// key: while a run's key is held, another key for it is refused.
func (s *Store) UseSealKey(runID string, key []byte) (release func(), err error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("seal key of run %s: %d bytes, want %d", runID, len(key), SealKeySize)
	}
	if err := s.keys.add(runID, key); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { s.keys.remove(runID) }) }, nil
}

// keyring holds the seal keys of the runs this process works for.
type keyring struct {
	mu sync.Mutex
	m  map[string]*heldKey
}

type heldKey struct {
	key   []byte
	users int
}

func (k *keyring) get(runID string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h := k.m[runID]; h != nil {
		return h.key
	}
	return nil
}

func (k *keyring) add(runID string, key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*heldKey{}
	}
	if h := k.m[runID]; h != nil {
		if !bytes.Equal(h.key, key) {
			return fmt.Errorf("run %s already has another seal key in this process", runID)
		}
		h.users++
		return nil
	}
	k.m[runID] = &heldKey{key: bytes.Clone(key), users: 1}
	return nil
}

func (k *keyring) remove(runID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h := k.m[runID]; h != nil {
		if h.users--; h.users <= 0 {
			delete(k.m, runID)
		}
	}
}
