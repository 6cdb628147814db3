package connection

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gorun/gorun/job"
)

// defaultKeyFiles are the keys OpenSSH offers by default, under ~/.ssh.
var defaultKeyFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// defaultKnownHosts returns the known_hosts files used when a target names
// none: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
func (p *Pool) defaultKnownHosts() []string {
	files := []string{}
	if p.home != "" {
		files = append(files, filepath.Join(p.home, ".ssh", "known_hosts"))
	}
	return append(files, "/etc/ssh/ssh_known_hosts")
}

// dialState records how far a dial got, for its error message.
type dialState struct {
	authStarted   bool     // the server's authentication methods are known
	methods       []string // the server's allowed methods, as last reported
	passwordTried bool
	hostKeyErr    *UnreachableError
}

// dial opens and authenticates an SSH connection to t.
func (p *Pool) dial(ctx context.Context, t job.Target, ep endpoint) (cl *ssh.Client, err error) {
	var connect, handshake time.Duration
	if obs := p.cfg.Observer; obs != nil {
		defer func() {
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return // the pool is closing: not the target's doing
			}
			obs.Dialed(connect, handshake, dialFailureReason(err))
		}()
	}
	timeout := p.connectTimeout(t)
	st := &dialState{}
	cfg := &ssh.ClientConfig{
		User:    ep.user,
		Timeout: timeout,
	}
	if t.HostKeyChecking {
		files := t.KnownHostsFiles
		if len(files) == 0 {
			files = p.defaultKnownHosts()
		}
		db, err := p.knownHosts(files)
		if err != nil {
			return nil, &UnreachableError{Addr: ep.hostPort(), HostKey: true, Err: err,
				Detail: fmt.Sprintf("%v\r\nHost key verification failed.", err)}
		}
		cfg.HostKeyAlgorithms = db.algorithms(ep)
		cfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := db.check(ep.hostPort(), remote, key); err != nil {
				st.hostKeyErr = ep.hostKeyError(err, key, db.files)
				return st.hostKeyErr
			}
			return nil
		}
	} else {
		cfg.HostKeyAlgorithms = defaultHostKeyAlgorithms()
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	}

	signers, closeAgent := p.signers(t)
	defer closeAgent()
	if len(signers) > 0 {
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signers...))
	}
	if t.Password != "" {
		pw := t.Password
		cfg.Auth = append(cfg.Auth,
			ssh.PasswordCallback(func() (string, error) { st.passwordTried = true; return pw, nil }),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				st.passwordTried = true
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = pw
					}
				}
				return answers, nil
			}))
	}
	cfg.AuthCallback = func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
		st.authStarted = true
		if ac.AllowedMethods != nil {
			st.methods = ac.AllowedMethods
		}
		return nil, nil
	}

	d := net.Dialer{Timeout: timeout}
	began := time.Now()
	conn, err := d.DialContext(ctx, "tcp", ep.hostPort())
	connect = time.Since(began)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, ep.dialError(err)
	}
	// The handshake has its own deadline, and ends early when ctx does.
	conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	began = time.Now()
	c, chans, reqs, err := ssh.NewClientConn(conn, ep.hostPort(), cfg)
	handshake = time.Since(began)
	stopped := stop()
	if err != nil {
		conn.Close()
		if !stopped && st.hostKeyErr == nil {
			return nil, ctx.Err()
		}
		return nil, ep.handshakeError(err, st)
	}
	conn.SetDeadline(time.Time{})
	if !stopped {
		c.Close()
		return nil, ctx.Err()
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// signers returns the keys to offer for t, in order: t.PrivateKeyFiles,
// ssh-agent's, then ~/.ssh/id_ed25519, id_ecdsa and id_rsa; duplicates are
// dropped. The returned function closes the agent connection, which must
// stay open while the keys are used.
func (p *Pool) signers(t job.Target) ([]ssh.Signer, func()) {
	var out []ssh.Signer
	seen := map[string]bool{}
	add := func(s ssh.Signer) {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	load := func(path string, explicit bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			if explicit || !errors.Is(err, fs.ErrNotExist) {
				p.log.Warn("identity file not accessible", "file", path, "err", err)
			}
			return
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				p.log.Debug("skipping passphrase-protected key", "file", path)
			} else {
				p.log.Warn("skipping unreadable key", "file", path, "err", err)
			}
			return
		}
		add(s)
	}
	for _, f := range t.PrivateKeyFiles {
		load(expandHome(f, p.home), true)
	}
	closeAgent := func() {}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.DialTimeout("unix", sock, 2*time.Second); err != nil {
			p.log.Debug("ssh-agent not reachable", "socket", sock, "err", err)
		} else {
			ss, err := agent.NewClient(c).Signers()
			if err != nil {
				p.log.Debug("ssh-agent: listing keys", "err", err)
			}
			for _, s := range ss {
				add(s)
			}
			closeAgent = func() { c.Close() }
		}
	}
	if p.home != "" {
		for _, f := range defaultKeyFiles {
			load(filepath.Join(p.home, ".ssh", f), false)
		}
	}
	return out, closeAgent
}

func expandHome(path, home string) string {
	if home != "" && (path == "~" || strings.HasPrefix(path, "~/")) {
		return filepath.Join(home, path[1:])
	}
	return path
}

// hostKeyDB is the content of a set of known_hosts files.
type hostKeyDB struct {
	files []string // the files that exist
	cb    ssh.HostKeyCallback
	stamp string // sizes and modification times of the files
}

// probeKey is a key no known_hosts lists, offered to the database to learn
// which keys it holds for a host.
var probeKey = func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
}()

// check verifies key, offered by the server at address hostport.
func (db *hostKeyDB) check(hostport string, remote net.Addr, key ssh.PublicKey) error {
	if db.cb == nil {
		return &knownhosts.KeyError{}
	}
	return db.cb(hostport, remote, key)
}

// opensshHostKeyOrder is OpenSSH's default HostKeyAlgorithms order.
var opensshHostKeyOrder = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoSKED25519v01, ssh.CertAlgoSKECDSA256v01, ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// defaultHostKeyAlgorithms returns the host key algorithms x/crypto supports,
// in OpenSSH's order (so that servers present the key an OpenSSH user has in
// known_hosts), then the others x/crypto supports.
var defaultHostKeyAlgorithms = sync.OnceValue(func() []string {
	supported := ssh.SupportedAlgorithms().HostKeys
	var out []string
	for _, a := range opensshHostKeyOrder {
		if slices.Contains(supported, a) {
			out = append(out, a)
		}
	}
	for _, a := range supported {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
})

// algorithms returns the host key algorithms to offer when dialling ep:
// those of the keys known_hosts lists for it first, then the others in
// OpenSSH's order. Without this, a server with several host keys may
// present one that known_hosts does not list (x/crypto prefers ECDSA and RSA
// to ED25519) and verification fails spuriously.
func (db *hostKeyDB) algorithms(ep endpoint) []string {
	all := defaultHostKeyAlgorithms()
	remote := &net.TCPAddr{IP: net.IPv4zero, Port: ep.port}
	if ip := net.ParseIP(ep.host); ip != nil {
		remote.IP = ip
	}
	var ke *knownhosts.KeyError
	if err := db.check(ep.hostPort(), remote, probeKey); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return all
	}
	var out []string
	for _, k := range ke.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !slices.Contains(out, a) && slices.Contains(all, a) {
				out = append(out, a)
			}
		}
	}
	for _, a := range all {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// algorithmsForKeyType returns the signature algorithms a host key of type
// typ can be presented with.
func algorithmsForKeyType(typ string) []string {
	switch typ {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	}
	return []string{typ}
}

// knownHosts returns the database of the known_hosts files among files that
// exist (missing ones are skipped), cached until one of them changes.
func (p *Pool) knownHosts(files []string) (*hostKeyDB, error) {
	var existing []string
	var stamp strings.Builder
	for _, f := range files {
		f = expandHome(f, p.home)
		st, err := os.Stat(f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				p.log.Debug("skipping known_hosts file", "file", f, "err", err)
			}
			continue
		}
		existing = append(existing, f)
		stamp.WriteString(f + "\x00" + strconv.FormatInt(st.Size(), 10) + "\x00" + st.ModTime().String() + "\x00")
	}
	key := strings.Join(files, "\x00")
	p.khMu.Lock()
	db := p.kh[key]
	p.khMu.Unlock()
	if db != nil && db.stamp == stamp.String() {
		return db, nil
	}
	db = &hostKeyDB{files: existing, stamp: stamp.String()}
	if len(existing) > 0 {
		cb, err := knownhosts.New(existing...)
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts: %w", err)
		}
		db.cb = cb
	}
	p.khMu.Lock()
	p.kh[key] = db
	p.khMu.Unlock()
	return db, nil
}
