package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// ssfMaxHeaderBytes bounds the request headers of the Shared Signals
// endpoint; bodies are bounded by the handlers.
const ssfMaxHeaderBytes = 16 << 10

// SSFServer serves the Shared Signals endpoint over TLS: Receivers at
// /ssf/receive/ and, when set, Transmitter at every other path. Every
// replica serves; the handlers decide what a replica that is not the
// leader answers.
type SSFServer struct {
	// Addr is the listen address; Listener, when set, is used instead.
	Addr     string
	Listener net.Listener
	// CertFile and KeyFile are the certificate and key, re-read on change.
	CertFile, KeyFile string
	// Receivers handles pushes to SignalStreams.
	Receivers http.Handler
	// Transmitter, when not nil, serves the transmitter's endpoints.
	Transmitter http.Handler
}

// NeedLeaderElection is false: every replica listens.
func (s *SSFServer) NeedLeaderElection() bool { return false }

// Handler routes the endpoint's paths.
func (s *SSFServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ssf/receive/", s.Receivers)
	if s.Transmitter != nil {
		mux.Handle("/", s.Transmitter)
	}
	return mux
}

// Start serves until ctx ends.
func (s *SSFServer) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("ssf")
	watcher, err := certwatcher.New(s.CertFile, s.KeyFile)
	if err != nil {
		return fmt.Errorf("ssf: loading the TLS certificate: %w", err)
	}
	go func() {
		if err := watcher.Start(ctx); err != nil {
			log.Error(err, "Watching the TLS certificate failed")
		}
	}()
	l := s.Listener
	if l == nil {
		if l, err = net.Listen("tcp", s.Addr); err != nil {
			return fmt.Errorf("ssf: listening on %s: %w", s.Addr, err)
		}
	}
	srv := &http.Server{
		Handler:   s.Handler(),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate},
		// Poll requests may wait for SETs (long polling), so writes get
		// more time than reads.
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: ssfMaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(l, "", "") }()
	log.Info("Serving Shared Signals", "address", l.Addr().String(), "transmitter", s.Transmitter != nil)
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("ssf: serving: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
