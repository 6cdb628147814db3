package status

import (
	"testing"
)

// FuzzDecode decodes untrusted job records (a KV bucket anyone with write
// access could fill): nothing may panic, and a record that decodes
// encodes and decodes again to the same state and job id, its result
// keys kept (a no_log record's as censored) and its full result derivable.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jid":"j1.1","run_id":"r1","host":"h","state":"finished","rc":0,"stdout":"hi","result":{"changed":true,"n":1.5,"big":12345678901234567890}}`,
		`{"jid":"j1.2","state":"running","remote":{"dir":"/tmp/j","pid":42,"launched":"2026-11-28T00:00:00Z"}}`,
		`{"jid":"j1.3","state":"failed","result":{"results":[{"item":1,"failed":true},{"x":[1,2,{"y":null}]}]}}`,
		`{"jid":"j1.4","state":"queued","target":{"host":"h","port":22,"host_key_checking":true},"args":{"_raw_params":"sleep 1"}}`,
		`{"jid":"","state":"finished"}`, `{"jid":"x","state":"bogus"}`, `[]`, `null`, `{"jid":"x","state":"lost","rc":"1"}`,
	} {
		f.Add([]byte(s))
	}
	s := &Store{cfg: Config{MaxOutput: 1 << 10}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		_ = r.FullResult()
		b, err := s.encode(r)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		r2, err := Decode(b)
		if err != nil {
			t.Fatalf("a re-encoded record does not decode: %v\n%s", err, b)
		}
		want := r
		if r.NoLog { // stored censored (see Censor)
			c := *r
			Censor(&c)
			want = &c
		}
		if r2.JID != want.JID || r2.State != want.State || len(r2.Result) != len(want.Result) || r2.State.Terminal() != (want.State.Terminal()) {
			t.Fatalf("round trip changed the record: %+v -> %+v", r, r2)
		}
	})
}
