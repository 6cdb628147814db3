package inventory

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// patternWithSubscriptRE mirrors PATTERN_WITH_SUBSCRIPT: "expr[3]",
// "expr[-1]", "expr[1:3]", "expr[1:]" (and the deprecated "expr[1-3]").
var patternWithSubscriptRE = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

// patternSplitRE mirrors the ':'-separated fallback of split_host_pattern
// (\s as Python's Unicode whitespace).
var patternSplitRE = regexp.MustCompile(`(?:[^\s\v\x1c-\x1f\x{85}\p{Z}:\[\]]|\[[^\]]*\])+`)

// splitHostPattern mirrors split_host_pattern: commas separate patterns;
// without commas, colons (and whitespace) do, unless the whole pattern is a
// host address such as an IPv6 address or "host:port".
func splitHostPattern(pattern string) []string {
	var parts []string
	if strings.Contains(pattern, ",") {
		parts = strings.Split(pattern, ",")
	} else if _, _, err := parseAddress(pattern, true); err == nil {
		parts = []string{pattern}
	} else {
		parts = patternSplitRE.FindAllString(pattern, -1)
	}
	out := parts[:0:0]
	for _, p := range parts {
		if p = pyStrip(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// orderPatterns mirrors order_patterns: unions, then intersections, then
// exclusions; "all" is implied when there is no union term.
func orderPatterns(patterns []string) []string {
	var regular, inter, excl []string
	for _, p := range patterns {
		if p == "" {
			continue
		}
		switch p[0] {
		case '!':
			excl = append(excl, p)
		case '&':
			inter = append(inter, p)
		default:
			regular = append(regular, p)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	return append(append(regular, inter...), excl...)
}

// selection holds the state of one Select call.
type selection struct {
	inv      *Inventory
	warnings []string
	warned   map[string]bool
	implicit *host // the implicit localhost, once a term selected it
}

func (s *selection) warn(msg string) {
	if !s.warned[msg] {
		s.warned[msg] = true
		s.warnings = append(s.warnings, msg)
	}
}

// Select returns the host names matching an Ansible host pattern, in inventory order,
// plus warnings for sub-patterns that matched nothing ("Could not match supplied host pattern, ignoring: X").
//
// Terms are separated by ',' (or ':' and whitespace when there is no comma);
// "&term" intersects and "!term" excludes, applied after all unions. A term
// is a group or host name, an fnmatch glob, or a "~regex" (Go RE2 syntax,
// matched at the start of names), optionally followed by a subscript "[i]",
// "[-i]", "[i:j]" (inclusive) or "[i:]". "localhost", "127.0.0.1" and "::1"
// match the implicit localhost, named as written, when the inventory does
// not define them; "all" never does. An invalid regex or an out-of-range
// subscript is an error wrapping ErrPattern.
func (inv *Inventory) Select(pattern string) (hosts []string, warnings []string, err error) {
	return inv.SelectLimit(pattern, "")
}

// SelectLimit is Select restricted to the hosts a --limit expression
// selects, as ansible-playbook applies its --limit (subset): limit is split
// like a pattern, terms starting with '@' name files holding one pattern per
// line, and an empty limit restricts nothing. The order is that of pattern.
func (inv *Inventory) SelectLimit(pattern, limit string) (hosts []string, warnings []string, err error) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	s := &selection{inv: inv, warned: map[string]bool{}}
	result, err := s.evaluate(splitHostPattern(pattern))
	if err != nil {
		return nil, nil, err
	}
	if limit != "" {
		var subset []string
		for _, p := range splitHostPattern(limit) {
			if p[0] != '@' {
				subset = append(subset, p)
				continue
			}
			content, err := readLimitFile(p[1:])
			if err != nil {
				return nil, nil, err
			}
			for _, line := range strings.Split(content, "\n") {
				subset = append(subset, pyStrip(line))
			}
		}
		if len(subset) > 0 {
			allowed, err := s.evaluate(subset)
			if err != nil {
				return nil, nil, err
			}
			in := make(map[*host]bool, len(allowed))
			for _, h := range allowed {
				in[h] = true
			}
			keep := result[:0]
			for _, h := range result {
				if in[h] {
					keep = append(keep, h)
				}
			}
			result = keep
		}
	}
	return hostNames(result), s.warnings, nil
}

func readLimitFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: Unable to find limit file %s", ErrPattern, path)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%w: Limit starting with \"@\" must be a file, not a directory: %s", ErrPattern, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading limit file %s: %w", path, err)
	}
	return string(b), nil
}

// evaluate mirrors _evaluate_patterns: unions in order, then intersections,
// then exclusions; duplicates are dropped, first occurrence kept.
func (s *selection) evaluate(patterns []string) ([]*host, error) {
	var result []*host
	in := map[*host]bool{}
	for _, p := range orderPatterns(patterns) {
		if h, ok := s.inv.d.hosts[p]; ok {
			if !in[h] {
				in[h] = true
				result = append(result, h)
			}
			continue
		}
		matched, err := s.matchOne(p)
		if err != nil {
			return nil, err
		}
		switch p[0] {
		case '!', '&':
			set := make(map[*host]bool, len(matched))
			for _, h := range matched {
				set[h] = true
			}
			keep := result[:0]
			for _, h := range result {
				if set[h] == (p[0] == '&') {
					keep = append(keep, h)
				} else {
					delete(in, h)
				}
			}
			result = keep
		default:
			for _, h := range matched {
				if !in[h] {
					in[h] = true
					result = append(result, h)
				}
			}
		}
	}
	return result, nil
}

// matchOne mirrors _match_one_pattern: it resolves one term (ignoring its
// &/! prefix) to hosts, applying any subscript.
func (s *selection) matchOne(p string) ([]*host, error) {
	term := p
	if term[0] == '&' || term[0] == '!' {
		term = term[1:]
	}
	if term == "" {
		return nil, fmt.Errorf("%w: %q", ErrPattern, p)
	}
	expr, sub, hasSub := s.splitSubscript(term)
	hosts, err := s.enumerate(expr)
	if err != nil || !hasSub || len(hosts) == 0 {
		return hosts, err
	}
	n := len(hosts)
	start, end := sub[0], sub[1]
	if end != 0 { // a range; as in Ansible an end of 0 means a single index
		if end == -1 {
			end = n - 1
		}
		lo, hi := min(start, n), min(end+1, n)
		if hi < lo {
			hi = lo
		}
		return hosts[lo:hi], nil
	}
	i := start
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return nil, fmt.Errorf("%w: No hosts matched the subscripted pattern '%s'", ErrPattern, term)
	}
	return hosts[i : i+1], nil
}

// splitSubscript mirrors _split_subscript. sub is {start, end} where end is
// 0 for a single index and -1 for an open range.
func (s *selection) splitSubscript(pattern string) (string, [2]int, bool) {
	if pattern[0] == '~' {
		return pattern, [2]int{}, false
	}
	m := patternWithSubscriptRE.FindStringSubmatch(pattern)
	if m == nil {
		return pattern, [2]int{}, false
	}
	if m[2] != "" {
		i, err := strconv.Atoi(m[2])
		if err != nil {
			return pattern, [2]int{}, false
		}
		return m[1], [2]int{i, 0}, true
	}
	start, err := strconv.Atoi(m[3])
	if err != nil {
		return pattern, [2]int{}, false
	}
	end := -1
	if m[5] != "" {
		if end, err = strconv.Atoi(m[5]); err != nil {
			return pattern, [2]int{}, false
		}
	}
	if m[4] == "-" {
		s.warn("Use [x:y] inclusive subscripts instead of [x-y] which has been removed")
	}
	return m[1], [2]int{start, end}, true
}

// enumerate mirrors _enumerate_matches: hosts of the groups whose names
// match, plus (when no group matched, or the pattern is a regex or glob)
// the hosts whose names match, plus the implicit localhost. The list may
// hold duplicates, which subscripts count, as in Ansible.
func (s *selection) enumerate(pattern string) ([]*host, error) {
	d := s.inv.d
	match, err := compileMatcher(pattern)
	if err != nil {
		return nil, err
	}
	literal := isLiteralPattern(pattern)
	var results []*host
	groupMatched := false
	if literal {
		if g, ok := d.groups[pattern]; ok {
			groupMatched = true
			results = append(results, g.allHosts...)
		}
	} else {
		for _, g := range d.groupOrder {
			if match(g.name) {
				groupMatched = true
				results = append(results, g.allHosts...)
			}
		}
	}
	if !groupMatched || !literal || strings.Contains(pattern, ".") {
		if literal {
			if h, ok := d.hosts[pattern]; ok {
				results = append(results, h)
			}
		} else {
			for _, h := range d.hostOrder {
				if match(h.name) {
					results = append(results, h)
				}
			}
		}
	}
	if len(results) == 0 && isLocalhostName(pattern) {
		if d.localhost != nil {
			results = append(results, d.localhost)
		} else {
			if s.implicit == nil {
				s.implicit = &host{name: pattern}
			}
			results = append(results, s.implicit)
		}
	}
	if len(results) == 0 && !groupMatched && pattern != "all" {
		s.warn("Could not match supplied host pattern, ignoring: " + pattern)
	}
	return results, nil
}

func isLiteralPattern(p string) bool {
	return p[0] != '~' && !strings.ContainsAny(p, "*?[")
}

// compileMatcher mirrors _match_list: fnmatch for globs (a literal name
// matches itself only), re.match for "~regex".
func compileMatcher(pattern string) (func(string) bool, error) {
	if isLiteralPattern(pattern) {
		return func(s string) bool { return s == pattern }, nil
	}
	var expr string
	if pattern[0] == '~' {
		expr = `^(?:` + pattern[1:] + `)`
	} else {
		expr = `^(?s:` + fnmatchTranslate(pattern) + `)\z`
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: Invalid host list pattern: %s", ErrPattern, pattern)
	}
	return re.MatchString, nil
}

// fnmatchTranslate mirrors Python 3.11's fnmatch.translate (without the
// surrounding group and anchor), producing RE2 syntax.
func fnmatchTranslate(pat string) string {
	p := []rune(pat)
	var res strings.Builder
	lastStar := false
	for i, n := 0, len(p); i < n; {
		c := p[i]
		i++
		switch c {
		case '*':
			if !lastStar {
				res.WriteString(".*")
			}
			lastStar = true
			continue
		case '?':
			res.WriteString(".")
		case '[':
			j := i
			if j < n && p[j] == '!' {
				j++
			}
			if j < n && p[j] == ']' {
				j++
			}
			for j < n && p[j] != ']' {
				j++
			}
			if j >= n {
				res.WriteString(`\[`)
				break
			}
			res.WriteString(fnmatchClass(p, i, j))
			i = j + 1
		default:
			res.WriteString(regexp.QuoteMeta(string(c)))
		}
		lastStar = false
	}
	return res.String()
}

// fnmatchClass translates the bracket expression p[i:j] (without its
// brackets) as fnmatch.translate does: '-' between two characters makes a
// range (see the chunking below), everything else is literal, and a
// leading '!' negates.
func fnmatchClass(p []rune, i, j int) string {
	var chunks [][]rune
	if !containsRune(p[i:j], '-') {
		chunks = [][]rune{p[i:j]}
	} else {
		k := i + 1
		if p[i] == '!' {
			k = i + 2
		}
		for {
			k = indexRune(p, '-', k, j)
			if k < 0 {
				break
			}
			chunks = append(chunks, p[i:k])
			i = k + 1
			k = k + 3
		}
		if chunk := p[i:j]; len(chunk) > 0 {
			chunks = append(chunks, chunk)
		} else {
			last := chunks[len(chunks)-1]
			chunks[len(chunks)-1] = append(last[:len(last):len(last)], '-')
		}
		// Remove empty ranges, invalid in RE.
		for k := len(chunks) - 1; k > 0; k-- {
			prev, cur := chunks[k-1], chunks[k]
			if len(prev) > 0 && len(cur) > 0 && prev[len(prev)-1] > cur[0] {
				chunks[k-1] = append(append([]rune(nil), prev[:len(prev)-1]...), cur[1:]...)
				chunks = append(chunks[:k], chunks[k+1:]...)
			}
		}
	}
	var body strings.Builder
	negate := false
	for ci, chunk := range chunks {
		if ci == 0 && len(chunk) > 0 && chunk[0] == '!' {
			negate = true
			chunk = chunk[1:]
		}
		if ci > 0 {
			if body.Len() > 0 && len(chunk) > 0 {
				body.WriteByte('-') // a range between neighbouring chunks
			} else {
				body.WriteString(`\-`)
			}
		}
		for _, r := range chunk {
			body.WriteString(classChar(r))
		}
	}
	switch {
	case body.Len() == 0 && !negate:
		return `[^\x00-\x{10FFFF}]` // empty range: never matches
	case body.Len() == 0:
		return "."
	case negate:
		return "[^" + body.String() + "]"
	}
	return "[" + body.String() + "]"
}

func classChar(r rune) string {
	if r < 0x80 && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
		return fmt.Sprintf(`\x{%x}`, r)
	}
	return string(r)
}

func containsRune(rs []rune, r rune) bool {
	for _, c := range rs {
		if c == r {
			return true
		}
	}
	return false
}

func indexRune(rs []rune, r rune, from, to int) int {
	for k := from; k < to && k < len(rs); k++ {
		if k >= 0 && rs[k] == r {
			return k
		}
	}
	return -1
}
