package connectors

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHTTPClientRefusesRedirectToCleartext(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the client followed a redirect to http://")
	}))
	defer plain.Close()
	srv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/hook?token=s3cret", http.StatusFound))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	client, err := HTTPClient(string(ca), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrInsecure) || strings.Contains(RedactURLError(err).Error(), "s3cret") {
		t.Fatalf("got %v, want ErrInsecure, without the query once redacted", err)
	}
	if min := client.Transport.(*http.Transport).TLSClientConfig.MinVersion; min < tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2 or later", min)
	}
}

func TestHTTPClientRejectsABundleWithoutCertificates(t *testing.T) {
	if _, err := HTTPClient("not a certificate", 0); err == nil || !strings.Contains(err.Error(), "caBundle") {
		t.Fatalf("got %v, want an error naming caBundle", err)
	}
}
