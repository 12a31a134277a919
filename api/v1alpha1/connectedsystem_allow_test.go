package v1alpha1

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMatchesPattern(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"edit", "edit", true},
		{"edit", "edit2", false},
		{"edit", "Edit", false},
		{"app-*", "app-", true},
		{"app-*", "app-payments", true},
		{"app-*", "ap", false},
		{"*-reader", "payments-reader", true},
		{"*-reader", "payments-reader-admin", false},
		{"a*a", "a", false}, // prefix and suffix may not overlap
		{"a*a", "aa", true},
		{"*", "anything", true},
		{"*", "", true},
		{"cn=app-*,ou=groups,dc=example,dc=com", "cn=app-x,ou=groups,dc=example,dc=com", true},
		// The star never crosses a comma, so a DN pattern stays in its branch.
		{"cn=app-*,ou=groups,dc=example,dc=com", "cn=app-x,ou=admins,ou=groups,dc=example,dc=com", false},
		{"cn=*,ou=groups,dc=example,dc=com", "cn=admins,ou=groups,dc=example,dc=com", true},
		{"cn=app-*,ou=groups,dc=example,dc=com", "cn=app-x;cn=admins,ou=groups,dc=example,dc=com", false},
		{"cn=app-*,ou=groups,dc=example,dc=com", "cn=app-x+uid=root,ou=groups,dc=example,dc=com", false},
		// An escaped comma would make the pattern's suffix part of one value.
		{"cn=app-*,ou=groups,dc=example,dc=com", `cn=app-x\,ou=groups,dc=example,dc=com`, false},
		{"cn=app-*,ou=groups,dc=example,dc=com", `cn=app-"x,ou=admins",ou=groups,dc=example,dc=com`, false},
	} {
		if got := MatchesPattern(c.pattern, c.name); got != c.want {
			t.Errorf("MatchesPattern(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestAllowsEntitlement(t *testing.T) {
	k8s := &ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}, Spec: ConnectedSystemSpec{Type: SystemTypeKubernetes,
		Kubernetes: &KubernetesSettings{AllowedClusterRoles: []string{"view", "edit"}, AllowedRoles: []string{"deployer"},
			AllowedNamespaces: []string{"payments", "team-*"}}}}
	wide := k8s.DeepCopy()
	wide.Spec.Kubernetes.AllowClusterWide = true
	scim := &ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "idp"}, Spec: ConnectedSystemSpec{Type: SystemTypeSCIM,
		AllowedEntitlements: []string{"payments-*"}}}
	for _, c := range []struct {
		system *ConnectedSystem
		e      Entitlement
		why    string // "" when allowed
	}{
		{k8s, Entitlement{Kind: EntitlementClusterRole, Name: "edit", Namespace: "payments"}, ""},
		{k8s, Entitlement{Kind: EntitlementClusterRole, Name: "edit", Namespace: "team-a"}, ""},
		{k8s, Entitlement{Kind: EntitlementRole, Name: "deployer", Namespace: "payments"}, ""},
		{k8s, Entitlement{Kind: EntitlementClusterRole, Name: "cluster-admin", Namespace: "payments"}, "allowedClusterRoles"},
		{k8s, Entitlement{Kind: EntitlementRole, Name: "edit", Namespace: "payments"}, "allowedRoles"},
		{k8s, Entitlement{Kind: EntitlementClusterRole, Name: "edit", Namespace: "kube-system"}, "allowedNamespaces"},
		{k8s, Entitlement{Kind: EntitlementClusterRole, Name: "view"}, "allowClusterWide"},
		{k8s, Entitlement{Name: "view", Namespace: "payments"}, "must set spec.entitlement.kind"},
		{wide, Entitlement{Kind: EntitlementClusterRole, Name: "view"}, ""},
		{wide, Entitlement{Kind: EntitlementClusterRole, Name: "cluster-admin"}, "allowedClusterRoles"},
		{scim, Entitlement{Name: "payments-engineers"}, ""},
		{scim, Entitlement{Name: "admins"}, "allowedEntitlements"},
		{scim, Entitlement{Name: "payments-engineers", Kind: EntitlementClusterRole}, "kubernetes systems only"},
		{&ConnectedSystem{Spec: ConnectedSystemSpec{Type: SystemTypeLDAP}}, Entitlement{Name: "cn=x"}, "allowedEntitlements"},
	} {
		err := c.system.AllowsEntitlement(c.e)
		switch {
		case c.why == "" && err != nil:
			t.Errorf("%s %+v: refused: %v", c.system.Name, c.e, err)
		case c.why != "" && (err == nil || !strings.Contains(err.Error(), c.why)):
			t.Errorf("%s %+v: got %v, want an error about %s", c.system.Name, c.e, err, c.why)
		}
	}
}

func TestPolicyExceptionActiveAt(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exception := func(lasts time.Duration) *PolicyException {
		return &PolicyException{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
			Spec: PolicyExceptionSpec{ExpiresAt: metav1.NewTime(created.Add(lasts))}}
	}
	day := 24 * time.Hour
	for _, c := range []struct {
		name  string
		e     *PolicyException
		at    time.Time
		limit time.Duration
		want  bool
	}{
		{"in force", exception(30 * day), created.Add(day), 90 * day, true},
		{"exactly the limit", exception(90 * day), created.Add(day), 90 * day, true},
		{"too long applies nowhere", exception(91 * day), created.Add(day), 90 * day, false},
		{"no limit", exception(3650 * day), created.Add(day), 0, true},
		{"expired", exception(30 * day), created.Add(30 * day), 90 * day, false},
		{"not created yet is measured from now", &PolicyException{Spec: PolicyExceptionSpec{ExpiresAt: metav1.NewTime(created.Add(100 * day))}},
			created.Add(20 * day), 90 * day, true},
	} {
		if got := c.e.ActiveAt(c.at, c.limit); got != c.want {
			t.Errorf("%s: ActiveAt = %v, want %v", c.name, got, c.want)
		}
	}
}
