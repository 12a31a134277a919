package connectors

import (
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestAccountState(t *testing.T) {
	const (
		active      = accessv1alpha1.GrantActive
		quarantined = accessv1alpha1.GrantQuarantined
		revoked     = accessv1alpha1.GrantRevoked
		pending     = accessv1alpha1.GrantPending
	)
	for _, tc := range []struct {
		own      accessv1alpha1.GrantState
		siblings []accessv1alpha1.GrantState
		want     accessv1alpha1.GrantState
	}{
		{active, nil, active},
		{quarantined, nil, quarantined},
		{revoked, nil, revoked},
		{StateRemoved, nil, StateRemoved},
		{active, []accessv1alpha1.GrantState{quarantined}, quarantined},
		{quarantined, []accessv1alpha1.GrantState{active}, quarantined},
		{revoked, []accessv1alpha1.GrantState{active, pending}, active},
		{StateRemoved, []accessv1alpha1.GrantState{revoked, quarantined}, quarantined},
		{active, []accessv1alpha1.GrantState{revoked, pending, accessv1alpha1.GrantExpired}, active},
	} {
		got := Target{Siblings: tc.siblings}.AccountState(tc.own)
		if got != tc.want {
			t.Errorf("AccountState(%q) with siblings %v = %q, want %q", tc.own, tc.siblings, got, tc.want)
		}
	}
}
