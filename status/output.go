package status

import "unicode/utf8"

// encodedPrefix returns the length of the longest prefix of s, ending on a
// rune boundary, whose JSON encoding in a record takes at most limit bytes,
// and whether that prefix is shorter than s. Output is capped by its
// encoded size, not its length: a control byte takes six bytes in JSON
// (\u0001), so a cap by length alone would let output of NUL bytes make a
// record six times larger than the cap, past the server's message size.
func encodedPrefix(s string, limit int) (int, bool) {
	if len(s) <= limit/6 {
		return len(s), false // fits whatever its bytes
	}
	size := 0
	for i := 0; i < len(s); {
		c := s[i]
		w, n := 1, 1
		switch {
		case c == '\n' || c == '\r' || c == '\t' || c == '"' || c == '\\':
			w = 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			w = 6 // \u00XX; encoding/json escapes <, > and & for HTML
		case c >= utf8.RuneSelf:
			r, rn := utf8.DecodeRuneInString(s[i:])
			n = rn
			switch {
			case r == utf8.RuneError && rn == 1:
				w = 6 // invalid UTF-8 is written as \ufffd
			case r == '\u2028' || r == '\u2029':
				w = 6
			default:
				w = rn
			}
		}
		if size+w > limit {
			return i, true
		}
		size += w
		i += n
	}
	return len(s), false
}
