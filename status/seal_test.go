package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/natstest"
	"github.com/gorun/gorun/status"
)

// plant is the secret the no_log records of these tests carry.
const plant = "s3cr3t-PLANT-7f1c"

// noLogRecord is the record of a finished async no_log job whose args,
// output, result and msg all hold the planted secret.
func noLogRecord(jid, runID string) *job.Record {
	rec := job.NewRecord(&job.Job{ID: jid, RunID: runID, Task: "t", Module: "shell", NoLog: true, Async: 10, Poll: 1,
		Args:   map[string]any{"_raw_params": "echo " + plant},
		Target: job.Target{Host: "h1", Password: plant, BecomePassword: plant}, Created: time.Now().UTC()})
	rec.SplitResult(map[string]any{"rc": 3, "stdout": plant, "stderr": plant + "-err", "changed": true, "failed": true,
		"cmd": "echo " + plant, "n": 7, "ratio": 0.5, "msg": "non-zero return code " + plant})
	rec.State, rec.Msg = job.StateFailed, "failed with "+plant
	return rec
}

// rawRecords returns every record of the job bucket as stored.
func rawRecords(t *testing.T, env *natstest.Env) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	kv, err := env.Conn.JetStream().KeyValue(ctx, status.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = e.Value()
	}
	return out
}

// useKey holds key for runID in st for the test.
func useKey(t *testing.T, st *status.Store, runID string, key []byte) func() {
	t.Helper()
	release, err := st.UseSealKey(runID, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return release
}

// wantReal checks that r holds the values of noLogRecord in clear.
func wantReal(t *testing.T, what string, r *job.Record) {
	t.Helper()
	if r.Sealed != nil || r.Stdout != plant || r.Stderr != plant+"-err" || r.Msg != "failed with "+plant ||
		r.Args["_raw_params"] != "echo "+plant || r.RC == nil || *r.RC != 3 {
		t.Errorf("%s: not the real values: %+v", what, r)
	}
	if r.Result["n"] != 7 || r.Result["ratio"] != 0.5 || r.Result["cmd"] != "echo "+plant || r.Result["failed"] != true {
		t.Errorf("%s: result %v", what, r.Result)
	}
}

// wantCensored checks that r shows nothing of the secret.
func wantCensored(t *testing.T, what string, r *job.Record) {
	t.Helper()
	b, _ := json.Marshal(r)
	if bytes.Contains(b, []byte(plant)) {
		t.Errorf("%s: the secret shows: %s", what, b)
	}
	if r.Result["censored"] != job.Censored || r.Msg != job.Censored {
		t.Errorf("%s: not censored: result %v msg %q", what, r.Result, r.Msg)
	}
}

// TestNoLogRecordsSealed: a no_log record is stored censored, with its
// values sealed under its run's key; a store holding the key reads them
// back (through Get, Modify and the watch), any other reads them censored,
// and a write without the key keeps the sealed values.
func TestNoLogRecordsSealed(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := status.NewSealKey()
	holder := env.Store
	useKey(t, holder, "r1", key)
	_, other := env.Connect(t) // another process, without the key

	sub, err := holder.Follow("j1.1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := holder.Create(ctx, noLogRecord("j1.1", "r1")); err != nil {
		t.Fatal(err)
	}
	// a key-less writer's no_log record is censored, its values lost
	if _, err := other.Create(ctx, noLogRecord("j1.2", "r1")); err != nil {
		t.Fatal(err)
	}
	for k, raw := range rawRecords(t, env) {
		if bytes.Contains(raw, []byte(plant)) {
			t.Errorf("record %s stored with the secret in clear: %s", k, raw)
		}
		r, err := status.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.RC == nil || *r.RC != 3 || r.State != job.StateFailed || !r.Output {
			t.Errorf("record %s: rc, state and output flag should stay in clear: %s", k, raw)
		}
		if got := r.Result; !reflect.DeepEqual(got, map[string]any{"censored": job.Censored, "changed": true, "failed": true}) {
			t.Errorf("record %s: stored result %v", k, got)
		}
	}

	select {
	case r := <-sub.C():
		wantReal(t, "watched by the key holder", r)
	case <-ctx.Done():
		t.Fatal("no record on the watch")
	}
	e, err := holder.Get(ctx, "j1.1")
	if err != nil {
		t.Fatal(err)
	}
	wantReal(t, "read by the key holder", e.Record)
	if full := e.Record.FullResult(); full["stdout"] != plant || !reflect.DeepEqual(full["stdout_lines"], []any{plant}) {
		t.Errorf("full result %v", full)
	}
	e, err = other.Get(ctx, "j1.1")
	if err != nil {
		t.Fatal(err)
	}
	wantCensored(t, "read without the key", e.Record)
	if e.Record.Sealed == nil {
		t.Error("read without the key: the sealed values are not there")
	}

	// a write without the key (a cancel, say) keeps the sealed values
	if _, err := other.Modify(ctx, "j1.1", func(r *job.Record) bool { r.CancelRequested = true; return true }); err != nil {
		t.Fatal(err)
	}
	e, err = holder.Get(ctx, "j1.1")
	if err != nil {
		t.Fatal(err)
	}
	wantReal(t, "after a key-less write", e.Record)
	if !e.Record.CancelRequested {
		t.Error("the key-less write is lost")
	}
	// a write with the key seals again what it read
	if _, err := holder.Modify(ctx, "j1.1", func(r *job.Record) bool { r.Executor = "x"; return true }); err != nil {
		t.Fatal(err)
	}
	e, err = holder.Get(ctx, "j1.1")
	if err != nil {
		t.Fatal(err)
	}
	wantReal(t, "after a write with the key", e.Record)

	e, err = holder.Get(ctx, "j1.2")
	if err != nil {
		t.Fatal(err)
	}
	wantCensored(t, "written without the key", e.Record)

	// another key, or none any more: censored, no error
	_, wrong := env.Connect(t)
	useKey(t, wrong, "r1", status.NewSealKey())
	if e, err = wrong.Get(ctx, "j1.1"); err != nil {
		t.Fatal(err)
	}
	wantCensored(t, "read with another key", e.Record)
	recs, err := other.List(ctx, status.Filter{RunID: "r1"})
	if err != nil || len(recs) != 2 {
		t.Fatalf("list: %d records, %v", len(recs), err)
	}
	for _, r := range recs {
		wantCensored(t, "listed without the key", r)
	}
}

// TestSealedBlobBoundToItsRecord: a sealed blob copied into another
// record (another job id, or another run) does not open there.
func TestSealedBlobBoundToItsRecord(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	key := status.NewSealKey()
	useKey(t, env.Store, "r1", key)
	useKey(t, env.Store, "r2", key) // the same key: only the binding differs
	if _, err := env.Store.Create(ctx, noLogRecord("j1.1", "r1")); err != nil {
		t.Fatal(err)
	}
	raw := rawRecords(t, env)["j1.1"]
	kv, err := env.Conn.JetStream().KeyValue(ctx, status.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ jid, runID string }{{"j1.2", "r1"}, {"j1.3", "r2"}} {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["jid"], m["run_id"] = c.jid, c.runID
		b, _ := json.Marshal(m)
		if _, err := kv.Put(ctx, c.jid, b); err != nil {
			t.Fatal(err)
		}
		e, err := env.Store.Get(ctx, c.jid)
		if err != nil {
			t.Fatal(err)
		}
		wantCensored(t, "blob copied to "+c.jid+" of "+c.runID, e.Record)
	}
}

func TestUseSealKey(t *testing.T) {
	env := natstest.Start(t)
	st := env.Store
	key := status.NewSealKey()
	for _, c := range []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"short", key[:16], false},
		{"none", nil, false},
		{"right", key, true},
		{"the same again", key, true},
		{"another for the same run", status.NewSealKey(), false},
	} {
		release, err := st.UseSealKey("r1", c.key)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
		if err == nil {
			t.Cleanup(release)
		}
	}
	// held until every user released it
	ctx := context.Background()
	if _, err := st.Create(ctx, noLogRecord("j1.1", "r2")); err != nil {
		t.Fatal(err)
	}
	r1, err := st.UseSealKey("r2", key)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := st.UseSealKey("r2", key)
	if _, err := st.Create(ctx, noLogRecord("j1.2", "r2")); err != nil {
		t.Fatal(err)
	}
	r1()
	r1() // twice is once
	e, err := st.Get(ctx, "j1.2")
	if err != nil {
		t.Fatal(err)
	}
	wantReal(t, "key still held by one user", e.Record)
	r2()
	if e, err = st.Get(ctx, "j1.2"); err != nil {
		t.Fatal(err)
	}
	wantCensored(t, "key released", e.Record)
	if e, err = st.Get(ctx, "j1.1"); err != nil {
		t.Fatal(err)
	}
	wantCensored(t, "written before the key was held", e.Record)
}

func TestCensor(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *job.Record
		want *job.Record
	}{
		{"empty", &job.Record{}, &job.Record{}},
		{"status keys kept when boolean or numeric",
			&job.Record{Result: map[string]any{"changed": true, "failed": 1, "skipped": "yes " + plant, "unreachable": false, "stdout": plant},
				Msg: plant, Stdout: plant, Stderr: plant, Args: map[string]any{"x": plant}, Output: true},
			&job.Record{Result: map[string]any{"censored": job.Censored, "changed": true, "failed": 1, "unreachable": false},
				Msg: job.Censored, Output: true}},
		{"idempotent",
			&job.Record{Result: map[string]any{"censored": job.Censored, "changed": false}, Msg: job.Censored},
			&job.Record{Result: map[string]any{"censored": job.Censored, "changed": false}, Msg: job.Censored}},
	} {
		status.Censor(c.in)
		if !reflect.DeepEqual(c.in, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, c.in, c.want)
		}
	}
}
