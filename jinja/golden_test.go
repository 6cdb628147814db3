package jinja

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenCase is one entry of testdata/golden.json, produced by running
// testdata/cases.yaml through real Ansible (testdata/oracle.py).
type goldenCase struct {
	ID     string          `json:"id"`
	Mode   string          `json:"mode"`
	Tpl    string          `json:"tpl"`
	Vars   map[string]any  `json:"vars"`
	GoVars map[string]any  `json:"govars"`
	Err    string          `json:"err"`
	Go     json.RawMessage `json:"go"`
	GoErr  string          `json:"goerr"`
	Note   string          `json:"note"`
	OK     bool            `json:"ok"`
	Result any             `json:"result"`
	JSON   string          `json:"json"`
	Error  string          `json:"error"`
}

// decodeNumbers decodes JSON keeping Python's int/float distinction. Python's
// non-standard Infinity/NaN tokens are accepted.
func decodeNumbers(t *testing.T, data string) any {
	t.Helper()
	data = pyJSONSpecials.Replace(data)
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON %q: %v", data, err)
	}
	return jsonNumbers(v)
}

var pyJSONSpecials = strings.NewReplacer("-Infinity", `"-Infinity"`, "Infinity", `"Infinity"`, "NaN", `"NaN"`)

func loadGolden(t *testing.T) (map[string]any, []goldenCase) {
	t.Helper()
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var cases []goldenCase
	if err := dec.Decode(&cases); err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		c.Vars, _ = jsonNumbers(c.Vars).(map[string]any)
		c.GoVars, _ = jsonNumbers(c.GoVars).(map[string]any)
		c.Result = jsonNumbers(c.Result)
	}
	defaults := goldenDefaults(t)
	return defaults, cases
}

// goldenDefaults reads the default variables of cases.yaml through our own
// YAML 1.1 loader (the same values the oracle's play had).
func goldenDefaults(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := yamlDecodeAll(string(raw))
	if err != nil || len(docs) != 1 {
		t.Fatalf("cases.yaml: %v", err)
	}
	return docs[0].(map[string]any)["vars"].(map[string]any)
}

// sameValue compares data-model values, treating NaN as equal to itself.
func sameValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		if fb, ok := b.(float64); ok && math.IsNaN(fa) && math.IsNaN(fb) {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}

func TestGolden(t *testing.T) {
	t.Setenv("ORACLE_TEST_VAR", "from-env")
	defaults, cases := loadGolden(t)
	env := New()
	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			vars := map[string]any{}
			for _, m := range []map[string]any{defaults, c.Vars, c.GoVars} {
				for k, v := range m {
					vars[k] = v
				}
			}
			var got any
			var err error
			switch c.Mode {
			case "s":
				got, err = env.String(c.Tpl, vars)
			case "v":
				got, err = env.Value(c.Tpl, vars)
			case "e":
				got, err = env.Eval(c.Tpl, vars)
			case "c":
				got, err = env.Cond(c.Tpl, vars)
			}
			if c.GoErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.GoErr) {
					t.Fatalf("%q: want our error containing %q, got %#v, %v (note: %s)", c.Tpl, c.GoErr, got, err, c.Note)
				}
				return
			}
			if !c.OK && len(c.Go) == 0 {
				if err == nil {
					t.Fatalf("%q: want an error like Ansible's %q, got %#v", c.Tpl, c.Error, got)
				}
				if c.Err != "" && !strings.Contains(err.Error(), c.Err) {
					t.Fatalf("%q: error %q does not contain %q (Ansible: %q)", c.Tpl, err, c.Err, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: unexpected error: %v", c.Tpl, err)
			}
			var want any
			switch {
			case len(c.Go) > 0:
				want = decodeNumbers(t, string(c.Go))
			case c.Mode == "e":
				want = decodeNumbers(t, c.JSON)
			default:
				want = c.Result
			}
			if c.Mode == "e" && len(c.Go) == 0 {
				// The oracle saw the value through to_json: compare in that form.
				enc, err := encodeJSON(got, jsonOptions{ensureASCII: true, itemSep: ", ", keySep: ": "})
				if err != nil {
					t.Fatalf("%q: cannot encode %#v: %v", c.Tpl, got, err)
				}
				got = decodeNumbers(t, enc)
			}
			if !sameValue(got, want) {
				t.Fatalf("%q:\n got  %#v\n want %#v\n(note: %s)", c.Tpl, got, want, c.Note)
			}
		})
	}
}

// TestOracleUpToDate is the differential test against real Ansible: with
// JINJA_ORACLE=1 and ansible-playbook installed it re-runs testdata/oracle.py
// and checks that golden.json still matches what Ansible answers.
func TestOracleUpToDate(t *testing.T) {
	if os.Getenv("JINJA_ORACLE") == "" {
		t.Skip("set JINJA_ORACLE=1 to compare golden.json with a live Ansible run")
	}
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Skip("ansible-playbook not installed")
	}
	out := filepath.Join(t.TempDir(), "golden.json")
	cmd := exec.Command("python3", "testdata/oracle.py", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oracle.py: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(fresh) != string(stored) {
		t.Fatal("testdata/golden.json is stale: run python3 jinja/testdata/oracle.py and review the diff")
	}
}
