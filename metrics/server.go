package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyCheck says whether a process can do its work: nil when it is
// connected to NATS and its stream and buckets answer.
type ReadyCheck func(ctx context.Context) error

// ServerConfig configures the HTTP server of /metrics, /healthz and /readyz.
type ServerConfig struct {
	// Addr is the listen address, "host:port" (port 0: any free port).
	Addr string
	// Gatherer is what /metrics serves (the process's registry).
	Gatherer prometheus.Gatherer
	// Ready answers /readyz; nil: always ready.
	Ready ReadyCheck
	// ReadyTimeout bounds one readiness check; default 3s.
	ReadyTimeout time.Duration
	// Logger receives the server's errors; default discards.
	Logger *slog.Logger
}

func (c *ServerConfig) validate() error {
	if c.Addr == "" {
		return errors.New("metrics: no listen address")
	}
	if c.Gatherer == nil {
		return errors.New("metrics: no registry to serve")
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	cfg  ServerConfig
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Handler returns the server's routes: /metrics (text or OpenMetrics),
// /healthz (200 while the process runs) and /readyz (200 when Ready
// passes, 503 with the reason otherwise).
func Handler(cfg ServerConfig) http.Handler {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 3 * time.Second
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slogPrinter{cfg.Logger},
		Timeout:           10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), cfg.ReadyTimeout)
			defer cancel()
			if err := cfg.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	if p.log != nil {
		p.log.Error("serving metrics", "err", fmt.Sprint(v...))
	}
}

// Listen starts serving on cfg.Addr; Addr tells the address bound.
func Listen(cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: Handler(cfg), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("metrics server stopped", "err", err)
		}
	}()
	cfg.Logger.Info("serving /metrics, /healthz, /readyz", "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting requests in flight finish until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
