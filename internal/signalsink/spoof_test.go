package signalsink_test

import (
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signalsink"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// TestOnlyAddressesNameByEmail: an opaque id, or the sub of an iss_sub, is
// the transmitter's own name for an account, often a login its user chose;
// that it looks like a contractor's e-mail address does not make it that
// address. Only an email (or acct URI) subject names a contractor by
// address; other formats name contractors by their accounts on the
// stream's systems.
func TestOnlyAddressesNameByEmail(t *testing.T) {
	w := start(t)
	for i, subject := range []*ssf.SubjectID{
		opaque("bob@contractors.example.com"),
		{Format: ssf.FormatIssSub, Iss: issuer, Sub: "bob@contractors.example.com"},
		{Format: ssf.FormatAliases, Identifiers: []ssf.SubjectID{*opaque("nobody"), *opaque("BOB@contractors.example.com")}},
	} {
		w.clear(t, bob)
		got := w.receive(t, setOf("spoof-"+string(rune('a'+i)), subject, ssf.EventAccountDisabled, at(0)))
		if got != (signalsink.Outcome{Unmatched: 1}) {
			t.Errorf("%s subject %+v: outcome %+v, want unmatched", subject.Format, subject, got)
		}
		if _, ok := w.findings(t, bob)[accessv1alpha1.FindingAccountDisabled]; ok {
			t.Errorf("%s subject %+v disabled bob by his address", subject.Format, subject)
		}
	}
}
