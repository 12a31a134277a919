package controllers_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const validContractor = `
apiVersion: access.portcullis.dev/v1alpha1
kind: Contractor
metadata: {name: c1}
spec:
  displayName: Sam Lee
  email: sam@example.com
  claimedLocation: {country: US}
`

var _ = Describe("CRD validation", func() {
	DescribeTable("rejects bad input with a message that says what to fix",
		func(ctx SpecContext, manifest string, wantMessages ...string) {
			ns := newNamespace(ctx)
			obj := fromYAML(ns, manifest)
			if obj.GetKind() == "AccessPolicy" || obj.GetKind() == "ConnectedSystem" {
				obj.SetNamespace("")
			}
			err := k8sClient.Create(ctx, obj)
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid object")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			for _, want := range wantMessages {
				Expect(err.Error()).To(ContainSubstring(want))
			}
		},
		Entry("a lower-case country code", strings.Replace(validContractor, "country: US", "country: us", 1),
			"spec.claimedLocation.country", "should match '^[A-Z]{2}$'"),
		Entry("a three-letter country code", strings.Replace(validContractor, "country: US", "country: USA", 1),
			"spec.claimedLocation.country", "may not be more than 2 bytes"),
		Entry("an over-long display name", strings.Replace(validContractor, "Sam Lee", strings.Repeat("x", 300), 1),
			"spec.displayName", "may not be more than 256 bytes"),
		Entry("an e-mail address without @", strings.Replace(validContractor, "sam@example.com", "sam.example.com", 1),
			"spec.email"),
		Entry("a travel notice that ends before it starts", validContractor+`
  travelNotices:
    - {country: CA, from: "2026-12-06T00:00:00Z", until: "2026-12-01T00:00:00Z"}
`, "until must be later than from"),
		Entry("a verification result without completedAt", validContractor+`
  verificationChecks:
    - {type: Document, result: Passed}
`, "completedAt is required once a check has a result"),
		Entry("a grant without contractor", `
apiVersion: access.portcullis.dev/v1alpha1
kind: AccessGrant
metadata: {name: g1}
spec:
  systemRef: {name: s1}
  entitlement: {name: edit}
  justification: work
  approver: boss
`, "spec.contractorRef: Required value"),
		Entry("a grant of a Role without namespace", `
apiVersion: access.portcullis.dev/v1alpha1
kind: AccessGrant
metadata: {name: g1}
spec:
  contractorRef: {name: c1}
  systemRef: {name: s1}
  entitlement: {name: deployer, kind: Role}
  justification: work
  approver: boss
`, "namespace is required when kind is Role"),
		Entry("an exception without expiry", `
apiVersion: access.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {name: e1}
spec:
  contractorRef: {name: c1}
  policy: p1
  reason: why
  approver: boss
`, "spec.expiresAt: Required value"),
		Entry("an exception that names neither contractor nor grant", `
apiVersion: access.portcullis.dev/v1alpha1
kind: PolicyException
metadata: {name: e1}
spec:
  policy: p1
  reason: why
  approver: boss
  expiresAt: "2027-01-01T00:00:00Z"
`, "set contractorRef or grantRef"),
		Entry("a system whose settings block does not match its type", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: scim
  credentialsSecretRef: {namespace: default, name: scim}
  kubernetes: {}
`, "spec.kubernetes must be set when type is kubernetes, and only then",
			"spec.scim must be set when type is scim, and only then"),
		Entry("a SCIM system without credentials", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: scim
  scim: {url: "https://idp.example.com/scim/v2"}
`, "credentialsSecretRef is required for every type but kubernetes"),
		Entry("an Okta org over http:// without insecure", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: okta
  credentialsSecretRef: {namespace: portcullis-system, name: okta}
  okta: {orgURL: "http://example.okta.com"}
`, "spec.okta.orgURL is http://"),
		Entry("an Entra tenant quarantining to a group it does not name", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: entra
  credentialsSecretRef: {namespace: portcullis-system, name: entra}
  entra: {tenantID: contoso.onmicrosoft.com, quarantineMode: Group}
`, "quarantineGroup is required when quarantineMode is Group"),
		Entry("a Google Workspace token endpoint over http://", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: google
  credentialsSecretRef: {namespace: portcullis-system, name: google}
  google: {adminEmail: admin@example.com, tokenURL: "http://oauth2.example.com/token"}
`, "spec.google.tokenURL"),
		Entry("an Entra tenant with a Graph endpoint over http://", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: entra
  credentialsSecretRef: {namespace: portcullis-system, name: entra}
  entra: {tenantID: contoso.onmicrosoft.com, graphEndpoint: "http://graph.example.com"}
`, "spec.entra.graphEndpoint"),
		Entry("an unknown system type", `
apiVersion: access.portcullis.dev/v1alpha1
kind: ConnectedSystem
metadata: {generateName: bad-}
spec:
  type: mainframe
`, `spec.type: Unsupported value: "mainframe"`),
		Entry("a policy with both inline and ConfigMap source", `
apiVersion: access.portcullis.dev/v1alpha1
kind: AccessPolicy
metadata: {generateName: bad-}
spec:
  rego: "package p"
  regoFrom: {namespace: default, name: cm, key: policy.rego}
`, "set exactly one of rego (inline source) and regoFrom"),
		Entry("a policy with an unknown enforcement action", `
apiVersion: access.portcullis.dev/v1alpha1
kind: AccessPolicy
metadata: {generateName: bad-}
spec:
  rego: "package p"
  enforcementAction: deny
`, `spec.enforcementAction: Unsupported value: "deny"`),
		Entry("an anonymizer finding without its kind", `
apiVersion: access.portcullis.dev/v1alpha1
kind: Finding
metadata: {name: f1}
spec:
  contractorRef: {name: c1}
  type: anonymizer
  severity: High
  source: test
`, "anonymizerKind is required when type is anonymizer"),
		Entry("a finding with an unknown severity", `
apiVersion: access.portcullis.dev/v1alpha1
kind: Finding
metadata: {name: f1}
spec:
  contractorRef: {name: c1}
  type: geolocation
  severity: Severe
  source: test
`, `spec.severity: Unsupported value: "Severe"`),
	)

	It("keeps a grant's contractor, system and entitlement immutable", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		grant := newGrant(ns, "g1", "c1", "s1")
		Expect(k8sClient.Create(ctx, grant)).To(Succeed())
		before := grant.DeepCopy()
		grant.Spec.ContractorRef.Name = "someone-else"
		err := k8sClient.Patch(ctx, grant, client.MergeFrom(before))
		Expect(err).To(MatchError(ContainSubstring("contractorRef is immutable")))

		grant = before.DeepCopy()
		grant.Spec.SystemRef.Name = "another-system"
		err = k8sClient.Patch(ctx, grant, client.MergeFrom(before))
		Expect(err).To(MatchError(ContainSubstring("systemRef is immutable")))

		grant = before.DeepCopy()
		grant.Spec.Entitlement.Name = "admin"
		err = k8sClient.Patch(ctx, grant, client.MergeFrom(before))
		Expect(err).To(MatchError(ContainSubstring("entitlement is immutable")))
	})

	It("defaults a policy's enforcement action and failure policy", func(ctx SpecContext) {
		pol := newPolicy("", "package x\n\nrevoke contains {\"msg\": \"x\"} if false\n")
		pol.GenerateName = "defaults-"
		Expect(k8sClient.Create(ctx, pol)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, pol))).To(Succeed()) })
		Expect(string(pol.Spec.EnforcementAction)).To(Equal("enforce"))
		Expect(string(pol.Spec.FailurePolicy)).To(Equal("Quarantine"))
	})
})
