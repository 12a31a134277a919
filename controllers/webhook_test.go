package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors/webhook"
)

// receiver is an HTTP receiver of Portcullis events that checks every
// signature, fails the first `failures` deliveries, and records the rest.
type receiver struct {
	key      []byte
	mu       sync.Mutex
	failures int
	attempts []webhook.Event // every signed delivery, failed or not
	accepted []webhook.Event // deliveries answered with 204
	bad      []string        // problems with deliveries
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		return
	}
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := webhook.Verify(rc.key, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature),
		body, time.Now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != webhook.ContentType {
		rc.bad = append(rc.bad, "content type "+ct)
	}
	ev := webhook.Event{}
	if err := json.Unmarshal(body, &ev); err != nil || ev.SpecVersion != "1.0" || ev.ID == "" {
		rc.bad = append(rc.bad, "not a CloudEvent: "+string(body))
	}
	rc.attempts = append(rc.attempts, ev)
	if rc.failures > 0 {
		rc.failures--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	for _, seen := range rc.accepted {
		if seen.ID == ev.ID {
			// Redelivery of an event already applied: a receiver drops it.
			w.WriteHeader(http.StatusNoContent)
			rc.bad = append(rc.bad, "duplicate delivery of "+ev.ID)
			return
		}
	}
	rc.accepted = append(rc.accepted, ev)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() (attempts, accepted []webhook.Event, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhook.Event(nil), rc.attempts...), append([]webhook.Event(nil), rc.accepted...), append([]string(nil), rc.bad...)
}

var _ = Describe("AccessGrant enforcement through a webhook", func() {
	It("delivers signed CloudEvents, retries a failing receiver without losing or duplicating a transition", func(ctx SpecContext) {
		w := newWorld(ctx)
		const secretValue = "hmac-s3cr3t-do-not-leak"
		rc := &receiver{key: []byte(secretValue), failures: 3}
		server := httptest.NewServer(rc)
		DeferCleanup(server.Close)

		secretName := uniqueName("hook")
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: secretName},
			Data: map[string][]byte{webhook.CredentialKey: secretUsed(secretValue)}})
		system := newSystem(uniqueName("hook"), withWebhook(server.URL, accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: secretName}))
		create(ctx, system)
		w.addAccount(ctx, system.Name, "sam-ext-42")

		grant := newGrant(w.ns, "hooked", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments-admin"}
		})
		create(ctx, grant)

		By("failing while the receiver fails, then applying")
		expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonEnforcementFailed)
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		expectReady(ctx, grant, metav1.ConditionTrue, accessv1alpha1.ReasonEnforced)
		Expect(grant.Status.Enforcement.Attempts).To(BeZero())
		Expect(grant.Status.Enforcement.LastError).To(BeEmpty())

		By("quarantining and restoring")
		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "VN")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectState(ctx, grant, accessv1alpha1.GrantActive)

		attempts, accepted, bad := rc.snapshot()
		Expect(bad).To(BeEmpty())
		Expect(accepted).To(HaveLen(3))
		Expect(accepted[0].Type).To(Equal(webhook.TypeActivated))
		Expect(accepted[1].Type).To(Equal(webhook.TypeQuarantined))
		Expect(accepted[2].Type).To(Equal(webhook.TypeActivated))
		Expect(accepted[0].ID).NotTo(Equal(accepted[2].ID), "two activations are two transitions")
		Expect(accepted[1].Data).To(Equal(webhook.Data{
			Grant: w.ns + "/hooked", GrantUID: string(grant.UID), Contractor: w.contractor, Account: "sam-ext-42",
			Entitlement: grant.Spec.Entitlement, State: accessv1alpha1.GrantQuarantined,
		}))
		Expect(attempts).To(HaveLen(6), "three failed deliveries and three accepted ones")
		for _, failed := range attempts[:3] {
			Expect(failed.ID).To(Equal(accepted[0].ID), "a retry carries the id of the transition it retries")
		}

		By("never showing the signing key")
		raw, err := yaml.Marshal(grant)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring(secretValue))
		events := &eventsv1.EventList{}
		Expect(k8sClient.List(ctx, events, client.InNamespace(w.ns))).To(Succeed())
		for _, e := range events.Items {
			Expect(e.Note).NotTo(ContainSubstring(secretValue))
		}
		Expect(strings.Join(eventReasons(ctx, grant), ",")).To(ContainSubstring(accessv1alpha1.ReasonEnforcementFailed))

		By("telling the receiver when the grant is deleted")
		Expect(k8sClient.Delete(ctx, grant)).To(Succeed())
		Eventually(func() []webhook.Event { _, acc, _ := rc.snapshot(); return acc }).WithContext(ctx).
			Should(ContainElement(HaveField("Type", webhook.TypeRemoved)))
	})
})
