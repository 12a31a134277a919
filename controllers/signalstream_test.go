package controllers_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/test/ssfserver"
)

// signalInterval is how often the suite's SignalStreams poll and sync.
const signalInterval = 200 * time.Millisecond

var (
	signalSink     *recordingSink
	signalReceiver *httptest.Server
)

// recordingSink is the SignalSink of the suite: it records the SETs each
// stream hands on (the boundary to internal/signalsink).
type recordingSink struct {
	mu   sync.Mutex
	sets map[string][]*ssf.SET
	srcs map[string]signalsink.Source
	slow map[string]time.Duration
}

func (s *recordingSink) Receive(_ context.Context, src signalsink.Source, set *ssf.SET) (signalsink.Outcome, error) {
	s.mu.Lock()
	d := s.slow[src.Name]
	delete(s.slow, src.Name)
	s.mu.Unlock()
	time.Sleep(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sets == nil {
		s.sets, s.srcs = map[string][]*ssf.SET{}, map[string]signalsink.Source{}
	}
	s.sets[src.Name] = append(s.sets[src.Name], set)
	s.srcs[src.Name] = src
	return signalsink.Outcome{Unmatched: 1}, nil
}

// received are the SETs stream handed on, in order.
func (s *recordingSink) received(stream string) []*ssf.SET {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sets[stream])
}

func (s *recordingSink) source(stream string) signalsink.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srcs[stream]
}

// slowOnce makes the next SET of stream take d in the sink.
func (s *recordingSink) slowOnce(stream string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slow == nil {
		s.slow = map[string]time.Duration{}
	}
	s.slow[stream] = d
}

func jtis(sets []*ssf.SET) []string {
	out := make([]string, 0, len(sets))
	for _, s := range sets {
		out = append(out, s.JTI)
	}
	return out
}

// signalWorld is a spec's fake transmitter and the Secrets of its tokens.
type signalWorld struct {
	fake              *ssfserver.Server
	creds, pushSecret string
}

const signalPushToken = "push-bearer-token-for-the-suite-7f3a9"

func newSignalWorld(ctx SpecContext, pushTimeout time.Duration, token string) *signalWorld {
	push := *signalReceiver.Client()
	push.Timeout = pushTimeout
	fake, err := ssfserver.New(ssfserver.Options{Token: "mgmt-bearer-token-for-the-suite-91c2e", PushClient: &push})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(fake.Close)
	w := &signalWorld{fake: fake, creds: uniqueName("ssf"), pushSecret: uniqueName("ssf-push")}
	if token == "" {
		token = fake.Token()
	}
	create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: w.creds},
		Data: map[string][]byte{"token": secretUsed(token)}})
	create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: w.pushSecret},
		Data: map[string][]byte{"token": secretUsed(signalPushToken)}})
	return w
}

func (w *signalWorld) stream(ctx SpecContext, change func(*accessv1alpha1.SignalStream)) *accessv1alpha1.SignalStream {
	s := &accessv1alpha1.SignalStream{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("stream")},
		Spec: accessv1alpha1.SignalStreamSpec{
			Issuer:               w.fake.Issuer(),
			CredentialsSecretRef: accessv1alpha1.SecretKeyReference{Namespace: credentialsNS, Name: w.creds},
			TLS:                  &accessv1alpha1.SignalStreamTLS{CABundle: w.fake.CertificatePEM()},
		}}
	if change != nil {
		change(s)
	}
	create(ctx, s)
	return s
}

func pushDelivery(w *signalWorld) func(*accessv1alpha1.SignalStream) {
	return func(s *accessv1alpha1.SignalStream) {
		s.Spec.Delivery = accessv1alpha1.SignalStreamDelivery{Method: accessv1alpha1.SignalDeliveryPush,
			AuthorizationSecretRef: &accessv1alpha1.SecretKeyReference{Namespace: credentialsNS, Name: w.pushSecret}}
	}
}

// expectVerified waits until the stream is Receiving and verified, and
// returns its stream at the transmitter.
func (w *signalWorld) expectVerified(ctx SpecContext, s *accessv1alpha1.SignalStream) ssfserver.Stream {
	expectReady(ctx, s, metav1.ConditionTrue, accessv1alpha1.ReasonReceiving)
	Expect(s.Status.Verification.VerifiedAt).NotTo(BeNil())
	Expect(s.Status.Verification.RequestedAt).NotTo(BeNil())
	st, ok := w.fake.Stream(s.Status.StreamID)
	Expect(ok).To(BeTrue(), "the status names stream %q, which the transmitter does not have", s.Status.StreamID)
	return st
}

var sam = ssf.SubjectID{Format: ssf.FormatEmail, Email: "sam@contractors.example.com"}

var _ = Describe("SignalStream", func() {
	It("creates a poll stream with the requested events, verifies it, and hands each SET to the sink once", func(ctx SpecContext) {
		w := newSignalWorld(ctx, 2*time.Second, "")
		s := w.stream(ctx, func(s *accessv1alpha1.SignalStream) {
			s.Spec.Events = []accessv1alpha1.SignalEvent{accessv1alpha1.SignalCredentialCompromise, accessv1alpha1.SignalSessionRevoked}
			s.Spec.AccountSystems = []string{"okta-prod"}
		})
		st := w.expectVerified(ctx, s)
		Expect(st.Config.EventsRequested).To(ConsistOf(ssf.EventCredentialCompromise, ssf.EventSessionRevoked))
		Expect(st.Config.Delivery.Method).To(Equal(ssf.MethodPoll))
		Expect(s.Status.EventsDelivered).To(Equal([]string{"credential-compromise", "session-revoked"}))
		Expect(s.Status.EndpointURL).To(Equal(st.Config.Delivery.EndpointURL))
		Expect(s.Status.Audience).To(Equal(w.fake.Audience()))
		Expect(s.Status.StreamStatus).To(Equal(ssf.StreamEnabled))

		jti := w.fake.Emit(s.Status.StreamID, ssf.EventCredentialCompromise, sam, map[string]any{"credential_type": "password"})
		Expect(jti).NotTo(BeEmpty())
		Eventually(func() []string { return jtis(signalSink.received(s.Name)) }).WithContext(ctx).Should(Equal([]string{jti}))
		Consistently(func() []string { return jtis(signalSink.received(s.Name)) }).WithContext(ctx).
			WithTimeout(5 * signalInterval).Should(HaveLen(1))
		got := signalSink.received(s.Name)[0]
		Expect(got.Subject).To(Equal(&sam))
		Expect(got.Events).To(HaveKey(ssf.EventCredentialCompromise))
		Expect(signalSink.source(s.Name)).To(Equal(signalsink.Source{Name: s.Name, Issuer: w.fake.Issuer(), Systems: []string{"okta-prod"}}))
		Expect(w.fake.Delivered(s.Status.StreamID)).To(ContainElement(jti))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			c := s.Status.Counts
			g.Expect(c.Accepted).To(BeEquivalentTo(1))
			g.Expect(c.Unmatched).To(BeEquivalentTo(1))
			g.Expect(c.Received).To(BeNumerically(">=", 2), "the verification event and the SET")
			g.Expect(s.Status.LastEventTime).NotTo(BeNil())
			g.Expect(s.Status.LastPollTime).NotTo(BeNil())
		}).WithContext(ctx).Should(Succeed())
	})

	It("receives pushed SETs through SignalReceivers, once even when the transmitter delivers again", func(ctx SpecContext) {
		w := newSignalWorld(ctx, 300*time.Millisecond, "")
		s := w.stream(ctx, pushDelivery(w))
		st := w.expectVerified(ctx, s)
		Expect(st.Config.Delivery.Method).To(Equal(ssf.MethodPush))
		Expect(st.Config.Delivery.EndpointURL).To(HaveSuffix("/ssf/receive/" + s.Name))
		Expect(st.Config.Delivery.AuthorizationHeader).To(Equal("Bearer " + signalPushToken))
		Expect(s.Status.EndpointURL).To(Equal(st.Config.Delivery.EndpointURL))

		// The sink outlasts the transmitter's push timeout: it pushes again.
		signalSink.slowOnce(s.Name, time.Second)
		jti := w.fake.Emit(s.Status.StreamID, ssf.EventCredentialCompromise, sam, map[string]any{"credential_type": "password"})
		Eventually(func() []string { return w.fake.Delivered(s.Status.StreamID) }).WithContext(ctx).Should(ContainElement(jti))
		Expect(w.fake.Attempts(s.Status.StreamID, jti)).To(BeNumerically(">=", 2))
		Consistently(func() []string { return jtis(signalSink.received(s.Name)) }).WithContext(ctx).
			WithTimeout(time.Second).Should(Equal([]string{jti}))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			g.Expect(s.Status.Counts.Accepted).To(BeEquivalentTo(1))
		}).WithContext(ctx).Should(Succeed())
	})

	It("refuses a SET signed with an unknown key, which never reaches the sink", func(ctx SpecContext) {
		w := newSignalWorld(ctx, 2*time.Second, "")
		s := w.stream(ctx, nil)
		w.expectVerified(ctx, s)
		// A new key right after the JWKS was read: its kid is unknown
		// until the key source may fetch again (a minute).
		_, err := w.fake.RotateKey()
		Expect(err).NotTo(HaveOccurred())
		jti := w.fake.Emit(s.Status.StreamID, ssf.EventSessionRevoked, sam, nil)
		Eventually(func() map[string]string { return w.fake.Rejected(s.Status.StreamID) }).WithContext(ctx).
			Should(HaveKeyWithValue(jti, ssf.CodeInvalidKey))
		Expect(signalSink.received(s.Name)).To(BeEmpty())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			g.Expect(s.Status.Counts.Refused).To(BeEquivalentTo(1))
			g.Expect(s.Status.Counts.Accepted).To(BeZero())
		}).WithContext(ctx).Should(Succeed())
	})

	It("shows a stream the transmitter paused, pauses it for suspend, and deletes it with the SignalStream", func(ctx SpecContext) {
		w := newSignalWorld(ctx, 2*time.Second, "")
		s := w.stream(ctx, nil)
		w.expectVerified(ctx, s)
		id := s.Status.StreamID
		mgmt := transmitterClient(ctx, w)
		_, err := mgmt.SetStatus(ctx, ssf.StreamStatus{StreamID: id, Status: ssf.StreamPaused, Reason: "maintenance"})
		Expect(err).NotTo(HaveOccurred())
		cond := expectReady(ctx, s, metav1.ConditionFalse, accessv1alpha1.ReasonStreamPaused)
		Expect(cond.Message).To(ContainSubstring("maintenance"))
		Expect(s.Status.StreamStatus).To(Equal(ssf.StreamPaused))
		_, err = mgmt.SetStatus(ctx, ssf.StreamStatus{StreamID: id, Status: ssf.StreamEnabled})
		Expect(err).NotTo(HaveOccurred())
		expectReady(ctx, s, metav1.ConditionTrue, accessv1alpha1.ReasonReceiving)

		mutate(ctx, s, func(s *accessv1alpha1.SignalStream) { s.Spec.Suspend = true })
		expectReady(ctx, s, metav1.ConditionTrue, accessv1alpha1.ReasonSuspended)
		st, _ := w.fake.Stream(id)
		Expect(st.Status).To(Equal(ssfserver.StatusPaused))
		held := w.fake.Emit(id, ssf.EventSessionRevoked, sam, nil)
		Consistently(func() []*ssf.SET { return signalSink.received(s.Name) }).WithContext(ctx).
			WithTimeout(5 * signalInterval).Should(BeEmpty())

		mutate(ctx, s, func(s *accessv1alpha1.SignalStream) { s.Spec.Suspend = false })
		Eventually(func() []string { return jtis(signalSink.received(s.Name)) }).WithContext(ctx).Should(Equal([]string{held}))
		st, _ = w.fake.Stream(id)
		Expect(st.Status).To(Equal(ssfserver.StatusEnabled))

		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool {
			_, ok := w.fake.Stream(id)
			return ok
		}).WithContext(ctx).Should(BeFalse())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s))
		}).WithContext(ctx).Should(BeTrue())
	})

	It("stalls with CredentialsRefused when the transmitter refuses the token", func(ctx SpecContext) {
		w := newSignalWorld(ctx, 2*time.Second, "not-the-management-token-5d1e")
		s := w.stream(ctx, nil)
		cond := expectCondition(ctx, s, accessv1alpha1.ConditionStalled, metav1.ConditionTrue, accessv1alpha1.ReasonCredentialsRefused)
		Expect(cond.Message).To(ContainSubstring(w.creds))
		Expect(cond.Message).To(ContainSubstring("put a valid token there"))
		Expect(w.fake.Streams()).To(BeEmpty())
	})
})

// transmitterClient manages the world's streams as the transmitter's
// operator would.
func transmitterClient(ctx context.Context, w *signalWorld) *ssf.StreamClient {
	md, err := ssf.Discover(ctx, w.fake.Client(), w.fake.Issuer())
	Expect(err).NotTo(HaveOccurred())
	return &ssf.StreamClient{HTTP: w.fake.Client(), Metadata: md, Token: w.fake.Token()}
}
