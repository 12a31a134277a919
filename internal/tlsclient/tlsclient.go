// Package tlsclient builds the HTTP clients that Portcullis uses to reach
// servers outside the cluster: the connectors' HTTP APIs and the sign-in
// endpoint that `portcullis ingest` posts to. It is the one place that sets
// their TLS: which CAs are trusted, the lowest TLS version, and which
// redirects are followed.
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// MinVersion is the lowest TLS version a client accepts.
const MinVersion = tls.VersionTLS12

// maxRedirects is net/http's default limit.
const maxRedirects = 10

var (
	// ErrNoCertificate is returned for a CA bundle without a PEM
	// certificate.
	ErrNoCertificate = errors.New("holds no PEM certificate")
	// ErrRedirectLeavesTLS is returned, wrapped in the request's error, when
	// a server answered over https:// with a redirect to a URL that is not.
	ErrRedirectLeavesTLS = errors.New("the server redirected to a URL that is not https://")
)

// Options configure a client.
type Options struct {
	// CAs is a PEM bundle of the CAs to trust for servers' certificates.
	// Empty means the system's CAs.
	CAs []byte
	// OnlyCAs trusts only CAs, not the system's as well. It has no effect
	// when CAs is empty.
	OnlyCAs bool
	// Timeout bounds one request, its redirects and the reading of its
	// body; 0 means none.
	Timeout time.Duration
}

// New returns a client that verifies every server's certificate, speaks TLS
// 1.2 or later, and follows no redirect from https:// to anything else:
// net/http keeps the Authorization header and custom headers (a bearer
// token, a signature) on a redirect to the same host, which would send them
// in clear text.
func New(opts Options) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	config := &tls.Config{MinVersion: MinVersion}
	if len(opts.CAs) > 0 {
		pool := x509.NewCertPool()
		if !opts.OnlyCAs {
			if system, err := x509.SystemCertPool(); err == nil {
				pool = system
			}
		}
		if !pool.AppendCertsFromPEM(opts.CAs) {
			return nil, ErrNoCertificate
		}
		config.RootCAs = pool
	}
	transport.TLSClientConfig = config
	return &http.Client{Transport: transport, Timeout: opts.Timeout, CheckRedirect: noDowngrade}, nil
}

// noDowngrade refuses a redirect that leaves TLS, and stops after as many
// redirects as net/http would.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	for _, prev := range via {
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: %s", ErrRedirectLeavesTLS, withoutSecrets(req.URL))
		}
	}
	return nil
}

// withoutSecrets is u without its user info and query, which can hold
// credentials, for an error message.
func withoutSecrets(u *url.URL) string {
	clean := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return clean.String()
}
