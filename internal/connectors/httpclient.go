package connectors

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// maxRedirects is net/http's default limit.
const maxRedirects = 10

// HTTPClient returns a client that verifies TLS against the system's CAs
// plus caBundle (PEM), when one is given. It follows no redirect from
// https:// to http://: net/http keeps the Authorization and custom headers
// (a bearer token, a signature) on a redirect to the same host, which would
// send them in clear text.
func HTTPClient(caBundle string, timeout time.Duration) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caBundle != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caBundle)) {
			return nil, errors.New("caBundle holds no PEM certificate")
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: noDowngrade}, nil
}

// noDowngrade refuses a redirect that leaves TLS.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	for _, prev := range via {
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: the server redirected to %s, which is not https://", ErrInsecure, RedactURL(req.URL.String()))
		}
	}
	return nil
}
