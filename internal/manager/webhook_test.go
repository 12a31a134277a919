package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/test/freeport"
)

// warnings collects the warnings the API server returns.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.seen, "\n")
}

const (
	goodRego   = "package good\n\nquarantine contains {\"code\": \"never\", \"msg\": \"never\"} if false\n"
	brokenRego = "package broken\n\nquarantine contains r if {\n\tr := {\"msg\": input.grant.spec.role\n}\n"
)

func policyObject(name, rego string) *accessv1alpha1.AccessPolicy {
	return &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.AccessPolicySpec{Rego: rego}}
}

func exceptionObject(name, pol string) *accessv1alpha1.PolicyException {
	return &accessv1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: accessv1alpha1.PolicyExceptionSpec{Policy: pol, Reason: "travel", Approver: "security@example.com",
			ContractorRef: &accessv1alpha1.ContractorReference{Name: "sam"},
			ExpiresAt:     metav1.NewTime(time.Now().Add(24 * time.Hour))}}
}

// TestWebhookAndSecureMetrics runs the production manager against a real
// API server that calls its webhook: the manager makes its certificate,
// injects the CA, and the API server refuses what the engine cannot
// compile. Its /metrics answers only callers the API server vouches for.
func TestWebhookAndSecureMetrics(t *testing.T) {
	g := NewWithT(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true, BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	seen := &warnings{}
	cfg.WarningHandler = seen
	scheme, err := NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	const ns = "portcullis-system"
	opts := DefaultOptions()
	g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: opts.Webhook.Secret}})).To(Succeed())
	port, err := freeport.Port()
	g.Expect(err).NotTo(HaveOccurred())
	hook, err := admission.LocalConfiguration(opts.Webhook.Configuration, fmt.Sprintf("https://localhost:%d", port))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(admin.Create(ctx, hook)).To(Succeed())

	opts.MetricsAddr, err = freeport.Addr()
	g.Expect(err).NotTo(HaveOccurred())
	opts.ProbeAddr, opts.Ingest.Addr, opts.CredentialsNamespace = "0", "0", ns
	opts.Webhook.Addr, opts.Webhook.DNSNames = fmt.Sprintf("127.0.0.1:%d", port), []string{"localhost"}
	mgr, err := New(ctx, cfg, opts)
	g.Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager failed: %v", err)
		}
	})

	// Until the CA is injected the API server cannot call the webhook, and
	// failurePolicy Fail refuses the request: wait for the real verdict.
	g.Eventually(func() string {
		err := admin.Create(ctx, policyObject("broken", brokenRego))
		if err == nil {
			return "created"
		}
		return err.Error()
	}).WithTimeout(60 * time.Second).WithPolling(200 * time.Millisecond).Should(ContainSubstring("spec.rego"))

	t.Run("the CA is injected and the certificate kept in the Secret", func(t *testing.T) {
		g := NewWithT(t)
		got := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Name: opts.Webhook.Configuration}, got)).To(Succeed())
		secret := &corev1.Secret{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: opts.Webhook.Secret}, secret)).To(Succeed())
		g.Expect(secret.Data).To(HaveKey("tls.key"))
		for _, w := range got.Webhooks {
			g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), w.Name)
		}
	})

	t.Run("a policy that does not compile is refused with line:col", func(t *testing.T) {
		g := NewWithT(t)
		err := admin.Create(ctx, policyObject("broken", brokenRego))
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		g.Expect(err.Error()).To(MatchRegexp(`spec\.rego: Invalid value: broken:\d+:\d+: `))
		g.Expect(err.Error()).NotTo(ContainSubstring("input.grant.spec.role"), "the source is not echoed back")

		err = admin.Create(ctx, policyObject("single", "package single\n\nrevoke := {\"msg\": \"x\"}\n"))
		g.Expect(err).To(MatchError(ContainSubstring("single:3:1: revoke must be a set")))
		err = admin.Create(ctx, policyObject("caller", "package caller\n\nrevoke contains {\"msg\": \"x\"} if http.send({\"method\": \"GET\", \"url\": \"https://example.com\"})\n"))
		g.Expect(err).To(MatchError(ContainSubstring("http.send")))
		err = admin.Create(ctx, &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "selector"},
			Spec: accessv1alpha1.AccessPolicySpec{Rego: goodRego, ContractorSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}}}}})
		g.Expect(err).To(MatchError(ContainSubstring("spec.contractorSelector")))
	})

	t.Run("a good policy is admitted, and the controller still writes its status", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, policyObject("good", goodRego))).To(Succeed())
		g.Eventually(func() bool {
			p := &accessv1alpha1.AccessPolicy{}
			return admin.Get(ctx, client.ObjectKey{Name: "good"}, p) == nil &&
				meta.IsStatusConditionTrue(p.Status.Conditions, accessv1alpha1.ConditionReady)
		}).WithTimeout(30 * time.Second).Should(BeTrue())

		p := &accessv1alpha1.AccessPolicy{}
		g.Expect(admin.Get(ctx, client.ObjectKey{Name: "good"}, p)).To(Succeed())
		p.Spec.Rego = strings.Replace(brokenRego, "package broken", "package good", 1)
		err := admin.Update(ctx, p)
		g.Expect(err).To(MatchError(ContainSubstring("good:")), "an update that breaks the policy is refused")
	})

	t.Run("regoFrom: a missing ConfigMap is a warning, a broken one a refusal", func(t *testing.T) {
		g := NewWithT(t)
		from := &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "from"}, Spec: accessv1alpha1.AccessPolicySpec{
			RegoFrom: &accessv1alpha1.ConfigMapKeyReference{Namespace: "default", Name: "rules", Key: "policy.rego"}}}
		g.Expect(admin.Create(ctx, from)).To(Succeed())
		g.Expect(seen.all()).To(ContainSubstring("ConfigMap default/rules does not exist yet"))

		g.Expect(admin.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad-rules"},
			Data: map[string]string{"policy.rego": brokenRego}})).To(Succeed())
		bad := from.DeepCopy()
		bad.ObjectMeta = metav1.ObjectMeta{Name: "from-bad"}
		bad.Spec.RegoFrom.Name = "bad-rules"
		g.Expect(admin.Create(ctx, bad)).To(MatchError(ContainSubstring("spec.regoFrom: Invalid value")))
	})

	t.Run("an exception must name an existing policy", func(t *testing.T) {
		g := NewWithT(t)
		err := admin.Create(ctx, exceptionObject("typo", "goood"))
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		g.Expect(err.Error()).To(ContainSubstring(`no AccessPolicy "goood" exists`))
		g.Expect(err.Error()).NotTo(ContainSubstring("from"), "the error names no other policy")

		exc := exceptionObject("ok", "good")
		g.Expect(admin.Create(ctx, exc)).To(Succeed())
		g.Expect(admin.Delete(ctx, policyObject("good", ""))).To(Succeed())
		// The controller writes the exception's status meanwhile: update
		// the latest version, as kubectl does.
		update := func(change func(*accessv1alpha1.PolicyException)) error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				if err := admin.Get(ctx, client.ObjectKeyFromObject(exc), exc); err != nil {
					return err
				}
				change(exc)
				return admin.Update(ctx, exc)
			})
		}
		g.Expect(update(func(e *accessv1alpha1.PolicyException) { e.Labels = map[string]string{"ticket": "SEC-1"} })).
			To(Succeed(), "an exception whose policy went away can still be edited")
		g.Expect(update(func(e *accessv1alpha1.PolicyException) { e.Spec.Policy = "gone" })).
			To(MatchError(ContainSubstring(`no AccessPolicy "gone"`)))
	})

	t.Run("metrics answer only callers the API server authorizes", func(t *testing.T) {
		g := NewWithT(t)
		url := "https://" + opts.MetricsAddr + "/metrics"
		// Without a token, or with a bad one, controller-runtime's filter
		// answers 401 (500 when the token review itself fails): never the
		// metrics.
		refused := BeElementOf(http.StatusUnauthorized, http.StatusInternalServerError)
		g.Expect(scrape(ctx, url, "")).To(refused)
		g.Expect(scrape(ctx, url, "not-a-token")).To(refused)

		// The manager caches a denial for 30 s: the account that is let in
		// is bound before its first request.
		stranger := serviceAccountToken(ctx, g, cfg, admin, "stranger")
		g.Expect(scrape(ctx, url, stranger)).To(Equal(http.StatusForbidden))
		g.Expect(admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}})).To(Succeed())
		g.Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: "prometheus"}}})).To(Succeed())
		token := serviceAccountToken(ctx, g, cfg, admin, "prometheus")
		g.Eventually(func() int { return scrape(ctx, url, token) }).WithTimeout(45 * time.Second).Should(Equal(http.StatusOK))
	})
}

// scrape GETs url with a bearer token and returns the status code.
func scrape(ctx context.Context, url, token string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return -1
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The manager's metrics certificate is self-signed in this test.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test certificate
	resp, err := c.Do(req)
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// serviceAccountToken creates a ServiceAccount in default and a token for it.
func serviceAccountToken(ctx context.Context, g Gomega, cfg *rest.Config, admin client.Client, name string) string {
	g.Expect(admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}})).To(Succeed())
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}
