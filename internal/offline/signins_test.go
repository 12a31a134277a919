package offline

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

var signInNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newContractor(name string, accounts ...accessv1alpha1.Account) accessv1alpha1.Contractor {
	return accessv1alpha1.Contractor{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: name},
		Spec: accessv1alpha1.ContractorSpec{DisplayName: name, Email: name + "@example.com",
			ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"}, Accounts: accounts},
	}
}

func TestSignInStoreRefusesStaleWrites(t *testing.T) {
	ctx := context.Background()
	res := &Resources{Contractors: []accessv1alpha1.Contractor{
		newContractor("sam", accessv1alpha1.Account{System: "okta", ID: "sam"}), newContractor("kim")}}
	s := NewSignInStore(res)
	if keys, _ := s.ContractorsByAccount(ctx, "okta", "sam"); len(keys) != 1 || keys[0].Name != "sam" {
		t.Errorf("ContractorsByAccount(okta, sam) = %v", keys)
	}
	key := types.NamespacedName{Namespace: "acme", Name: "sam"}
	first, _ := s.Contractor(ctx, key)
	stale := first.DeepCopy()
	if err := s.SaveSignIns(ctx, first, &accessv1alpha1.SignInSummary{}); err != nil {
		t.Fatalf("SaveSignIns: %v", err)
	}
	if res.Contractors[0].Status.SignIns == nil {
		t.Error("SaveSignIns left the resources' contractor without its summary")
	}
	if err := s.SaveSignIns(ctx, stale, &accessv1alpha1.SignInSummary{}); !apierrors.IsConflict(err) {
		t.Errorf("SaveSignIns of a stale copy = %v, want a Conflict", err)
	}
	if c, _ := s.Contractor(ctx, types.NamespacedName{Namespace: "acme", Name: "nobody"}); c != nil {
		t.Errorf("Contractor(nobody) = %v, want nil", c)
	}

	f := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "kim-x",
		Labels: map[string]string{signals.LabelSource: signals.SourceValue}},
		Spec: accessv1alpha1.FindingSpec{ContractorRef: accessv1alpha1.ContractorReference{Name: "kim"}, Key: "x"}}
	if err := s.CreateFinding(ctx, f.DeepCopy()); err != nil {
		t.Fatalf("CreateFinding: %v", err)
	}
	if err := s.CreateFinding(ctx, f.DeepCopy()); !apierrors.IsAlreadyExists(err) {
		t.Errorf("CreateFinding twice = %v, want AlreadyExists", err)
	}
	if err := s.UpdateFinding(ctx, f.DeepCopy()); !apierrors.IsConflict(err) {
		t.Errorf("UpdateFinding of a stale copy = %v, want a Conflict", err)
	}
	got, _ := s.Finding(ctx, types.NamespacedName{Namespace: "acme", Name: "kim-x"}, true)
	got.Spec.Count = 2
	if err := s.UpdateFinding(ctx, got); err != nil || res.Findings[0].Spec.Count != 2 {
		t.Errorf("UpdateFinding = %v, count %d, want the update in the resources", err, res.Findings[0].Spec.Count)
	}
	if n, _ := s.CountFindings(ctx, types.NamespacedName{Namespace: "acme", Name: "kim"}); n != 1 {
		t.Errorf("CountFindings(kim) = %d, want 1", n)
	}
}

func TestIngestSignInsAcrossFiles(t *testing.T) {
	res := &Resources{Contractors: []accessv1alpha1.Contractor{
		newContractor("sam", accessv1alpha1.Account{System: "okta", ID: "sam"}), newContractor("kim")}}
	enricher, err := signals.OpenEnricher(signals.EnricherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// kim's file comes first but its sign-in is the later; a JSON array's
	// events may span lines.
	files := []SignInFile{
		{Name: "kim.json", Body: []byte(`[
  {"contractor": "acme/kim", "ip": "203.0.113.7", "time": "2026-11-28T10:30:00Z"},
  {"contractor": "acme/kim", "ip": "203.0.113.7", "time": "2026-10-01T10:30:00Z"},
  {"contractor": "acme/nobody", "ip": "203.0.113.7", "time": "2026-11-28T10:31:00Z"}
]`)},
		{Name: "sam.ndjson", Body: []byte(`{"account":{"system":"okta","id":"sam"},"ip":"203.0.113.7","time":"2026-11-28T10:00:00Z"}

{"contractor":"acme/sam","ip":"203.0.113.7","IP":"x","time":"2026-11-28T10:01:00Z"}
not json
`)},
	}
	report, err := res.IngestSignIns(context.Background(), files, SignInOptions{Enricher: enricher, Now: signInNow})
	if err != nil {
		t.Fatalf("IngestSignIns: %v", err)
	}
	var got []string
	for _, r := range report.Rejections {
		got = append(got, r.File+" "+strconv.Itoa(r.Index))
	}
	if want := "kim.json 1,kim.json 2,sam.ndjson 1,sam.ndjson 2"; strings.Join(got, ",") != want {
		t.Errorf("rejections %v, want %s: %+v", got, want, report.Rejections)
	}
	if report.Received != 6 || report.Accepted != 2 {
		t.Errorf("received %d, accepted %d, want 6 and 2", report.Received, report.Accepted)
	}
	for _, c := range res.Contractors {
		if c.Status.SignIns == nil {
			t.Errorf("%s has no sign-in summary", c.Name)
		}
	}
	shared := map[string]bool{}
	for _, f := range res.Findings {
		if f.Spec.Type == accessv1alpha1.FindingSharedInfrastructure {
			shared[f.Spec.ContractorRef.Name] = true
			if !f.Spec.ExpiresAt.Time.Equal(signInNow.Add(30 * 24 * time.Hour)) {
				t.Errorf("%s expires at %s, want 30 days after now", f.Name, f.Spec.ExpiresAt)
			}
		}
	}
	if !shared["sam"] || !shared["kim"] {
		t.Errorf("shared-infrastructure Findings for %v, want sam and kim", shared)
	}
}

func TestIngestSignInsRefusesWhatIsNotABatch(t *testing.T) {
	res := &Resources{}
	_, err := res.IngestSignIns(context.Background(), []SignInFile{{Name: "bad.json", Body: []byte(`[{"contractor":`)}},
		SignInOptions{Now: signInNow})
	if err == nil || !strings.HasPrefix(err.Error(), "bad.json: ") {
		t.Errorf("IngestSignIns of a broken array = %v, want an error naming the file", err)
	}
}

func TestSignInStoreMatchesIdentityProviderAccountsInAnyCase(t *testing.T) {
	kim := accessv1alpha1.Contractor{}
	kim.Namespace, kim.Name = "ns", "kim"
	kim.Spec.Accounts = []accessv1alpha1.Account{{System: "okta-org", ID: "Kim@Example.com"}, {System: "cluster", ID: "Kim"}}
	okta, cluster := accessv1alpha1.ConnectedSystem{}, accessv1alpha1.ConnectedSystem{}
	okta.Name, okta.Spec.Type = "okta-org", accessv1alpha1.SystemTypeOkta
	cluster.Name, cluster.Spec.Type = "cluster", accessv1alpha1.SystemTypeKubernetes
	// On a second org, lee lists kim's login in another case: a sign-in of
	// it belongs to two contractors, whatever its case.
	oktaB := okta
	oktaB.Name = "okta-b"
	lee := accessv1alpha1.Contractor{}
	lee.Namespace, lee.Name = "ns", "lee"
	lee.Spec.Accounts = []accessv1alpha1.Account{{System: "okta-org", ID: "lee@example.com"}, {System: "okta-b", ID: "shared@example.com"}}
	kim.Spec.Accounts = append(kim.Spec.Accounts, accessv1alpha1.Account{System: "okta-b", ID: "Shared@Example.com"})
	s := NewSignInStore(&Resources{Contractors: []accessv1alpha1.Contractor{kim, lee},
		Systems: []accessv1alpha1.ConnectedSystem{okta, oktaB, cluster}})
	for _, tc := range []struct {
		system, id string
		want       int
	}{
		{"okta-org", "Kim@Example.com", 1}, {"okta-org", "kim@example.com", 1}, {"okta-org", "kim@example.org", 0},
		{"okta-org", "\u212Aim@example.com", 0}, {"okta-org", "Lee@Example.com", 1},
		{"okta-b", "shared@example.com", 2}, {"okta-b", "Shared@Example.com", 2},
		{"cluster", "Kim", 1}, {"cluster", "kim", 0}, {"elsewhere", "kim@example.com", 0},
	} {
		keys, err := s.ContractorsByAccount(context.Background(), tc.system, tc.id)
		if err != nil || len(keys) != tc.want {
			t.Errorf("ContractorsByAccount(%s, %s) = %v, %v; want %d", tc.system, tc.id, keys, err, tc.want)
		}
	}
}
