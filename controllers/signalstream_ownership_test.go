package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/test/ssfserver"
)

var _ = Describe("SignalStream adoption", func() {
	It("does not adopt the one stream another SignalStream has at a transmitter that allows one per receiver", func(ctx SpecContext) {
		fake, err := ssfserver.New(ssfserver.Options{Token: "mgmt-bearer-token-for-the-suite-91c2e", SingleStream: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(fake.Close)
		w := &signalWorld{fake: fake, creds: uniqueName("ssf")}
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: w.creds},
			Data: map[string][]byte{"token": secretUsed(fake.Token())}})
		a := w.stream(ctx, func(s *accessv1alpha1.SignalStream) {
			s.Spec.Events = []accessv1alpha1.SignalEvent{accessv1alpha1.SignalAccountDisabled}
		})
		w.expectVerified(ctx, a)
		b := w.stream(ctx, func(s *accessv1alpha1.SignalStream) {
			s.Spec.Events = []accessv1alpha1.SignalEvent{accessv1alpha1.SignalSessionRevoked}
		})
		cond := expectReady(ctx, b, metav1.ConditionFalse, accessv1alpha1.ReasonStreamFailed)
		Expect(cond.Message).To(ContainSubstring(a.Name))
		Consistently(func() []string {
			st, _ := fake.Stream(a.Status.StreamID)
			return st.Config.EventsRequested
		}).WithContext(ctx).WithTimeout(10 * signalInterval).Should(ConsistOf("https://schemas.openid.net/secevent/risc/event-type/account-disabled"))
	})
})

var _ = Describe("SignalStream removed without its finalizer", func() {
	It("stops receiving pushed SETs on its route", func(ctx SpecContext) {
		w := newSignalWorld(ctx, 300*time.Millisecond, "")
		s := w.stream(ctx, pushDelivery(w))
		w.expectVerified(ctx, s)
		id := s.Status.StreamID
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
		patch := client.MergeFrom(s.DeepCopy())
		s.Finalizers = nil
		Expect(k8sClient.Patch(ctx, s, patch)).To(Succeed())
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s))
		}).WithContext(ctx).Should(BeTrue())
		Eventually(func() error {
			return signalReceiverStatus(ctx, s.Name)
		}).WithContext(ctx).Should(Succeed())
		w.fake.Emit(id, ssf.EventAccountDisabled, sam, nil)
		Consistently(func() []*ssf.SET { return signalSink.received(s.Name) }).WithContext(ctx).
			WithTimeout(2 * time.Second).Should(BeEmpty())
	})
})

// signalReceiverStatus is nil once the receivers answer 404 for the
// stream's route.
func signalReceiverStatus(ctx context.Context, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, signalReceiver.URL+"/ssf/receive/"+name, nil)
	if err != nil {
		return err
	}
	resp, err := signalReceiver.Client().Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("the route answers %d", resp.StatusCode)
	}
	return nil
}
