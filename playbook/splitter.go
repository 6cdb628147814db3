package playbook

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file ports ansible/parsing/splitter.py and quoting.py.

// splitArgsError is split_args' "unbalanced jinja2 block or quotes" error.
type splitArgsError struct{ args string }

func (e *splitArgsError) Error() string {
	return "failed at splitting arguments, either an unbalanced jinja2 block or quotes: " + e.args
}

// kvError is an error from ParseKV, with Ansible's message.
type kvError struct {
	msg  string
	orig error
}

func (e *kvError) Error() string {
	if e.orig != nil {
		return e.msg + ". " + e.orig.Error()
	}
	return e.msg
}

func (e *kvError) Unwrap() error { return e.orig }

// SplitArgs splits a module argument string on whitespace like Ansible's
// split_args: quoted strings and Jinja2 blocks ({{ }}, {% %}, {# #}) are
// kept together, newlines are preserved, and "\" line continuations are
// removed.
func SplitArgs(args string) ([]string, error) {
	var params []string
	items := strings.Split(args, "\n")
	var quoteChar byte
	insideQuotes := false
	printDepth, blockDepth, commentDepth := 0, 0, 0

	for itemIdx, item := range items {
		tokens := strings.Split(item, " ")
		lineContinuation := false
		for idx, token := range tokens {
			if len(token) == 0 && idx != 0 {
				if len(params) == 0 {
					return nil, errArgIndex
				}
				params[len(params)-1] += " "
				continue
			}
			if token == "\\" && !insideQuotes {
				lineContinuation = true
				continue
			}
			wasInsideQuotes := insideQuotes
			quoteChar = getQuoteState(token, quoteChar)
			insideQuotes = quoteChar != 0

			appended := false
			if insideQuotes && !wasInsideQuotes && !(printDepth != 0 || blockDepth != 0 || commentDepth != 0) {
				params = append(params, token)
				appended = true
			} else if printDepth != 0 || blockDepth != 0 || commentDepth != 0 || insideQuotes || wasInsideQuotes {
				if len(params) == 0 {
					return nil, errArgIndex
				}
				last := len(params) - 1
				switch {
				case idx == 0 && wasInsideQuotes:
					params[last] += token
				case len(tokens) > 1:
					spacer := ""
					if idx > 0 {
						spacer = " "
					}
					params[last] += spacer + token
				default:
					params[last] += "\n" + token
				}
				appended = true
			}

			prev := printDepth
			printDepth = countJinja2Blocks(token, printDepth, "{{", "}}")
			if printDepth != prev && !appended {
				params = append(params, token)
				appended = true
			}
			prev = blockDepth
			blockDepth = countJinja2Blocks(token, blockDepth, "{%", "%}")
			if blockDepth != prev && !appended {
				params = append(params, token)
				appended = true
			}
			prev = commentDepth
			commentDepth = countJinja2Blocks(token, commentDepth, "{#", "#}")
			if commentDepth != prev && !appended {
				params = append(params, token)
				appended = true
			}
			if printDepth == 0 && blockDepth == 0 && commentDepth == 0 && !insideQuotes && !appended && token != "" {
				params = append(params, token)
			}
		}
		if len(items) > 1 && itemIdx != len(items)-1 && !lineContinuation {
			if len(params) == 0 {
				return nil, errArgIndex
			}
			params[len(params)-1] += "\n"
		}
	}
	if printDepth != 0 || blockDepth != 0 || commentDepth != 0 || insideQuotes {
		return nil, &splitArgsError{args: args}
	}
	return params, nil
}

// getQuoteState is _get_quote_state.
func getQuoteState(token string, quoteChar byte) byte {
	var prev byte
	for i := 0; i < len(token); i++ {
		if i > 0 {
			prev = token[i-1]
		}
		c := token[i]
		if (c == '"' || c == '\'') && prev != '\\' {
			if quoteChar != 0 {
				if c == quoteChar {
					quoteChar = 0
				}
			} else {
				quoteChar = c
			}
		}
	}
	return quoteChar
}

// countJinja2Blocks is _count_jinja2_blocks.
func countJinja2Blocks(token string, depth int, open, close string) int {
	nOpen := strings.Count(token, open)
	nClose := strings.Count(token, close)
	if nOpen != nClose {
		depth += nOpen - nClose
		if depth < 0 {
			depth = 0
		}
	}
	return depth
}

// joinArgs is join_args: rejoins split_args output keeping newlines.
func joinArgs(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		s := b.String()
		if len(s) == 0 || strings.HasSuffix(s, "\n") {
			b.WriteString(p)
		} else {
			b.WriteString(" " + p)
		}
	}
	return b.String()
}

// isQuoted / unquote port ansible/parsing/quoting.py.
func isQuoted(s string) bool {
	return len(s) > 1 && s[0] == s[len(s)-1] && (s[0] == '"' || s[0] == '\'') && s[len(s)-2] != '\\'
}

func unquote(s string) string {
	if isQuoted(s) {
		return s[1 : len(s)-1]
	}
	return s
}

var escapeSequenceRe = regexp.MustCompile(`\\U[a-fA-F0-9]{8}|\\u[a-fA-F0-9]{4}|\\x[a-fA-F0-9]{2}|\\N\{[^}]+\}|\\[\\'"abfnrtv]`)

// decodeEscapes is _decode_escapes (codecs 'unicode-escape' on each match).
// \N{name} escapes are left as they are (no Unicode name database).
func decodeEscapes(s string) string {
	return escapeSequenceRe.ReplaceAllStringFunc(s, func(m string) string {
		switch m[1] {
		case 'U', 'u', 'x':
			v, err := strconv.ParseUint(m[2:], 16, 32)
			if err != nil || v > utf8.MaxRune {
				return m
			}
			return string(rune(v))
		case 'N':
			return m
		case '\\':
			return "\\"
		case '\'':
			return "'"
		case '"':
			return "\""
		case 'a':
			return "\a"
		case 'b':
			return "\b"
		case 'f':
			return "\f"
		case 'n':
			return "\n"
		case 'r':
			return "\r"
		case 't':
			return "\t"
		case 'v':
			return "\v"
		}
		return m
	})
}

// freeFormOptions are the k=v options parse_kv extracts from the free-form
// string of command-like modules.
var freeFormOptions = map[string]bool{
	"creates": true, "removes": true, "chdir": true, "executable": true, "warn": true,
	"stdin": true, "stdin_add_newline": true, "strip_empty_ends": true,
}

// ParseKV converts a "k1=v1 k2='v 2'" argument string to a map like
// Ansible's parse_kv. Text that is not a k=v pair is joined into the
// "_raw_params" entry. With freeForm (Ansible's check_raw, used for
// command-like modules) only the options creates, removes, chdir,
// executable, warn, stdin, stdin_add_newline and strip_empty_ends are
// extracted and every other k=v pair stays in "_raw_params". All values are
// strings.
func ParseKV(s string, freeForm bool) (map[string]any, error) {
	keys, vals, err := parseKV(s, freeForm)
	if err != nil {
		return nil, err
	}
	options := make(map[string]any, len(keys))
	for _, k := range keys {
		options[k] = vals[k]
	}
	return options, nil
}

// parseKV is parse_kv returning the keys in Python dict insertion order.
func parseKV(s string, freeForm bool) ([]string, map[string]string, error) {
	var keys []string
	vals := map[string]string{}
	vargs, err := SplitArgs(s)
	if err != nil {
		if err == errArgIndex {
			return nil, nil, &kvError{msg: "Unable to parse argument string", orig: err}
		}
		return nil, nil, err
	}
	var raw []string
	for _, orig := range vargs {
		x := decodeEscapes(orig)
		if !strings.Contains(x, "=") {
			raw = append(raw, orig)
			continue
		}
		pos := 0
		found := false
		for {
			start := min(pos+1, len(x))
			i := strings.IndexByte(x[start:], '=')
			if i < 0 {
				break
			}
			pos = start + i
			if pos > 0 && x[pos-1] != '\\' {
				found = true
				break
			}
		}
		if !found {
			raw = append(raw, strings.ReplaceAll(x, "\\=", "="))
			continue
		}
		k, v := x[:pos], x[pos+1:]
		if freeForm && !freeFormOptions[k] {
			raw = append(raw, orig)
			continue
		}
		k = pyStrip(k)
		if _, dup := vals[k]; !dup {
			keys = append(keys, k)
		}
		vals[k] = unquote(pyStrip(v))
	}
	if len(raw) > 0 {
		if _, dup := vals["_raw_params"]; !dup {
			keys = append(keys, "_raw_params")
		}
		vals["_raw_params"] = joinArgs(raw)
	}
	return keys, vals, nil
}
