package natstest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerModule is the module the nats-server binary is built from; its
// version is the one in go.mod.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// NodeInfo describes one node of a Cluster: what its configuration needs.
type NodeInfo struct {
	// Index is the node's index, from 0 (the one URL, Kill and Restart take).
	Index int
	// Name is the server name, n1, n2, ...
	Name string
	// ClusterName is the name of the cluster every node belongs to.
	ClusterName string
	// ClientPort, ClusterPort and HTTPPort are the node's loopback ports for
	// clients, routes and monitoring.
	ClientPort, ClusterPort, HTTPPort int
	// StoreDir is the node's JetStream store directory.
	StoreDir string
	// Routes are the route URLs of every node, this one included.
	Routes []string
}

// ClusterOption changes how StartCluster configures the nodes.
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	extra      func(node int) string
	nodeConfig func(NodeInfo) string
	tls        bool
	tlsVerify  bool
	timeout    time.Duration
}

// WithConfig appends extra configuration text (accounts, users, limits) to
// node's generated configuration file; node counts from 0.
func WithConfig(extra func(node int) string) ClusterOption {
	return func(c *clusterConfig) { c.extra = extra }
}

// WithNodeConfig replaces the whole generated configuration of each node by
// the text fn returns; the text must use the ports and store directory given
// (http monitoring included: readiness is polled there). WithConfig text is
// still appended, and WithTLS is ignored.
func WithNodeConfig(fn func(NodeInfo) string) ClusterOption {
	return func(c *clusterConfig) { c.nodeConfig = fn }
}

// WithTLS makes the client ports require TLS with a certificate for
// 127.0.0.1 and localhost signed by a throw-away CA (Cluster.CAFile). With
// verify, clients must also present a certificate signed by that CA
// (Cluster.ClientCert). Routes and monitoring stay plain.
func WithTLS(verify bool) ClusterOption {
	return func(c *clusterConfig) { c.tls, c.tlsVerify = true, verify }
}

// WithStartTimeout bounds StartCluster's and Restart's waits (default 30 s).
func WithStartTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.timeout = d }
}

// Cluster is a cluster of nats-server processes on loopback with JetStream,
// all stopped in t.Cleanup.
type Cluster struct {
	t     testing.TB
	cfg   clusterConfig
	bin   string
	dir   string
	nodes []*clusterNode

	caFile, clientCert, clientKey string
}

type clusterNode struct {
	info     NodeInfo
	confPath string
	logPath  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the running process has exited
	stopped bool          // ended by Kill, Stop or cleanup, not on its own
}

func (n *clusterNode) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// StartCluster starts n nats-server processes (separate OS processes, see
// NATSServerBinary) with JetStream in one cluster on loopback, each with its
// own store under t.TempDir() and its own client, route and monitoring
// ports (picked free up front; a start that loses a port to another
// process is retried on new ones). It waits until every node answers its
// health check, is routed to the others, and one of them is the JetStream
// meta leader and sees the others current; with the generated
// configuration (no WithConfig or WithNodeConfig) it also waits until an
// n-replica stream can be placed. The nodes are killed in t.Cleanup; when
// the test failed, the tail of each node's log is printed.
func StartCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("StartCluster: need at least one node, got %d", n)
	}
	cfg := clusterConfig{timeout: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := NATSServerBinary()
	if err != nil {
		t.Fatalf("nats-server binary: %v", err)
	}
	c := &Cluster{t: t, cfg: cfg, bin: bin, dir: t.TempDir()}
	t.Cleanup(c.stopAll)
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
	})
	if cfg.tls {
		if err := c.makeCerts(); err != nil {
			t.Fatalf("making TLS certificates: %v", err)
		}
	}
	// Ports are picked up front so that a node restarts on the same ones;
	// another process may grab one in between, so a start that fails to bind
	// is tried again on fresh ports.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := c.start(n, attempt)
		if err == nil {
			return c
		}
		c.stopAll()
		if attempt < attempts && errors.Is(err, errAddrInUse) {
			t.Logf("StartCluster attempt %d: %v; retrying on other ports", attempt, err)
			continue
		}
		t.Fatalf("StartCluster: %v", err) // the nodes' logs follow, from t.Cleanup
	}
}

var errAddrInUse = errors.New("address already in use")

func (c *Cluster) start(n, attempt int) error {
	ports, err := freePorts(3 * n)
	if err != nil {
		return err
	}
	const clusterName = "gorun-test"
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[3*i+1])
	}
	c.nodes = make([]*clusterNode, n)
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		ndir := filepath.Join(c.dir, fmt.Sprintf("%s-try%d", name, attempt))
		if err := os.MkdirAll(ndir, 0o700); err != nil {
			return err
		}
		info := NodeInfo{
			Index: i, Name: name, ClusterName: clusterName,
			ClientPort: ports[3*i], ClusterPort: ports[3*i+1], HTTPPort: ports[3*i+2],
			StoreDir: filepath.Join(ndir, "store"), Routes: routes,
		}
		text := c.configText(info)
		node := &clusterNode{info: info, confPath: filepath.Join(ndir, "nats.conf"), logPath: filepath.Join(ndir, "nats.log")}
		if err := os.WriteFile(node.confPath, []byte(text), 0o600); err != nil {
			return err
		}
		c.nodes[i] = node
	}
	for _, node := range c.nodes {
		if err := c.spawn(node); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(c.cfg.timeout)
	if err := c.waitHealthy(deadline); err != nil {
		return err
	}
	if c.cfg.extra != nil || c.cfg.nodeConfig != nil {
		return nil // the configuration may require credentials the probe does not have
	}
	return c.probePlacement(deadline)
}

// probePlacement creates and deletes an R<n> stream until the meta leader
// accepts it: a fresh cluster refuses placements ("no suitable peers") until
// its leader has heard from every peer, which no monitoring endpoint shows.
func (c *Cluster) probePlacement(deadline time.Time) error {
	opts := []nats.Option{nats.Timeout(time.Second), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	if c.cfg.tls {
		opts = append(opts, nats.RootCAs(c.caFile), nats.ClientCert(c.clientCert, c.clientKey))
	}
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		return fmt.Errorf("probe connection: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.StreamConfig{Name: "NATSTEST_PROBE", Subjects: []string{"natstest.probe"},
		Storage: jetstream.MemoryStorage, Replicas: len(c.nodes)}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = js.CreateStream(ctx, cfg)
		if err == nil {
			err = js.DeleteStream(ctx, cfg.Name)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("placing a %d-replica probe stream: %w", len(c.nodes), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) configText(info NodeInfo) string {
	var b strings.Builder
	if c.cfg.nodeConfig != nil {
		b.WriteString(c.cfg.nodeConfig(info))
	} else {
		quotedRoutes := make([]string, len(info.Routes))
		for i, r := range info.Routes {
			quotedRoutes[i] = strconv.Quote(r)
		}
		fmt.Fprintf(&b, `server_name: %q
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
max_payload: 8MB
jetstream {
  store_dir: %q
  max_mem: 256MB
  max_file: 2GB
}
cluster {
  name: %q
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, info.Name, info.ClientPort, info.HTTPPort, info.StoreDir, info.ClusterName, info.ClusterPort, strings.Join(quotedRoutes, ", "))
		if c.cfg.tls {
			fmt.Fprintf(&b, "tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: %v\n  timeout: 2\n}\n",
				filepath.Join(c.dir, "server-cert.pem"), filepath.Join(c.dir, "server-key.pem"), c.caFile, c.cfg.tlsVerify)
		}
	}
	if c.cfg.extra != nil {
		b.WriteString("\n")
		b.WriteString(c.cfg.extra(info.Index))
		b.WriteString("\n")
	}
	return b.String()
}

// freePorts returns k distinct free loopback ports: all are held open until
// every one is chosen, then released.
func freePorts(k int) ([]int, error) {
	ls := make([]net.Listener, 0, k)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, k)
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) spawn(node *clusterNode) error {
	logf, err := os.OpenFile(node.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "---- gorun natstest: starting %s at %s ----\n", node.info.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, "-c", node.confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = filepath.Dir(node.confPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setParentDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", node.info.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	node.mu.Lock()
	node.cmd, node.done, node.stopped = cmd, done, false
	node.mu.Unlock()
	return nil
}

// setParentDeathSignal makes Linux kill the node when the test process dies
// (a test binary killed on timeout leaves no server behind). The field is
// set by name so that the package still builds where it does not exist.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	if runtime.GOOS != "linux" {
		return
	}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGKILL).Convert(f.Type()))
	}
}

// URLs returns the client URLs of all nodes, comma-separated, for clients.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i := range c.nodes {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// URL returns the client URL of node i (from 0).
func (c *Cluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.node(i).info.ClientPort)
}

// Node returns node i's ports, name and store directory.
func (c *Cluster) Node(i int) NodeInfo { return c.node(i).info }

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// Index returns the index of the node with the given server name (as in
// stream info's Cluster.Leader), or -1.
func (c *Cluster) Index(serverName string) int {
	for i, n := range c.nodes {
		if n.info.Name == serverName {
			return i
		}
	}
	return -1
}

// CAFile is the CA certificate clients verify the nodes with (WithTLS).
func (c *Cluster) CAFile() string { return c.caFile }

// ClientCert returns a client certificate and key signed by the CA
// (WithTLS with verify).
func (c *Cluster) ClientCert() (certFile, keyFile string) { return c.clientCert, c.clientKey }

// LogPath returns node i's log file.
func (c *Cluster) LogPath(i int) string { return c.node(i).logPath }

func (c *Cluster) node(i int) *clusterNode {
	if i < 0 || i >= len(c.nodes) {
		c.t.Fatalf("natstest: no node %d in a cluster of %d", i, len(c.nodes))
	}
	return c.nodes[i]
}

// Kill kills node i with SIGKILL and waits until the process is gone.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	if err := c.kill(c.node(i), syscall.SIGKILL); err != nil {
		c.t.Fatalf("killing node %d: %v", i, err)
	}
}

// Stop stops node i gracefully (SIGTERM; SIGKILL after 10 s).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if err := c.kill(c.node(i), syscall.SIGTERM); err != nil {
		c.t.Fatalf("stopping node %d: %v", i, err)
	}
}

func (c *Cluster) kill(node *clusterNode, sig syscall.Signal) error {
	node.mu.Lock()
	cmd, done := node.cmd, node.done
	node.stopped = true
	node.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", node.info.Name, cmd.Process.Pid)
	}
}

// Reload makes node i re-read its configuration file (SIGHUP), for example
// after RewriteConfig.
func (c *Cluster) Reload(i int) {
	c.t.Helper()
	node := c.node(i)
	node.mu.Lock()
	cmd := node.cmd
	node.mu.Unlock()
	if cmd == nil || !node.running() {
		c.t.Fatalf("reloading node %d: not running", i)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		c.t.Fatalf("reloading node %d: %v", i, err)
	}
}

// RewriteConfig regenerates node i's configuration file (WithConfig and
// WithNodeConfig functions are called again); it takes effect on Reload or
// Restart.
func (c *Cluster) RewriteConfig(i int) {
	c.t.Helper()
	node := c.node(i)
	if err := os.WriteFile(node.confPath, []byte(c.configText(node.info)), 0o600); err != nil {
		c.t.Fatalf("rewriting node %d's configuration: %v", i, err)
	}
}

// Restart starts node i again on the same ports and store directory (it is
// killed first if it still runs) and waits until it has rejoined: every
// running node healthy, its streams caught up.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	node := c.node(i)
	if err := c.kill(node, syscall.SIGKILL); err != nil {
		t.Fatalf("restarting node %d: %v", i, err)
	}
	deadline := time.Now().Add(c.cfg.timeout)
	for {
		err := c.spawn(node)
		if err == nil {
			err = c.waitHealthy(deadline)
		}
		if err == nil {
			return
		}
		// The old process's port may linger a moment; try again while time is left.
		if errors.Is(err, errAddrInUse) && time.Now().Before(deadline) {
			_ = c.kill(node, syscall.SIGKILL)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		t.Fatalf("restarting node %d: %v", i, err)
	}
}

// WaitHealthy waits until every running node answers its health check
// (which requires contact with the JetStream meta leader and current
// streams), is routed to every other running node, and a meta leader is
// known.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	if err := c.waitHealthy(time.Now().Add(c.cfg.timeout)); err != nil {
		t.Fatalf("cluster not healthy: %v", err)
	}
}

var httpClient = &http.Client{Timeout: time.Second}

func (c *Cluster) waitHealthy(deadline time.Time) error {
	var last error
	healthy := false
	for {
		last = c.checkHealthy()
		if last == nil {
			// Healthy twice in a row, a moment apart: the meta leader has
			// then heard from every peer (placement needs that).
			if healthy {
				return nil
			}
			healthy = true
			time.Sleep(200 * time.Millisecond)
			continue
		}
		healthy = false
		if errors.Is(last, errAddrInUse) || errors.Is(last, errExited) {
			return last
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy before the deadline: %w", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var errExited = errors.New("process exited")

func (c *Cluster) checkHealthy() error {
	var running []*clusterNode
	for _, n := range c.nodes {
		n.mu.Lock()
		started, done := n.cmd != nil, n.done
		n.mu.Unlock()
		if !started {
			continue
		}
		select {
		case <-done:
			// A node killed on purpose is simply not running; one that
			// died on its own is an error.
			if !n.killedOnPurpose() {
				tail := tailFile(n.logPath, 4096)
				if strings.Contains(tail, "address already in use") {
					return fmt.Errorf("%s: %w", n.info.Name, errAddrInUse)
				}
				return fmt.Errorf("%s: %w:\n%s", n.info.Name, errExited, tail)
			}
			continue
		default:
		}
		running = append(running, n)
	}
	if len(running) == 0 {
		return errors.New("no node is running")
	}
	leader := ""
	for _, n := range running {
		code, body, err := httpGet(n.info.HTTPPort, "/healthz")
		if err != nil {
			return fmt.Errorf("%s: %w", n.info.Name, err)
		}
		if code != http.StatusOK {
			return fmt.Errorf("%s: healthz %d: %s", n.info.Name, code, strings.TrimSpace(body))
		}
		_, body, err = httpGet(n.info.HTTPPort, "/routez")
		if err != nil {
			return fmt.Errorf("%s: %w", n.info.Name, err)
		}
		var rz struct {
			Routes []struct {
				RemoteName string `json:"remote_name"`
			} `json:"routes"`
		}
		if err := json.Unmarshal([]byte(body), &rz); err != nil {
			return fmt.Errorf("%s: routez: %w", n.info.Name, err)
		}
		peers := map[string]bool{}
		for _, r := range rz.Routes {
			peers[r.RemoteName] = true
		}
		for _, o := range running {
			if o != n && !peers[o.info.Name] {
				return fmt.Errorf("%s: no route to %s yet", n.info.Name, o.info.Name)
			}
		}
		_, body, err = httpGet(n.info.HTTPPort, "/jsz")
		if err != nil {
			return fmt.Errorf("%s: %w", n.info.Name, err)
		}
		var jz struct {
			Meta *struct {
				Leader   string `json:"leader"`
				Size     int    `json:"cluster_size"`
				Replicas []struct {
					Name    string `json:"name"`
					Current bool   `json:"current"`
					Offline bool   `json:"offline"`
				} `json:"replicas"`
			} `json:"meta_cluster"`
		}
		if err := json.Unmarshal([]byte(body), &jz); err != nil {
			return fmt.Errorf("%s: jsz: %w", n.info.Name, err)
		}
		if jz.Meta == nil || jz.Meta.Leader == "" {
			continue
		}
		if jz.Meta.Leader != n.info.Name {
			continue
		}
		leader = n.info.Name
		// The meta leader must know every node and see the running ones current.
		if jz.Meta.Size != len(c.nodes) {
			return fmt.Errorf("meta leader %s knows %d peers, want %d", n.info.Name, jz.Meta.Size, len(c.nodes))
		}
		current := map[string]bool{}
		for _, r := range jz.Meta.Replicas {
			current[r.Name] = r.Current && !r.Offline
		}
		for _, o := range running {
			if o != n && !current[o.info.Name] {
				return fmt.Errorf("meta leader %s does not see %s current yet", n.info.Name, o.info.Name)
			}
		}
	}
	if leader == "" {
		return errors.New("no running node is the JetStream meta leader yet")
	}
	return nil
}

// killedOnPurpose reports whether the node's last process was ended by
// Kill, Stop or cleanup rather than on its own.
func (n *clusterNode) killedOnPurpose() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopped
}

func httpGet(port int, path string) (int, string, error) {
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String(), err
}

func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.kill(n, syscall.SIGKILL)
		}()
	}
	wg.Wait()
}

func (c *Cluster) dumpLogs() {
	for _, n := range c.nodes {
		c.dumpLog(c.t, n)
	}
}

func (c *Cluster) dumpLog(t testing.TB, n *clusterNode) {
	t.Logf("---- tail of %s (%s) ----\n%s", n.info.Name, n.logPath, tailFile(n.logPath, 6000))
}

func tailFile(path string, max int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(data) > max {
		data = data[len(data)-max:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return string(data)
}

var serverBinary struct {
	once sync.Once
	path string
	err  error
}

// NATSServerBinary returns the path of a nats-server binary of the version
// in go.mod, built once per process with `go build` and kept in
// os.TempDir() for later processes. $GORUN_NATS_SERVER names a binary to use
// instead.
func NATSServerBinary() (string, error) {
	serverBinary.once.Do(func() {
		serverBinary.path, serverBinary.err = natsServerBinary()
	})
	return serverBinary.path, serverBinary.err
}

func natsServerBinary() (string, error) {
	if p := os.Getenv("GORUN_NATS_SERVER"); p != "" {
		return p, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	version := moduleVersion(goBin)
	cached := filepath.Join(os.TempDir(), fmt.Sprintf("gorun-nats-server-%s-%s-%s", version, runtime.GOOS, runtime.GOARCH))
	if version != "" && version != "(devel)" {
		if out, err := exec.Command(cached, "--version").Output(); err == nil && strings.Contains(string(out), version) {
			return cached, nil
		}
	}
	// Build to a private name, then rename: processes building at the same
	// time never see a half-written binary.
	tmp, err := os.CreateTemp(os.TempDir(), "gorun-nats-server-build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	cmd := exec.Command(goBin, "build", "-o", tmp.Name(), natsServerModule)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("go build %s: %v\n%s", natsServerModule, err, out)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return tmp.Name(), nil // still usable where it is
	}
	return cached, nil
}

// moduleVersion is the nats-server module version this test binary was
// built with (go.mod's), asked of the go command when build info lacks it.
func moduleVersion(goBin string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == natsServerModule {
				if d.Replace != nil {
					return strings.ReplaceAll(d.Replace.Path+"@"+d.Replace.Version, "/", "_")
				}
				return d.Version
			}
		}
	}
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Version}}", natsServerModule).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// makeCerts writes a throw-away CA, a server certificate for 127.0.0.1 and
// localhost, and a client certificate into the cluster's directory.
func (c *Cluster) makeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gorun natstest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	c.caFile = filepath.Join(c.dir, "ca.pem")
	if err := writePEM(c.caFile, "CERTIFICATE", caDER); err != nil {
		return err
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certPath, keyPath string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(keyPath, "EC PRIVATE KEY", kder)
	}
	if err := leaf(2, "gorun natstest server", x509.ExtKeyUsageServerAuth,
		filepath.Join(c.dir, "server-cert.pem"), filepath.Join(c.dir, "server-key.pem")); err != nil {
		return err
	}
	c.clientCert, c.clientKey = filepath.Join(c.dir, "client-cert.pem"), filepath.Join(c.dir, "client-key.pem")
	return leaf(3, "gorun natstest client", x509.ExtKeyUsageClientAuth, c.clientCert, c.clientKey)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
