package chaos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/chaos"
	"github.com/portcullis-dev/portcullis/test/oktaserver"
)

// The sign-in stream of scenario 9.
const (
	signInContractors  = 8
	signInsPerContract = 12
	signInEvery        = 300 * time.Millisecond
	oktaToken          = "00chaos-okta-api-token"
)

// killsWhileReadingSignIns: an Okta org's System Log receives a stream of
// sign-ins of eight contractors while the manager, whose SignInSource
// polls that log, is SIGKILLed at random points and started again. Every
// sign-in must end in its contractor's sign-in summary exactly once (no
// gap, no duplicate), and the source must count each as read once.
func killsWhileReadingSignIns(ctx context.Context, t *testing.T, s *suite) chaos.Row {
	row := chaos.Row{}
	const ns, system, source = "chaos-s9", "chaos-okta", "chaos-okta-sign-ins"
	okta := oktaserver.New(oktaserver.Options{DefaultRateLimit: 100000})
	defer okta.Close()
	okta.AddAPIToken(oktaToken, "")
	ca := okta.CertificatePEM()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: chaos.CredentialsNamespace, Name: system},
			Data: map[string][]byte{"apiToken": []byte(oktaToken)}},
		&accessv1alpha1.ConnectedSystem{ObjectMeta: metav1.ObjectMeta{Name: system},
			Spec: accessv1alpha1.ConnectedSystemSpec{Type: accessv1alpha1.SystemTypeOkta, DryRun: true,
				CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: chaos.CredentialsNamespace, Name: system},
				Okta:                 &accessv1alpha1.OktaSettings{OrgURL: okta.URL(), CABundle: ca}}},
	}
	var logins []string
	for i := range signInContractors {
		name := fmt.Sprintf("s9-%d", i)
		login := name + "@contractors.example.com"
		logins = append(logins, login)
		okta.AddUser(login)
		objs = append(objs, &accessv1alpha1.Contractor{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.ContractorSpec{DisplayName: name, Email: login,
				ClaimedLocation: accessv1alpha1.ClaimedLocation{Country: "US"},
				Accounts:        []accessv1alpha1.Account{{System: system, ID: login}}}})
	}
	objs = append(objs, &accessv1alpha1.SignInSource{ObjectMeta: metav1.ObjectMeta{Name: source},
		Spec: accessv1alpha1.SignInSourceSpec{System: system, PollIntervalSeconds: 10, LateArrivalSeconds: 600,
			InitialLookbackSeconds: 3600}})
	for _, o := range objs {
		if err := s.w.Create(ctx, o); err != nil {
			row.Fail("setup: %v", err)
			return row
		}
	}

	total := signInContractors * signInsPerContract
	kills := min(s.cfg.kills, 8)
	row.Faults = fmt.Sprintf("%d manager SIGKILLs while %d sign-ins arrive in the Okta log", kills, total)
	row.Expected = total
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		start := time.Now().Add(-time.Minute)
		for i := range total {
			login := logins[i%signInContractors]
			okta.AddLogEvent(oktaserver.LogEvent{Published: start.Add(time.Duration(i) * time.Second),
				EventType: "user.session.start", Version: "0", Severity: "INFO",
				Actor:   oktaserver.LogActor{Type: "User", AlternateID: login},
				Client:  oktaserver.LogClient{IPAddress: fmt.Sprintf("198.51.100.%d", 1+i/signInContractors)},
				Outcome: oktaserver.LogOutcome{Result: "SUCCESS"}})
			sleep(ctx, signInEvery)
		}
	}()
	for i := range kills {
		sleep(ctx, s.between(500*time.Millisecond, 4*time.Second))
		if err := s.mgr.Kill(); err != nil {
			row.Fail("kill %d: %v", i+1, err)
			return row
		}
		if err := s.mgr.Start(s.mgr.Flags()...); err != nil {
			row.Fail("start after kill %d: %v", i+1, err)
			return row
		}
	}
	<-streamed
	if err := s.mgr.WaitReady(ctx, 90*time.Second); err != nil {
		row.Fail("after the kills: %v", err)
	}
	t.Logf("%d kills done; waiting for every sign-in", kills)
	read, stored := waitSignIns(ctx, s, ns, source, total)
	row.Applied = min(stored, total)
	row.Duplicated = max(stored-total, 0)
	if stored != total {
		row.Fail("the contractors' summaries hold %d sign-ins, want %d", stored, total)
	}
	if read != int64(total) {
		row.Fail("the source counts %d sign-ins read, want %d", read, total)
	}
	return row
}

// waitSignIns waits up to three minutes until the source has read total
// sign-ins and the summaries hold them, then a poll interval more to see
// that nothing comes twice; it returns what the source counted and what
// the summaries hold.
func waitSignIns(ctx context.Context, s *suite, ns, source string, total int) (int64, int) {
	var read int64
	var stored int
	observe := func() {
		src := &accessv1alpha1.SignInSource{}
		if err := s.w.C.Get(ctx, client.ObjectKey{Name: source}, src); err == nil {
			read = src.Status.Counts.SignIns
		}
		list := &accessv1alpha1.ContractorList{}
		if err := s.w.C.List(ctx, list, client.InNamespace(ns)); err == nil {
			stored = 0
			for _, c := range list.Items {
				if c.Status.SignIns != nil {
					stored += int(c.Status.SignIns.Total)
				}
			}
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for observe(); (read < int64(total) || stored < total) && time.Now().Before(deadline) && ctx.Err() == nil; observe() {
		sleep(ctx, time.Second)
	}
	sleep(ctx, 12*time.Second)
	observe()
	return read, stored
}
