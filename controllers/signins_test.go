package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ingest"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/policy"
	"github.com/portcullis-dev/portcullis/internal/signals"
	"github.com/portcullis-dev/portcullis/test/geoipdb"
)

const ingestToken = "s3cret-ingest-token"

// ingestManager runs the sign-in endpoint in a manager of its own, as a
// second Portcullis process would, so a spec can stop and start it.
type ingestManager struct {
	url  string
	stop func()
}

// startIngest starts a manager with only the sign-in endpoint, configured
// as the manager command configures it, on a free loopback port.
func startIngest(opts manager.Options) ingestManager {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: manager.CacheOptions()})
	Expect(err).NotTo(HaveOccurred())
	mgrCtx, cancel := context.WithCancel(context.Background())
	Expect(kube.SetupIndexes(mgrCtx, mgr)).To(Succeed())
	srv, err := manager.NewIngestServer(mgr, opts, clock.RealClock{}, nil)
	Expect(err).NotTo(HaveOccurred())
	srv.Listener, err = net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	Expect(mgr.Add(srv)).To(Succeed())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	m := ingestManager{url: "http://" + srv.Listener.Addr().String() + ingest.Path, stop: func() { cancel(); <-done }}
	DeferCleanup(m.stop)
	return m
}

// post sends a body of events and returns the status code and the decoded
// result.
func (m ingestManager) post(ctx context.Context, token string, body []byte) (int, signals.Result) {
	var res signals.Result
	var code int
	Eventually(func(g Gomega) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred(), "the endpoint is not up yet")
		defer func() { _ = resp.Body.Close() }()
		code = resp.StatusCode
		g.Expect(code).NotTo(Equal(http.StatusServiceUnavailable), "the manager is not leading yet, or a write lost a race")
		res = signals.Result{}
		g.Expect(json.NewDecoder(resp.Body).Decode(&res)).To(Succeed())
	}).WithContext(ctx).Should(Succeed())
	return code, res
}

func signInLine(subject, ip string, at time.Time) string {
	subj := fmt.Sprintf(`"contractor":%q`, subject)
	if system, id, ok := strings.Cut(subject, "="); ok {
		subj = fmt.Sprintf(`"account":{"system":%q,"id":%q}`, system, id)
	}
	return fmt.Sprintf(`{%s,"ip":%q,"time":%q}`, subj, ip, at.UTC().Format(time.RFC3339))
}

// ingestOptions configures the endpoint with small GeoIP databases (a US
// range and a North Korean one) and a Tor exit list.
func ingestOptions(secretNS string) manager.Options {
	opts := manager.DefaultOptions()
	opts.Ingest.Addr = "127.0.0.1:0"
	opts.Ingest.TokenSecret = secretNS + "/ingest-tokens"
	opts.CredentialsNamespace = secretNS
	opts.Ingest.MaxBodyBytes = 64 << 10
	t := GinkgoT()
	opts.Ingest.Enricher.CountryDB = geoipdb.Write(t, "GeoIP2-Country", map[string]mmdbtype.Map{
		"203.0.113.0/24": geoipdb.Country("US"), "175.45.176.0/22": geoipdb.Country("KP")})
	opts.Ingest.Enricher.ASNDB = geoipdb.Write(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"203.0.113.0/24": geoipdb.ASN(7922, "Comcast Cable Communications, LLC")})
	opts.Ingest.Enricher.TorExitList = filepath.Join(t.TempDir(), "tor-exits.txt")
	Expect(os.WriteFile(opts.Ingest.Enricher.TorExitList, []byte("185.220.101.4\n"), 0o600)).To(Succeed())
	return opts
}

// installLibrary installs the default policy library for the contractors
// with the given labels only, and removes it when the spec ends.
func installLibrary(ctx SpecContext, selector map[string]string) {
	modules, err := policy.DefaultModules()
	Expect(err).NotTo(HaveOccurred())
	for _, m := range modules {
		pol := newPolicy(uniqueName(m.Name), m.Source)
		pol.Spec.ContractorSelector = &metav1.LabelSelector{MatchLabels: selector}
		create(ctx, pol)
		expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
	}
}

func withPassedDocument(c *accessv1alpha1.Contractor) {
	c.Spec.VerificationChecks = []accessv1alpha1.VerificationCheck{{Type: "Document", Result: accessv1alpha1.VerificationPassed,
		Required: true, CompletedAt: &metav1.Time{Time: time.Now().Add(-30 * 24 * time.Hour)}}}
}

// findingsOf returns the contractor's Findings by type (and anonymizer kind).
func findingsOf(ctx context.Context, g Gomega, ns, contractor string) map[string]accessv1alpha1.Finding {
	list := &accessv1alpha1.FindingList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	out := map[string]accessv1alpha1.Finding{}
	for _, f := range list.Items {
		if f.Spec.ContractorRef.Name != contractor {
			continue
		}
		key := string(f.Spec.Type)
		if f.Spec.AnonymizerKind != "" {
			key += "/" + string(f.Spec.AnonymizerKind)
		}
		g.Expect(out).NotTo(HaveKey(key), "two %s findings for %s", key, contractor)
		out[key] = f
	}
	return out
}

var _ = Describe("Sign-in ingestion", func() {
	It("turns a laptop farm into one Finding per signal, keeps correlating across a restart, and the default library weighs them", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		system := uniqueName("cluster")
		create(ctx, newSystem(system))
		selector := map[string]string{"portcullis-test": ns}
		grants := map[string]*accessv1alpha1.AccessGrant{}
		for _, name := range []string{"sam", "kim", "lee"} {
			c := newContractor(ns, name, withAccount(system, name+"@contractors.example.com"), withPassedDocument)
			c.Labels = selector
			create(ctx, c)
			grants[name] = newGrant(ns, name+"-edit", name, system)
			create(ctx, grants[name])
		}
		installLibrary(ctx, selector)
		for _, g := range grants {
			expectState(ctx, g, accessv1alpha1.GrantActive)
		}
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ingest-tokens"},
			Data: map[string][]byte{"pipeline": append(secretUsed(ingestToken), '\n')}})
		opts := ingestOptions(ns)
		at := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
		// lee's sign-ins from North Korea, at+1m and at+30m, must fall in one
		// ISO week: the ingester observes a country once a week.
		if _, w := at.UTC().ISOWeek(); w != isoWeek(at.Add(30*time.Minute)) {
			at = at.Add(-time.Hour)
		}

		By("refusing requests without a valid token, and writing nothing")
		first := startIngest(opts)
		phase1 := []byte(strings.Join([]string{
			signInLine(system+"=sam@contractors.example.com", "203.0.113.50", at),
			signInLine(ns+"/lee", "175.45.176.9", at.Add(time.Minute)),
		}, "\n"))
		code, _ := first.post(ctx, "wrong-token", phase1)
		Expect(code).To(Equal(http.StatusUnauthorized))
		resp, err := http.Post(first.url, "application/x-ndjson", bytes.NewReader(phase1))
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Body.Close()).To(Succeed())
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
		Expect(resp.Header.Get("WWW-Authenticate")).To(HavePrefix("Bearer"))
		Consistently(func(g Gomega) { g.Expect(findingsOf(ctx, g, ns, "lee")).To(BeEmpty()) }).
			WithTimeout(300 * time.Millisecond).WithContext(ctx).Should(Succeed())

		By("taking sam's sign-in from the farm address and lee's from North Korea")
		code, res := first.post(ctx, ingestToken, phase1)
		Expect(code).To(Equal(http.StatusOK), "%+v", res)
		Expect(res.Accepted).To(Equal(2))
		Expect(res.FindingsCreated).To(Equal(1), "lee's geolocation finding")

		By("restarting the ingesting manager")
		first.stop()
		second := startIngest(opts)

		By("correlating kim's sign-in from the same address with sam's from before the restart")
		phase2 := []byte(strings.Join([]string{
			signInLine(ns+"/kim", "203.0.113.50", at.Add(10*time.Minute)),
			signInLine(ns+"/kim", "185.220.101.4", at.Add(20*time.Minute)),
			signInLine(ns+"/lee", "175.45.176.10", at.Add(30*time.Minute)),
			signInLine(ns+"/nobody", "203.0.113.51", at),
			`{"contractor":"` + ns + `/kim","ip":"203.0.113.50","time":"2999-01-01T00:00:00Z"}`,
		}, "\n"))
		code, res = second.post(ctx, ingestToken, phase2)
		Expect(code).To(Equal(http.StatusOK), "%+v", res)
		// A write that loses a race with another writer answers 503 and
		// post sends the batch again: what the first try stored comes back
		// as duplicates, and nothing is lost or counted twice.
		Expect(res.Accepted+res.Duplicates).To(Equal(3), "%+v", res)
		Expect(res.Rejected).To(HaveLen(2))
		Expect(res.Rejected[0].Index).To(Equal(3))
		Expect(res.Rejected[0].Error).To(ContainSubstring("does not exist"))
		Expect(res.Rejected[1].Index).To(Equal(4))
		Expect(res.Rejected[1].Error).To(ContainSubstring("in the future"))

		By("counting nothing twice when the same batch comes again")
		code, res = second.post(ctx, ingestToken, phase2)
		Expect(code).To(Equal(http.StatusOK))
		Expect(res.Accepted).To(BeZero())
		Expect(res.Duplicates).To(Equal(3))
		Expect(res.FindingsCreated + res.FindingsUpdated).To(BeZero())

		sam, kim, lee := findingsOf(ctx, Default, ns, "sam"), findingsOf(ctx, Default, ns, "kim"), findingsOf(ctx, Default, ns, "lee")
		Expect(sam).To(HaveLen(1))
		Expect(sam["shared-infrastructure"].Spec.Evidence.RelatedContractors).To(Equal([]string{"kim"}))
		Expect(kim).To(HaveLen(2))
		Expect(kim["shared-infrastructure"].Spec.Evidence.RelatedContractors).To(Equal([]string{"sam"}))
		Expect(kim["shared-infrastructure"].Spec.Evidence.IP).To(Equal("203.0.113.50"))
		Expect(kim["anonymizer/tor"].Spec.Count).To(Equal(int64(1)))
		Expect(lee).To(HaveLen(1))
		sanctioned := lee["geolocation"]
		Expect(sanctioned.Spec.Count).To(Equal(int64(2)), "the repeat bumps the count of the one finding")
		Expect(sanctioned.Spec.Severity).To(Equal(signals.Observed), "the ingester observes; the policies judge")
		Expect(sanctioned.Spec.Evidence.Country).To(BeEquivalentTo("KP"))
		Expect(sanctioned.Spec.LastSeen.Time).To(BeTemporally("==", at.Add(30*time.Minute)))
		Expect(sanctioned.Spec.ExpiresAt.Time).To(BeTemporally("~", time.Now().Add(30*24*time.Hour), time.Minute))
		year, week := at.UTC().ISOWeek()
		Expect(sanctioned.Name).To(Equal(signals.FindingName("lee", accessv1alpha1.FindingGeolocation, fmt.Sprintf("KP/%d-W%02d", year, week))))

		c := &accessv1alpha1.Contractor{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kim"}, c)).To(Succeed())
		Expect(c.Status.SignIns).NotTo(BeNil())
		Expect(c.Status.SignIns.Total).To(Equal(int64(2)))
		Expect(c.Status.SignIns.Recent[0].IP).To(Equal("185.220.101.4"))

		By("quarantining kim, whose shared address comes with a Tor exit, and revoking the one from a sanctioned country")
		expectState(ctx, grants["kim"], accessv1alpha1.GrantQuarantined)
		Expect(grants["kim"].Status.Decision.Reasons).To(ContainElement(HaveField("Code", "SharedAddress")))
		expectState(ctx, grants["lee"], accessv1alpha1.GrantRevoked)
		By("leaving sam alone: one address shared with one other contractor is a household or an office, not a farm")
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(grants["sam"]), grants["sam"])).To(Succeed())
			g.Expect(grants["sam"].Status.Enforcement.State).To(Equal(accessv1alpha1.GrantActive))
		}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())
		By("showing sam's risk all the same, with the contribution that does not act, on the grant and the contractor")
		Expect(grants["sam"].Status.Risk).NotTo(BeNil())
		Expect(grants["sam"].Status.Risk.Level).To(Equal(accessv1alpha1.RiskMedium))
		Expect(grants["sam"].Status.Risk.Contributions).To(ConsistOf(HaveField("Code", "SharedAddress")))
		Eventually(func(g Gomega) {
			c := &accessv1alpha1.Contractor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kim"}, c)).To(Succeed())
			g.Expect(c.Status.Risk).NotTo(BeNil())
			g.Expect(c.Status.Risk.Level).To(Equal(accessv1alpha1.RiskHigh))
			g.Expect(c.Status.Risk.Contributions).To(ContainElements(HaveField("Code", "SharedAddress"), HaveField("Code", "TorExit")))
		}).WithContext(ctx).Should(Succeed())

		By("rebuilding the history from the senders' log after a restore that lost every status")
		summaries := map[string]*accessv1alpha1.SignInSummary{}
		for _, name := range []string{"sam", "kim", "lee"} {
			c := &accessv1alpha1.Contractor{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)).To(Succeed())
			summaries[name] = c.Status.SignIns
			patch := client.MergeFrom(c.DeepCopy())
			c.Status.SignIns = nil
			Expect(k8sClient.Status().Patch(ctx, c, patch)).To(Succeed())
		}
		second.stop() // a restore brings a new manager, with a new cache
		third := startIngest(opts)
		for _, body := range [][]byte{phase1, phase2} {
			code, res = third.post(ctx, ingestToken, body)
			Expect(code).To(Equal(http.StatusOK), "%+v", res)
			Expect(res.FindingsCreated).To(BeZero(), "a replay creates no Finding twice")
		}
		Eventually(func(g Gomega) {
			for name, want := range summaries {
				c := &accessv1alpha1.Contractor{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)).To(Succeed())
				g.Expect(c.Status.SignIns).NotTo(BeNil())
				g.Expect(c.Status.SignIns.Total).To(Equal(want.Total), name)
				g.Expect(c.Status.SignIns.Countries).To(Equal(want.Countries), name)
				g.Expect(c.Status.SignIns.Recent).To(HaveLen(len(want.Recent)), name)
			}
		}).WithContext(ctx).Should(Succeed())
		lee = findingsOf(ctx, Default, ns, "lee")
		Expect(lee["geolocation"].Spec.Count).To(Equal(int64(2)), "a replay counts no sign-in twice")
		kim = findingsOf(ctx, Default, ns, "kim")
		Expect(kim["anonymizer/tor"].Spec.Count).To(Equal(int64(1)))

		By("refusing an oversized body with a clear error")
		big := bytes.Repeat([]byte(signInLine(ns+"/kim", "203.0.113.50", at)+"\n"), 2000)
		code, _ = third.post(ctx, ingestToken, big)
		Expect(code).To(Equal(http.StatusRequestEntityTooLarge))
	})
})

var _ = Describe("Sign-in endpoint tokens", func() {
	It("accept every value of the Secret, follow its rotation, and fail closed when it is gone", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ingest-tokens"},
			Data: map[string][]byte{"siem": []byte("old-token"), "empty": []byte("  \n")}}
		create(ctx, secret)
		tokens := &ingest.Tokens{Reader: k8sClient, Secret: client.ObjectKeyFromObject(secret), Clock: clock.RealClock{}}
		valid := func(token string) bool {
			ok, err := tokens.Valid(ctx, token)
			Expect(err).NotTo(HaveOccurred())
			return ok
		}
		Expect(valid("old-token")).To(BeTrue())
		Expect(valid("")).To(BeFalse(), "an empty value is no token")
		Expect(valid("old-token-and-more")).To(BeFalse())

		By("adding a new token, then removing the old one")
		mutate(ctx, secret, func(s *corev1.Secret) { s.Data["next"] = []byte("new-token") })
		Expect(valid("new-token")).To(BeTrue())
		Expect(valid("old-token")).To(BeTrue())
		mutate(ctx, secret, func(s *corev1.Secret) { delete(s.Data, "siem") })
		Expect(valid("old-token")).To(BeFalse())

		By("failing, not accepting, when the Secret is gone")
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		_, err := tokens.Valid(ctx, "new-token")
		Expect(err).To(MatchError(ContainSubstring("reading the token Secret " + ns + "/ingest-tokens")))
	})
})

// isoWeek is the ISO week number of t in UTC.
func isoWeek(t time.Time) int {
	_, w := t.UTC().ISOWeek()
	return w
}
