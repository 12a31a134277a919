package connectors

import (
	"errors"
	"fmt"
	"net/http"
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
