package idplogs

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

func ptr[T any](v T) *T { return &v }

// The providers' own view of each sign-in is carried on the event: what
// the record has, and nothing that does not parse (a string where a number
// belongs, a country Portcullis does not know, 0,0 for an unknown place).
func TestConvertProviderView(t *testing.T) {
	for _, tt := range []struct {
		format, file string
		aliases      []string
		want         []*signals.ProviderView
	}{
		{Okta, "testdata/okta-risk.ndjson", []string{"00u8f3kq2hTz9WbX5d7"}, []*signals.ProviderView{
			{Name: "okta", Country: "US", City: "Ashburn", Lat: ptr(39.0469), Lon: ptr(-77.4903), ASN: 24940,
				ASOrg: "hetzner online gmbh", Proxy: true, Risk: "high",
				RiskDetail: []string{"Anomalous Geo-Distance", "New Device", "New City", "New Geo-Location", "New IP", "Velocity"}},
			{Name: "okta", City: "Plano", RiskDetail: []string{"threatSuspected"}},
		}},
		{Entra, "testdata/entra-risk.json", []string{"d7a6cf8e-3c1b-4f2a-9b55-0c3e2f1a9d10"}, []*signals.ProviderView{
			{Name: "entra", Country: "DE", City: "Frankfurt am Main", Lat: ptr(50.1109), Lon: ptr(8.6821), Risk: "medium",
				RiskDetail: []string{"anonymizedIPAddress", "unfamiliarFeatures"}},
			{Name: "entra", RiskDetail: []string{"unfamiliarFeatures", "adminDismissedAllRiskForUser"}},
		}},
		{Google, "testdata/google-risk.json", []string{"104819360126917253601"}, []*signals.ProviderView{
			{Name: "google", Country: "US", ASN: 20473, Risk: "medium", RiskDetail: []string{"is_suspicious"}},
			{Name: "google", Country: "US"},
		}},
	} {
		t.Run(tt.format, func(t *testing.T) {
			body, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			events, skipped := convert(t, tt.format, body)
			if len(events) != len(tt.want) || skipped != 0 {
				t.Fatalf("%d events, %d skipped; want %d, 0", len(events), skipped, len(tt.want))
			}
			for i, ev := range events {
				if !reflect.DeepEqual(ev.Provider, tt.want[i]) {
					t.Errorf("event %d: provider %+v, want %+v", i, ev.Provider, tt.want[i])
				}
				if !reflect.DeepEqual(ev.Account.Aliases, tt.aliases) {
					t.Errorf("event %d: aliases %q, want %q", i, ev.Account.Aliases, tt.aliases)
				}
			}
			// The server takes every converted event as it is.
			valid, rejected, err := signals.Parse(marshal(t, events), at.Add(time.Hour), signals.DefaultLimits())
			if err != nil || len(valid) != len(events) || len(rejected) != 0 {
				t.Errorf("signals.Parse: %d valid, rejected %+v, %v", len(valid), rejected, err)
			}
		})
	}
}

func TestOktaMap(t *testing.T) {
	for in, want := range map[string]map[string][]string{
		"{level=MEDIUM, reasons=Anomalous Device, Anomalous Location}": {"level": {"MEDIUM"}, "reasons": {"Anomalous Device", "Anomalous Location"}},
		"{reasons=New Device, level=HIGH}":                             {"reasons": {"New Device"}, "level": {"HIGH"}},
		"{}":                                                           {},
		"level=HIGH":                                                   nil,
		"":                                                             nil,
	} {
		if got := oktaMap(in); !reflect.DeepEqual(got, want) {
			t.Errorf("oktaMap(%q) = %q, want %q", in, got, want)
		}
	}
}

// An over-long or repeated reason, more reasons than an event may carry,
// an AS number out of range: left out, so the event stays valid.
func TestFinishBoundsTheView(t *testing.T) {
	long := string(make([]byte, signals.MaxRiskDetailBytes+1))
	p := &signals.ProviderView{Name: "okta", ASN: 1 << 33, City: string(make([]byte, signals.MaxProviderCity+1)), Risk: "medium"}
	for i := range 2 * signals.MaxRiskDetails {
		p.RiskDetail = append(p.RiskDetail, string(rune('a'+i)), "a", long)
	}
	got := finish(p)
	if got.ASN != 0 || got.City != "" || len(got.RiskDetail) != signals.MaxRiskDetails || got.RiskDetail[1] != "b" {
		t.Errorf("finish() = %+v", got)
	}
	if got := finish(&signals.ProviderView{Name: "entra"}); got != nil {
		t.Errorf("finish of an empty view = %+v, want nil", got)
	}
}
