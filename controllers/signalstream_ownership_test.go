package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
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
