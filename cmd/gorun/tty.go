package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// termSize returns the width and height of the terminal of standard output,
// or 0, 0 when it is not one (or its size is unknown).
func termSize(e *env) (width, height int) {
	f, ok := e.stdout.(*os.File)
	if !ok || !e.isTTY {
		return 0, 0
	}
	w, h, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 || h <= 0 {
		return 0, 0
	}
	return w, h
}

// askPassword prompts for a secret: without echo on a terminal, else it
// reads a line from standard input.
func askPassword(e *env, prompt string) (string, error) {
	fmt.Fprint(e.stderr, prompt)
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
