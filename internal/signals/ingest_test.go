package signals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// memStore keeps contractors and findings in maps, with resource versions
// so that lost races can be staged. The Kubernetes store is tested against
// a real API server in the controllers suite.
type memStore struct {
	mu          sync.Mutex
	contractors map[types.NamespacedName]*accessv1alpha1.Contractor
	findings    map[types.NamespacedName]*accessv1alpha1.Finding
	version     int
	// conflicts makes the next SaveSignIns calls fail with a Conflict after
	// changing the contractor, as a concurrent writer would.
	conflicts int
	// failFindings makes finding writes fail.
	failFindings bool
	writes       int
	// accountLookups counts ContractorsByAccount calls.
	accountLookups int
	// refuse makes reads of these contractors fail with the error.
	refuse map[types.NamespacedName]error
}

var gr = schema.GroupResource{Group: "access.portcullis.dev", Resource: "findings"}

func newMemStore(contractors ...*accessv1alpha1.Contractor) *memStore {
	s := &memStore{contractors: map[types.NamespacedName]*accessv1alpha1.Contractor{},
		findings: map[types.NamespacedName]*accessv1alpha1.Finding{}}
	for _, c := range contractors {
		s.contractors[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] = c
	}
	return s
}

func (s *memStore) bump() string { s.version++; return strconv.Itoa(s.version) }

func (s *memStore) ContractorsByAccount(_ context.Context, system, id string) ([]types.NamespacedName, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountLookups++
	var out []types.NamespacedName
	for key, c := range s.contractors {
		for _, a := range c.Spec.Accounts {
			if a.System == system && a.ID == id {
				out = append(out, key)
			}
		}
	}
	return out, nil
}

func (s *memStore) Contractor(_ context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refuse[key]; err != nil {
		return nil, err
	}
	if c := s.contractors[key]; c != nil {
		return c.DeepCopy(), nil
	}
	return nil, nil
}

func (s *memStore) SaveSignIns(_ context.Context, c *accessv1alpha1.Contractor, summary *accessv1alpha1.SignInSummary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	cur := s.contractors[key]
	if s.conflicts > 0 {
		s.conflicts--
		cur.ResourceVersion = s.bump()
	}
	if cur.ResourceVersion != c.ResourceVersion {
		return apierrors.NewConflict(gr, c.Name, fmt.Errorf("changed"))
	}
	cur = cur.DeepCopy()
	cur.Status.SignIns = summary.DeepCopy()
	cur.ResourceVersion = s.bump()
	s.contractors[key] = cur
	s.writes++
	return nil
}

func (s *memStore) Finding(_ context.Context, key types.NamespacedName, _ bool) (*accessv1alpha1.Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.findings[key]; f != nil {
		return f.DeepCopy(), nil
	}
	return nil, nil
}

func (s *memStore) CountFindings(_ context.Context, contractor types.NamespacedName) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.findings {
		if f.Namespace == contractor.Namespace && f.Spec.ContractorRef.Name == contractor.Name &&
			f.Labels[LabelSource] == SourceValue && f.Spec.Key != OverflowKey {
			n++
		}
	}
	return n, nil
}

func (s *memStore) CreateFinding(_ context.Context, f *accessv1alpha1.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failFindings {
		return fmt.Errorf("the API server is away")
	}
	key := types.NamespacedName{Namespace: f.Namespace, Name: f.Name}
	if s.findings[key] != nil {
		return apierrors.NewAlreadyExists(gr, f.Name)
	}
	f = f.DeepCopy()
	f.ResourceVersion = s.bump()
	s.findings[key] = f
	s.writes++
	return nil
}

func (s *memStore) UpdateFinding(_ context.Context, f *accessv1alpha1.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failFindings {
		return fmt.Errorf("the API server is away")
	}
	key := types.NamespacedName{Namespace: f.Namespace, Name: f.Name}
	if cur := s.findings[key]; cur == nil || cur.ResourceVersion != f.ResourceVersion {
		return apierrors.NewConflict(gr, f.Name, fmt.Errorf("changed"))
	}
	f = f.DeepCopy()
	f.ResourceVersion = s.bump()
	s.findings[key] = f
	s.writes++
	return nil
}

func (s *memStore) Contractors(context.Context) ([]accessv1alpha1.Contractor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]accessv1alpha1.Contractor, 0, len(s.contractors))
	for _, c := range s.contractors {
		out = append(out, *c.DeepCopy())
	}
	return out, nil
}

func (s *memStore) findingsOf(name string) map[string]*accessv1alpha1.Finding {
	out := map[string]*accessv1alpha1.Finding{}
	for _, f := range s.findings {
		if f.Spec.ContractorRef.Name == name {
			k := string(f.Spec.Type)
			if f.Spec.AnonymizerKind != "" {
				k += "/" + string(f.Spec.AnonymizerKind)
			}
			out[k] = f
		}
	}
	return out
}

// contractor claims to work from the US.
func contractor(ns, name string, accounts ...accessv1alpha1.Account) *accessv1alpha1.Contractor {
	return &accessv1alpha1.Contractor{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Spec: accessv1alpha1.ContractorSpec{DisplayName: name, Email: name + "@example.com",
			ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
			Accounts:        accounts},
	}
}

func events(lines ...string) []byte { return []byte(strings.Join(lines, "\n")) }

func event(subject, ip string, at time.Time, extra string) string {
	subj := `"contractor":"` + subject + `"`
	if system, id, ok := strings.Cut(subject, "="); ok {
		subj = `"account":{"system":"` + system + `","id":"` + id + `"}`
	}
	return `{` + subj + `,"ip":"` + ip + `","time":"` + at.Format(time.RFC3339Nano) + `"` + extra + `}`
}

func newTestIngester(t testing.TB, store Store) *Ingester {
	return NewIngester(store, testEnricher(t), IngesterOptions{Lists: lists, Clock: clocktesting.NewFakePassiveClock(now)})
}

// describeFindings renders a contractor's Findings as sorted
// "type[/kind] count [related...]".
func (s *memStore) describeFindings(name string) []string {
	var out []string
	for k, f := range s.findingsOf(name) {
		out = append(out, fmt.Sprintf("%s %d %v", k, f.Spec.Count, f.Spec.Evidence.RelatedContractors))
	}
	slices.Sort(out)
	return out
}

// farm is a laptop farm's first batch: sam (named by account) and kim on
// one address, kim also through Tor, lee from North Korea, and three bad
// events.
func farm(t *testing.T) (*memStore, *Ingester, []byte) {
	store := newMemStore(
		contractor("acme", "sam", accessv1alpha1.Account{System: "okta", ID: "sam@acme.example"}),
		contractor("acme", "kim"),
		contractor("acme", "lee"))
	t0 := now.Add(-2 * time.Hour)
	body := events(
		event("okta=sam@acme.example", "203.0.113.7", t0, `,"deviceID":"farm-01"`),
		event("acme/kim", "203.0.113.7", t0.Add(time.Minute), ""),
		event("acme/kim", "185.220.101.4", t0.Add(2*time.Minute), ""),
		event("acme/lee", "175.45.176.9", t0.Add(3*time.Minute), `,"timezone":"Asia/Pyongyang","locale":"ko-KP"`),
		event("acme/nobody", "203.0.113.8", t0, ""),
		event("okta=unknown", "203.0.113.8", t0, ""),
		`{"contractor":"acme/lee","ip":"not-an-ip","time":"`+t0.Format(time.RFC3339)+`"}`,
	)
	return store, newTestIngester(t, store), body
}

func TestIngestLaptopFarm(t *testing.T) {
	store, in, body := farm(t)
	res, err := in.Ingest(context.Background(), body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 7 || res.Accepted != 4 || res.FindingsCreated != 4 {
		t.Errorf("result = %+v", res)
	}
	want := []Rejection{{4, "contractor acme/nobody does not exist"}, {5, `no contractor has account "unknown" on system "okta"`},
		{6, `ip "not-an-ip" is not an IP address`}}
	if !reflect.DeepEqual(res.Rejected, want) {
		t.Errorf("rejected = %+v, want %+v", res.Rejected, want)
	}
	for name, want := range map[string][]string{
		"sam": {"shared-infrastructure 1 [kim]"},
		"kim": {"anonymizer/tor 1 []", "shared-infrastructure 1 [sam]"},
		"lee": {"geolocation 1 []"},
	} {
		if got := store.describeFindings(name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s's findings = %v, want %v", name, got, want)
		}
	}
	if f := store.findingsOf("lee")["geolocation"]; !f.Spec.ExpiresAt.Time.Equal(now.Add(30*24*time.Hour)) ||
		f.Spec.Evidence.Details["timezone"] != "Asia/Pyongyang" || f.Spec.Evidence.Details["locale"] != "ko-KP" {
		t.Errorf("expiry %v, evidence %+v", f.Spec.ExpiresAt, f.Spec.Evidence)
	}
	got := store.contractors[types.NamespacedName{Namespace: "acme", Name: "kim"}].Status.SignIns
	if got == nil || got.Total != 2 || len(got.Recent) != 2 || got.Recent[0].IP != "185.220.101.4" {
		t.Errorf("kim's sign-ins = %+v", got)
	}
}

func TestIngestCountsNothingTwice(t *testing.T) {
	ctx := context.Background()
	store, in, body := farm(t)
	if _, err := in.Ingest(ctx, body); err != nil {
		t.Fatal(err)
	}
	writes := store.writes
	again, err := in.Ingest(ctx, body)
	if err != nil || again.Accepted != 0 || again.Duplicates != 4 || store.writes != writes {
		t.Errorf("the same batch again = %+v, %v, %d writes", again, err, store.writes-writes)
	}
	// A repeat later: the count grows on the same Finding.
	later := now.Add(-time.Hour)
	res, err := in.Ingest(ctx, events(event("acme/lee", "175.45.176.10", later, "")))
	if err != nil || res.FindingsCreated != 0 || res.FindingsUpdated != 1 {
		t.Fatalf("repeat = %+v, %v", res, err)
	}
	if f := store.findingsOf("lee")["geolocation"]; f.Spec.Count != 2 || !f.Spec.LastSeen.Time.Equal(later) {
		t.Errorf("repeat finding = %+v", f.Spec)
	}
}

func TestIngestLooksEachAccountUpOncePerBatch(t *testing.T) {
	store := newMemStore(contractor("acme", "sam", accessv1alpha1.Account{System: "okta", ID: "sam@acme.example"}))
	t0 := now.Add(-time.Hour)
	res, err := newTestIngester(t, store).Ingest(context.Background(), events(
		event("okta=sam@acme.example", "203.0.113.7", t0, ""),
		event("okta=sam@acme.example", "203.0.113.7", t0.Add(time.Minute), ""),
		event("okta=gone", "203.0.113.7", t0, ""),
		event("okta=gone", "203.0.113.7", t0.Add(time.Minute), ""),
	))
	if err != nil || res.Accepted != 2 || len(res.Rejected) != 2 || store.accountLookups != 2 {
		t.Errorf("result %+v, %v, %d account lookups (want 2)", res, err, store.accountLookups)
	}
}

func TestIngestAfterRestartKeepsCorrelating(t *testing.T) {
	ctx := context.Background()
	store := newMemStore(contractor("acme", "sam"), contractor("acme", "kim"))
	t0 := now.Add(-2 * time.Hour)
	if _, err := newTestIngester(t, store).Ingest(ctx, events(event("acme/sam", "203.0.113.7", t0, ""))); err != nil {
		t.Fatal(err)
	}
	// A new ingester rebuilds its index from the contractors' status.
	res, err := newTestIngester(t, store).Ingest(ctx, events(event("acme/kim", "203.0.113.7", t0.Add(time.Minute), "")))
	if err != nil || res.FindingsCreated != 2 {
		t.Fatalf("after restart = %+v, %v", res, err)
	}
}

func TestIngestTravelLooksPastAnonymizersInHistory(t *testing.T) {
	ctx := context.Background()
	store := newMemStore(contractor("acme", "sam"))
	in := newTestIngester(t, store)
	t0 := now.Add(-2 * time.Hour)
	for i, e := range []string{
		event("acme/sam", "203.0.113.7", t0, ""),
		event("acme/sam", "185.220.101.4", t0.Add(10*time.Minute), ""), // a Tor exit in Germany
		event("acme/sam", "203.0.113.8", t0.Add(20*time.Minute), ""),
	} {
		if _, err := in.Ingest(ctx, events(e)); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := store.describeFindings("sam"); !reflect.DeepEqual(got, []string{"anonymizer/tor 1 []"}) {
		t.Fatalf("the Tor exit's country counted as a trip: %v", got)
	}
	// From the US, the last located sign-in, to North Korea in ten minutes.
	if _, err := in.Ingest(ctx, events(event("acme/sam", "175.45.176.9", t0.Add(30*time.Minute), ""))); err != nil {
		t.Fatal(err)
	}
	want := []string{"anonymizer/tor 1 []", "geolocation 1 []", "impossible-travel 1 []"}
	if got := store.describeFindings("sam"); !reflect.DeepEqual(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

func TestIngestCapsFindingsPerContractor(t *testing.T) {
	ctx := context.Background()
	store := newMemStore(contractor("acme", "kim"))
	in := NewIngester(store, testEnricher(t), IngesterOptions{Lists: lists, MaxFindings: 3, Clock: clocktesting.NewFakePassiveClock(now)})
	var lines []string
	for i := range 10 {
		lines = append(lines, event("acme/kim", fmt.Sprintf("192.0.2.%d", 10+i), now.Add(-time.Duration(10-i)*time.Minute), ""))
	}
	res, err := in.Ingest(ctx, events(lines...))
	if err != nil {
		t.Fatal(err)
	}
	if len(store.findings) != 4 || res.FindingsCreated != 4 {
		t.Fatalf("%d findings, result %+v", len(store.findings), res)
	}
	over := store.findings[types.NamespacedName{Namespace: "acme", Name: FindingName("kim", accessv1alpha1.FindingAnonymizer, OverflowKey)}]
	if over == nil || over.Spec.Count != 7 || !strings.Contains(over.Spec.Summary, "cap of 3") {
		t.Fatalf("overflow finding = %+v", over)
	}
}

func TestIngestRetriesConflictsAndReportsFailures(t *testing.T) {
	ctx := context.Background()
	store := newMemStore(contractor("acme", "kim"))
	in := newTestIngester(t, store)
	store.conflicts = 2
	if _, err := in.Ingest(ctx, events(event("acme/kim", "203.0.113.7", now.Add(-time.Hour), ""))); err != nil {
		t.Fatalf("conflicts not retried: %v", err)
	}
	if s := store.contractors[types.NamespacedName{Namespace: "acme", Name: "kim"}].Status.SignIns; s == nil || s.Total != 1 {
		t.Fatalf("sign-ins = %+v", s)
	}

	store.failFindings = true
	tor := events(event("acme/kim", "185.220.101.4", now.Add(-time.Minute), ""))
	if _, err := in.Ingest(ctx, tor); err == nil || !strings.Contains(err.Error(), "anonymizer finding of contractor acme/kim") {
		t.Fatalf("failed write not reported: %v", err)
	}
	// Nothing was stored, so the retry counts the sign-in once.
	store.failFindings = false
	res, err := in.Ingest(ctx, tor)
	if err != nil || res.Accepted != 1 || res.FindingsCreated != 1 {
		t.Fatalf("retry = %+v, %v", res, err)
	}
}

func TestIngestBadRequests(t *testing.T) {
	in := newTestIngester(t, newMemStore())
	if _, err := in.Ingest(context.Background(), []byte(`[{"contractor": `)); err == nil || !strings.Contains(err.Error(), "bad request") {
		t.Errorf("broken JSON: %v", err)
	}
	store := newMemStore(contractor("a", "x", accessv1alpha1.Account{System: "okta", ID: "shared"}),
		contractor("b", "y", accessv1alpha1.Account{System: "okta", ID: "shared"}))
	res, err := newTestIngester(t, store).Ingest(context.Background(), events(event("okta=shared", "203.0.113.1", now, "")))
	if err != nil || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, "belongs to 2 contractors (a/x, b/y)") {
		t.Errorf("ambiguous account: %+v, %v", res, err)
	}
}

// TestIngestRejectsHostileEventsOneByOne: no event's content fails the
// batch; each bad one is rejected by its index and the good ones stored.
func TestIngestRejectsHostileEventsOneByOne(t *testing.T) {
	t0 := now.Add(-time.Hour)
	store := newMemStore(contractor("acme", "kim"), contractor("acme", "odd"))
	// Should a key pass the checks and the API server still refuse it,
	// that is the event's fault too.
	store.refuse = map[types.NamespacedName]error{{Namespace: "acme", Name: "odd"}: apierrors.NewBadRequest("no such name")}
	res, err := newTestIngester(t, store).Ingest(context.Background(), events(
		event("acme/kim", "203.0.113.7", t0, ""),
		event("../etc", "203.0.113.7", t0, ""),
		`{"contractor":"acme/kim","IP":"203.0.113.8","time":"`+t0.Format(time.RFC3339)+`"}`,
		event("acme/kim", "fe80::1%eth0", t0, ""),
		event("acme/kim", "203.0.113.9", t0, ",\"userAgent\":\"\xff\""),
		event("acme/odd", "203.0.113.7", t0, ""),
		event("acme/kim", "203.0.113.10", t0.Add(time.Minute), ""),
	))
	if err != nil {
		t.Fatalf("the batch failed: %v", err)
	}
	if res.Received != 7 || res.Accepted != 2 {
		t.Errorf("result = %+v", res)
	}
	want := map[int]string{1: `contractor "../etc" must be namespace/name`, 2: `unknown field "IP"`, 3: "has a zone",
		4: "not valid UTF-8", 5: "contractor acme/odd cannot be read"}
	if len(res.Rejected) != len(want) {
		t.Fatalf("rejected = %+v", res.Rejected)
	}
	for _, r := range res.Rejected {
		if !strings.Contains(r.Error, want[r.Index]) {
			t.Errorf("event %d: %q lacks %q", r.Index, r.Error, want[r.Index])
		}
	}
	if s := store.contractors[types.NamespacedName{Namespace: "acme", Name: "kim"}].Status.SignIns; s == nil || s.Total != 2 {
		t.Errorf("kim's sign-ins = %+v", s)
	}
}

func TestIngestFailsTheBatchOnlyForTheStore(t *testing.T) {
	store := newMemStore(contractor("acme", "kim"))
	store.refuse = map[types.NamespacedName]error{{Namespace: "acme", Name: "kim"}: fmt.Errorf("the cache is away")}
	_, err := newTestIngester(t, store).Ingest(context.Background(), events(event("acme/kim", "203.0.113.7", now.Add(-time.Hour), "")))
	if err == nil || errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "the cache is away") {
		t.Errorf("a store failure: %v", err)
	}
}

func TestMergeSummaryIsBounded(t *testing.T) {
	var fresh []SignIn
	for i := range 200 {
		s := signIn(now.Add(time.Duration(i)*time.Minute), "203.0.113.1", fmt.Sprintf("%c%c", 'A'+i%26, 'A'+i/26), 1)
		fresh = append(fresh, s)
	}
	s := MergeSummary(nil, fresh)
	if s.Total != 200 || len(s.Recent) != maxRecent || len(s.Countries) != maxCountries ||
		!s.Recent[0].Time.Time.Equal(now.Add(199*time.Minute)) || !s.LastSignInAt.Time.Equal(now.Add(199*time.Minute)) {
		t.Errorf("summary: total %d, %d recent (first %v), %d countries", s.Total, len(s.Recent), s.Recent[0].Time, len(s.Countries))
	}
	raw, _ := json.Marshal(s)
	if len(raw) > 16*1024 {
		t.Errorf("the summary is %d bytes", len(raw))
	}
}

// BenchmarkIngest measures events per second through parsing, validation,
// enrichment, correlation and the (in-memory) writes of 1,000-event
// batches over 500 contractors, each with a home address and a laptop of
// their own; a tenth of them form a laptop farm and send half their
// sign-ins from one address at a hosting provider, so every batch also
// updates Findings. "spread" gives each contractor two events a batch (the
// per-contractor work dominates); "grouped" twenty, as a forwarder sending
// a few minutes of sign-ins does.
func BenchmarkIngest(b *testing.B) {
	for _, shape := range []struct {
		name       string
		contractor func(i int) int
	}{{"spread", func(i int) int { return i % 500 }}, {"grouped", func(i int) int { return i / 20 % 500 }}} {
		b.Run(shape.name, func(b *testing.B) { benchmarkIngest(b, shape.contractor) })
	}
}

func benchmarkIngest(b *testing.B, contractorOf func(int) int) {
	var cs []*accessv1alpha1.Contractor
	for i := range 500 {
		cs = append(cs, contractor("acme", fmt.Sprintf("c%03d", i)))
	}
	store := newMemStore(cs...)
	in := NewIngester(store, testEnricher(b), IngesterOptions{Lists: lists})
	start := time.Now().Add(-24 * time.Hour)
	const batchSize = 1000
	batches := make([][]byte, 64)
	for n := range batches {
		lines := make([]string, batchSize)
		for i := range lines {
			c := contractorOf(n*batchSize + i)
			ip := fmt.Sprintf("198.18.%d.%d", c/256, c%256)
			if c%10 == 0 && i%2 == 0 {
				ip = "192.0.2.77"
			}
			at := start.Add(time.Duration(n*batchSize+i) * time.Second)
			lines[i] = event(fmt.Sprintf("acme/c%03d", c), ip, at, `,"deviceID":"laptop-`+strconv.Itoa(c)+`"`)
		}
		batches[n] = events(lines...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := in.Ingest(context.Background(), batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "events/s")
}

func TestListsFromData(t *testing.T) {
	l, err := ListsFromData(map[string]any{"hosting_asns": []any{float64(14061), json.Number("16276")},
		"travel":    map[string]any{"max_speed_kmh": float64(800), "grace_hours": float64(48)},
		"off_hours": map[string]any{"work_start": float64(8), "work_end": float64(19), "min_signins": float64(12), "fraction": 0.7}})
	if err != nil || !l.HostingASNs[14061] || !l.HostingASNs[16276] || l.MaxSpeedKMH != 800 ||
		l.WorkStart != 8 || l.WorkEnd != 19 || l.OffHoursMinSignIns != 12 || l.OffHoursFraction != 0.7 {
		t.Errorf("lists = %+v, %v", l, err)
	}
	for bad, want := range map[string]map[string]any{
		"hosting_asns must be a list":     {"hosting_asns": "14061"},
		"hosting_asns[0] must be an AS":   {"hosting_asns": []any{"AS14061"}},
		"travel must be an object":        {"travel": "fast"},
		"travel.max_speed_kmh must be":    {"travel": map[string]any{"max_speed_kmh": "900"}},
		"off_hours.fraction must be":      {"off_hours": map[string]any{"fraction": 1.5}},
		"must not be after off_hours.wor": {"off_hours": map[string]any{"work_start": float64(20), "work_end": float64(7)}},
	} {
		if _, err := ListsFromData(want); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%v: error %v, want one saying %q", want, err, bad)
		}
	}
}
