package connection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnreachablePrefix starts the message of every UnreachableError, as it
// starts Ansible's "msg" for a host it could not reach over ssh.
const UnreachablePrefix = "Failed to connect to the host via ssh: "

// UnreachableError is the error of a target that could not be reached,
// authenticated or kept connected. It wraps ErrUnreachable, ErrHostKey for
// host key verification failures, and the underlying cause.
type UnreachableError struct {
	// Addr is the address dialled, "host:port".
	Addr string
	// Detail is what OpenSSH would print on its standard error for the same
	// failure, for example "ssh: connect to host 127.0.0.9 port 2222:
	// Connection refused". Lines are separated by "\r\n", as OpenSSH's are.
	Detail string
	// HostKey is set when the host key could not be verified.
	HostKey bool
	// Err is the underlying cause; it may be nil.
	Err error
	// prefix replaces UnreachablePrefix when set (password failures).
	prefix string
}

// Error returns the message Ansible shows for the failure (see
// UnreachableMsg).
func (e *UnreachableError) Error() string {
	if e.prefix != "" {
		return e.prefix + e.Detail
	}
	return UnreachablePrefix + e.Detail
}

// Unwrap returns ErrUnreachable, ErrHostKey (host key failures only) and the
// cause.
func (e *UnreachableError) Unwrap() []error {
	errs := []error{ErrUnreachable}
	if e.HostKey {
		errs = append(errs, ErrHostKey)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// UnreachableMsg returns the "msg" Ansible shows for err in
//
//	fatal: [h]: UNREACHABLE! => {"msg": "...", "unreachable": true}
//
// for example "Failed to connect to the host via ssh: ssh: connect to host
// 127.0.0.9 port 2222: Connection refused". For an error that is not an
// *UnreachableError it returns err.Error(), and "" for nil.
func UnreachableMsg(err error) string {
	if err == nil {
		return ""
	}
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return ue.Error()
	}
	return err.Error()
}

// endpoint is where a target is dialled.
type endpoint struct {
	host string // address as given (ansible_host), used in messages and known_hosts
	port int
	user string
}

func (e endpoint) hostPort() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// knownName is the host's name as known_hosts and OpenSSH spell it: host, or
// [host]:port for a port other than 22.
func (e endpoint) knownName() string { return knownhosts.Normalize(e.hostPort()) }

func (e endpoint) unreachable(detail string, cause error) *UnreachableError {
	return &UnreachableError{Addr: e.hostPort(), Detail: detail, Err: cause}
}

// dialError translates a failure to open the TCP connection.
func (e endpoint) dialError(err error) *UnreachableError {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		why := "Temporary failure in name resolution"
		if dnsErr.IsNotFound {
			why = "Name or service not known"
		}
		return e.unreachable(fmt.Sprintf("ssh: Could not resolve hostname %s: %s", e.host, why), err)
	}
	return e.unreachable(fmt.Sprintf("ssh: connect to host %s port %d: %s", e.host, e.port, strerror(err)), err)
}

// strerror returns the C library's message for the system error in err, as
// OpenSSH prints it.
func strerror(err error) string {
	if isTimeout(err) {
		return "Connection timed out"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshakeError translates a failure of the SSH handshake or of
// authentication on an open TCP connection. st says how far it got.
func (e endpoint) handshakeError(err error, st *dialState) *UnreachableError {
	if st.hostKeyErr != nil {
		return st.hostKeyErr
	}
	peer := e.host
	switch {
	case isTimeout(err) && !st.authStarted:
		return e.unreachable(fmt.Sprintf("Connection timed out during banner exchange\r\nConnection to %s port %d timed out", peer, e.port), err)
	case isTimeout(err):
		return e.unreachable(fmt.Sprintf("Connection to %s port %d timed out", peer, e.port), err)
	case errors.Is(err, syscall.ECONNRESET) && !st.authStarted:
		return e.unreachable(fmt.Sprintf("kex_exchange_identification: read: Connection reset by peer\r\nConnection reset by %s port %d", peer, e.port), err)
	case errors.Is(err, syscall.ECONNRESET):
		return e.unreachable(fmt.Sprintf("Connection reset by %s port %d", peer, e.port), err)
	case errors.Is(err, io.EOF) && !st.authStarted:
		return e.unreachable(fmt.Sprintf("kex_exchange_identification: Connection closed by remote host\r\nConnection closed by %s port %d", peer, e.port), err)
	case strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "no supported methods remain"):
		if st.passwordTried {
			u := e.unreachable("Permission denied, please try again.", err)
			u.prefix = "Invalid/incorrect password: "
			return u
		}
		methods := strings.Join(st.methods, ",")
		if methods == "" {
			methods = "publickey"
		}
		return e.unreachable(fmt.Sprintf("%s@%s: Permission denied (%s).", e.user, e.host, methods), err)
	case errors.Is(err, io.EOF):
		return e.unreachable(fmt.Sprintf("Connection closed by %s port %d", peer, e.port), err)
	}
	msg := strings.TrimPrefix(err.Error(), "ssh: handshake failed: ")
	return e.unreachable(fmt.Sprintf("ssh: connect to host %s port %d: %s", e.host, e.port, msg), err)
}

// lostError is the error of a connection that dropped while a command ran
// or a session was being opened; OpenSSH (as Ansible runs it) reports it so.
func (e endpoint) lostError(cause error) *UnreachableError {
	return e.unreachable(fmt.Sprintf("Shared connection to %s closed.", e.host), cause)
}

// keyTypeName returns OpenSSH's name for a key type in messages: ED25519,
// ECDSA, RSA, ...
func keyTypeName(typ string) string {
	switch {
	case typ == ssh.KeyAlgoED25519:
		return "ED25519"
	case typ == ssh.KeyAlgoSKED25519:
		return "ED25519-SK"
	case typ == ssh.KeyAlgoSKECDSA256:
		return "ECDSA-SK"
	case strings.HasPrefix(typ, "ecdsa-sha2-"):
		return "ECDSA"
	case typ == ssh.KeyAlgoRSA:
		return "RSA"
	case typ == "ssh-dss":
		return "DSA"
	case strings.HasSuffix(typ, "-cert-v01@openssh.com"):
		return keyTypeName(strings.TrimSuffix(typ, "-cert-v01@openssh.com")) + "-CERT"
	}
	return strings.ToUpper(typ)
}

// hostKeyError translates a failed known_hosts check of key, offered by e,
// into OpenSSH's message.
func (e endpoint) hostKeyError(err error, key ssh.PublicKey, files []string) *UnreachableError {
	name := e.knownName()
	typ := keyTypeName(key.Type())
	u := &UnreachableError{Addr: e.hostPort(), HostKey: true, Err: err}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		u.Detail = fmt.Sprintf("WARNING: REVOKED HOST KEY DETECTED! The %s host key for %s is marked as revoked in %s:%d. This could mean that a stolen key is being used to impersonate this host.\r\nHost key verification failed.",
			typ, name, re.Revoked.Filename, re.Revoked.Line)
	case errors.As(err, &ke):
		// A mismatch is a known key of the same type that differs; keys of
		// other types only make the offered key unknown (as in OpenSSH).
		for _, k := range ke.Want {
			if keyTypeName(k.Key.Type()) == typ {
				u.Detail = fmt.Sprintf("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! Host key for %s has changed and you have requested strict checking: the %s key sent by the remote host is %s, offending %s key in %s:%d.\r\nHost key verification failed.",
					name, typ, ssh.FingerprintSHA256(key), typ, k.Filename, k.Line)
				return u
			}
		}
		u.Detail = fmt.Sprintf("No %s host key is known for %s and you have requested strict checking.\r\nHost key verification failed.", typ, name)
		if len(files) == 0 {
			u.Detail = fmt.Sprintf("No %s host key is known for %s and you have requested strict checking (no known_hosts file found).\r\nHost key verification failed.", typ, name)
		}
	default:
		u.Detail = fmt.Sprintf("%v\r\nHost key verification failed.", err)
	}
	return u
}

// dialFailureReason classifies a dial's error for metrics (see Observer):
// "" for nil.
func dialFailureReason(err error) string {
	if err == nil {
		return ""
	}
	var ue *UnreachableError
	if errors.As(err, &ue) && ue.HostKey {
		return "host_key"
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "no supported methods remain"):
		return "auth"
	case errors.Is(err, io.EOF):
		return "closed"
	}
	return "other"
}
