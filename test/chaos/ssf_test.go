package chaos_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ssf"
	"github.com/portcullis-dev/portcullis/internal/ssftx"
	"github.com/portcullis-dev/portcullis/test/chaos"
	"github.com/portcullis-dev/portcullis/test/freeport"
)

// The transmitter of scenario 10 and its one receiver.
const (
	ssfContractors = 12
	ssfRounds      = 3
	ssfReceiver    = "chaos-receiver"
	ssfToken       = "chaos-receiver-token-0123456789abcdef" // #nosec G101 -- a test token
	ssfPushToken   = "chaos-push-token-fedcba9876543210"     // #nosec G101 -- a test token
	ssfKeysSecret  = "chaos-ssf-keys"
	ssfTokens      = "chaos-ssf-receivers"
	// ssfSinkDelay is how long the receiver takes to act on a SET, so that
	// some kills land between a push and the outbox's removal of the SET.
	ssfSinkDelay = 40 * time.Millisecond
)

// killsWhileTransmittingSignals: the manager is a Shared Signals
// transmitter with one push receiver in the test process (the real
// receiver code: PushHandler, Verifier, JWKS, replay store). Twelve
// contractors are quarantined and lifted three times while the manager is
// SIGKILLed at random points and started again. Every transition each
// Contractor's status.announced counts must reach the receiver's sink
// exactly once and in order (session-revoked and account-disabled for a
// disable, account-enabled for an enable), and the stream's outbox must
// end empty.
func killsWhileTransmittingSignals(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{}
	start := time.Now()
	const ns, prefix = "chaos-s10", "s10"
	flags, issuer, err := s.ssfSetup(ctx)
	if err != nil {
		row.Fail("setup: %v", err)
		return row
	}
	if err := s.ensureManager(ctx, flags); err != nil {
		row.Fail("starting the transmitter: %v", err)
		return row
	}
	rx, streamID, err := s.ssfConnect(ctx, issuer, prefix)
	if err != nil {
		row.Fail("connecting the receiver: %v", err)
		return row
	}
	defer rx.Close()
	cs, ok := s.activate(ctx, &row, ns, prefix, ssfContractors, chaos.Kubernetes)
	if !ok {
		return row
	}

	row.Expected = ssfContractors * ssfRounds * 3 // two SETs per disable, one per enable
	driven := make(chan error, 1)
	go func() { driven <- s.flapAccess(ctx, cs, ssfRounds) }()
	killed, driveErr, err := s.killUntil(ctx, driven, min(s.cfg.kills, 10))
	row.Faults = fmt.Sprintf("%d manager SIGKILLs while %d contractors are quarantined and lifted %d times",
		killed, ssfContractors, ssfRounds)
	if err != nil {
		row.Fail("%v", err)
		return row
	}
	if err := s.mgr.WaitReady(ctx, 90*time.Second); err != nil {
		row.Fail("after the kills: %v", err)
	}
	if driveErr != nil {
		row.Fail("%v", driveErr)
	}
	t.Logf("%d kills done; waiting for the outbox to drain", killed)
	s.checkSignals(ctx, &row, rx, cs, streamID)
	st := rx.Stats()
	row.Note("receiver: %d pushes, %d answered 202, %d SETs acted on, %d redeliveries acknowledged by the replay store without the sink; %s",
		st.Pushes, st.Accepted, st.Sunk, st.Redeliveries, time.Since(start).Round(time.Second))
	return row
}

// killUntil SIGKILLs the manager and starts it again, 0.5-3 s apart, until
// it was killed kills times or driven delivers the driver's result, which
// it then waits for; every other kill lands after the manager is ready.
func (s *suite) killUntil(ctx context.Context, driven <-chan error, kills int) (killed int, driveErr, err error) {
	for i := range kills {
		select {
		case driveErr = <-driven:
			return killed, driveErr, nil
		case <-time.After(s.between(500*time.Millisecond, 3*time.Second)):
		}
		if err := s.mgr.Kill(); err != nil {
			return killed, nil, fmt.Errorf("kill %d: %w", i+1, err)
		}
		killed++
		if err := s.mgr.Start(s.mgr.Flags()...); err != nil {
			return killed, nil, fmt.Errorf("start after kill %d: %w", i+1, err)
		}
		if i%2 == 1 {
			if err := s.mgr.WaitReady(ctx, 90*time.Second); err != nil {
				return killed, nil, fmt.Errorf("kill %d: %w", i+1, err)
			}
		}
	}
	return killed, <-driven, nil
}

// ssfSetup writes the certificates, creates the Secrets and returns the
// manager's flags with the transmitter on, and its issuer.
func (s *suite) ssfSetup(ctx context.Context) ([]string, string, error) {
	ca, err := chaos.NewCA()
	if err != nil {
		return nil, "", err
	}
	s.ssfCA = ca
	dir := filepath.Join(s.dir, "ssf")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	certFile, keyFile, caFile, err := ca.IssueFiles(dir)
	if err != nil {
		return nil, "", err
	}
	key, err := chaos.SigningKeyPEM()
	if err != nil {
		return nil, "", err
	}
	for name, data := range map[string]map[string][]byte{
		ssfKeysSecret: {"k1.pem": key, "active": []byte("k1")},
		ssfTokens:     {ssfReceiver: []byte(ssfToken)},
	} {
		if err := s.w.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: chaos.CredentialsNamespace, Name: name},
			Data: data}); err != nil {
			return nil, "", err
		}
	}
	port, err := freeport.Port()
	if err != nil {
		return nil, "", err
	}
	issuer := fmt.Sprintf("https://localhost:%d", port)
	// The suite runs the manager with the API server's admin credentials,
	// so config/ssf's Role (Secrets in the manager's namespace) is not needed.
	flags := append(s.normalFlags(),
		"--ssf-bind-address", "127.0.0.1:"+strconv.Itoa(port),
		"--ssf-tls-cert-file", certFile, "--ssf-tls-key-file", keyFile,
		"--ssf-issuer", issuer,
		"--ssf-signing-key-secret", chaos.CredentialsNamespace+"/"+ssfKeysSecret,
		"--ssf-receiver-token-secret", chaos.CredentialsNamespace+"/"+ssfTokens,
		"--ssf-receiver-ca-file", caFile, "--ssf-allow-private-receivers")
	return flags, issuer, nil
}

// ssfConnect starts the receiver and creates its push stream, limited to
// the scenario's contractors, through the stream management API.
func (s *suite) ssfConnect(ctx context.Context, issuer, prefix string) (*chaos.SSFReceiver, string, error) {
	hc := s.ssfCA.Client()
	var md *ssf.TransmitterMetadata
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; { // the endpoint may start after /readyz
		if md, err = ssf.Discover(ctx, hc, issuer); err == nil || time.Now().After(deadline) {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	if err != nil {
		return nil, "", fmt.Errorf("discovering the transmitter: %w", err)
	}
	rx, err := chaos.StartSSFReceiver(chaos.SSFReceiverConfig{CA: s.ssfCA, Issuer: issuer, JWKSURI: md.JWKSURI,
		Audience: ssfReceiver, Token: ssfPushToken, SinkDelay: ssfSinkDelay})
	if err != nil {
		return nil, "", err
	}
	sc := &ssf.StreamClient{HTTP: hc, Metadata: md, Token: ssfToken}
	created, err := sc.Create(ctx, &ssf.StreamConfig{
		Delivery:        ssf.StreamDelivery{Method: ssf.MethodPush, EndpointURL: rx.URL, AuthorizationHeader: "Bearer " + ssfPushToken},
		EventsRequested: []string{ssf.EventSessionRevoked, ssf.EventAccountDisabled, ssf.EventAccountEnabled},
		Description:     "chaos scenario 10"})
	if err != nil {
		rx.Close()
		return nil, "", fmt.Errorf("creating the stream: %w", err)
	}
	// Only this scenario's contractors: those of earlier scenarios, first
	// seen by a transmitter now, would be announced too.
	for i := range ssfContractors {
		sub := &ssf.SubjectID{Format: ssf.FormatEmail, Email: fmt.Sprintf("%s-%02d@contractors.example.com", prefix, i)}
		if err := sc.AddSubject(ctx, ssf.SubjectRequest{StreamID: created.StreamID, Subject: sub}); err != nil {
			rx.Close()
			return nil, "", fmt.Errorf("adding subject %s: %w", sub.Email, err)
		}
	}
	return rx, created.StreamID, nil
}

// flapAccess quarantines every contractor (a geolocation finding) and
// lifts it (the finding deleted) rounds times, each step waiting until
// every grant is in its state and every Contractor announced it.
func (s *suite) flapAccess(ctx context.Context, cs []chaos.Contractor, rounds int) error {
	for r := 1; r <= rounds; r++ {
		tag := "geo" + strconv.Itoa(r)
		for _, c := range cs {
			if err := s.w.AddFinding(ctx, c, chaos.Quarantines, tag); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
		}
		if err := s.waitAnnounced(ctx, cs, accessv1alpha1.GrantQuarantined, accessv1alpha1.AnnouncedDisabled, int64(2*r-1)); err != nil {
			return fmt.Errorf("round %d, quarantine: %w", r, err)
		}
		for _, c := range cs {
			f := &accessv1alpha1.Finding{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name + "-" + tag}}
			if err := client.IgnoreNotFound(s.w.C.Delete(ctx, f)); err != nil {
				return fmt.Errorf("round %d: deleting a finding: %w", r, err)
			}
		}
		if err := s.waitAnnounced(ctx, cs, accessv1alpha1.GrantActive, accessv1alpha1.AnnouncedEnabled, int64(2*r)); err != nil {
			return fmt.Errorf("round %d, lift: %w", r, err)
		}
	}
	return nil
}

// waitAnnounced waits until every grant is in state and every Contractor
// announced want as its transitions-th transition, no longer pending.
func (s *suite) waitAnnounced(ctx context.Context, cs []chaos.Contractor, state accessv1alpha1.GrantState,
	want accessv1alpha1.AnnouncedState, transitions int64) error {
	out := s.w.WaitVerified(ctx, chaos.Expect(cs, state), false, 3*time.Minute)
	if out.Applied < out.Expected {
		return fmt.Errorf("%d of %d grants not %s: %s", out.Expected-out.Applied, out.Expected, state, chaos.ListSome(out.Lost, 3))
	}
	var behind []string
	for deadline := time.Now().Add(2 * time.Minute); ctx.Err() == nil; sleep(ctx, 200*time.Millisecond) {
		behind = behind[:0]
		list := &accessv1alpha1.ContractorList{}
		if err := s.w.C.List(ctx, list, client.InNamespace(cs[0].Namespace)); err != nil {
			behind = append(behind, err.Error())
		}
		for _, c := range list.Items {
			a := c.Status.Announced
			if a == nil || a.State != want || a.Pending || a.Transitions != transitions {
				behind = append(behind, fmt.Sprintf("%s: %+v", c.Name, a))
			}
		}
		if len(behind) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(behind) > 0 {
		return fmt.Errorf("%d contractors did not announce %s as transition %d: %s", len(behind), want, transitions,
			chaos.ListSome(behind, 3))
	}
	return nil
}

// checkSignals waits until the stream's outbox is empty and the sink holds
// every expected SET, then a few seconds more for anything sent twice, and
// compares, contractor by contractor, the SETs the sink got with the
// transitions status.announced counts.
func (s *suite) checkSignals(ctx context.Context, row *chaos.Row, rx *chaos.SSFReceiver, cs []chaos.Contractor, streamID string) {
	if err := s.waitDrained(ctx, rx, streamID, row.Expected); err != nil {
		row.Fail("%v", err)
	}
	list := &accessv1alpha1.ContractorList{}
	if err := s.w.C.List(ctx, list, client.InNamespace(cs[0].Namespace)); err != nil {
		row.Fail("listing the contractors: %v", err)
		return
	}
	byEmail := map[string][]chaos.ReceivedSET{}
	for _, set := range rx.Received() {
		byEmail[set.Subject] = append(byEmail[set.Subject], set)
	}
	st := rx.Stats()
	row.Duplicated += st.DuplicateJTIs
	if st.DuplicateJTIs > 0 {
		row.Fail("the sink got %d SETs whose jti it had already got", st.DuplicateJTIs)
	}
	if f := rx.Failures(); len(f) > 0 {
		row.Fail("%d SETs could not be decoded: %s", len(f), chaos.ListSome(f, 3))
	}
	var problems []string
	announced := 0
	for i := range list.Items {
		c := &list.Items[i]
		if c.Status.Announced != nil {
			announced += int(c.Status.Announced.Transitions)
		}
		applied, extra, problem := checkContractorSignals(c, byEmail[c.Spec.Email], streamID)
		delete(byEmail, c.Spec.Email)
		row.Applied += applied
		row.Duplicated += extra
		problems = append(problems, problem...)
	}
	row.Applied = min(row.Applied, row.Expected)
	others := 0
	for _, sets := range byEmail {
		others += len(sets)
	}
	if others > 0 {
		row.Fail("the sink got %d SETs about subjects the stream does not carry", others)
	}
	if len(problems) > 0 {
		row.Fail("%d differences between the contractors' transitions and their signals: %s", len(problems), chaos.ListSome(problems, 4))
	}
	row.Note("%d transitions announced, %d SETs expected at the sink", announced, row.Expected)
}

// waitDrained waits up to two minutes until the stream's outbox is empty
// and the sink holds expected SETs, then 5 s more for anything sent twice,
// and reports an outbox that is not empty then.
func (s *suite) waitDrained(ctx context.Context, rx *chaos.SSFReceiver, streamID string, expected int) error {
	for deadline := time.Now().Add(2 * time.Minute); ctx.Err() == nil && time.Now().Before(deadline); sleep(ctx, 500*time.Millisecond) {
		if pending, err := s.outbox(ctx, streamID); err == nil && pending == 0 && len(rx.Received()) >= expected {
			break
		}
	}
	sleep(ctx, 5*time.Second)
	pending, err := s.outbox(ctx, streamID)
	if err != nil {
		return fmt.Errorf("reading the stream's outbox: %w", err)
	}
	if pending > 0 {
		return fmt.Errorf("the stream's outbox still holds %d events", pending)
	}
	return nil
}

// checkContractorSignals compares the SETs the sink got about a contractor
// with its announced transitions.
func checkContractorSignals(c *accessv1alpha1.Contractor, got []chaos.ReceivedSET, streamID string) (applied, extra int, problems []string) {
	a := c.Status.Announced
	if a == nil {
		return 0, len(got), []string{c.Name + ": nothing announced"}
	}
	if a.Pending || a.Transitions != 2*ssfRounds {
		problems = append(problems, fmt.Sprintf("%s: status.announced is %+v, want %d transitions", c.Name, *a, 2*ssfRounds))
	}
	applied, extra, problem := compareSETs(expectedSETs(string(c.UID), streamID, a.Transitions), got)
	if problem != "" {
		problems = append(problems, c.Name+": "+problem)
	}
	if n := len(got); n > 0 && a.Time != nil && !got[n-1].EventTime.Truncate(time.Second).Equal(a.Time.Truncate(time.Second)) {
		problems = append(problems, fmt.Sprintf("%s: the last event_timestamp is %s, status.announced.time %s",
			c.Name, got[n-1].EventTime.UTC().Format(time.RFC3339), a.Time.UTC().Format(time.RFC3339)))
	}
	return applied, extra, problems
}

// expectedSET is one SET a transition must produce.
type expectedSET struct{ jti, typ string }

// expectedSETs are the SETs of a contractor's transitions 1..n in order:
// the first is a disable (a contractor first seen enabled is recorded
// without an announcement), then they alternate. The jti is derived, as
// docs/ssf.md says, from the transition id <uid>/<n>, the stream and the
// event type.
func expectedSETs(uid, streamID string, n int64) []expectedSET {
	var out []expectedSET
	for k := int64(1); k <= n; k++ {
		types := []string{ssf.EventAccountEnabled}
		if k%2 == 1 {
			types = []string{ssf.EventSessionRevoked, ssf.EventAccountDisabled}
		}
		for _, typ := range types {
			sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d\x00%s\x00%s", uid, k, streamID, typ)))
			out = append(out, expectedSET{jti: hex.EncodeToString(sum[:])[:32], typ: typ})
		}
	}
	return out
}

// compareSETs matches the SETs the sink got, in order, with those wanted:
// applied counts the wanted ones that arrived, extra those that arrived
// beyond them (a transition delivered twice under another jti, or one
// nobody announced), and problem describes the first difference.
func compareSETs(want []expectedSET, got []chaos.ReceivedSET) (applied, extra int, problem string) {
	gotJTIs := map[string]bool{}
	for _, g := range got {
		gotJTIs[g.JTI] = true
	}
	wantJTIs := map[string]bool{}
	for _, w := range want {
		wantJTIs[w.jti] = true
		if gotJTIs[w.jti] {
			applied++
		}
	}
	for _, g := range got {
		if !wantJTIs[g.JTI] {
			extra++
		}
	}
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			return applied, extra, fmt.Sprintf("%d of %d SETs missing, from #%d (%s)", len(want)-len(got), len(want), i+1, short(want[i].typ))
		case i >= len(want):
			return applied, extra, fmt.Sprintf("%d SETs more than the %d transitions announced (#%d: %s)", len(got)-len(want), len(want), i+1, short(got[i].Types...))
		case got[i].JTI != want[i].jti || !slices.Equal(got[i].Types, []string{want[i].typ}):
			return applied, extra, fmt.Sprintf("SET #%d is %s jti %s, want %s jti %s", i+1, short(got[i].Types...), got[i].JTI, short(want[i].typ), want[i].jti)
		}
	}
	return applied, extra, ""
}

// short names event types by their last path segment.
func short(types ...string) string {
	var out []string
	for _, t := range types {
		out = append(out, t[strings.LastIndex(t, "/")+1:])
	}
	return strings.Join(out, "+")
}

// outbox returns how many events the stream's Secret still queues.
func (s *suite) outbox(ctx context.Context, streamID string) (int, error) {
	secret := &corev1.Secret{}
	if err := s.w.C.Get(ctx, client.ObjectKey{Namespace: chaos.CredentialsNamespace, Name: ssftx.StreamSecretPrefix + streamID}, secret); err != nil {
		return 0, err
	}
	var events []json.RawMessage
	if err := json.Unmarshal(secret.Data["outbox"], &events); err != nil {
		return 0, fmt.Errorf("the stream Secret's outbox: %w", err)
	}
	return len(events), nil
}
