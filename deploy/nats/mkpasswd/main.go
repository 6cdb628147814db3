// Command mkpasswd makes passwords and bcrypt hashes for deploy/nats's
// users: it prints a random password and its hash, or hashes the password
// read from standard input.
//
//	go run ./deploy/nats/mkpasswd              # random password, and its hash
//	go run ./deploy/nats/mkpasswd -stdin <pw   # hash of the password on stdin
//	go run ./deploy/nats/mkpasswd -cost 12
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	cost := flag.Int("cost", 11, "bcrypt cost (nats-server accepts any; 11 is what `nats server passwd` uses)")
	stdin := flag.Bool("stdin", false, "hash the password read from standard input (first line) instead of a random one")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *cost, *stdin); err != nil {
		fmt.Fprintln(os.Stderr, "mkpasswd:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, cost int, fromStdin bool) error {
	var pw string
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return fmt.Errorf("empty password on standard input")
		}
	} else {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		pw = base64.RawURLEncoding.EncodeToString(b)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return err
	}
	if !fromStdin {
		fmt.Fprintf(out, "password: %s\n", pw)
	}
	fmt.Fprintf(out, "bcrypt:   %s\n", hash)
	return nil
}
