package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// natsContext is a nats CLI context file (~/.config/nats/context/NAME.json).
type natsContext struct {
	URL      string `json:"url"`
	Token    string `json:"token"`
	User     string `json:"user"`
	Password string `json:"password"`
	Creds    string `json:"creds"`
	NKey     string `json:"nkey"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	CA       string `json:"ca"`
}

// loadNATSContext reads the nats CLI context name ("" means the one
// selected in context.txt).
func loadNATSContext(e *env, name string) (*natsContext, error) {
	dir := e.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(home, ".config")
	}
	dir = filepath.Join(dir, "nats")
	if name == "" {
		b, err := os.ReadFile(filepath.Join(dir, "context.txt"))
		if err != nil {
			return nil, fmt.Errorf("no nats context selected (%s/context.txt): %w", dir, err)
		}
		name = strings.TrimSpace(string(b))
	}
	if strings.ContainsAny(name, "/\\") || name == "" {
		return nil, fmt.Errorf("bad nats context name %q", name)
	}
	path := filepath.Join(dir, "context", name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading nats context %s: %w", name, err)
	}
	var c natsContext
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("nats context %s: %w", path, err)
	}
	return &c, nil
}
