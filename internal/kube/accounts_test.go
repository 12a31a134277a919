package kube

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// TestContractorsByAccountKeepsCaseWhereTheSystemDoes: the one account
// index is case folded; on a system whose ids are exact, "Bob" and "bob"
// are two users and each finds only its own contractor.
func TestContractorsByAccountKeepsCaseWhereTheSystemDoes(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	contractor := func(name string, accounts ...accessv1alpha1.Account) *accessv1alpha1.Contractor {
		return &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: accessv1alpha1.ContractorSpec{Accounts: accounts}}
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		contractor("upper", accessv1alpha1.Account{System: "sys", ID: "Bob"}),
		contractor("lower", accessv1alpha1.Account{System: "sys", ID: "bob"}),
		contractor("both", accessv1alpha1.Account{System: "sys", ID: "BOB"}, accessv1alpha1.Account{System: "sys", ID: "bob"}),
		contractor("other", accessv1alpha1.Account{System: "other", ID: "bob"}))
	for _, ix := range Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := b.Build()
	for _, tc := range []struct {
		id         string
		ignoreCase bool
		want       []string
	}{
		{"Bob", false, []string{"upper"}},
		{"bob", false, []string{"both", "lower"}},
		{"BOB", false, []string{"both"}},
		{"bOB", false, nil},
		{"bOB", true, []string{"both", "lower", "upper"}},
		{"alice", true, nil},
	} {
		keys, err := ContractorsByAccount(t.Context(), c, "sys", tc.id, tc.ignoreCase)
		var names []string
		for _, k := range keys {
			names = append(names, k.Name)
		}
		slices.Sort(names)
		if err != nil || !slices.Equal(names, tc.want) {
			t.Errorf("ContractorsByAccount(sys, %s, ignoreCase %v) = %v, %v; want %v", tc.id, tc.ignoreCase, names, err, tc.want)
		}
	}
}
