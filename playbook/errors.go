package playbook

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode"
)

// ErrParse is the sentinel every error returned by Load, Parse, LoadTasks
// and ParseTasks matches (errors.Is(err, ErrParse)), whatever its cause.
var ErrParse = errors.New("playbook: parse error")

// errInternal marks a recovered panic (a bug in this package); the fuzz
// test looks for it.
var errInternal = errors.New("playbook: internal error")

// errArgIndex mirrors the IndexError split_args raises on some inputs
// (e.g. a string starting with two spaces); parse_kv reports it as
// "Unable to parse argument string. list index out of range".
var errArgIndex = errors.New("list index out of range")

// Exit codes ansible-playbook uses for errors found while loading a playbook.
const (
	// ExitParserError is used for AnsibleParserError (most load errors).
	ExitParserError = 4
	// ExitGenericError is used for a plain AnsibleError (e.g. a missing
	// imported file, "tags must be specified as a list").
	ExitGenericError = 1
)

// Pos is a position in a source file; Line and Col are 1-based (Col counts
// characters), File is the absolute path of the file.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as "file:line:col".
func (p Pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// ParseError is an error found while loading a playbook. Its Error method
// returns exactly the text ansible-playbook prints after "ERROR! ".
type ParseError struct {
	// Pos is where Ansible locates the error; File is empty when Ansible
	// reports no location.
	Pos Pos
	// Msg is the error message proper, without the location details.
	Msg string
	// Line holds the offending source lines with the "^ here" marker, as
	// shown by Ansible ("" when Ansible shows none).
	Line string
	// Code is the exit code ansible-playbook uses for this error:
	// ExitParserError, ExitGenericError, or 250 for inputs that make
	// Ansible itself crash ("Unexpected Exception, this is probably a
	// bug: ...").
	Code int
	// Err is the underlying cause, if any (for example an *fs.PathError).
	Err error

	text string
}

// Error returns the message exactly as Ansible renders it (str(exc)),
// including the location details and hints; multi-line errors end with a
// newline, as in Ansible.
func (e *ParseError) Error() string {
	if e.text == "" {
		return e.Msg
	}
	return e.text
}

// Ansible returns the full text ansible-playbook writes to stderr for this
// error: "ERROR! " followed by Error(), newline terminated.
func (e *ParseError) Ansible() string {
	s := "ERROR! " + e.Error()
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// ExitCode returns the exit code ansible-playbook would use.
func (e *ParseError) ExitCode() int {
	if e.Code == 0 {
		return ExitParserError
	}
	return e.Code
}

// Is makes every ParseError match ErrParse.
func (e *ParseError) Is(target error) bool { return target == ErrParse }

// Unwrap returns the underlying cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Texts from ansible/errors/yaml_strings.py.
const (
	yamlPositionDetails = "The error appears to be in '%s': line %d, column %d, but may\nbe elsewhere in the file depending on the exact syntax problem.\n"

	yamlCommonDictError = `This one looks easy to fix. YAML thought it was looking for the start of a
hash/dictionary and was confused to see a second "{". Most likely this was
meant to be an ansible template evaluation instead, so we have to give the
parser a small hint that we wanted a string instead. The solution here is to
just quote the entire value.

For instance, if the original line was:

    app_path: {{ base_path }}/foo

It should be written as:

    app_path: "{{ base_path }}/foo"
`

	yamlCommonUnquotedVariableError = `We could be wrong, but this one looks like it might be an issue with
missing quotes. Always quote template expression brackets when they
start a value. For instance:

    with_items:
      - {{ foo }}

Should be written as:

    with_items:
      - "{{ foo }}"
`

	yamlCommonUnquotedColonError = `This one looks easy to fix. There seems to be an extra unquoted colon in the line
and this is confusing the parser. It was only expecting to find one free
colon. The solution is just add some quotes around the colon, or quote the
entire line after the first colon.

For instance, if the original line was:

    copy: src=file.txt dest=/path/filename:with_colon.txt

It can be written as:

    copy: src=file.txt dest='/path/filename:with_colon.txt'

Or:

    copy: 'src=file.txt dest=/path/filename:with_colon.txt'
`

	yamlCommonPartiallyQuotedLineError = `This one looks easy to fix. It seems that there is a value started
with a quote, and the YAML parser is expecting to see the line ended
with the same kind of quote. For instance:

    when: "ok" in result.stdout

Could be written as:

   when: '"ok" in result.stdout'

Or equivalently:

   when: "'ok' in result.stdout"
`

	yamlCommonUnbalancedQuotesError = `We could be wrong, but this one looks like it might be an issue with
unbalanced quotes. If starting a value with a quote, make sure the
line ends with the same set of quotes. For instance this arbitrary
example:

    foo: "bad" "wolf"

Could be written as:

    foo: '"bad" "wolf"'
`

	yamlCommonLeadingTabError = `There appears to be a tab character at the start of the line.

YAML does not use tabs for formatting. Tabs should be replaced with spaces.

For example:
    - name: update tooling
      vars:
        version: 1.2.3
#    ^--- there is a tab there.

Should be written as:
    - name: update tooling
      vars:
        version: 1.2.3
# ^--- all spaces here.
`

	yamlAndShorthandError = "There appears to be both 'k=v' shorthand syntax and YAML in this task. Only one syntax may be used.\n"
)

var shorthandRe = regexp.MustCompile(`[\p{L}\p{N}_]+(\s+)?=(\s+)?[\p{L}\p{N}_/-]+`)

// pyIsSpace is Python's str.isspace for one character.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

func pyRStrip(s string) string { return strings.TrimRightFunc(s, pyIsSpace) }

// pyReadLines splits text like Python's readlines() on a file opened in
// text mode (universal newlines), keeping the line terminators.
func pyReadLines(src []byte) []string {
	s := strings.ReplaceAll(string(src), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var lines []string
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// extendedError is AnsibleError._get_extended_error: the location details
// appended to messages about an object with a known position. src is nil
// when the file cannot be read. It also returns the offending-lines excerpt.
func extendedError(file string, src []byte, line, col int) (string, string) {
	msg := fmt.Sprintf(yamlPositionDetails, file, line, col)
	if src == nil {
		return msg + "\n(could not open file to display line)", ""
	}
	lines := pyReadLines(src)
	at := func(i int) (string, bool) {
		if i < 0 {
			i += len(lines)
		}
		if i < 0 || i >= len(lines) {
			return "", false
		}
		return lines[i], true
	}
	ln := line - 1
	if ln >= len(lines) {
		ln = len(lines) - 1
	}
	target, ok := at(ln)
	for ok && pyStrip(target) == "" {
		ln--
		target, ok = at(ln)
	}
	if !ok {
		return msg + "\n(specified line no longer in file, maybe it changed?)", ""
	}
	prev := ""
	if ln > 0 {
		prev = lines[ln-1]
	}
	var excerpt string
	if target != "" {
		stripped := strings.ReplaceAll(target, " ", "")
		if shorthandRe.MatchString(prev) {
			pos := strings.Index(pyRStrip(prev), "=")
			if pos >= 0 {
				pos = len([]rune(pyRStrip(prev)[:pos]))
			}
			arrow := strings.Repeat(" ", max(pos, 0)) + "^ here"
			msg = fmt.Sprintf(yamlPositionDetails, file, line-1, pos+1)
			excerpt = pyRStrip(prev) + "\n" + arrow
			msg += "\nThe offending line appears to be:\n\n" + excerpt + "\n\n"
			msg += yamlAndShorthandError
		} else {
			arrow := strings.Repeat(" ", max(col-1, 0)) + "^ here"
			excerpt = pyRStrip(prev) + "\n" + pyRStrip(target) + "\n" + arrow
			msg += "\nThe offending line appears to be:\n\n" + excerpt + "\n"
		}
		if strings.Contains(target, "\t") {
			msg += yamlCommonLeadingTabError
		}
		tr := []rune(target)
		switch {
		case strings.Contains(target, "{{") && strings.Contains(target, "}}") &&
			(!strings.Contains(target, `"{{`) || !strings.Contains(target, "'{{")):
			msg += yamlCommonUnquotedVariableError
		case strings.Contains(stripped, ":{{") && strings.Contains(stripped, "}}"):
			msg += yamlCommonDictError
		case len(tr) > 1 && len(tr) > col && col >= 0 && tr[col] == ':' && strings.Count(target, ":") > 1:
			msg += yamlCommonUnquotedColonError
		default:
			parts := strings.Split(target, ":")
			if len(parts) > 1 {
				middle := pyStrip(parts[1])
				match := (strings.HasPrefix(middle, "'") && !strings.HasSuffix(middle, "'")) ||
					(strings.HasPrefix(middle, `"`) && !strings.HasSuffix(middle, `"`))
				isQ := func(b byte) bool { return b == '"' || b == '\'' }
				unbalanced := (len(middle) > 0 && isQ(middle[0]) && isQ(middle[len(middle)-1]) &&
					strings.Count(target, "'") > 2) || strings.Count(target, `"`) > 2
				if match {
					msg += yamlCommonPartiallyQuotedLineError
				}
				if unbalanced {
					msg += yamlCommonUnbalancedQuotesError
				}
			}
		}
	}
	return msg, excerpt
}

// ErrorContext returns the location details Ansible appends to an error
// about the object at pos, as it does for errors found while running a
// task: "The error appears to be in ...", the offending lines and Ansible's
// hints (unquoted templates, tabs, ...). It is "" when pos has no file.
func ErrorContext(pos Pos) string {
	if pos.File == "" || pos.Line == 0 {
		return ""
	}
	src, err := os.ReadFile(pos.File)
	if err != nil {
		src = nil
	}
	msg, _ := extendedError(pos.File, src, pos.Line, pos.Col)
	return msg
}
