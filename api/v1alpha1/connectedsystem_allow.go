package v1alpha1

import (
	"fmt"
	"strings"
)

// AllowsEntitlement returns nil when grants on the system may name e, or
// an error that says which list refuses it. The admission policy in
// config/admission checks the same rules on apply; the controller checks
// them again before every enforcement, so a grant admitted before the
// system's lists changed is not enforced either.
func (s *ConnectedSystem) AllowsEntitlement(e Entitlement) error {
	if s.Spec.Type == SystemTypeKubernetes {
		return s.allowsRole(e)
	}
	if e.Kind != "" || e.Namespace != "" {
		return fmt.Errorf("spec.entitlement.kind and namespace are for kubernetes systems only, and ConnectedSystem %s is a %s system", s.Name, s.Spec.Type)
	}
	if !MatchesAny(s.Spec.AllowedEntitlements, e.Name) {
		return fmt.Errorf("ConnectedSystem %s does not allow the entitlement %q: it is not in spec.allowedEntitlements", s.Name, e.Name)
	}
	return nil
}

func (s *ConnectedSystem) allowsRole(e Entitlement) error {
	k := s.Spec.Kubernetes
	if k == nil {
		k = &KubernetesSettings{}
	}
	var allowed []string
	switch e.Kind {
	case EntitlementRole:
		allowed = k.AllowedRoles
	case EntitlementClusterRole:
		allowed = k.AllowedClusterRoles
	default:
		return fmt.Errorf("a grant on kubernetes system %s must set spec.entitlement.kind to Role or ClusterRole", s.Name)
	}
	if !MatchesAny(allowed, e.Name) {
		return fmt.Errorf("ConnectedSystem %s does not allow the %s %q: it is not in spec.kubernetes.allowed%ss", s.Name, e.Kind, e.Name, e.Kind)
	}
	if e.Namespace == "" {
		if !k.AllowClusterWide {
			return fmt.Errorf("ConnectedSystem %s does not allow cluster-wide bindings (spec.kubernetes.allowClusterWide): set spec.entitlement.namespace", s.Name)
		}
		return nil
	}
	if !MatchesAny(k.AllowedNamespaces, e.Namespace) {
		return fmt.Errorf("ConnectedSystem %s does not allow bindings in namespace %q: it is not in spec.kubernetes.allowedNamespaces", s.Name, e.Namespace)
	}
	return nil
}

// MatchesAny reports whether name matches one of the patterns of an
// allow-list: an exact name, or a pattern whose one "*" stands for any run
// of characters without what separates, escapes or quotes the parts of
// LDAP names (",", ";", "+", a backslash, a double quote), so that a DN
// pattern cannot reach another branch of a directory.
func MatchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if MatchesPattern(p, name) {
			return true
		}
	}
	return false
}

// patternSeparators are what a pattern's "*" never matches.
const patternSeparators = ",;+\\\""

// MatchesPattern reports whether name matches one allow-list pattern.
func MatchesPattern(pattern, name string) bool {
	prefix, suffix, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == name
	}
	if len(name) < len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return false
	}
	return !strings.ContainsAny(name[len(prefix):len(name)-len(suffix)], patternSeparators)
}
