package connectors

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-dev/portcullis/internal/tlsclient"
)

// HTTPClient returns a client that verifies TLS against the system's CAs
// plus caBundle (PEM), when one is given, with internal/tlsclient's rules:
// TLS 1.2 or later, and no redirect from https:// to http://, which is
// refused with an error that wraps ErrInsecure.
func HTTPClient(caBundle string, timeout time.Duration) (*http.Client, error) {
	client, err := tlsclient.New(tlsclient.Options{CAs: []byte(caBundle), Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("caBundle %w", err)
	}
	check := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		err := check(req, via)
		if errors.Is(err, tlsclient.ErrRedirectLeavesTLS) {
			return fmt.Errorf("%w: %w", ErrInsecure, err)
		}
		return err
	}
	return client, nil
}

// RequestError classifies the error of a request to where (a URL, redacted
// here): a failed TLS handshake wraps ErrTLS, a network failure
// ErrUnreachable, a refusal to send in clear text stays ErrInsecure. hint,
// when set, follows a TLS failure (the setting that adds CAs to trust).
func RequestError(where, hint string, err error) error {
	where, err = RedactURL(where), RedactURLError(err)
	if errors.Is(err, ErrInsecure) {
		return fmt.Errorf("requesting %s: %w", where, err)
	}
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	if errors.As(err, &certErr) || errors.As(err, &recordErr) || strings.Contains(err.Error(), "tls:") ||
		strings.Contains(err.Error(), "x509:") {
		if hint != "" {
			where += " (" + hint + ")"
		}
		return fmt.Errorf("%w with %s: %w", ErrTLS, where, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, where, err)
	}
	return fmt.Errorf("requesting %s: %w", where, err)
}
