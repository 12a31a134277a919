package ingest_test

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ingest"
)

// TestStoreMatchesIdentityProviderAccountsInAnyCase: an identity
// provider's sign-in names the account in its own case; a Contractor may
// list it in another. The store matches it there, and only there: on a
// kubernetes system "Kim" and "kim" are two users.
func TestStoreMatchesIdentityProviderAccountsInAnyCase(t *testing.T) {
	ctx := t.Context()
	k8s, mgr := startWithManager(t)
	kim := types.NamespacedName{Namespace: "fold", Name: "kim"}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kim.Namespace}},
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "okta-org"},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta, DryRun: true,
				CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: "portcullis-system", Name: "okta"},
				Okta:                 &accessv1alpha1.OktaSettings{OrgURL: "https://example.okta.com"}}},
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "okta-b"},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta, DryRun: true,
				CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: "portcullis-system", Name: "okta"},
				Okta:                 &accessv1alpha1.OktaSettings{OrgURL: "https://b.okta.com"}}},
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes,
				Kubernetes: &accessv1alpha1.KubernetesSettings{AllowedClusterRoles: []string{"view"}}}},
		&accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: kim.Namespace, Name: kim.Name},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: "Kim", Email: "kim@contractors.example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts: []accessv1alpha1.Account{{System: "okta-org", ID: "Kim.Lee@Contractors.Example.com"},
					{System: "cluster", ID: "Kim"}, {System: "okta-b", ID: "Shared@Example.com"}}}},
		// ro lists, in another case, a login kim lists too: a sign-in of it
		// is both's, so the ingester refuses it as ambiguous.
		&accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: kim.Namespace, Name: "ro"},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: "Ro", Email: "ro@contractors.example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: "okta-b", ID: "shared@example.com"}}}},
		// lee's user on the kubernetes system differs from kim's in case
		// only: the two are two users, each found only by its own case.
		&accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: kim.Namespace, Name: "lee"},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: "Lee", Email: "lee@contractors.example.com",
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: "cluster", ID: "kim"}}}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	waitForCache(t, mgr.GetClient(), kim)
	waitForCache(t, mgr.GetClient(), types.NamespacedName{Namespace: kim.Namespace, Name: "ro"})
	waitForCache(t, mgr.GetClient(), types.NamespacedName{Namespace: kim.Namespace, Name: "lee"})
	for mgr.GetClient().Get(ctx, client.ObjectKey{Name: "cluster"}, &accessv1alpha1.ConnectedSystem{}) != nil ||
		mgr.GetClient().Get(ctx, client.ObjectKey{Name: "okta-b"}, &accessv1alpha1.ConnectedSystem{}) != nil ||
		mgr.GetClient().Get(ctx, client.ObjectKey{Name: "okta-org"}, &accessv1alpha1.ConnectedSystem{}) != nil {
		time.Sleep(20 * time.Millisecond)
	}
	store := ingest.NewStore(mgr.GetClient(), mgr.GetAPIReader())
	for _, tc := range []struct {
		system, id string
		want       []string
	}{
		{"okta-org", "Kim.Lee@Contractors.Example.com", []string{"kim"}},
		{"okta-org", "kim.lee@contractors.example.com", []string{"kim"}},
		{"okta-org", "KIM.LEE@CONTRACTORS.EXAMPLE.COM", []string{"kim"}},
		{"okta-org", "kim.lee@contractors.example.org", nil},
		{"okta-org", "\u212Aim.lee@contractors.example.com", nil},
		{"okta-b", "shared@example.com", []string{"kim", "ro"}},
		{"okta-b", "SHARED@EXAMPLE.COM", []string{"kim", "ro"}},
		{"cluster", "Kim", []string{"kim"}},
		{"cluster", "kim", []string{"lee"}},
		{"cluster", "KIM", nil},
		{"no-such-system", "kim.lee@contractors.example.com", nil},
	} {
		keys, err := store.ContractorsByAccount(ctx, tc.system, tc.id)
		var names []string
		for _, k := range keys {
			names = append(names, k.Name)
		}
		slices.Sort(names)
		if err != nil || !slices.Equal(names, tc.want) {
			t.Errorf("ContractorsByAccount(%s, %s) = %v, %v; want %v", tc.system, tc.id, names, err, tc.want)
		}
	}
}
