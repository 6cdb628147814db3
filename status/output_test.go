package status

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEncodedPrefix: output is cut by its size as stored in JSON, on a
// rune boundary, whatever its bytes.
func TestEncodedPrefix(t *testing.T) {
	tests := []struct {
		name  string
		s     string
		limit int
		want  int
		over  bool
	}{
		{"short", "hello", 1024, 5, false},
		{"ascii exact", strings.Repeat("a", 1024), 1024, 1024, false},
		{"ascii over", strings.Repeat("a", 1025), 1024, 1024, true},
		{"nul bytes", strings.Repeat("\x00", 1024), 1024, 170, true},
		{"html", strings.Repeat("<", 1024), 1024, 170, true},
		{"newlines and quotes", strings.Repeat("\n\"", 512), 1024, 512, true},
		{"multibyte", strings.Repeat("é", 600), 1024, 1024, true},
		{"rune boundary", "a" + strings.Repeat("é", 600), 1024, 1023, true},
		{"invalid utf-8", strings.Repeat("\xff", 1024), 1024, 170, true},
		{"line separator", strings.Repeat("\u2028", 400), 1024, 510, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, over := encodedPrefix(tc.s, tc.limit)
			if n != tc.want || over != tc.over {
				t.Fatalf("encodedPrefix = %d, %v; want %d, %v", n, over, tc.want, tc.over)
			}
			b, err := json.Marshal(tc.s[:n])
			if err != nil {
				t.Fatal(err)
			}
			if len(b)-2 > tc.limit {
				t.Errorf("prefix encodes to %d bytes, over %d", len(b)-2, tc.limit)
			}
		})
	}
}
