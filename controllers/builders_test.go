package controllers_test

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Builders for test fixtures: newX(name, options...) returns a valid object
// that the options change.

func newContractor(ns, name string, opts ...func(*accessv1alpha1.Contractor)) *accessv1alpha1.Contractor {
	c := &accessv1alpha1.Contractor{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.ContractorSpec{
			DisplayName:     "Test Contractor " + name,
			Email:           name + "@contractors.example.com",
			ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withAccount(system, id string) func(*accessv1alpha1.Contractor) {
	return func(c *accessv1alpha1.Contractor) {
		c.Spec.Accounts = append(c.Spec.Accounts, accessv1alpha1.Account{System: system, ID: id})
	}
}

func newSystem(name string, opts ...func(*accessv1alpha1.ConnectedSystem)) *accessv1alpha1.ConnectedSystem {
	s := &accessv1alpha1.ConnectedSystem{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.ConnectedSystemSpec{
			Type: accessv1alpha1.SystemTypeKubernetes,
			// Most specs are not about the allow-lists: allow any role in
			// any namespace; the least-privilege specs narrow them.
			Kubernetes: &accessv1alpha1.KubernetesSettings{AllowedClusterRoles: []string{"*"},
				AllowedRoles: []string{"*"}, AllowedNamespaces: []string{"*"}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withWebhook(url string, secret accessv1alpha1.SecretReference) func(*accessv1alpha1.ConnectedSystem) {
	return func(s *accessv1alpha1.ConnectedSystem) {
		s.Spec.Type = accessv1alpha1.SystemTypeWebhook
		s.Spec.Kubernetes = nil
		s.Spec.Webhook = &accessv1alpha1.WebhookSettings{URL: url, TimeoutSeconds: 5}
		s.Spec.CredentialsSecretRef = &secret
		s.Spec.AllowedEntitlements = []string{"*"}
		// The receivers of the specs are plain-HTTP test servers.
		s.Spec.Insecure = true
	}
}

func newGrant(ns, name, contractor, system string, opts ...func(*accessv1alpha1.AccessGrant)) *accessv1alpha1.AccessGrant {
	g := &accessv1alpha1.AccessGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.AccessGrantSpec{
			ContractorRef: accessv1alpha1.ContractorReference{Name: contractor},
			SystemRef:     accessv1alpha1.SystemReference{Name: system},
			Entitlement:   accessv1alpha1.Entitlement{Kind: accessv1alpha1.EntitlementClusterRole, Name: "edit", Namespace: ns},
			Justification: "needed for the test",
			Approver:      "tester@example.com",
		},
	}
	for _, o := range opts {
		o(g)
	}
	return g
}

func newFinding(ns, name, contractor string, opts ...func(*accessv1alpha1.Finding)) *accessv1alpha1.Finding {
	f := &accessv1alpha1.Finding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.FindingSpec{
			ContractorRef: accessv1alpha1.ContractorReference{Name: contractor},
			Type:          accessv1alpha1.FindingGeolocation,
			Severity:      accessv1alpha1.SeverityMedium,
			Source:        "test",
			Evidence:      accessv1alpha1.Evidence{IP: "203.0.113.7", Country: "NL"},
		},
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

func withFindingExpiry(t time.Time) func(*accessv1alpha1.Finding) {
	return func(f *accessv1alpha1.Finding) {
		f.Spec.ExpiresAt = &metav1.Time{Time: t}
	}
}

func newException(ns, name, contractor, policy string, expires time.Time) *accessv1alpha1.PolicyException {
	return &accessv1alpha1.PolicyException{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.PolicyExceptionSpec{
			ContractorRef: &accessv1alpha1.ContractorReference{Name: contractor},
			Policy:        policy,
			Reason:        "approved for the test",
			Approver:      "security@example.com",
			ExpiresAt:     metav1.Time{Time: expires},
		},
	}
}

func newPolicy(name, rego string) *accessv1alpha1.AccessPolicy {
	return &accessv1alpha1.AccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       accessv1alpha1.AccessPolicySpec{Rego: rego},
	}
}
