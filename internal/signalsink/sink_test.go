package signalsink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

const (
	issuer = "https://idp.example.com"
	stream = "okta-signals"
	ttl    = 72 * time.Hour
)

var (
	epoch = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	src   = signalsink.Source{Name: stream, Issuer: issuer, Systems: []string{"okta-org", "cluster"}}

	alice = types.NamespacedName{Namespace: "ssf-a", Name: "alice"}
	bob   = types.NamespacedName{Namespace: "ssf-a", Name: "bob"}
	carol = types.NamespacedName{Namespace: "ssf-b", Name: "carol"}
)

// world is an API server with the contractors of the tests, a manager's
// cache over it and a sink.
type world struct {
	k8s  client.Client
	sink *signalsink.Sink
}

var (
	worldOnce sync.Once
	shared    *world
	worldErr  error
)

// TestMain stops the shared API server after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

var stop func()

// start starts the shared world once.
func start(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() { shared, worldErr = newWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return shared
}

func newWorld() (*world, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = devenv.ControlPlaneDir(filepath.Join("..", ".."))
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: dir,
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = 2 * time.Minute
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the API server (run make controlplane or set KUBEBUILDER_ASSETS): %w", err)
	}
	scheme, err := manager.NewScheme()
	if err != nil {
		return nil, err
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: manager.CacheOptions()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := kube.SetupIndexes(ctx, mgr); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
		_ = env.Stop()
	}
	if err := seed(ctx, k8s, mgr.GetClient()); err != nil {
		return nil, err
	}
	return &world{k8s: k8s, sink: &signalsink.Sink{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		Clock: clocktesting.NewFakePassiveClock(epoch.Add(time.Hour)), FindingTTL: ttl}}, nil
}

// seed creates the systems and contractors, and waits until the cache
// holds them all.
func seed(ctx context.Context, k8s client.Client, cache client.Reader) error {
	okta := func(name string) *accessv1alpha1.ConnectedSystem {
		return &accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta, DryRun: true,
				CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: "portcullis-system", Name: name},
				Okta:                 &accessv1alpha1.OktaSettings{OrgURL: "https://" + name + ".okta.com"}}}
	}
	contractor := func(key types.NamespacedName, email string, accounts ...accessv1alpha1.Account) *accessv1alpha1.Contractor {
		return &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: key.Name, Email: email,
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"}, Accounts: accounts}}
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ssf-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ssf-b"}},
		okta("okta-org"), okta("okta-other"),
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeKubernetes,
				Kubernetes: &accessv1alpha1.KubernetesSettings{AllowedClusterRoles: []string{"view"}}}},
		contractor(alice, "Alice.Smith@Contractors.Example.com",
			accessv1alpha1.Account{System: "okta-org", ID: "Alice.Okta@Corp.Example"},
			accessv1alpha1.Account{System: "cluster", ID: "AliceK8s"}),
		contractor(bob, "bob@contractors.example.com",
			accessv1alpha1.Account{System: "okta-org", ID: "00ubob"}),
		contractor(carol, "carol@contractors.example.com",
			accessv1alpha1.Account{System: "okta-other", ID: "carol-elsewhere"}),
		// Two contractors in two namespaces who list one address in two
		// cases: a subject naming it is ambiguous.
		contractor(types.NamespacedName{Namespace: "ssf-a", Name: "twin-a"}, "twin@contractors.example.com"),
		contractor(types.NamespacedName{Namespace: "ssf-b", Name: "twin-b"}, "Twin@Contractors.Example.com"),
	}
	for _, obj := range objs {
		if err := k8s.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list accessv1alpha1.ContractorList
		var systems accessv1alpha1.ConnectedSystemList
		if cache.List(ctx, &list) == nil && len(list.Items) == 5 && cache.List(ctx, &systems) == nil && len(systems.Items) == 3 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cache never saw the contractors")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setOf builds a SET of one event.
func setOf(jti string, subject *ssf.SubjectID, eventType string, body map[string]any) *ssf.SET {
	raw, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return &ssf.SET{Issuer: issuer, JTI: jti, IssuedAt: epoch, Subject: subject,
		Events: map[string]json.RawMessage{eventType: raw}}
}

func email(addr string) *ssf.SubjectID { return &ssf.SubjectID{Format: ssf.FormatEmail, Email: addr} }
func opaque(id string) *ssf.SubjectID  { return &ssf.SubjectID{Format: ssf.FormatOpaque, ID: id} }
func bobIssSub(iss string) *ssf.SubjectID {
	return &ssf.SubjectID{Format: ssf.FormatIssSub, Iss: iss, Sub: "00ubob"}
}

// at is an event_timestamp minutes after epoch.
func at(minutes int) map[string]any {
	return map[string]any{"event_timestamp": epoch.Add(time.Duration(minutes) * time.Minute).Unix()}
}

func with(body map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		body[kv[i].(string)] = kv[i+1]
	}
	return body
}

// findings lists a contractor's Findings of the stream.
func (w *world) findings(t *testing.T, key types.NamespacedName) map[accessv1alpha1.FindingType]accessv1alpha1.Finding {
	t.Helper()
	var list accessv1alpha1.FindingList
	if err := w.k8s.List(t.Context(), &list, client.InNamespace(key.Namespace),
		client.MatchingLabels{signalsink.LabelStream: stream}); err != nil {
		t.Fatal(err)
	}
	out := map[accessv1alpha1.FindingType]accessv1alpha1.Finding{}
	for _, f := range list.Items {
		if f.Spec.ContractorRef.Name == key.Name {
			out[f.Spec.Type] = f
		}
	}
	return out
}

func (w *world) clear(t *testing.T, key types.NamespacedName) {
	t.Helper()
	if err := w.k8s.DeleteAllOf(t.Context(), &accessv1alpha1.Finding{}, client.InNamespace(key.Namespace)); err != nil {
		t.Fatal(err)
	}
}

func (w *world) receive(t *testing.T, set *ssf.SET) signalsink.Outcome {
	t.Helper()
	out, err := w.sink.Receive(t.Context(), src, set)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return out
}

// TestSubjects resolves each subject identifier format to a contractor,
// or to none or several, as the sink's rules say.
func TestSubjects(t *testing.T) {
	w := start(t)
	recorded := signalsink.Outcome{Recorded: 1}
	unmatched := signalsink.Outcome{Unmatched: 1}
	ambiguous := signalsink.Outcome{Ambiguous: 1}
	for i, tc := range []struct {
		name    string
		subject *ssf.SubjectID
		want    signalsink.Outcome
		who     types.NamespacedName
	}{
		{"email, in another case", email("alice.smith@contractors.example.com"), recorded, alice},
		{"email of nobody", email("mallory@contractors.example.com"), unmatched, alice},
		{"email two contractors list in two cases", email("TWIN@contractors.example.com"), ambiguous, alice},
		{"iss_sub of the stream's issuer", bobIssSub(issuer), recorded, bob},
		{"iss_sub of another issuer", bobIssSub("https://evil.example.com"), unmatched, bob},
		{"opaque account on a case-folding system", opaque("ALICE.okta@corp.example"), recorded, alice},
		{"opaque account on an exact system", opaque("AliceK8s"), recorded, alice},
		{"opaque account on an exact system, other case", opaque("alicek8s"), unmatched, alice},
		{"account on a system not among the stream's", opaque("carol-elsewhere"), unmatched, carol},
		{"email of a contractor with no account on the systems", email("carol@contractors.example.com"), recorded, carol},
		{"acct URI", &ssf.SubjectID{Format: ssf.FormatAccount, URI: "acct:bob@contractors.example.com"}, recorded, bob},
		{"phone number", &ssf.SubjectID{Format: ssf.FormatPhoneNumber, PhoneNumber: "+12025550123"}, unmatched, bob},
		{"aliases naming one contractor twice", &ssf.SubjectID{Format: ssf.FormatAliases, Identifiers: []ssf.SubjectID{
			*opaque("nobody"), *email("bob@contractors.example.com"), *bobIssSub(issuer)}}, recorded, bob},
		{"aliases naming two contractors", &ssf.SubjectID{Format: ssf.FormatAliases, Identifiers: []ssf.SubjectID{
			*email("bob@contractors.example.com"), *opaque("AliceK8s")}}, ambiguous, bob},
		{"complex with a user", &ssf.SubjectID{Format: ssf.FormatComplex, User: email("bob@contractors.example.com"),
			Device: opaque("AliceK8s")}, recorded, bob},
		{"complex with a device only", &ssf.SubjectID{Format: ssf.FormatComplex, Device: opaque("AliceK8s")}, unmatched, alice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.clear(t, tc.who)
			got := w.receive(t, setOf(fmt.Sprintf("subject-%d", i), tc.subject, ssf.EventSessionRevoked, at(0)))
			if got != tc.want {
				t.Fatalf("outcome %+v, want %+v", got, tc.want)
			}
			fs := w.findings(t, tc.who)
			if _, ok := fs[accessv1alpha1.FindingSessionRevoked]; ok != (tc.want == recorded) {
				t.Errorf("session-revoked Finding of %s present: %v", tc.who, ok)
			}
		})
	}
}

// TestEventTypes records each event type as its Finding, or ignores it.
func TestEventTypes(t *testing.T) {
	w := start(t)
	subject := email("bob@contractors.example.com")
	for i, tc := range []struct {
		eventType string
		body      map[string]any
		typ       accessv1alpha1.FindingType // empty: ignored
		severity  accessv1alpha1.Severity
		expires   bool
		detail    [2]string
	}{
		{ssf.EventAccountDisabled, with(at(0), "reason", "hijacking"), accessv1alpha1.FindingAccountDisabled, accessv1alpha1.SeverityCritical, false, [2]string{"reason", "hijacking"}},
		{ssf.EventAccountDisabled, at(0), accessv1alpha1.FindingAccountDisabled, accessv1alpha1.SeverityHigh, false, [2]string{"eventType", ssf.EventAccountDisabled}},
		{ssf.EventAccountPurged, at(0), accessv1alpha1.FindingAccountDisabled, accessv1alpha1.SeverityHigh, false, [2]string{"eventType", ssf.EventAccountPurged}},
		{ssf.EventCredentialCompromise, with(at(0), "credential_type", "password"), accessv1alpha1.FindingCredentialCompromise, accessv1alpha1.SeverityHigh, true, [2]string{"credentialType", "password"}},
		{ssf.EventDeviceComplianceChange, with(at(0), "current_status", "not-compliant", "previous_status", "compliant"), accessv1alpha1.FindingDeviceNonCompliant, accessv1alpha1.SeverityMedium, true, [2]string{"currentStatus", "not-compliant"}},
		{ssf.EventSessionRevoked, at(0), accessv1alpha1.FindingSessionRevoked, accessv1alpha1.SeverityInfo, true, [2]string{"issuer", issuer}},
		{ssf.EventSessionsRevoked, at(0), accessv1alpha1.FindingSessionRevoked, accessv1alpha1.SeverityInfo, true, [2]string{"eventType", ssf.EventSessionsRevoked}},
		{ssf.EventCredentialChange, with(at(0), "credential_type", "fido2-roaming", "change_type", "create"), accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityLow, true, [2]string{"changeType", "create"}},
		{ssf.EventAssuranceLevelChange, with(at(0), "namespace", "NIST-AAL", "current_level", "nist-aal1", "previous_level", "nist-aal2", "change_direction", "decrease"), accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityLow, true, [2]string{"currentLevel", "nist-aal1"}},
		{ssf.EventAssuranceLevelChange, with(at(0), "namespace", "NIST-AAL", "current_level", "nist-aal2", "previous_level", "nist-aal1", "change_direction", "increase"), "", "", false, [2]string{}},
		{ssf.EventTokenClaimsChange, with(at(0), "claims", map[string]any{"role": "ro", "access_token": "eyJsecret"}), accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityInfo, true, [2]string{"claims", "access_token role"}},
		{ssf.EventIdentifierChanged, with(at(0), "new-value", "robert@contractors.example.com"), accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityInfo, true, [2]string{"newValue", "robert@contractors.example.com"}},
		{ssf.EventIdentifierRecycled, at(0), accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityLow, true, [2]string{"eventType", ssf.EventIdentifierRecycled}},
		{ssf.EventVerification, map[string]any{"state": "x"}, "", "", false, [2]string{}},
		{"https://vendor.example.com/event-type/new-thing", at(0), "", "", false, [2]string{}},
	} {
		t.Run(fmt.Sprintf("%d-%s", i, tc.eventType[strings.LastIndexByte(tc.eventType, '/')+1:]), func(t *testing.T) {
			w.clear(t, bob)
			set := setOf(fmt.Sprintf("type-%d", i), subject, tc.eventType, tc.body)
			set.TxnID = "txn-42"
			got := w.receive(t, set)
			fs := w.findings(t, bob)
			if tc.typ == "" {
				if got != (signalsink.Outcome{Ignored: 1}) || len(fs) != 0 {
					t.Fatalf("outcome %+v, Findings %v; want ignored", got, fs)
				}
				return
			}
			if got != (signalsink.Outcome{Recorded: 1}) || len(fs) != 1 {
				t.Fatalf("outcome %+v, Findings %v; want one %s", got, fs, tc.typ)
			}
			checkFinding(t, fs[tc.typ], set, tc.severity, tc.expires, tc.detail)
		})
	}
}

// checkFinding checks the Finding one event recorded.
func checkFinding(t *testing.T, f accessv1alpha1.Finding, set *ssf.SET, severity accessv1alpha1.Severity,
	expires bool, detail [2]string) {
	t.Helper()
	if f.Spec.Severity != severity || (f.Spec.ExpiresAt != nil) != expires ||
		f.Spec.Source != "ssf:"+stream || f.Spec.Key != stream || f.Spec.Count != 1 ||
		f.Spec.Evidence.Details[detail[0]] != detail[1] || f.Spec.Evidence.Details["jti"] != set.JTI ||
		f.Spec.Evidence.Details["txn"] != "txn-42" || !f.Spec.LastSeen.Time.Equal(epoch) {
		t.Errorf("Finding spec %+v", f.Spec)
	}
	if strings.Contains(fmt.Sprint(f.Spec), "eyJsecret") {
		t.Errorf("a claim value reached the Finding: %+v", f.Spec)
	}
	if !strings.HasPrefix(f.Spec.Summary, stream+" reported ") {
		t.Errorf("summary %q", f.Spec.Summary)
	}
}

// TestRepeats counts a new SET of a Finding's type once, a SET delivered
// again not at all, and keeps the Findings to one per type.
func TestRepeats(t *testing.T) {
	w := start(t)
	w.clear(t, alice)
	subject := email("alice.smith@contractors.example.com")
	first := setOf("repeat-1", subject, ssf.EventCredentialCompromise, with(at(0), "credential_type", "password"))
	w.receive(t, first)
	w.receive(t, first)
	w.receive(t, setOf("repeat-2", subject, ssf.EventCredentialCompromise, with(at(10), "credential_type", "api-key")))
	w.receive(t, setOf("repeat-2", subject, ssf.EventCredentialCompromise, with(at(10), "credential_type", "api-key")))
	// An older event delivered late counts but keeps the newest facts.
	w.receive(t, setOf("repeat-0", subject, ssf.EventCredentialCompromise, with(at(-10), "credential_type", "pin")))
	w.receive(t, setOf("repeat-0", subject, ssf.EventCredentialCompromise, with(at(-10), "credential_type", "pin")))
	f := w.findings(t, alice)[accessv1alpha1.FindingCredentialCompromise]
	if f.Spec.Count != 3 || f.Spec.Evidence.Details["credentialType"] != "api-key" ||
		!f.Spec.LastSeen.Time.Equal(epoch.Add(10*time.Minute)) || !f.Spec.FirstSeen.Time.Equal(epoch.Add(-10*time.Minute)) {
		t.Errorf("after repeats: count %d, details %v, first %v, last %v", f.Spec.Count, f.Spec.Evidence.Details,
			f.Spec.FirstSeen, f.Spec.LastSeen)
	}

	// Concurrent deliveries of distinct SETs each count once.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := w.sink.Receive(t.Context(), src, setOf(fmt.Sprintf("burst-%d", i), subject,
				ssf.EventCredentialCompromise, with(at(20+i), "credential_type", "password"))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f := w.findings(t, alice)[accessv1alpha1.FindingCredentialCompromise]; f.Spec.Count != 11 {
		t.Errorf("after a concurrent burst: count %d, want 11", f.Spec.Count)
	}

	// Every type at once: at most five Findings per contractor and stream.
	for i, ev := range []string{ssf.EventAccountDisabled, ssf.EventAccountPurged, ssf.EventSessionRevoked,
		ssf.EventSessionsRevoked, ssf.EventCredentialChange, ssf.EventIdentifierRecycled, ssf.EventTokenClaimsChange} {
		w.receive(t, setOf(fmt.Sprintf("all-%d", i), subject, ev, with(at(30), "claims", map[string]any{"x": 1},
			"credential_type", "password", "change_type", "update")))
	}
	w.receive(t, setOf("all-device", subject, ssf.EventDeviceComplianceChange,
		with(at(30), "current_status", "not-compliant", "previous_status", "compliant")))
	if fs := w.findings(t, alice); len(fs) != 5 {
		t.Errorf("%d Findings of one stream and contractor: %v", len(fs), fs)
	}
}

// TestLifting: an enable lifts an older disable, not a newer one; a
// compliant device lifts device-noncompliant.
func TestLifting(t *testing.T) {
	w := start(t)
	w.clear(t, bob)
	subject := bobIssSub(issuer)
	w.receive(t, setOf("lift-1", subject, ssf.EventAccountDisabled, with(at(10), "reason", "bulk-account")))
	if got := w.receive(t, setOf("lift-2", subject, ssf.EventAccountEnabled, at(5))); got.Recorded != 1 {
		t.Errorf("older enable: %+v", got)
	}
	if _, ok := w.findings(t, bob)[accessv1alpha1.FindingAccountDisabled]; !ok {
		t.Fatal("an enable older than the disable lifted it")
	}
	w.receive(t, setOf("lift-3", subject, ssf.EventAccountEnabled, at(10)))
	if _, ok := w.findings(t, bob)[accessv1alpha1.FindingAccountDisabled]; ok {
		t.Fatal("an enable as new as the disable did not lift it")
	}
	if got := w.receive(t, setOf("lift-4", subject, ssf.EventAccountEnabled, at(20))); got.Recorded != 1 {
		t.Errorf("enable with nothing to lift: %+v", got)
	}

	w.receive(t, setOf("dev-1", subject, ssf.EventDeviceComplianceChange,
		with(at(30), "current_status", "not-compliant", "previous_status", "compliant")))
	w.receive(t, setOf("dev-2", subject, ssf.EventDeviceComplianceChange,
		with(at(25), "current_status", "compliant", "previous_status", "not-compliant")))
	if _, ok := w.findings(t, bob)[accessv1alpha1.FindingDeviceNonCompliant]; !ok {
		t.Fatal("an older compliant report lifted device-noncompliant")
	}
	w.receive(t, setOf("dev-3", subject, ssf.EventDeviceComplianceChange,
		with(at(40), "current_status", "compliant", "previous_status", "not-compliant")))
	if _, ok := w.findings(t, bob)[accessv1alpha1.FindingDeviceNonCompliant]; ok {
		t.Fatal("a compliant report did not lift device-noncompliant")
	}
}

// TestHostileText: a 100 KB reason_admin full of control characters and
// bidirectional overrides ends bounded and clean.
func TestHostileText(t *testing.T) {
	w := start(t)
	w.clear(t, carol)
	junk := strings.Repeat("pwned\x1b[31m\u202e\x00\r\n\t", 100*1024/16)
	body := with(at(0), "reason", junk, "initiating_entity", "admin",
		"reason_admin", map[string]string{"en": junk, "de": junk})
	w.receive(t, setOf(junk[:200], email("carol@contractors.example.com"), ssf.EventAccountDisabled, body))
	f, ok := w.findings(t, carol)[accessv1alpha1.FindingAccountDisabled]
	if !ok {
		t.Fatal("no Finding")
	}
	texts := []string{f.Spec.Summary, f.Spec.Source, f.Spec.Key}
	size := 0
	for k, v := range f.Spec.Evidence.Details {
		texts = append(texts, k, v)
		size += len(v)
	}
	if len(f.Spec.Summary) > 1024 || size > 4096 {
		t.Errorf("summary %d bytes, details %d bytes", len(f.Spec.Summary), size)
	}
	for _, s := range texts {
		for _, r := range s {
			if !unicode.IsPrint(r) {
				t.Fatalf("unprintable %U in %q", r, s)
			}
		}
	}
	if !strings.Contains(f.Spec.Summary, "pwned") {
		t.Errorf("summary %q", f.Spec.Summary)
	}
}

// TestDeviceCompliancePerDevice: a device's compliance is its own; a
// compliant report for one device does not lift another's non-compliance.
func TestDeviceCompliancePerDevice(t *testing.T) {
	w := start(t)
	w.clear(t, bob)
	on := func(device string) *ssf.SubjectID {
		return &ssf.SubjectID{Format: ssf.FormatComplex, User: bobIssSub(issuer), Device: opaque(device)}
	}
	noncompliant := func() map[string]any {
		return with(at(30), "current_status", "not-compliant", "previous_status", "compliant")
	}
	w.receive(t, setOf("pd-1", on("laptop-1"), ssf.EventDeviceComplianceChange, noncompliant()))
	w.receive(t, setOf("pd-2", on("laptop-2"), ssf.EventDeviceComplianceChange, noncompliant()))
	devices := func() []string {
		var list accessv1alpha1.FindingList
		if err := w.k8s.List(t.Context(), &list, client.InNamespace(bob.Namespace),
			client.MatchingLabels{signalsink.LabelStream: stream}); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range list.Items {
			if f.Spec.ContractorRef.Name == bob.Name && f.Spec.Type == accessv1alpha1.FindingDeviceNonCompliant {
				ids = append(ids, f.Spec.Evidence.DeviceID)
			}
		}
		return slices.Sorted(slices.Values(ids))
	}
	if got := devices(); !slices.Equal(got, []string{"laptop-1", "laptop-2"}) {
		t.Fatalf("non-compliant devices %v, want both laptops", got)
	}
	w.receive(t, setOf("pd-3", on("laptop-2"), ssf.EventDeviceComplianceChange,
		with(at(40), "current_status", "compliant", "previous_status", "not-compliant")))
	if got := devices(); !slices.Equal(got, []string{"laptop-1"}) {
		t.Fatalf("after laptop-2 became compliant: %v, want laptop-1 still non-compliant", got)
	}
}
