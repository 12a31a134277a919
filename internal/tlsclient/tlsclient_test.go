package tlsclient

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func caOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func get(t *testing.T, client *http.Client, url string) error {
	t.Helper()
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestTrustsTheGivenCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	for _, only := range []bool{false, true} {
		client, err := New(Options{CAs: caOf(srv), OnlyCAs: only})
		if err != nil {
			t.Fatal(err)
		}
		if err := get(t, client, srv.URL); err != nil {
			t.Errorf("OnlyCAs=%v: %v", only, err)
		}
		if v := client.Transport.(*http.Transport).TLSClientConfig.MinVersion; v != tls.VersionTLS12 {
			t.Errorf("MinVersion = %x, want TLS 1.2", v)
		}
	}
}

func TestVerifiesWithoutACA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	client, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, client, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v, want a certificate error for a server the system does not trust", err)
	}
}

func TestRejectsABundleWithoutCertificates(t *testing.T) {
	if _, err := New(Options{CAs: []byte("not PEM")}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("got %v, want ErrNoCertificate", err)
	}
}

func TestRefusesRedirectsThatLeaveTLS(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the client followed a redirect to http://")
	}))
	defer plain.Close()
	srv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x?token=s3cret", http.StatusTemporaryRedirect))
	defer srv.Close()
	client, err := New(Options{CAs: caOf(srv), OnlyCAs: true})
	if err != nil {
		t.Fatal(err)
	}
	err = get(t, client, srv.URL)
	if !errors.Is(err, ErrRedirectLeavesTLS) {
		t.Fatalf("got %v, want ErrRedirectLeavesTLS", err)
	}
}

func TestFollowsRedirectsWithinTLS(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, srv.URL+"/end", http.StatusFound)
		}
	}))
	defer srv.Close()
	client, err := New(Options{CAs: caOf(srv), OnlyCAs: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, client, srv.URL+"/start"); err != nil {
		t.Fatal(err)
	}
}
