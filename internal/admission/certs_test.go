package admission

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

var secretKey = types.NamespacedName{Namespace: "portcullis-system", Name: "webhook-cert"}

func newTestCerts(t *testing.T, objs ...client.Object) (*Certs, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	return NewCerts(c, c, secretKey, "hooks", []string{"svc.portcullis-system.svc", "localhost"}), c
}

func hooks() *admissionregistrationv1.ValidatingWebhookConfiguration {
	cfg, err := LocalConfiguration("hooks", "https://localhost:9443")
	if err != nil {
		panic(err)
	}
	return cfg
}

func emptySecret() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretKey.Namespace, Name: secretKey.Name}}
}

func leaf(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertsFillTheSecretAndInjectTheCA(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	certs, c := newTestCerts(t, emptySecret(), hooks())
	_, err := certs.GetCertificate(nil)
	g.Expect(err).To(HaveOccurred(), "a certificate is served before one was made")
	g.Expect(certs.Refresh(ctx)).To(Succeed())
	g.Expect(certs.Ready()).To(BeClosed())

	secret := &corev1.Secret{}
	g.Expect(c.Get(ctx, secretKey, secret)).To(Succeed())
	cert := leaf(t, secret.Data["tls.crt"])
	g.Expect(cert.DNSNames).To(Equal([]string{"svc.portcullis-system.svc", "localhost"}))
	g.Expect(time.Until(cert.NotAfter)).To(BeNumerically("~", 365*24*time.Hour, 24*time.Hour))
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	g.Expect(c.Get(ctx, types.NamespacedName{Name: "hooks"}, cfg)).To(Succeed())
	g.Expect(cfg.Webhooks).To(HaveLen(2))
	for _, w := range cfg.Webhooks {
		g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), w.Name)
	}
	served, err := certs.GetCertificate(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(served.Certificate[0]).To(Equal(cert.Raw), "serves the Secret's certificate")

	// A second refresh, or another replica's, changes nothing.
	before := secret.ResourceVersion
	g.Expect(NewCerts(c, c, secretKey, "hooks", certs.DNSNames).Refresh(ctx)).To(Succeed())
	g.Expect(c.Get(ctx, secretKey, secret)).To(Succeed())
	g.Expect(secret.ResourceVersion).To(Equal(before), "the Secret was written again")
}

// A replica whose read of the Secret is older than the CA another replica
// injected does not put its older CA back.
func TestCertsDoNotInjectAnOlderCA(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	a, c := newTestCerts(t, emptySecret(), hooks())
	g.Expect(a.Refresh(ctx)).To(Succeed())
	stale := &corev1.Secret{}
	g.Expect(c.Get(ctx, secretKey, stale)).To(Succeed())

	// Replica A replaces the CA (its Secret was emptied, say) and injects it.
	fresh := &corev1.Secret{}
	g.Expect(c.Get(ctx, secretKey, fresh)).To(Succeed())
	fresh.Data = nil
	g.Expect(c.Update(ctx, fresh)).To(Succeed())
	a.Now = func() time.Time { return time.Now().Add(time.Hour) }
	g.Expect(a.Refresh(ctx)).To(Succeed())
	g.Expect(c.Get(ctx, secretKey, fresh)).To(Succeed())

	// Replica B still holds the first CA.
	b, _ := newTestCerts(t)
	b.Reader, b.Writer = c, c
	g.Expect(b.inject(ctx, stale.Data["ca.crt"])).To(Succeed())
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	g.Expect(c.Get(ctx, types.NamespacedName{Name: "hooks"}, cfg)).To(Succeed())
	g.Expect(cfg.Webhooks[0].ClientConfig.CABundle).To(Equal(fresh.Data["ca.crt"]))
}

func TestCertsRenew(t *testing.T) {
	g := NewWithT(t)
	certs, _ := newTestCerts(t)
	secret := emptySecret()
	now := time.Now()
	renew := func(at time.Time) bool {
		changed, err := certs.renew(secret, at)
		g.Expect(err).NotTo(HaveOccurred())
		return changed
	}
	g.Expect(renew(now)).To(BeTrue(), "an empty Secret is filled")
	first := secret.DeepCopy()
	g.Expect(renew(now.Add(200*24*time.Hour))).To(BeFalse(), "200 days in, nothing is due")

	// The serving certificate ends within the lookahead: a new one from
	// the same CA.
	later := now.Add(300 * 24 * time.Hour)
	g.Expect(renew(later)).To(BeTrue())
	g.Expect(secret.Data["ca.crt"]).To(Equal(first.Data["ca.crt"]))
	g.Expect(secret.Data["tls.crt"]).NotTo(Equal(first.Data["tls.crt"]))
	pool := x509.NewCertPool()
	pool.AddCert(leaf(t, first.Data["ca.crt"]))
	_, err := leaf(t, secret.Data["tls.crt"]).Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", CurrentTime: later})
	g.Expect(err).NotTo(HaveOccurred(), "the renewed certificate chains to the CA")

	// A name the certificate lacks: a new certificate, the same CA.
	certs.DNSNames = append(certs.DNSNames, "portcullis.example.com")
	g.Expect(renew(now)).To(BeTrue())
	g.Expect(secret.Data["ca.crt"]).To(Equal(first.Data["ca.crt"]))

	// The CA ends within the lookahead: a new CA and certificate, and the
	// bundle keeps the old CA, still valid, for replicas serving its
	// certificates until they read the Secret again.
	g.Expect(renew(now.Add(10*365*24*time.Hour - 60*24*time.Hour))).To(BeTrue())
	g.Expect(leadCA(secret.Data["ca.crt"]).Equal(leadCA(first.Data["ca.crt"]))).To(BeFalse(), "the CA is not replaced")
	g.Expect(string(secret.Data["ca.crt"])).To(HaveSuffix(string(first.Data["ca.crt"])), "the old CA is dropped from the bundle")
	g.Expect(renew(now.Add(10*365*24*time.Hour-60*24*time.Hour))).To(BeFalse(), "a bundle is renewed like a single CA")

	// Garbage in the Secret is replaced, not served.
	secret.Data = map[string][]byte{"ca.crt": []byte("junk"), "tls.crt": []byte("junk"), "tls.key": []byte("junk")}
	g.Expect(renew(now)).To(BeTrue())
}

func TestCertsWithoutTheirObjects(t *testing.T) {
	ctx := context.Background()
	certs, _ := newTestCerts(t, hooks())
	if err := certs.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "does not exist: create it empty") {
		t.Errorf("no Secret: %v", err)
	}
	// Without a webhook configuration nothing calls the webhook: the
	// certificate is served, and ready, so the manager's readiness does not
	// hang on a configuration someone removed.
	certs, c := newTestCerts(t, emptySecret())
	if err := certs.Refresh(ctx); err != nil {
		t.Errorf("no webhook configuration: %v", err)
	}
	select {
	case <-certs.Ready():
	default:
		t.Error("not ready without a configuration to inject into")
	}
	if err := c.Create(ctx, hooks()); err != nil {
		t.Fatal(err)
	}
	if err := certs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, types.NamespacedName{Name: "hooks"}, cfg); err != nil || len(cfg.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Errorf("the CA is not injected into a configuration that came back: %v", err)
	}
}
