package webhook

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/connectorstest"
)

const (
	key            = "hmac-s3cret"
	hostileAccount = `sam","account":"admin`
)

func newTarget(url string, insecure bool, caBundle string) connectors.Target {
	system := &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "receiver"},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeWebhook, Insecure: insecure,
			Webhook: &accessv1alpha1.WebhookSettings{URL: url, TimeoutSeconds: 2, CABundle: caBundle}}}
	grant := &accessv1alpha1.AccessGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g", UID: "uid-1"},
		Spec: accessv1alpha1.AccessGrantSpec{Entitlement: accessv1alpha1.Entitlement{Name: "reports"}}}
	return connectors.Target{Grant: grant, System: system, Contractor: &accessv1alpha1.Contractor{}, Account: hostileAccount,
		Credentials: map[string][]byte{CredentialKey: []byte(key)}, Transition: "t1"}
}

func newConnector() *Connector {
	return &Connector{Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))}
}

// receiver counts the deliveries whose signature verifies and whose
// account is the hostile one of newTarget, unchanged.
func receiver(delivered *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			return
		}
		body, err := io.ReadAll(r.Body)
		now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		var ev Event
		if err == nil && Verify([]byte(key), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now, time.Minute) == nil &&
			json.Unmarshal(body, &ev) == nil && ev.Data.Account == hostileAccount {
			delivered.Add(1)
		}
	})
}

func TestCleartextIsRefusedBeforeConnecting(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	c := newConnector()
	for name, tc := range map[string]struct {
		url      string
		insecure bool
		want     error
	}{
		"http without insecure":  {"http://" + wire.Addr() + "/events?code=s3cret", false, connectors.ErrInsecure},
		"user info":              {"https://hook:s3cret@" + wire.Addr() + "/events", false, connectors.ErrCredentialsInURL},
		"user info and insecure": {"http://s3cret@" + wire.Addr() + "/events", true, connectors.ErrCredentialsInURL},
		"not a URL":              {"https://hook:s3cret@" + wire.Addr() + "/%zz", true, nil},
		"not http":               {"ftp://" + wire.Addr() + "/events?code=s3cret", true, nil},
	} {
		t.Run(name, func(t *testing.T) {
			target := newTarget(tc.url, tc.insecure, "")
			_, ensureErr := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive)
			for _, err := range []error{c.Check(context.Background(), target.System, target.Credentials), ensureErr} {
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
			if wire.Connected(t) {
				t.Fatal("the connector connected to a receiver it refused")
			}
		})
	}
}

func TestDeliversOverTLSAndOverHTTPWithInsecure(t *testing.T) {
	var delivered atomic.Int32
	tlsSrv := httptest.NewTLSServer(receiver(&delivered))
	defer tlsSrv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}))
	plain := httptest.NewServer(receiver(&delivered))
	defer plain.Close()
	c := newConnector()
	for _, target := range []connectors.Target{newTarget(tlsSrv.URL+"/events", false, ca), newTarget(plain.URL+"/events", true, "")} {
		if err := c.Check(context.Background(), target.System, target.Credentials); err != nil {
			t.Fatalf("Check %s: %v", target.System.Spec.Webhook.URL, err)
		}
		if _, err := c.Ensure(context.Background(), target, accessv1alpha1.GrantActive); err != nil {
			t.Fatalf("Ensure %s: %v", target.System.Spec.Webhook.URL, err)
		}
	}
	if delivered.Load() != 2 {
		t.Fatalf("%d signed deliveries, want 2", delivered.Load())
	}
}

func TestCleartextRedirectIsRefused(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	redirect := httptest.NewTLSServer(http.RedirectHandler("http://"+wire.Addr()+"/events?code=s3cret", http.StatusTemporaryRedirect))
	defer redirect.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: redirect.Certificate().Raw}))
	target := newTarget(redirect.URL+"/events", true, ca)
	_, err := newConnector().Ensure(context.Background(), target, accessv1alpha1.GrantActive)
	if !errors.Is(err, connectors.ErrInsecure) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a redirect to http://: %v", err)
	}
	if wire.Connected(t) {
		t.Fatal("the signed event followed a redirect to http://")
	}
}

func TestInsecureURLSecretsStayOutOfErrors(t *testing.T) {
	wire := connectorstest.NewTripwire(t)
	target := newTarget("https://"+wire.Addr()+"/events?code=s3cret", false, "")
	target.System.Spec.Webhook.URL = "https://127.0.0.1:1/events?code=s3cret"
	_, err := newConnector().Ensure(context.Background(), target, accessv1alpha1.GrantActive)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "code=") {
		t.Fatalf("an unreachable receiver: %v", err)
	}
}
