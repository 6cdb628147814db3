package inventory

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Regular expressions of ansible.parsing.utils.addresses, translated to RE2
// (the hostname label's look-behind is spelled out).
const (
	numericRange  = `\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexRange      = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	alphanumRange = `\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	ipv6Component = `(?:[0-9a-f]{1,4}|` + hexRange + `)`
	ipv4Component = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`
	wordChar      = `[\p{L}\p{N}_]`
	alnumChar     = `[\p{L}\p{N}]`
	// A label starts with a word character or a range, continues with word
	// characters, dashes or ranges, and does not end with '_' or '-'.
	hostLabel = `(?:(?:` + wordChar + `|` + alphanumRange + `)(?:[\p{L}\p{N}_-]|` + alphanumRange + `)*(?:` +
		alnumChar + `|` + alphanumRange + `)|` + alnumChar + `|` + alphanumRange + `)`
)

var (
	bracketedHostPortRE = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	hostPortRE          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)
	ipv4RE              = regexp.MustCompile(`(?i)^(?:` + ipv4Component + `\.){3}` + ipv4Component + `$`)
	// As in Ansible, only the first alternative is anchored by ^ and only
	// the last by $ (re.match anchors all of them at the start).
	ipv6RE = regexp.MustCompile(`(?i)^(?:` + strings.ReplaceAll(strings.Join([]string{
		`(?:C:){7}C`,
		`(?:C:){1,6}:`,
		`(?:C:)(?::C){1,6}`,
		`(?:C:){2}(?::C){1,5}`,
		`(?:C:){3}(?::C){1,4}`,
		`(?:C:){4}(?::C){1,3}`,
		`(?:C:){5}(?::C){1,2}`,
		`(?:C:){6}(?::C)`,
		`:(?::C){1,6}`,
		`C?::`,
		`(?:0:){6}(?:C\.){3}C`,
		`::(?:ffff:)?(?:C\.){3}C`,
		`(?:0:){5}ffff:(?:C\.){3}C$`,
	}, "|"), "C", ipv6Component) + `)`)
	hostnameRE = regexp.MustCompile(`(?i)^` + hostLabel + `(?:\.` + hostLabel + `)*$`)
)

// parseAddress mirrors ansible.parsing.utils.addresses.parse_address: it
// splits an optional port off a host identifier and validates what is left
// as an IPv4 address, IPv6 address or hostname (ranges allowed when
// allowRanges). port is -1 when none was given.
func parseAddress(address string, allowRanges bool) (host string, port int, err error) {
	port = -1
	for _, re := range []*regexp.Regexp{bracketedHostPortRE, hostPortRE} {
		if !strings.Contains(address, ":") {
			break // neither pattern can match
		}
		if m := re.FindStringSubmatch(address); m != nil {
			p, perr := strconv.Atoi(m[2])
			if perr != nil {
				return "", -1, fmt.Errorf("Not a valid network hostname: %s", address)
			}
			address, port = m[1], p
		}
	}
	if !validHost(address) {
		return "", -1, fmt.Errorf("Not a valid network hostname: %s", address)
	}
	if !allowRanges && strings.Contains(address, "[") {
		return "", -1, errRangeInHost
	}
	return address, port, nil
}

func validHost(s string) bool {
	if ok, decided := simpleHostname(s); decided {
		return ok
	}
	return ipv4RE.MatchString(s) || ipv6RE.MatchString(s) || hostnameRE.MatchString(s)
}

// simpleHostname is a fast path for the common case of an ASCII name made of
// letters, digits, '_', '-' and '.', for which only the hostname rule can
// apply.
func simpleHostname(s string) (ok, decided bool) {
	if s == "" {
		return false, true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false, false
		}
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' {
			return false, true
		}
		if last := label[len(label)-1]; last == '-' || last == '_' {
			return false, true
		}
	}
	return true, true
}

// expandHostPattern mirrors BaseInventoryPlugin._expand_hostpattern: split
// off a port when the pattern parses as an address, then expand ranges.
func expandHostPattern(pattern string, limit int) (hosts []string, port int, err error) {
	name, port, perr := parseAddress(pattern, true)
	if perr != nil {
		name, port = pattern, -1
	}
	if strings.Contains(name, "[") {
		count := 0
		hosts, err = expandHostnameRange(name, &count, limit)
		return hosts, port, err
	}
	return []string{name}, port, nil
}

const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandHostnameRange mirrors ansible.plugins.inventory.expand_hostname_range:
// "db[01:10:2]-[a:c]" expands numeric (zero padding kept) and alphabetic
// ranges with an optional step. count/limit bound the total expansion.
func expandHostnameRange(line string, count *int, limit int) ([]string, error) {
	replaced := strings.Replace(strings.Replace(line, "[", "|", 1), "]", "|", 1)
	parts := strings.Split(replaced, "|")
	if len(parts) < 3 {
		return nil, fmt.Errorf("not enough values to unpack (expected 3, got %d)", len(parts))
	}
	if len(parts) > 3 {
		return nil, errors.New("too many values to unpack (expected 3)")
	}
	head, nrange, tail := parts[0], parts[1], parts[2]
	bounds := strings.Split(nrange, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, errors.New("host range must be begin:end or begin:end:step")
	}
	beg, end, step := bounds[0], bounds[1], "1"
	if len(bounds) == 3 {
		step = bounds[2]
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, errors.New("host range must specify end value")
	}
	fill := func(s string) string { return s }
	if beg[0] == '0' && len(beg) > 1 {
		rlen := utf8.RuneCountInString(beg)
		if rlen != utf8.RuneCountInString(end) {
			return nil, errors.New("host range must specify equal-length begin and end formats")
		}
		fill = func(s string) string { return zfill(s, rlen) }
	}

	var seq []string
	alpha := false
	iBeg, iEnd := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	if iBeg >= 0 && iEnd >= 0 {
		if iBeg > iEnd {
			return nil, errors.New("host range must have begin <= end")
		}
		if s, err := pyInt(step); err == nil && s != 0 {
			alpha = true
			if s > 0 {
				for i := iBeg; i <= iEnd; i += s {
					seq = append(seq, asciiLetters[i:i+1])
				}
			}
		}
	}
	if !alpha {
		b, err := pyInt(beg)
		if err != nil {
			return nil, err
		}
		e, err := pyInt(end)
		if err != nil {
			return nil, err
		}
		s, err := pyInt(step)
		if err != nil {
			return nil, err
		}
		if s == 0 {
			return nil, errors.New("range() arg 3 must not be zero")
		}
		span := (float64(e) + 1 - float64(b)) / float64(s)
		if span > float64(limit) || e == math.MaxInt {
			return nil, fmt.Errorf("host range %q expands to too many hosts", line)
		}
		stop := e + 1
		n := 0
		if s > 0 && stop > b {
			n = (stop - b + s - 1) / s
		} else if s < 0 && stop < b {
			n = (b - stop - s - 1) / -s
		}
		if n > limit || *count+n > limit {
			return nil, fmt.Errorf("host range %q expands to too many hosts", line)
		}
		seq = make([]string, 0, n)
		for i, v := 0, b; i < n; i, v = i+1, v+s {
			seq = append(seq, strconv.Itoa(v))
		}
	}

	var all []string
	for _, r := range seq {
		name := head + fill(r) + tail
		if strings.Contains(name, "[") {
			more, err := expandHostnameRange(name, count, limit)
			if err != nil {
				return nil, err
			}
			all = append(all, more...)
			continue
		}
		*count++
		if *count > limit {
			return nil, fmt.Errorf("host range %q expands to too many hosts", line)
		}
		all = append(all, name)
	}
	return all, nil
}

// zfill mirrors Python's str.zfill.
func zfill(s string, width int) string {
	n := utf8.RuneCountInString(s)
	if n >= width {
		return s
	}
	pad := strings.Repeat("0", width-n)
	if s != "" && (s[0] == '-' || s[0] == '+') {
		return s[:1] + pad + s[1:]
	}
	return pad + s
}

// pyInt mirrors Python's int(str) for base 10: surrounding whitespace, a
// sign and single underscores between digits are accepted.
func pyInt(s string) (int, error) {
	bad := fmt.Errorf("invalid literal for int() with base 10: '%s'", s)
	t := strings.TrimFunc(s, pyIsSpace)
	if t != "" && (t[0] == '-' || t[0] == '+') {
		t = t[1:] // the sign is re-applied below
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, bad
	}
	digits := strings.ReplaceAll(t, "_", "")
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, bad
		}
	}
	v, err := strconv.Atoi(digits)
	if err != nil {
		return 0, bad
	}
	if strings.HasPrefix(strings.TrimFunc(s, pyIsSpace), "-") {
		v = -v
	}
	return v, nil
}
