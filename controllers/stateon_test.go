package controllers

import (
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestStateOnIsPerAccount(t *testing.T) {
	q := accessv1alpha1.GrantQuarantined
	for _, tc := range []struct {
		name    string
		enf     *accessv1alpha1.Enforcement
		account string
		want    accessv1alpha1.GrantState
	}{
		{"never applied", nil, "sam", ""},
		{"applied to this account", &accessv1alpha1.Enforcement{State: q, Account: "sam"}, "sam", q},
		{"the grant moved to another account", &accessv1alpha1.Enforcement{State: q, Account: "sam"}, "sam2", ""},
		{"applied with no account (a removal)", &accessv1alpha1.Enforcement{State: accessv1alpha1.GrantRevoked}, "sam", accessv1alpha1.GrantRevoked},
	} {
		if got := stateOn(tc.enf, tc.account); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
