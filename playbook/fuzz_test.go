package playbook

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics (a recovered panic is reported
// as errInternal) and always returns either a playbook or a *ParseError
// with a message.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*.yml", "testdata/bad/*.yml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("/nonexistent-gorun-fuzz/play.yml", data, testKnown)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %T %v", err, err)
			}
			if errors.Is(err, errInternal) {
				t.Fatalf("internal error (panic): %v", err)
			}
			if !errors.Is(err, ErrParse) || pe.Error() == "" || pe.Ansible() == "" {
				t.Fatalf("bad error value: %#v", pe)
			}
			return
		}
		if pb == nil {
			t.Fatal("nil playbook without error")
		}
		for _, p := range pb.Plays {
			if p == nil || p.Hosts == "" {
				t.Fatalf("play without hosts: %#v", p)
			}
		}
	})
}

// FuzzParseKV checks that SplitArgs and ParseKV never panic and agree on
// errors.
func FuzzParseKV(f *testing.F) {
	for _, s := range []string{"a=b c=\"d e\"", "echo {{ x }} chdir=/tmp", "{% if a %}", "'", "  x", "a\\\nb", "k=v\n"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, freeForm bool) {
		_, splitErr := SplitArgs(s)
		kv, err := ParseKV(s, freeForm)
		if (splitErr == nil) != (err == nil) {
			t.Fatalf("SplitArgs error %v, ParseKV error %v", splitErr, err)
		}
		if err == nil && kv == nil {
			t.Fatal("nil map without error")
		}
	})
}
