package policy

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/policies"
)

// libraryEngine loads the default library with its default data.
func libraryEngine(t testing.TB) *OPAEngine {
	t.Helper()
	data, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, Options{Data: data})
	modules, err := DefaultModules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modules {
		mustUpsert(t, e, Policy{Name: m.Name, Source: m.Source})
	}
	return e
}

func TestLibraryRegoUnitTests(t *testing.T) {
	data, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	names, _ := fs.Glob(policies.Files, "*.rego")
	for _, name := range names {
		src, err := fs.ReadFile(policies.Files, name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(src)
	}
	cases, err := RunRegoTests(context.Background(), files, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("ran only %d Rego tests", len(cases))
	}
	for _, c := range cases {
		if c.Failed {
			t.Errorf("%s (%s:%d) failed: %s", c.Name, c.File, c.Line, c.Err)
		}
	}
}

// verifiedContractor passes a document check and claims the US.
func verifiedContractor(in *Input) {
	in.Contractor.Spec.VerificationChecks = []accessv1alpha1.VerificationCheck{{
		Type: "Document", Result: accessv1alpha1.VerificationPassed, DocumentCountry: "US",
		CompletedAt: &metav1.Time{Time: testNow.AddDate(0, -2, 0)},
	}}
}

func anonymizer(kind accessv1alpha1.AnonymizerKind, asn int64) accessv1alpha1.Finding {
	f := finding(accessv1alpha1.FindingAnonymizer, "US")
	f.Name = "anon-" + string(kind)
	f.Spec.AnonymizerKind = kind
	f.Spec.Evidence.ASN = asn
	return f
}

func sharedDevice() accessv1alpha1.Finding {
	f := finding(accessv1alpha1.FindingSharedInfrastructure, "US")
	f.Name, f.Spec.Evidence.DeviceID, f.Spec.Evidence.RelatedContractors = "shared", "laptop-1", []string{"kim"}
	return f
}

func remoteTool() accessv1alpha1.Finding {
	f := finding(accessv1alpha1.FindingRemoteAccessTool, "US")
	f.Name, f.Spec.Severity, f.Spec.Evidence.Tool = "kvm", accessv1alpha1.SeverityHigh, "PiKVM"
	return f
}

// providerRisk is an identity provider's rating of a sign-in, as the
// ingester writes it.
func providerRisk(source string, severity accessv1alpha1.Severity) accessv1alpha1.Finding {
	f := finding(accessv1alpha1.FindingProviderRisk, "US")
	f.Name, f.Spec.Source, f.Spec.Severity = "provider-"+source, source, severity
	f.Spec.Evidence.Details = map[string]string{"risk": strings.ToLower(string(severity)), "riskDetail": "unfamiliarFeatures"}
	return f
}

// sharedSignal is a Finding the Shared Signals sink records.
func sharedSignal(typ accessv1alpha1.FindingType, severity accessv1alpha1.Severity) accessv1alpha1.Finding {
	f := finding(typ, "US")
	f.Name, f.Spec.Source, f.Spec.Severity = "ssf-"+string(typ), "ssf:okta-signals", severity
	f.Spec.Summary = "okta-signals reported " + string(typ)
	f.Spec.Evidence = accessv1alpha1.Evidence{Details: map[string]string{"issuer": "https://example.okta.com", "jti": "j1"}}
	return f
}

func TestLibraryDecisions(t *testing.T) {
	e := libraryEngine(t)
	tests := []struct {
		name     string
		setup    func(*Input)
		findings []accessv1alpha1.Finding
		want     accessv1alpha1.DecisionAction
		codes    string
	}{
		{"verified contractor at home", verifiedContractor, nil, accessv1alpha1.ActionAllow, ""},
		{"no identity check raises the risk only", nil, nil, accessv1alpha1.ActionAllow, ""},
		{"failed identity check", func(in *Input) {
			verifiedContractor(in)
			in.Contractor.Spec.VerificationChecks[0].Result = accessv1alpha1.VerificationFailed
		}, nil, accessv1alpha1.ActionRevoke, "VerificationFailed"},
		{"sign-in from a sanctioned country", verifiedContractor,
			[]accessv1alpha1.Finding{finding("geolocation", "KP")}, accessv1alpha1.ActionRevoke, "SanctionedCountry"},
		{"one sign-in from abroad raises the risk only", verifiedContractor,
			[]accessv1alpha1.Finding{finding("geolocation", "BR")}, accessv1alpha1.ActionAllow, ""},
		{"a Tor exit alone raises the risk only", verifiedContractor,
			[]accessv1alpha1.Finding{anonymizer("tor", 64513)}, accessv1alpha1.ActionAllow, ""},
		{"residential proxy and a foreign country", verifiedContractor,
			[]accessv1alpha1.Finding{anonymizer("residential-proxy", 64513), finding("geolocation", "CN")},
			accessv1alpha1.ActionQuarantine, "AnonymizerWithCountryMismatch,CountryMismatch,ResidentialProxy"},
		{"an identity provider's high rating alone raises the risk only", verifiedContractor,
			[]accessv1alpha1.Finding{providerRisk("entra", accessv1alpha1.SeverityHigh)}, accessv1alpha1.ActionAllow, ""},
		{"an identity provider's high rating through a hosting provider", verifiedContractor,
			[]accessv1alpha1.Finding{providerRisk("okta", accessv1alpha1.SeverityHigh), anonymizer("hosting", 64513)},
			accessv1alpha1.ActionQuarantine, "HostingProvider,ProviderRisk"},
		{"the identity provider disabled the account", verifiedContractor,
			[]accessv1alpha1.Finding{sharedSignal(accessv1alpha1.FindingAccountDisabled, accessv1alpha1.SeverityCritical)},
			accessv1alpha1.ActionQuarantine, "AccountDisabled"},
		{"a compromised credential alone raises the risk only", verifiedContractor,
			[]accessv1alpha1.Finding{sharedSignal(accessv1alpha1.FindingCredentialCompromise, accessv1alpha1.SeverityHigh)},
			accessv1alpha1.ActionAllow, ""},
		{"a compromised credential and a hosting provider", verifiedContractor,
			[]accessv1alpha1.Finding{sharedSignal(accessv1alpha1.FindingCredentialCompromise, accessv1alpha1.SeverityHigh),
				anonymizer("hosting", 64513)}, accessv1alpha1.ActionQuarantine, "CredentialCompromise,HostingProvider"},
		{"revoked sessions, security events and a non-compliant device", verifiedContractor,
			[]accessv1alpha1.Finding{sharedSignal(accessv1alpha1.FindingSessionRevoked, accessv1alpha1.SeverityInfo),
				sharedSignal(accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityLow),
				sharedSignal(accessv1alpha1.FindingDeviceNonCompliant, accessv1alpha1.SeverityMedium)},
			accessv1alpha1.ActionAllow, ""},
		{"VPN without verified identity", nil,
			[]accessv1alpha1.Finding{anonymizer("vpn", 64514)}, accessv1alpha1.ActionQuarantine,
			"AnonymizerWithUnverifiedIdentity,CommercialVPN,VerificationMissing"},
		{"a shared device, a proxy and an IP-KVM revoke", verifiedContractor,
			[]accessv1alpha1.Finding{sharedDevice(), anonymizer("residential-proxy", 64513), remoteTool()},
			accessv1alpha1.ActionRevoke, "RemoteAccessTool,ResidentialProxy,SharedDevice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testInput(tt.findings...)
			if tt.setup != nil {
				tt.setup(&in)
			}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got := codes(d.Reasons)
			sortStrings(got)
			if d.Action != tt.want || strings.Join(got, ",") != tt.codes {
				t.Errorf("decision = %s %v, want %s %s\n%+v", d.Action, got, tt.want, tt.codes, d.Reasons)
			}
		})
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
