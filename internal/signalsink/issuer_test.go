package signalsink_test

import (
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// TestLiftNeedsTheSameIssuer: a SignalStream whose spec.issuer was changed
// (or one deleted and made again under its name for another transmitter)
// keeps its name; the new issuer's account-enabled must not lift the
// account-disabled the old issuer reported.
func TestLiftNeedsTheSameIssuer(t *testing.T) {
	w := start(t)
	w.clear(t, carol)
	subject := email("carol@contractors.example.com")
	w.receive(t, setOf("issuer-1", subject, ssf.EventAccountDisabled, with(at(10), "reason", "hijacking")))
	other := signalsink.Source{Name: src.Name, Issuer: "https://other-idp.example.com", Systems: src.Systems}
	enable := setOf("issuer-2", subject, ssf.EventAccountEnabled, at(20))
	enable.Issuer = other.Issuer
	if _, err := w.sink.Receive(t.Context(), other, enable); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.findings(t, carol)[accessv1alpha1.FindingAccountDisabled]; !ok {
		t.Fatal("another issuer's account-enabled lifted the account-disabled of the stream's former issuer")
	}
	w.receive(t, setOf("issuer-3", subject, ssf.EventAccountEnabled, at(20)))
	if _, ok := w.findings(t, carol)[accessv1alpha1.FindingAccountDisabled]; ok {
		t.Fatal("the issuer's own account-enabled did not lift its account-disabled")
	}
}
