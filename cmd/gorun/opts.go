package main

import (
	"fmt"
	"strings"
)

// opt describes one command-line option, GNU/argparse style: short "-f 10",
// "-f10", long "--forks 10", "--forks=10", counted flags "-vvv".
type opt struct {
	short string   // without the dash, e.g. "f"
	long  []string // without the dashes
	arg   string   // metavar; "" for flags
	help  string
}

// usageError is an argparse-style error: printed with the usage, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parsed holds the values of the options given.
type parsed struct {
	vals  map[string][]string // by the option's first long name (or short)
	count map[string]int
	args  []string
}

func (p *parsed) str(name string) string {
	v := p.vals[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (p *parsed) has(name string) bool { return p.count[name] > 0 }

func key(o *opt) string {
	if len(o.long) > 0 {
		return o.long[0]
	}
	return o.short
}

// parseOpts parses args against opts; positional arguments may be mixed in.
func parseOpts(args []string, opts []*opt) (*parsed, error) {
	p := &parsed{vals: map[string][]string{}, count: map[string]int{}}
	byShort := map[string]*opt{}
	byLong := map[string]*opt{}
	for _, o := range opts {
		if o.short != "" {
			byShort[o.short] = o
		}
		for _, l := range o.long {
			byLong[l] = o
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			p.args = append(p.args, args[i+1:]...)
			return p, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := byLong[name]
			if o == nil {
				// unique prefix, as argparse allows
				var cands []*opt
				for l, c := range byLong {
					if strings.HasPrefix(l, name) {
						cands = append(cands, c)
						_ = l
					}
				}
				if len(cands) == 1 {
					o = cands[0]
				}
			}
			if o == nil {
				return nil, &usageError{fmt.Sprintf("unrecognized arguments: %s", a)}
			}
			k := key(o)
			if o.arg == "" {
				if hasVal {
					return nil, &usageError{fmt.Sprintf("argument --%s: ignored explicit argument '%s'", name, val)}
				}
				p.count[k]++
				continue
			}
			if !hasVal {
				if i+1 >= len(args) {
					return nil, &usageError{fmt.Sprintf("argument %s: expected one argument", optNames(o))}
				}
				i++
				val = args[i]
			}
			p.vals[k] = append(p.vals[k], val)
			p.count[k]++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				o := byShort[a[j:j+1]]
				if o == nil {
					return nil, &usageError{fmt.Sprintf("unrecognized arguments: %s", a)}
				}
				k := key(o)
				if o.arg == "" {
					p.count[k]++
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, &usageError{fmt.Sprintf("argument %s: expected one argument", optNames(o))}
					}
					i++
					val = args[i]
				}
				p.vals[k] = append(p.vals[k], val)
				p.count[k]++
				break
			}
		default:
			p.args = append(p.args, a)
		}
	}
	return p, nil
}

func optNames(o *opt) string {
	var n []string
	if o.short != "" {
		n = append(n, "-"+o.short)
	}
	for _, l := range o.long {
		n = append(n, "--"+l)
	}
	return strings.Join(n, "/")
}

// usage formats a usage text for a command's options.
func usage(cmd, positional string, opts []*opt) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: gorun %s [options] %s\n\noptions:\n", cmd, positional)
	for _, o := range opts {
		names := optNames(o)
		if o.arg != "" {
			names += " " + o.arg
		}
		fmt.Fprintf(&b, "  %-32s %s\n", names, o.help)
	}
	return b.String()
}
