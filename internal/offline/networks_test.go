package offline

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// signInSuite has two networks; its scenarios' sign-ins go through the
// ingester before the default library decides.
var signInSuite = `
networks:
  - {network: 175.45.176.0/22, country: KP, city: Pyongyang, lat: 39.03, lon: 125.75, asn: 131279, org: Star JV}
  - {network: 198.51.100.0/24, country: NL, asn: 64501, org: Some VPN, anonymizer: vpn}
` + oneGrantSuite[1:]

func TestScenarioSignInsGoThroughTheIngester(t *testing.T) {
	runner := libraryRunner(t)
	tests := map[string]struct {
		scenario string
		want     string // a failure, or the outcome's codes
	}{
		"sanctioned country": {`  - name: n
    now: "2026-11-28T12:00:00Z"
    signIns: [{contractor: ns/c, ip: 175.45.177.9, time: "2026-11-28T10:00:00Z"}]
    expect: [{grant: ns/g, action: Revoke, codes: [SanctionedCountry]}]
`, ""},
		"a VPN and no identity check": {`  - name: n
    now: "2026-11-28T12:00:00Z"
    signIns: [{contractor: ns/c, ip: 198.51.100.4, time: "2026-11-28T10:00:00Z"}]
    expect: [{grant: ns/g, action: Quarantine, codes: [AnonymizerWithUnverifiedIdentity, CommercialVPN, VerificationMissing]}]
`, ""},
		"refused event": {`  - name: n
    now: "2026-11-28T12:00:00Z"
    signIns: [{contractor: ns/c, ip: 175.45.177.9, time: "2026-11-28T10:00:00Z"}, {contractor: ns/nobody, ip: 175.45.177.9, time: "2026-11-28T10:00:00Z"}]
    expect: [{grant: ns/g, action: Revoke, codes: [SanctionedCountry]}]
`, "signIns[1]: contractor ns/nobody does not exist"},
		"too old for the ingester": {`  - name: n
    now: "2026-11-28T12:00:00Z"
    signIns: [{contractor: ns/c, ip: 175.45.177.9, time: "2026-09-28T10:00:00Z"}]
    expect: [{grant: ns/g, action: Allow, codes: []}]
`, "signIns[0]: "},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			suite, err := ParseSuite("s.yaml", []byte(signInSuite+tt.scenario))
			if err != nil {
				t.Fatal(err)
			}
			results := runner.Run(context.Background(), "s.yaml", suite)
			failures := strings.Join(results[0].Failures, "\n")
			if tt.want == "" && failures != "" || tt.want != "" && !strings.Contains(failures, tt.want) {
				t.Errorf("failures = %q, want %q", failures, tt.want)
			}
		})
	}
}

func TestNetworkEnricher(t *testing.T) {
	lat, lon := 52.37, 4.9
	e, err := NetworkEnricher([]Network{
		{Network: "203.0.113.0/24", Country: "NL", City: "Amsterdam", Lat: &lat, Lon: &lon, ASN: 64500, Org: "Example BV", Anonymizer: "tor"},
		{Network: "2001:db8::/32", Country: "DE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	g := e.Enrich(netip.MustParseAddr("203.0.113.9"))
	if g.Country != "NL" || g.City != "Amsterdam" || !g.HasLocation || g.Lat != lat || g.ASN != 64500 || g.ASOrg != "Example BV" || g.Anonymizer != "tor" {
		t.Errorf("203.0.113.9 = %+v", g)
	}
	if g := e.Enrich(netip.MustParseAddr("2001:db8::1")); g.Country != "DE" || g.ASN != 0 || g.Anonymizer != "" {
		t.Errorf("2001:db8::1 = %+v", g)
	}
	if g := e.Enrich(netip.MustParseAddr("192.0.2.1")); g.Country != "" {
		t.Errorf("an address in no network = %+v", g)
	}
}

func TestNetworkEnricherRefusesBadNetworks(t *testing.T) {
	lat, lon := 52.37, 4.9

	for want, bad := range map[string]Network{
		"is not a CIDR":           {Network: "203.0.113.0"},
		"is not an ISO 3166-1":    {Network: "203.0.113.0/24", Country: "nl"},
		"lat and lon go together": {Network: "203.0.113.0/24", Country: "NL", Lat: &lat},
		"is not a place on Earth": {Network: "203.0.113.0/24", Country: "NL", Lat: &lon, Lon: new(float64(500))},
		"need a country":          {Network: "203.0.113.0/24", City: "Amsterdam"},
		"needs its asn":           {Network: "203.0.113.0/24", Org: "Example BV"},
		"is none of vpn, hosting": {Network: "203.0.113.0/24", Anonymizer: "proxy"},
	} {
		if _, err := NetworkEnricher([]Network{bad}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one saying %q", bad, err, want)
		}
	}
}
