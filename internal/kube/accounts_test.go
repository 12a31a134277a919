package kube

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// TestContractorsByAccountKeepsCaseWhereTheSystemDoes: the one index of
// e-mails and account ids is case folded and ignores systems; on a system
// whose ids are exact, "Bob" and "bob" are two users and each finds only
// its own contractor, and neither an account on another system nor an
// e-mail is an account.
func TestContractorsByAccountKeepsCaseWhereTheSystemDoes(t *testing.T) {
	c := fakeContractors(t)
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
		{"bob@mail.example", true, nil},
		{"alice", true, nil},
	} {
		keys, err := ContractorsByAccount(t.Context(), c, "sys", tc.id, tc.ignoreCase)
		if names := names(keys); err != nil || !slices.Equal(names, tc.want) {
			t.Errorf("ContractorsByAccount(sys, %s, ignoreCase %v) = %v, %v; want %v", tc.id, tc.ignoreCase, names, err, tc.want)
		}
	}
}

// TestContractorsByEmail finds a contractor by its e-mail in any case,
// and not by an account of that id.
func TestContractorsByEmail(t *testing.T) {
	c := fakeContractors(t)
	for _, tc := range []struct {
		email string
		want  []string
	}{
		{"BOB@Mail.Example", []string{"mail"}},
		{"bob", nil},
		{"other@mail.example", nil},
	} {
		keys, err := ContractorsByEmail(t.Context(), c, tc.email)
		if names := names(keys); err != nil || !slices.Equal(names, tc.want) {
			t.Errorf("ContractorsByEmail(%s) = %v, %v; want %v", tc.email, names, err, tc.want)
		}
	}
}

func names(keys []types.NamespacedName) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Name)
	}
	slices.Sort(out)
	return out
}

// fakeContractors is a fake client with the indexes and contractors whose
// accounts and e-mails differ in case or system only.
func fakeContractors(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	contractor := func(name string, accounts ...accessv1alpha1.Account) *accessv1alpha1.Contractor {
		return &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: accessv1alpha1.ContractorSpec{Email: name + "@example.com", Accounts: accounts}}
	}
	mail := contractor("mail", accessv1alpha1.Account{System: "other", ID: "bob"})
	mail.Spec.Email = "bob@mail.example"
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		contractor("upper", accessv1alpha1.Account{System: "sys", ID: "Bob"}),
		contractor("lower", accessv1alpha1.Account{System: "sys", ID: "bob"}),
		contractor("both", accessv1alpha1.Account{System: "sys", ID: "BOB"}, accessv1alpha1.Account{System: "sys", ID: "bob"}),
		contractor("other", accessv1alpha1.Account{System: "other", ID: "bob"}, accessv1alpha1.Account{System: "other", ID: "other@mail.example"}),
		mail)
	for _, ix := range Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	return b.Build()
}
