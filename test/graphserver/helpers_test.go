package graphserver

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// newClock is a test clock at a fixed time, which tests Step.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
}

// newCert makes a self-signed certificate valid around c's time.
func newCert(t *testing.T, c *clocktesting.FakeClock) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "portcullis-test"},
		NotBefore:    c.Now().Add(-time.Hour),
		NotAfter:     c.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// assertion builds a client assertion; mutate edits header and claims first.
func assertion(t *testing.T, key *rsa.PrivateKey, cert *x509.Certificate, clientID, aud string, now time.Time,
	mutate func(h, c map[string]any)) string {
	t.Helper()
	sha := sha1.Sum(cert.Raw) //nolint:gosec // see import.
	h := map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.StdEncoding.EncodeToString(sha[:])}
	c := map[string]any{"aud": aud, "iss": clientID, "sub": clientID, "jti": newGUID(),
		"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	if mutate != nil {
		mutate(h, c)
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func s256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	body   map[string]any
}

func (r resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r resp) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func do(t *testing.T, s *Server, method, target, token string, body any) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	if strings.HasPrefix(target, "/") {
		target = s.URL() + target
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, s, req)
}

func send(t *testing.T, s *Server, req *http.Request) resp {
	t.Helper()
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", req.Method, req.URL, raw, err)
		}
	}
	return out
}

func tokenRequest(t *testing.T, s *Server, form url.Values) resp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, s, req)
}

const graphScope = "https://graph.microsoft.com/.default"

// secretToken registers an app with roles and returns its access token.
func secretToken(t *testing.T, s *Server, roles ...string) string {
	t.Helper()
	id := newGUID()
	s.RegisterApp(id, "s3cret", nil, roles)
	r := tokenRequest(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {id},
		"client_secret": {"s3cret"}, "scope": {graphScope}})
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %v", r.status, r.body)
	}
	return r.body["access_token"].(string)
}

func values(r resp) []map[string]any {
	var out []map[string]any
	v, _ := r.body["value"].([]any)
	for _, x := range v {
		out = append(out, x.(map[string]any))
	}
	return out
}
