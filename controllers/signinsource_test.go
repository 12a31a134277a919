package controllers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors/entra"
	googleconn "github.com/portcullis-dev/portcullis/internal/connectors/google"
	"github.com/portcullis-dev/portcullis/internal/connectors/okta"
	"github.com/portcullis-dev/portcullis/test/googleserver"
	"github.com/portcullis-dev/portcullis/test/graphserver"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

// sourceInterval is how often the suite's SignInSources poll.
const sourceInterval = 300 * time.Millisecond

const (
	oktaToken   = "00TsecretOktaApiToken-for-the-suite"
	entraSecret = "Qs8~entra+client/secret=for-the-suite"
	entraClient = "5f0f9a1c-9d55-4a3e-8f0e-2b1f6c7d8e9a"
	torExit     = "185.220.101.4"
)

// idpWorld is a spec's Okta org and Entra tenant, as ConnectedSystems, and
// the contractor sam with an account and a grant of payments-engineers in
// each, under the suite's Tor policy.
type idpWorld struct {
	ns                    string
	okta                  *oktaserver.Server
	graph                 *graphserver.Server
	oktaSys, entraSys     string
	oktaGrant, entraGrnt  *accessv1alpha1.AccessGrant
	samOkta, samEntra     string
	samOktaID             string
	entraGroup, oktaGroup string
}

const (
	samOktaLogin = "sam@contractors.example.com"
	samUPN       = "sam@contoso.onmicrosoft.com"
)

func newIDPWorld(ctx SpecContext) *idpWorld {
	w := &idpWorld{ns: newNamespace(ctx), samOkta: samOktaLogin, samEntra: samUPN}
	w.okta = oktaserver.New(oktaserver.Options{})
	DeferCleanup(w.okta.Close)
	w.okta.AddAPIToken(oktaToken, "")
	w.samOktaID = w.okta.AddUser(samOktaLogin)
	w.oktaGroup = w.okta.AddGroup("payments-engineers")
	w.okta.AddSession(w.samOktaID)
	w.graph = graphserver.New(graphserver.Options{RetryAfter: 1})
	DeferCleanup(w.graph.Close)
	w.graph.RegisterApp(entraClient, entraSecret, nil,
		[]string{"GroupMember.ReadWrite.All", "User.Read.All", "User.EnableDisableAccount.All", "User.RevokeSessions.All"})
	w.graph.AddUser(samUPN)
	w.entraGroup = w.graph.AddGroup("payments-engineers")

	oktaCreds, entraCreds := uniqueName("okta"), uniqueName("entra")
	create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: oktaCreds},
		Data: map[string][]byte{okta.KeyAPIToken: secretUsed(oktaToken)}})
	create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: entraCreds},
		Data: map[string][]byte{entra.KeyClientID: []byte(entraClient), entra.KeyClientSecret: secretUsed(entraSecret)}})
	w.oktaSys, w.entraSys = uniqueName("okta"), uniqueName("entra")
	create(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.oktaSys},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta,
			CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: oktaCreds},
			AllowedEntitlements:  []string{"payments-engineers"},
			Okta:                 &accessv1alpha1.OktaSettings{OrgURL: w.okta.URL(), CABundle: w.okta.CertificatePEM()}}})
	create(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: w.entraSys},
		Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeEntra,
			CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: entraCreds},
			AllowedEntitlements:  []string{"payments-engineers"},
			Entra: &accessv1alpha1.EntraSettings{TenantID: w.graph.TenantID(), AuthorityHost: w.graph.URL(),
				GraphEndpoint: w.graph.URL(), CABundle: w.graph.CertificatePEM()}}})

	labels := map[string]string{"portcullis-test": w.ns}
	c := newContractor(w.ns, "sam", withAccount(w.oktaSys, samOktaLogin), withAccount(w.entraSys, samUPN))
	c.Labels = labels
	create(ctx, c)
	pol := newPolicy(uniqueName("grants"), grantPolicy)
	pol.Spec.ContractorSelector = &metav1.LabelSelector{MatchLabels: labels}
	create(ctx, pol)
	expectReady(ctx, pol, metav1.ConditionTrue, accessv1alpha1.ReasonCompiled)
	group := func(g *accessv1alpha1.AccessGrant) {
		g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments-engineers"}
	}
	w.oktaGrant = newGrant(w.ns, "sam-okta", "sam", w.oktaSys, group)
	w.entraGrnt = newGrant(w.ns, "sam-entra", "sam", w.entraSys, group)
	create(ctx, w.oktaGrant)
	create(ctx, w.entraGrnt)
	expectState(ctx, w.oktaGrant, accessv1alpha1.GrantActive)
	expectState(ctx, w.entraGrnt, accessv1alpha1.GrantActive)
	return w
}

// signInEvent is an Okta System Log event of login signing in from ip.
func signInEvent(login, ip, eventType, result string, at time.Time) oktaserver.LogEvent {
	return oktaserver.LogEvent{Published: at, EventType: eventType, Version: "0", Severity: "INFO",
		Actor:   oktaserver.LogActor{ID: "00u" + strings.ReplaceAll(login, "@", "."), Type: "User", AlternateID: login},
		Client:  oktaserver.LogClient{IPAddress: ip, UserAgent: oktaserver.LogUserAgent{RawUserAgent: "Mozilla/5.0"}},
		Outcome: oktaserver.LogOutcome{Result: result}}
}

func newSource(name, system string) *accessv1alpha1.SignInSource {
	return &accessv1alpha1.SignInSource{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.SignInSourceSpec{System: system, PollIntervalSeconds: 60, LateArrivalSeconds: 600,
			InitialLookbackSeconds: 3600}}
}

// sourceStatus waits for the source's Ready condition and returns it.
func expectSource(ctx context.Context, src *accessv1alpha1.SignInSource, ready metav1.ConditionStatus, reason string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
		c := findCondition(src.Status.Conditions, accessv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(ready), "%+v", src.Status)
		g.Expect(c.Reason).To(Equal(reason), "%+v", src.Status)
	}).WithContext(ctx).Should(Succeed())
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

var _ = Describe("SignInSource", func() {
	It("turns a Tor sign-in in the Okta System Log into a suspension in Okta and a quarantine in Entra, and lifts both when the finding clears", func(ctx SpecContext) {
		w := newIDPWorld(ctx)
		Expect(w.okta.Members(w.oktaGroup)).To(ConsistOf(samOktaLogin))
		Expect(w.graph.Members(w.entraGroup)).To(ConsistOf(samUPN))

		By("reading an empty log")
		src := newSource(uniqueName("okta-log"), w.oktaSys)
		create(ctx, src)
		expectSource(ctx, src, metav1.ConditionTrue, accessv1alpha1.ReasonPolling)
		Expect(src.Status.Cursor).NotTo(BeNil())

		By("taking sam's sign-in from a Tor exit, skipping a failed one, refusing one of an unknown account")
		now := time.Now()
		w.okta.AddLogEvent(signInEvent(samOktaLogin, torExit, "user.session.start", "SUCCESS", now.Add(-time.Minute)))
		w.okta.AddLogEvent(signInEvent(samOktaLogin, "203.0.113.9", "user.session.start", "FAILURE", now.Add(-50*time.Second)))
		w.okta.AddLogEvent(signInEvent("stranger@example.com", "203.0.113.10", "user.authentication.sso", "SUCCESS", now.Add(-40*time.Second)))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
			g.Expect(src.Status.Counts).To(Equal(accessv1alpha1.SignInSourceCounts{SignIns: 2, Accepted: 1, Rejected: 1, Skipped: 1}))
		}).WithContext(ctx).Should(Succeed())
		Expect(src.Status.LagSeconds).To(BeNumerically("<", 30))
		Expect(src.Status.LastError).To(BeEmpty())

		By("suspending sam in Okta and ending the sessions there, and quarantining the Entra grant")
		expectState(ctx, w.oktaGrant, accessv1alpha1.GrantQuarantined)
		expectState(ctx, w.entraGrnt, accessv1alpha1.GrantQuarantined)
		Expect(w.okta.UserStatus(samOktaLogin)).To(Equal("SUSPENDED"))
		Expect(w.okta.Sessions(w.samOktaID)).To(BeZero())
		Expect(w.graph.AccountEnabled(samUPN)).To(BeFalse())
		Expect(w.graph.SessionsRevokedAt(samUPN)).NotTo(BeZero())

		By("counting nothing twice on the polls that read the same minutes again")
		Consistently(func(g Gomega) {
			c := &accessv1alpha1.Contractor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "sam"}, c)).To(Succeed())
			g.Expect(c.Status.SignIns).NotTo(BeNil())
			g.Expect(c.Status.SignIns.Total).To(Equal(int64(1)))
		}).WithContext(ctx).WithTimeout(4 * sourceInterval).Should(Succeed())

		By("lifting both when the finding clears")
		findings := &accessv1alpha1.FindingList{}
		Expect(k8sClient.List(ctx, findings, client.InNamespace(w.ns))).To(Succeed())
		Expect(findings.Items).To(HaveLen(1))
		Expect(findings.Items[0].Spec.AnonymizerKind).To(BeEquivalentTo("tor"))
		Expect(k8sClient.Delete(ctx, &findings.Items[0])).To(Succeed())
		expectState(ctx, w.oktaGrant, accessv1alpha1.GrantActive)
		expectState(ctx, w.entraGrnt, accessv1alpha1.GrantActive)
		Expect(w.okta.UserStatus(samOktaLogin)).To(Equal("ACTIVE"))
		Expect(w.graph.AccountEnabled(samUPN)).To(BeTrue())
		Expect(w.okta.Members(w.oktaGroup)).To(ConsistOf(samOktaLogin))
	})

	It("reads every sign-in once across an outage of the provider and a suspension of the source", func(ctx SpecContext) {
		w := newIDPWorld(ctx)
		src := newSource(uniqueName("okta-log"), w.oktaSys)
		create(ctx, src)
		expectSource(ctx, src, metav1.ConditionTrue, accessv1alpha1.ReasonPolling)
		start := time.Now().Add(-30 * time.Second)
		office := func(i int) oktaserver.LogEvent {
			return signInEvent(samOktaLogin, "203.0.113.20", "user.authentication.sso", "SUCCESS", start.Add(time.Duration(i)*time.Second))
		}
		w.okta.AddLogEvent(office(0))
		w.okta.AddLogEvent(office(1))

		By("failing while the provider is down, with the error in the status")
		w.okta.SetDown(true)
		expectSource(ctx, src, metav1.ConditionFalse, accessv1alpha1.ReasonPollFailed)
		Expect(src.Status.LastError).To(ContainSubstring("503"))
		Expect(findCondition(src.Status.Conditions, accessv1alpha1.ConditionReconciling)).NotTo(BeNil())
		w.okta.AddLogEvent(office(2))

		By("catching up when it is back")
		w.okta.SetDown(false)
		expectSource(ctx, src, metav1.ConditionTrue, accessv1alpha1.ReasonPolling)

		By("keeping the cursor while suspended, and resuming from it")
		mutate(ctx, src, func(s *accessv1alpha1.SignInSource) { s.Spec.Suspend = true })
		expectSource(ctx, src, metav1.ConditionTrue, accessv1alpha1.ReasonSuspended)
		w.okta.AddLogEvent(office(3))
		w.okta.AddLogEvent(office(4))
		mutate(ctx, src, func(s *accessv1alpha1.SignInSource) { s.Spec.Suspend = false })

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
			g.Expect(src.Status.Counts.SignIns).To(Equal(int64(5)))
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
			g.Expect(src.Status.Counts).To(Equal(accessv1alpha1.SignInSourceCounts{SignIns: 5, Accepted: 5}))
			c := &accessv1alpha1.Contractor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "sam"}, c)).To(Succeed())
			g.Expect(c.Status.SignIns.Total).To(Equal(int64(5)))
		}).WithContext(ctx).WithTimeout(4 * sourceInterval).Should(Succeed())
		expectState(ctx, w.oktaGrant, accessv1alpha1.GrantActive)
	})

	It("says what to fix when the system cannot be read", func(ctx SpecContext) {
		missing := newSource(uniqueName("nowhere"), uniqueName("no-such-system"))
		create(ctx, missing)
		expectSource(ctx, missing, metav1.ConditionFalse, accessv1alpha1.ReasonConnectedSystemNotFound)
		Expect(findCondition(missing.Status.Conditions, accessv1alpha1.ConditionStalled)).NotTo(BeNil())
		Expect(missing.Status.LastError).To(ContainSubstring("create it or fix spec.system"))
		moved := missing.DeepCopy()
		moved.Spec.System = "another"
		Expect(k8sClient.Update(ctx, moved)).To(MatchError(ContainSubstring("spec.system cannot change")))

		cluster := uniqueName("cluster")
		create(ctx, newSystem(cluster))
		nolog := newSource(uniqueName("cluster-log"), cluster)
		create(ctx, nolog)
		expectSource(ctx, nolog, metav1.ConditionFalse, accessv1alpha1.ReasonNoSignInLog)
		Expect(nolog.Status.LastError).To(ContainSubstring("name an okta, entra or google system"))
	})
})

var _ = Describe("SignInSource of Entra and Google", func() {
	It("reads Entra's sign-in logs with read-only credentials of the source's own, after saying which permission the system's lack", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		graph := graphserver.New(graphserver.Options{RetryAfter: 1})
		DeferCleanup(graph.Close)
		const reader = "0c5e7d44-1a2b-4c3d-9e8f-7a6b5c4d3e2f"
		graph.RegisterApp(entraClient, entraSecret, nil, []string{"GroupMember.ReadWrite.All", "User.Read.All"})
		graph.RegisterApp(reader, entraSecret+"-reader", nil, []string{"AuditLog.Read.All"})
		graph.AddUser(samUPN)
		enforce, read := uniqueName("entra"), uniqueName("entra-logs")
		for name, id := range map[string]string{enforce: entraClient, read: reader} {
			secret := entraSecret
			if name == read {
				secret += "-reader"
			}
			create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: name},
				Data: map[string][]byte{entra.KeyClientID: []byte(id), entra.KeyClientSecret: secretUsed(secret)}})
		}
		system := uniqueName("entra")
		create(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: system},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeEntra, DryRun: true,
				CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: enforce},
				Entra: &accessv1alpha1.EntraSettings{TenantID: graph.TenantID(), AuthorityHost: graph.URL(),
					GraphEndpoint: graph.URL(), CABundle: graph.CertificatePEM()}}})
		create(ctx, newContractor(ns, "sam", withAccount(system, samUPN)))
		graph.AddSignIn(graphserver.SignIn{UserPrincipalName: samUPN, IPAddress: "203.0.113.30",
			CreatedDateTime: time.Now().Add(-2 * time.Minute), Status: graphserver.SignInStatus{ErrorCode: 0}})
		graph.AddSignIn(graphserver.SignIn{UserPrincipalName: samUPN, IPAddress: "203.0.113.31",
			CreatedDateTime: time.Now().Add(-time.Minute), Status: graphserver.SignInStatus{ErrorCode: 50126}})

		src := newSource(uniqueName("entra-log"), system)
		create(ctx, src)
		expectSource(ctx, src, metav1.ConditionFalse, accessv1alpha1.ReasonCredentialsRefused)
		Expect(src.Status.LastError).To(ContainSubstring("AuditLog.Read.All"))
		Expect(findCondition(src.Status.Conditions, accessv1alpha1.ConditionStalled)).NotTo(BeNil())

		mutate(ctx, src, func(s *accessv1alpha1.SignInSource) {
			s.Spec.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: read}
		})
		expectSource(ctx, src, metav1.ConditionTrue, accessv1alpha1.ReasonPolling)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
			g.Expect(src.Status.Counts).To(Equal(accessv1alpha1.SignInSourceCounts{SignIns: 1, Accepted: 1, Skipped: 1}))
			c := &accessv1alpha1.Contractor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sam"}, c)).To(Succeed())
			g.Expect(c.Status.SignIns).NotTo(BeNil())
			g.Expect(c.Status.SignIns.Recent).To(ConsistOf(HaveField("IP", "203.0.113.30")))
		}).WithContext(ctx).Should(Succeed())
	})

	It("reads Google's login activities", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		google := googleserver.New(googleserver.Options{})
		DeferCleanup(google.Close)
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		Expect(err).NotTo(HaveOccurred())
		const sa, keyID, admin, sam = "portcullis@acme.iam.gserviceaccount.com", "k1", "admin@example.com", "sam@example.com"
		google.RegisterServiceAccount(sa, keyID, &key.PublicKey, []string{googleconn.ReportsScope})
		google.AddAdmin(admin)
		google.AddUser(sam)
		der, err := x509.MarshalPKCS8PrivateKey(key)
		Expect(err).NotTo(HaveOccurred())
		keyJSON, err := json.Marshal(map[string]string{"type": "service_account", "project_id": "acme",
			"private_key_id": keyID, "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			"client_email": sa, "client_id": "1180000001", "token_uri": google.TokenURL()})
		Expect(err).NotTo(HaveOccurred())
		creds := uniqueName("google")
		create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: creds},
			Data: map[string][]byte{googleconn.KeyServiceAccountKey: secretUsed(string(keyJSON))}})
		system := uniqueName("google")
		create(ctx, &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: system},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeGoogle, DryRun: true,
				CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: creds},
				Google: &accessv1alpha1.GoogleSettings{AdminEmail: admin, Endpoint: google.URL() + "/",
					TokenURL: google.TokenURL(), CABundle: google.CertificatePEM()}}})
		create(ctx, newContractor(ns, "sam", withAccount(system, sam)))
		google.AddLoginActivity(googleserver.Activity{Actor: googleserver.Actor{Email: sam}, IPAddress: "203.0.113.40",
			ID:     googleserver.ActivityID{Time: time.Now().Add(-time.Minute)},
			Events: []googleserver.Event{{Type: "login", Name: "login_success"}}})

		src := newSource(uniqueName("google-log"), system)
		create(ctx, src)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
			g.Expect(src.Status.Counts).To(Equal(accessv1alpha1.SignInSourceCounts{SignIns: 1, Accepted: 1}), "%+v", src.Status)
			c := &accessv1alpha1.Contractor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sam"}, c)).To(Succeed())
			g.Expect(c.Status.SignIns).NotTo(BeNil())
			g.Expect(c.Status.SignIns.Recent).To(ConsistOf(HaveField("IP", "203.0.113.40")))
		}).WithContext(ctx).Should(Succeed())
	})
})
