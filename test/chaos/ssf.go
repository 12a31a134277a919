package chaos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// CA is a certificate authority of the suite's own: it issues the
// manager's Shared Signals certificate and the SSF receiver's, and each
// side trusts it for the other.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate.
	PEM []byte
	// Pool holds the CA certificate.
	Pool *x509.CertPool
	// serial numbers the certificates issued.
	serial int64
}

// NewCA makes a CA valid for a day.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portcullis chaos CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool, serial: 1}, nil
}

// Issue makes a server certificate for localhost and 127.0.0.1 and
// returns it and its key in PEM.
func (ca *CA) Issue() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ca.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// IssueFiles writes a certificate from Issue, its key and the CA
// certificate into dir as tls.crt, tls.key and ca.crt.
func (ca *CA) IssueFiles(dir string) (certFile, keyFile, caFile string, err error) {
	certPEM, keyPEM, err := ca.Issue()
	if err != nil {
		return "", "", "", err
	}
	certFile, keyFile, caFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	for path, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, caFile: ca.PEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return "", "", "", err
		}
	}
	return certFile, keyFile, caFile, nil
}

// Client is an HTTPS client that trusts the CA only.
func (ca *CA) Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
}

// SigningKeyPEM is a new EC P-256 private key in PKCS#8 PEM, for the
// transmitter's signing-key Secret.
func SigningKeyPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ReceivedSET is one SET the SSF receiver's sink acted on.
type ReceivedSET struct {
	JTI string
	// Subject is the e-mail address of the SET's subject.
	Subject string
	// Types are its event types, sorted.
	Types []string
	// EventTime is the event_timestamp of its first event.
	EventTime time.Time
}

// SSFStats count what reached the SSF receiver.
type SSFStats struct {
	// Pushes are push requests; Accepted those answered 202.
	Pushes, Accepted int
	// Sunk are SETs handed to the sink; Redeliveries are 202s the replay
	// store gave without calling the sink (a SET delivered again).
	Sunk, Redeliveries int
	// DuplicateJTIs are SETs the sink got with a jti it had already got.
	DuplicateJTIs int
}

// SSFReceiver is a Shared Signals push receiver made of the real receiver
// code (ssf.PushHandler, ssf.Verifier over the transmitter's JWKS and a
// MemoryReplayStore), whose sink records every SET, in order. It lives in
// the test process, so its replay store outlives every manager it hears.
type SSFReceiver struct {
	// URL is its push endpoint.
	URL string

	srv   *httptest.Server
	delay time.Duration

	mu     sync.Mutex
	sets   []ReceivedSET
	seen   map[string]int
	stats  SSFStats
	failed []string
}

// SSFReceiverConfig configures StartSSFReceiver.
type SSFReceiverConfig struct {
	// CA issues the receiver's certificate and is trusted for the JWKS.
	CA *CA
	// Issuer is the transmitter's issuer; JWKSURI its jwks_uri.
	Issuer, JWKSURI string
	// Audience is the receiver's name at the transmitter.
	Audience string
	// Token is the bearer token the transmitter must push with.
	Token string
	// SinkDelay is how long the sink takes to act on a SET: it widens the
	// window in which a SIGKILL lands between a push and its removal from
	// the outbox.
	SinkDelay time.Duration
}

// StartSSFReceiver starts the receiver on an https loopback address.
func StartSSFReceiver(cfg SSFReceiverConfig) (*SSFReceiver, error) {
	jwks, err := ssf.NewJWKS(ssf.JWKSConfig{URL: cfg.JWKSURI, Client: cfg.CA.Client(), Clock: clock.RealClock{}})
	if err != nil {
		return nil, err
	}
	r := &SSFReceiver{delay: cfg.SinkDelay, seen: map[string]int{}}
	verifier := &ssf.Verifier{Issuer: cfg.Issuer, Audience: cfg.Audience, Keys: jwks,
		Replay: ssf.NewMemoryReplayStore(clock.RealClock{}, 0), Clock: clock.RealClock{}}
	push, err := ssf.NewPushHandler(ssf.PushConfig{Verifier: verifier, Sink: r, Token: cfg.Token})
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := cfg.CA.Issue()
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		push.ServeHTTP(sw, req)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stats.Pushes++
		if sw.status == http.StatusAccepted {
			r.stats.Accepted++
		}
	}))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	r.srv.StartTLS()
	r.URL = r.srv.URL + "/ssf/push"
	return r, nil
}

// Close stops the receiver.
func (r *SSFReceiver) Close() { r.srv.Close() }

// Receive implements ssf.Sink: it records the SET.
func (r *SSFReceiver) Receive(ctx context.Context, set *ssf.SET) error {
	events, err := set.DecodeEvents()
	if err != nil {
		r.mu.Lock()
		r.failed = append(r.failed, fmt.Sprintf("SET %s: %v", set.JTI, err))
		r.mu.Unlock()
		return nil
	}
	got := ReceivedSET{JTI: set.JTI}
	for _, e := range events {
		got.Types = append(got.Types, e.Type)
		if got.Subject == "" && e.Subject != nil {
			got.Subject = e.Subject.Email
		}
		if got.EventTime.IsZero() {
			got.EventTime = eventTime(e.Body)
		}
	}
	if r.delay > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.delay):
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Sunk++
	if r.seen[set.JTI]++; r.seen[set.JTI] > 1 {
		r.stats.DuplicateJTIs++
	}
	r.sets = append(r.sets, got)
	return nil
}

// eventTime is the event_timestamp of a known event body.
func eventTime(body any) time.Time {
	var common *ssf.EventCommon
	switch b := body.(type) {
	case *ssf.SessionRevoked:
		common = &b.EventCommon
	case *ssf.AccountDisabled:
		common = &b.EventCommon
	case *ssf.AccountEnabled:
		common = &b.EventCommon
	}
	if common == nil || common.EventTimestamp == nil {
		return time.Time{}
	}
	return common.EventTimestamp.Time
}

// Received returns the SETs the sink acted on, in order of arrival.
func (r *SSFReceiver) Received() []ReceivedSET {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReceivedSET(nil), r.sets...)
}

// Stats returns the counts so far; Redeliveries is derived.
func (r *SSFReceiver) Stats() SSFStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Redeliveries = max(s.Accepted-s.Sunk, 0)
	return s
}

// Failures lists SETs the sink could not decode.
func (r *SSFReceiver) Failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failed...)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
